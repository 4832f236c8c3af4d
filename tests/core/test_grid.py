"""The stable tile grid."""

import numpy as np
import pandas as pd
import pytest

from landshift.core.errors import InputError
from landshift.core.grid import TileGrid, extent_of, parse_tile_id, pixel_of, tile_ids


def test_tile_ids_name_the_same_ground_as_the_label_csv():
    grid = TileGrid("EPSG:26914", 224)
    tile = grid.tile(2170, 23254)
    assert tile.tile_id == "E2170_N23254"
    assert tile.bounds == (486080, 5208896, 486304, 5209120)


def test_cells_covering_the_nd_scene_have_edges_on_multiples_of_the_tile_size():
    grid = TileGrid("EPSG:26914", 224)
    cols, rows = grid.index_range((485900.0, 5205627.0, 490570.0, 5209247.0))
    assert (cols.start, cols.stop) == (2169, 2191)
    assert (rows.start, rows.stop) == (23239, 23256)
    tiles = list(grid.tiles_in((485900.0, 5205627.0, 490570.0, 5209247.0)))
    assert len(tiles) == 22 * 17
    assert tiles[0].tile_id == "E2169_N23255"  # north-west first: raster order
    assert all(t.bounds[0] % 224 == 0 and t.bounds[1] % 224 == 0 for t in tiles)


def test_raster_transform_puts_one_pixel_on_each_tile():
    grid = TileGrid("EPSG:26914", 224)
    cols, rows = range(2170, 2190), range(23240, 23255)
    transform = grid.raster_transform(cols, rows)
    assert (transform.a, transform.e) == (224, -224)
    assert (transform.c, transform.f) == (2170 * 224, 23255 * 224)
    assert pixel_of(grid.tile(2170, 23254), cols, rows) == (0, 0)
    assert pixel_of(grid.tile(2189, 23240), cols, rows) == (14, 19)
    assert extent_of([grid.tile(5, 7), grid.tile(2, 9)]) == (range(2, 6), range(7, 10))


def test_negative_coordinates_floor_to_the_cell_below():
    grid = TileGrid("EPSG:3857", 100)
    cols, rows = grid.index_range((-150.0, -50.0, 50.0, 10.0))
    assert list(cols) == [-2, -1, 0] and list(rows) == [-1, 0]
    assert parse_tile_id("E-2_N-1") == (-2, -1)


@pytest.mark.parametrize("bad", ["E1N2", "e1_n2", "E1_N", "X1_N2", ""])
def test_malformed_tile_ids_are_rejected(bad):
    with pytest.raises(InputError, match="not a tile id"):
        parse_tile_id(bad)


def test_degenerate_bounds_and_sizes_are_rejected():
    with pytest.raises(InputError):
        TileGrid("EPSG:26914", 0)
    with pytest.raises(InputError, match="no area"):
        TileGrid("EPSG:26914").index_range((10, 10, 10, 20))


def test_tile_ids_of_many_tiles_match_each_tiles_own_id_whatever_the_integer_type():
    grid = TileGrid("EPSG:26914", 224.0)
    cols, rows = np.array([2169, -3, 0], dtype=np.int32), pd.Series([23255, 7, -1], dtype="int64")
    expected = [grid.tile(int(c), int(r)).tile_id for c, r in zip(cols, rows, strict=True)]
    assert tile_ids(cols, rows) == expected == ["E2169_N23255", "E-3_N7", "E0_N-1"]
    assert [parse_tile_id(t) for t in tile_ids(cols + 1, rows.to_numpy(np.int16))] == [(2170, 23255), (-2, 7), (1, -1)]
    with pytest.raises(ValueError):
        tile_ids([1, 2], [3])
