"""Scene validation and windowed tile reads on real NAIP."""

import threading

import numpy as np
import pytest
import rasterio

from conftest import NAIP_2009, ND_CRS, SHARED_DATA
from landshift.core.errors import InputError
from landshift.core.grid import TileGrid
from landshift.imagery.scenes import inspect_scene, open_on_grid, read_tile, scene_stats, window_from_bounds

pytestmark = pytest.mark.data

GRID = TileGrid(ND_CRS, 224)
FORMAT_SAMPLES = [
    "naip-0.6m/m_3008501_ne_16_1_20110815.tif",
    "naip-0.6m/m_3211605_ne_11_060_20200415.tif",
    "naip-0.6m/m_4208701_ne_16_060_20200902.tif",
    "usda-cdl/2021_30m_cdls.tif",
    "chesapeake-lulc/Baywide_7class_20132014_E1300000_N1770000.tif",
]


def test_a_real_scene_validates_with_its_footprint():
    info = inspect_scene(str(NAIP_2009), GRID)
    assert info.crs == ND_CRS and info.band_count == 4 and info.resolution == (5.0, 5.0)
    assert info.footprint == pytest.approx((485900.0, 5205627.0, 490570.0, 5209247.0))


def test_tile_read_is_resampled_and_matches_the_native_pixels():
    with open_on_grid(str(NAIP_2009), GRID) as src:
        pixels, valid = read_tile(src, GRID.tile(2175, 23248), 96)
        native = src.read(window=rasterio.windows.from_bounds(*GRID.tile(2175, 23248).bounds, src.transform))
    assert pixels.shape == (96, 96, 4) and pixels.dtype == np.uint8
    assert valid == 1.0
    assert np.allclose(pixels.reshape(-1, 4).mean(axis=0), native.reshape(4, -1).mean(axis=1), atol=2.0)


def test_edge_tiles_report_their_nodata_share():
    with open_on_grid(str(NAIP_2009), GRID) as src:
        _, corner = read_tile(src, GRID.tile(2169, 23255), 64)  # north-west corner, partly outside
        _, outside = read_tile(src, GRID.tile(2100, 23255), 64)
    assert 0.0 < corner < 0.8
    assert outside == 0.0


def test_scene_in_another_utm_zone_is_warped_onto_the_grid():
    sample = SHARED_DATA / "format-samples" / "naip-0.6m" / "m_4208701_ne_16_060_20200902.tif"
    grid = TileGrid("EPSG:26915", 32)
    info = inspect_scene(str(sample), grid)
    assert info.crs == "EPSG:26916"
    tiles = list(grid.tiles_in(info.footprint))
    with open_on_grid(str(sample), grid) as src:
        best = max(read_tile(src, t, 32)[1] for t in tiles)
    assert best > 0.9


def test_scene_stats_adapt_to_the_dark_nir_of_2014():
    stats_2009 = scene_stats(str(NAIP_2009), GRID)
    stats_2014 = scene_stats(str(SHARED_DATA / "naip-nd" / "m_4709963_se_14_1_20140720.tif"), GRID)
    assert len(stats_2009) == len(stats_2014) == 9
    assert stats_2014[7] < stats_2009[7] - 20  # NIR p98 much darker in 2014
    # The NDWI water threshold adapts: the dark NIR raises every NDWI, and the threshold with it.
    assert stats_2014[8] > stats_2009[8] + 0.1


def _write(path, count=4, crs=ND_CRS, transform=None, dtype="uint8"):
    profile = {"driver": "GTiff", "width": 16, "height": 16, "count": count, "dtype": dtype}
    if crs:
        profile["crs"] = crs
    if transform is not None:
        profile["transform"] = transform
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.ones((count, 16, 16), dtype=dtype))
    return str(path)


