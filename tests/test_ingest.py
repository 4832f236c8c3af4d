"""Ingest: delivered GeoTIFFs become COGs with overviews once; tile reads use the overviews."""

import numpy as np
import rasterio
from rasterio.shutil import copy

from conftest import NAIP_2020, ND_CRS
from landshift.grid import TileGrid
from landshift.imagery import open_on_grid, read_tiles
from landshift.ingest import ingest_scenes, is_cloud_optimized
from landshift.lake import LocalLake

GRID = TileGrid(ND_CRS, 224)


def test_ingest_writes_cogs_once_and_reads_stay_faithful(tmp_path):
    lake = LocalLake(str(tmp_path))
    raw = lake.uri("raw", "m_4709963_se_14_1_20200831.tif")
    (tmp_path / "raw").mkdir()
    copy(NAIP_2020, raw, driver="GTiff", tiled=True)  # as delivered: no overviews
    assert not is_cloud_optimized(raw)
    [cog] = ingest_scenes(lake, [raw], lake.uri("cog"))
    assert is_cloud_optimized(cog)
    modified = (tmp_path / "cog" / "m_4709963_se_14_1_20200831.tif").stat().st_mtime_ns
    assert ingest_scenes(lake, [raw], lake.uri("cog")) == [cog]  # idempotent: not rewritten
    assert (tmp_path / "cog" / "m_4709963_se_14_1_20200831.tif").stat().st_mtime_ns == modified
    with rasterio.open(raw) as a, rasterio.open(cog) as b:
        assert np.array_equal(a.read(), b.read()) and a.transform == b.transform
    cells = [GRID.tile(col, 23248) for col in range(2172, 2182)]
    with open_on_grid(raw, GRID) as a, open_on_grid(cog, GRID) as b:
        # 96 px of a 224 m tile from 5 m pixels: 2.3x decimation, served by the 2x overview.
        for (x, _), (y, _) in zip(read_tiles(a, cells, 96), read_tiles(b, cells, 96), strict=True):
            assert np.abs(x.astype(int) - y.astype(int)).mean() < 6
