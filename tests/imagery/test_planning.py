"""Planning at scale: one deep inspection per scene, reused; tile assignment linear in tiles."""

import numpy as np
import pytest
from rasterio.transform import from_origin

from conftest import NAIP_2009, NAIP_2020, ND_CRS
from landshift.core.errors import InputError
from landshift.core.grid import TileGrid
from landshift.imagery.planning import inspect_scenes, intersect, plan_tiles, read_scene_infos, write_scene_infos
from landshift.imagery.scenes import SceneInfo
from landshift.lake.base import LocalLake

pytestmark = pytest.mark.data

GRID = TileGrid(ND_CRS, 224)


def _info(uri, footprint):
    return SceneInfo(uri, ND_CRS, 1, 1, 4, (1.0, 1.0), 0, footprint, stats=(float(len(uri)),) * 9)


def _brute_force(scenes, grid):
    """The tile -> scene rule written the slow, obvious way."""
    coverage = (
        min(s.footprint[0] for s in scenes),
        min(s.footprint[1] for s in scenes),
        max(s.footprint[2] for s in scenes),
        max(s.footprint[3] for s in scenes),
    )
    owners = {}
    for tile in grid.tiles_in(coverage):
        best, best_area = None, 0.0
        for scene in scenes:
            box = intersect(tile.bounds, scene.footprint)
            area = (box[2] - box[0]) * (box[3] - box[1]) if box else 0.0
            if area > best_area:
                best, best_area = scene.uri, area
        if best:
            owners[tile.tile_id] = best
    return owners


def test_overlapping_scenes_get_the_tiles_they_cover_most():
    rng = np.random.default_rng(7)
    scenes = []
    for index in range(12):
        west, south = 486000 + rng.uniform(0, 3000), 5205000 + rng.uniform(0, 3000)
        scenes.append(_info(f"s{index}", (west, south, west + rng.uniform(500, 2500), south + rng.uniform(500, 2500))))
    tiles = plan_tiles(LocalLake("/"), [s.uri for s in scenes], GRID, scenes=scenes).tiles
    assert dict(zip(tiles["tile_id"], tiles["scene_uri"], strict=True)) == _brute_force(scenes, GRID)
    # Each scene's tiles in raster order: north to south, west to east.
    for _, group in tiles.groupby("scene_uri", sort=False):
        order = list(zip(-group["row"], group["col"], strict=True))
        assert order == sorted(order)


def test_given_scene_infos_are_not_inspected_again(tmp_path):
    lake = LocalLake(str(tmp_path))
    fake = [_info("/nowhere/a.tif", (486000.0, 5205000.0, 487000.0, 5206000.0))]
    plan = plan_tiles(lake, ["/nowhere/a.tif"], GRID, scenes=fake)  # reading the file would fail
    # A 1 km box not on the 224 m grid straddles 6 x 6 cells.
    assert len(plan.tiles) == 36 and plan.tiles["scene_stats"].iloc[0] == list(fake[0].stats)


def test_infos_that_do_not_match_the_scenes_are_refused():
    with pytest.raises(InputError, match="scene infos do not match"):
        plan_tiles(LocalLake("/"), ["b"], GRID, scenes=[_info("a", (0.0, 0.0, 1.0, 1.0))])


def test_parallel_inspection_keeps_order_and_round_trips_through_the_lake(tmp_path):
    lake = LocalLake(str(tmp_path))
    uris = [str(NAIP_2020), str(NAIP_2009)] * 3
    parallel = inspect_scenes(lake, uris, GRID, workers=4)
    assert [s.uri for s in parallel] == uris and parallel == inspect_scenes(lake, uris, GRID, workers=1)
    write_scene_infos(lake, lake.uri("work", "scenes.json"), parallel)
    assert read_scene_infos(lake, lake.uri("work", "scenes.json")) == parallel
    with_infos = plan_tiles(lake, uris[:2], GRID, scenes=parallel[:2]).tiles
    assert with_infos.equals(plan_tiles(lake, uris[:2], GRID).tiles)


def test_bad_scene_in_a_parallel_inspection_names_the_file(tmp_path):
    import rasterio

    bad = tmp_path / "two_bands.tif"
    profile = {"driver": "GTiff", "width": 8, "height": 8, "count": 2, "dtype": "uint8", "crs": ND_CRS}
    with rasterio.open(bad, "w", transform=from_origin(486000, 5209000, 5, 5), **profile) as out:
        out.write(np.ones((2, 8, 8), dtype="uint8"))
    with pytest.raises(InputError, match=r"two_bands\.tif: has 2 band"):
        inspect_scenes(LocalLake(str(tmp_path)), [str(NAIP_2009), str(bad), str(NAIP_2020)], GRID, workers=3)