def test_bad_scenes_get_specific_errors(tmp_path):
    good_transform = rasterio.transform.from_origin(486000, 5209000, 5, 5)
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"\x00" * 100)
    with pytest.raises(InputError, match="not a readable raster"):
        inspect_scene(str(corrupt), GRID)
    with pytest.raises(InputError, match="not georeferenced"):
        inspect_scene(_write(tmp_path / "plain.tif", crs=None), GRID)
    with pytest.raises(InputError, match="has 3 band"):
        inspect_scene(_write(tmp_path / "rgb.tif", count=3, transform=good_transform), GRID)
    with pytest.raises(InputError, match="uint8"):
        inspect_scene(_write(tmp_path / "f32.tif", transform=good_transform, dtype="float32"), GRID)
    with pytest.raises(InputError, match="unknown CRS"):
        inspect_scene(str(NAIP_2009), TileGrid("EPSG:999999", 224))
    with pytest.raises(InputError, match="not projected"):
        inspect_scene(str(NAIP_2009), TileGrid("EPSG:4326", 224))


def test_row_reads_cut_into_the_same_tiles_as_single_reads():
    from landshift.imagery.scenes import read_tiles

    cells = [GRID.tile(c, 23250) for c in range(2168, 2180)] + [GRID.tile(2175, 23249), GRID.tile(2177, 23249)]
    with open_on_grid(str(NAIP_2009), GRID) as src:
        single = [read_tile(src, cell, 96) for cell in cells]
        batched = read_tiles(src, cells, 96)
    for (one, one_valid), (many, many_valid) in zip(single, batched, strict=True):
        assert one.shape == many.shape == (96, 96, 4)
        assert abs(one_valid - many_valid) < 0.02
        assert np.abs(one.astype(int) - many.astype(int)).mean() < 1.0
    assert batched[0][1] == 0.0 and batched[-1][1] == 1.0  # column 2168 lies outside the scene


def test_strips_as_wide_as_a_cache_aliasing_stride_are_read_in_two_parts_with_the_same_pixels(monkeypatch):
    """16 tiles of 64 px (1,024 px, a multiple of 512) inside the scene are read as 9 + 7 tiles;
    the pixels and valid shares equal one whole read. A strip that leaves the scene stays whole."""
    from landshift.imagery import scenes

    reads = []
    read_clipped = scenes._read_clipped
    monkeypatch.setattr(scenes, "_read_clipped", lambda *a, **k: reads.append(a[1]) or read_clipped(*a, **k))
    with open_on_grid(str(NAIP_2009), GRID) as src:
        inside = [GRID.tile(c, 23250) for c in range(2170, 2186)]
        clipped = [GRID.tile(c, 23250) for c in range(2160, 2176)]  # column 2168 lies outside the scene
        split = [scenes.read_tile_row(src, strip, 64, (1, 2, 4)) for strip in (inside, clipped)]
        assert [round(window.width / 44.8) for window in reads] == [9, 7, 16]
        monkeypatch.setattr(scenes, "ALIASED_WIDTH_PX", 10**9)
        whole = [scenes.read_tile_row(src, strip, 64, (1, 2, 4)) for strip in (inside, clipped)]
    assert len(reads) == 5
    for parts, one in zip(split, whole, strict=True):
        for (pixels, valid), (pixels_whole, valid_whole) in zip(parts, one, strict=True):
            assert np.array_equal(pixels, pixels_whole) and valid == valid_whole
    assert split[0][0][1] == 1.0 and split[1][0][1] == 0.0


