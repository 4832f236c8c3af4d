"""Ingest: delivered GeoTIFFs become COGs with overviews once; tile reads use the overviews."""

import numpy as np
import pytest
import rasterio
from rasterio.shutil import copy

from conftest import NAIP_2020, ND_CRS
from landshift.core.errors import InputError
from landshift.core.grid import TileGrid
from landshift.imagery.ingest import ingest_scenes, is_cloud_optimized, write_cog
from landshift.imagery.scenes import open_on_grid, read_tiles
from landshift.lake.base import LocalLake

pytestmark = pytest.mark.data

GRID = TileGrid(ND_CRS, 224)


def test_ingest_writes_cogs_once_and_reads_stay_faithful(tmp_path):
    lake = LocalLake(str(tmp_path))
    raw = lake.uri("raw", "m_4709963_se_14_1_20200831.tif")
    (tmp_path / "raw").mkdir()
    copy(NAIP_2020, raw, driver="GTiff", tiled=True)  # as delivered: no overviews
    assert not is_cloud_optimized(raw)
    [(cog, written)] = ingest_scenes(lake, [raw], lake.uri("cog")).items()
    assert written
    assert is_cloud_optimized(cog)
    with rasterio.open(cog) as written, rasterio.open(cog, overview_level=0) as overview:
        assert written.compression.name == "zstd" and written.overviews(1)  # lossless: same pixels, read faster
        assert overview.compression is None  # scoring reads the overviews: no decompression
    modified = (tmp_path / "cog" / "m_4709963_se_14_1_20200831.tif").stat().st_mtime_ns
    assert ingest_scenes(lake, [raw], lake.uri("cog")) == {cog: False}  # idempotent: not rewritten
    assert (tmp_path / "cog" / "m_4709963_se_14_1_20200831.tif").stat().st_mtime_ns == modified
    with rasterio.open(raw) as a, rasterio.open(cog) as b:
        assert np.array_equal(a.read(), b.read()) and a.transform == b.transform
    cells = [GRID.tile(col, 23248) for col in range(2172, 2182)]
    with open_on_grid(raw, GRID) as a, open_on_grid(cog, GRID) as b:
        # 96 px of a 224 m tile from 5 m pixels: 2.3x decimation, served by the 2x overview.
        for (x, _), (y, _) in zip(read_tiles(a, cells, 96), read_tiles(b, cells, 96), strict=True):
            assert np.abs(x.astype(int) - y.astype(int)).mean() < 6


def test_tile_reads_at_0p6m_use_the_overview_nearest_the_model_input(tmp_path):
    """224 m at 0.6 m is 373 px; 96 px is read from the 4x overview, close to the native read."""
    from rasterio.enums import Resampling
    from rasterio.transform import from_origin
    from rasterio.windows import from_bounds

    from landshift.imagery.ingest import write_cog
    from landshift.imagery.scenes import _overview_serves

    with rasterio.open(NAIP_2020) as src:
        real = src.read()[:, 200:712, 200:712]
    pixels = np.repeat(np.repeat(real, 4, axis=1), 4, axis=2)  # 2048 px of real pixels at "0.6 m"
    plain = tmp_path / "qq.tif"
    profile = {"driver": "GTiff", "width": 2048, "height": 2048, "count": 4, "dtype": "uint8", "crs": ND_CRS}
    with rasterio.open(plain, "w", transform=from_origin(486080, 5208640, 0.6, 0.6), tiled=True, **profile) as out:
        out.write(pixels)
    cog = tmp_path / "qq_cog.tif"
    write_cog(str(plain), str(cog))
    cells = [GRID.tile(col, 23251) for col in range(2171, 2175)]
    with open_on_grid(str(cog), GRID) as src:
        window = from_bounds(*cells[0].bounds, transform=src.transform)
        assert src.overviews(1) and _overview_serves(src, window, 96)
        ours = read_tiles(src, cells, 96)
    with rasterio.open(plain) as src:
        for cell, (tile, _) in zip(cells, ours, strict=True):
            window = from_bounds(*cell.bounds, transform=src.transform)
            native = src.read(window=window, out_shape=(4, 96, 96), resampling=Resampling.bilinear)
            assert np.abs(tile.transpose(2, 0, 1).astype(int) - native.astype(int)).mean() < 8


def test_overviews_hold_the_same_pixels_stored_raw_or_compressed(tmp_path):
    """The overview codec changes the bytes on disk, never a pixel: every level and every tile read
    match between uncompressed overviews (the default) and ZSTD ones, and the raw file is larger."""
    with rasterio.open(NAIP_2020) as src:
        real = src.read()[:, :512, :512]
    pixels = np.repeat(np.repeat(real, 4, axis=1), 4, axis=2)  # 2048 px of real pixels at "0.6 m"
    plain = tmp_path / "qq.tif"
    profile = {"driver": "GTiff", "width": 2048, "height": 2048, "count": 4, "dtype": "uint8", "crs": ND_CRS}
    transform = rasterio.transform.from_origin(486080, 5208640, 0.6, 0.6)
    with rasterio.open(plain, "w", transform=transform, **profile) as out:
        out.write(pixels)
    raw, packed = tmp_path / "raw.tif", tmp_path / "zstd.tif"
    write_cog(str(plain), str(raw))
    write_cog(str(plain), str(packed), overview_compression="zstd")
    assert raw.stat().st_size > packed.stat().st_size
    with rasterio.open(raw) as a, rasterio.open(packed) as b:
        assert a.overviews(1) == b.overviews(1) == [2, 4] and np.array_equal(a.read(), b.read())
    for level in range(2):
        with rasterio.open(raw, overview_level=level) as a, rasterio.open(packed, overview_level=level) as b:
            assert a.compression is None and b.compression.name == "zstd"
            assert np.array_equal(a.read(), b.read())
    cells = [GRID.tile(col, row) for col in range(2171, 2175) for row in range(23249, 23253)]
    with open_on_grid(str(raw), GRID) as a, open_on_grid(str(packed), GRID) as b:
        for (x, share_x), (y, share_y) in zip(read_tiles(a, cells, 64), read_tiles(b, cells, 64), strict=True):
            assert np.array_equal(x, y) and share_x == share_y
    with pytest.raises(InputError, match="overview compression must be one of none, zstd, got 'lzw'"):
        write_cog(str(plain), str(tmp_path / "never.tif"), overview_compression="lzw")
    assert not (tmp_path / "never.tif").exists() and not (tmp_path / "never.tif.partial").exists()