def test_fast_bilinear_reads_equal_gdal_reads_of_the_source():
    """Bilinear strips resampled from a nodata-free copy equal GDAL's own reads of the scene,
    on the dark-NIR 2014 scene whose stray 0s and ragged edges take the nodata-aware path."""
    from rasterio.enums import Resampling
    from rasterio.windows import Window, WindowError, from_bounds

    from landshift.imagery.scenes import _resampled_read, valid_mask

    scene = SHARED_DATA / "naip-nd" / "m_4709963_se_14_1_20140720.tif"
    compared = fast_paths = 0
    with open_on_grid(str(scene), GRID) as src:
        for row in range(23245, 23262):
            for col in range(2165, 2190, 5):
                west, south, _, _ = GRID.tile(col, row).bounds
                window = from_bounds(west, south, west + 5 * 224, south + 224, transform=src.transform)
                try:
                    inside = window.intersection(Window(0, 0, src.width, src.height))
                except WindowError:
                    continue
                for bands in ((1, 2, 3, 4), (1, 2, 4)):  # a NIR-R-G model's three land in their own channels
                    shape = (len(bands), 96, 480)
                    expected = src.read(bands, window=inside, out_shape=shape, resampling=Resampling.bilinear)
                    fast = np.zeros((96, 480, 4), np.uint8)
                    all_valid = _resampled_read(src, inside, fast, bands, Resampling.bilinear)
                    channels = [band - 1 for band in bands]
                    assert np.array_equal(fast.transpose(2, 0, 1)[channels], expected), (row, col, bands)
                    assert not fast[..., sorted({0, 1, 2, 3} - set(channels))].any()
                    if all_valid:  # claimed only where the native pixels hold no nodata: then none is 0
                        assert valid_mask(fast, 0).all(), (row, col)
                    fast_paths += all_valid
                    compared += 1
    assert compared > 100 and 0 < fast_paths < compared  # both paths taken


def test_fast_reads_reuse_one_view_and_never_reach_its_stale_pixels(monkeypatch):
    """Strips inside the scene resample from one buffer kept by the thread: stale pixels east and
    south of a strip (here 255s) never reach a read; a strip the scene cuts gets a view of its own."""
    from rasterio.enums import Resampling
    from rasterio.windows import from_bounds

    from landshift.imagery import scenes

    opened = []
    open_pointer = scenes._open_pointer_dataset
    monkeypatch.setattr(scenes, "_open_pointer_dataset", lambda a: opened.append(a.shape) or open_pointer(a))
    monkeypatch.setattr(scenes, "_thread_state", threading.local())  # a fresh thread's buffer
    scenes._thread_native_buffer().region((4, 120, 2000), "uint8")[:] = 255
    scene = SHARED_DATA / "naip-nd" / "m_4709963_se_14_1_20200831.tif"
    with open_on_grid(str(scene), GRID) as src:
        for row, col, count in [(23250, 2170, 12), (23251, 2172, 3), (23252, 2171, 7), (23250, 2173, 1)]:
            west, south, _, _ = GRID.tile(col, row).bounds
            window = from_bounds(west, south, west + count * 224, south + 224, transform=src.transform)
            fast = np.zeros((64, 64 * count, 4), np.uint8)
            assert scenes._resampled_read(src, window, fast, (1, 2, 4), Resampling.bilinear)  # the fast path
            shape = (3, 64, 64 * count)
            expected = src.read((1, 2, 4), window=window, out_shape=shape, resampling=Resampling.bilinear)
            assert np.array_equal(fast.transpose(2, 0, 1)[[0, 1, 3]], expected), (row, col, count)
        assert opened == [(4, 120, 2000)]  # the one view, made before the reads
        edge = from_bounds(*GRID.tile(2189, 23250).bounds, transform=src.transform)  # 1.8 px from the east edge
        fast = np.zeros((64, 64, 4), np.uint8)
        assert scenes._resampled_read(src, edge, fast, (1, 2, 4), Resampling.bilinear)
        expected = src.read((1, 2, 4), window=edge, out_shape=(3, 64, 64), resampling=Resampling.bilinear)
        assert np.array_equal(fast.transpose(2, 0, 1)[[0, 1, 3]], expected)
    assert len(opened) == 2 and opened[1][2] < 50  # a view of that strip's pixels alone


def test_pointer_datasets_open_only_inside_the_fast_read():
    """The fast read's in-memory view needs GDAL_MEM_ENABLE_OPEN; it is never left set, so a
    path naming a raw address stays refused."""
    from rasterio.errors import RasterioIOError

    from landshift.imagery.scenes import _in_memory_view

    native = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    with _in_memory_view(native) as view:
        assert np.array_equal(view.read(), native)
    name = f"MEM:::DATAPOINTER={native.ctypes.data},PIXELS=4,LINES=3,BANDS=2,DATATYPE=Byte"
    with pytest.raises(RasterioIOError), rasterio.open(name):
        pass


@pytest.mark.parametrize("size", [64, 224, 300])
def test_tile_valid_shares_equal_the_mean_of_each_tiles_mask_to_the_bit(size):
    from landshift.imagery.scenes import tile_valid_shares

    rng = np.random.default_rng(size)
    for count, share in [(1, 0.5), (7, 0.999), (16, 0.01)]:
        mask = rng.random((size, count * size)) < share
        mask[:, : size // 3] = True  # a whole-valid stretch and
        mask[: size // 5, -size:] = False  # a nodata edge
        expected = mask.reshape(size, count, size).mean(axis=(0, 2))
        shares = tile_valid_shares(mask, count)
        assert shares.dtype == expected.dtype and np.array_equal(shares, expected)


def test_valid_mask_is_any_band_off_nodata_for_every_layout():
    from landshift.imagery.scenes import valid_mask

    pixels = np.random.default_rng(0).integers(0, 2, (8, 40, 4)).astype(np.uint8)
    for array, nodata in [(pixels, 0), (pixels[:, 8:16], 0), (pixels[..., :3].copy(), 0), (pixels, 1)]:
        assert np.array_equal(valid_mask(array, nodata), (array != nodata).any(axis=-1))
    assert valid_mask(np.zeros((2, 2, 4), np.uint8), 0).sum() == 0


@pytest.mark.parametrize(
    "name",
    ["m_4208701_ne_16_060_20200902.tif", "m_3008501_ne_16_1_20110815.tif"],  # NIR flagged as alpha; no mask
)
def test_fast_bilinear_reads_equal_gdal_reads_for_masked_and_warped_sources(name):
    """Sources whose NIR band GDAL takes for alpha keep GDAL's own (mask-aware) resampling; plain
    ones, read directly or warped on the fly to another CRS, match it byte for byte."""
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    from landshift.imagery.scenes import _resampled_read

    path = str(SHARED_DATA / "format-samples" / "naip-0.6m" / name)
    for grid_crs in (None, "EPSG:3857"):
        with rasterio.open(path) as raw:
            grid = TileGrid(grid_crs or raw.crs.to_string(), 30)
        with open_on_grid(path, grid) as src:
            for row in np.arange(0.0, src.height - 20, 11.3):
                for col in np.arange(0.0, src.width - 20, 13.1):
                    window = Window(col, row, 17.5, 17.5)
                    expected = src.read(
                        (1, 2, 3, 4), window=window, out_shape=(4, 32, 32), resampling=Resampling.bilinear
                    )
                    fast = np.zeros((32, 32, 4), np.uint8)
                    _resampled_read(src, window, fast, (1, 2, 3, 4), Resampling.bilinear)
                    assert np.array_equal(fast.transpose(2, 0, 1), expected), (grid_crs, row, col)


@pytest.mark.parametrize(
    "name", ["naip-nd/m_4709963_se_14_1_20200831.tif", *(f"format-samples/{p}" for p in FORMAT_SAMPLES)]
)
def test_tile_windows_equal_rasterios_from_bounds_to_the_bit(name):
    from rasterio.windows import WindowError, from_bounds

    with rasterio.open(SHARED_DATA / name) as src:
        transform = src.transform
    rng = np.random.default_rng(7)
    for _ in range(3000):
        size = float(rng.choice([224.0, 112.0, 30.0, 0.6]))
        col, row, count = rng.integers(-40_000, 40_000), rng.integers(-40_000, 40_000), rng.integers(1, 65)
        west, north = col * size, row * size
        bounds = (west, north - size, west + count * size, north)
        ours, theirs = window_from_bounds(*bounds, transform), from_bounds(*bounds, transform=transform)
        assert ours.flatten() == theirs.flatten() and all(type(v) is float for v in ours.flatten())
    with pytest.raises(WindowError):
        window_from_bounds(10.0, 0.0, 0.0, 10.0, transform)  # west of east


def test_histogram_percentiles_equal_numpy_bit_for_bit():
    from landshift.imagery.scenes import uint8_percentiles

    with rasterio.open(NAIP_2009) as src:
        pixels = src.read()
    rng = np.random.default_rng(3)
    for band in pixels:
        for values in (band.ravel(), band[band != 0], rng.choice(band.ravel(), 1001)):
            quantiles = (0.0, 2.0, 33.3, 50.0, 98.0, 100.0)
            assert uint8_percentiles(values, quantiles) == [float(np.percentile(values, q)) for q in quantiles]


def test_reading_some_bands_gives_the_full_reads_pixels_in_their_own_channels_and_zero_elsewhere():
    # A NIR-R-G model reads R, G and NIR only: a quarter less resampling, the same pixels.
    from landshift.imagery.scenes import read_tiles
    from landshift.model.spec import ModelSpec

    bands = ModelSpec().bands_read
    assert bands == (1, 2, 4) and ModelSpec(composite="rgb").bands_read == (1, 2, 3, 4)
    cells = [GRID.tile(c, 23255) for c in range(2168, 2180)] + [GRID.tile(2175, 23249)]  # the scene's edge too
    with open_on_grid(str(NAIP_2009), GRID) as src:
        full, some = read_tiles(src, cells, 64), read_tiles(src, cells, 64, bands=bands)
        alone, _ = read_tile(src, cells[-1], 64, bands=(4,))
    for (all_bands, all_valid), (read, valid) in zip(full, some, strict=True):
        assert read.shape == (64, 64, 4) and not read[..., 2].any()
        assert np.array_equal(read[..., [0, 1, 3]], all_bands[..., [0, 1, 3]]) and valid == all_valid
    assert {valid for _, valid in some} >= {0.0, 1.0}
    assert np.array_equal(alone[..., 3], full[-1][0][..., 3]) and not alone[..., :3].any()
    with open_on_grid(str(NAIP_2009), GRID) as src:
        for bad in [(), (2, 1), (1, 1), (0, 1), (5,)]:
            with pytest.raises(InputError, match="bands must be"):
                read_tile(src, cells[-1], 64, bands=bad)


def test_uncompressed_scenes_without_overviews_are_read_through_a_memory_map_with_the_same_pixels(
    tmp_path, monkeypatch
):
    # NAIP as delivered is uncompressed, without overviews: GDAL reads it from a map of the file,
    # one copy fewer than through its block cache. COGs (overviews serve the reads) are not mapped.
    from pathlib import Path

    from landshift.imagery import scenes
    from landshift.imagery.ingest import write_cog
    from landshift.imagery.scenes import read_tiles

    plain, cog = tmp_path / "plain.tif", tmp_path / "cog.tif"
    with rasterio.open(NAIP_2009) as src:
        profile = {key: value for key, value in src.profile.items() if key != "compress"}
        with rasterio.open(plain, "w", **profile | {"tiled": True, "blockxsize": 256, "blockysize": 256}) as out:
            out.write(src.read())
    write_cog(str(plain), str(cog))  # overviews stored uncompressed, as ingest writes them

    def mapped(path) -> bool:
        return str(path) in Path("/proc/self/maps").read_text()

    cells = [GRID.tile(c, 23255) for c in range(2168, 2180)] + [GRID.tile(2175, 23249)]  # the scene's edge too
    reads = {}
    for setting in ("NO", scenes.VIRTUAL_MEMORY_READS):
        monkeypatch.setattr(scenes, "VIRTUAL_MEMORY_READS", setting)
        with open_on_grid(str(plain), GRID) as src:
            reads[setting] = read_tiles(src, cells, 64, bands=(1, 2, 4))
            assert mapped(plain) == (setting != "NO")
        assert not mapped(plain)  # unmapped with the scene's closing
    for path in (cog, NAIP_2009):  # overviews serve the reads; DEFLATE: decoded through the block cache
        with open_on_grid(str(path), GRID) as src:
            read_tiles(src, cells, 96)
            assert not mapped(path)
    cached, memory_mapped = reads.values()
    assert {valid for _, valid in cached} >= {0.0, 1.0}
    for (a, valid_a), (b, valid_b) in zip(cached, memory_mapped, strict=True):
        assert np.array_equal(a, b) and valid_a == valid_b
