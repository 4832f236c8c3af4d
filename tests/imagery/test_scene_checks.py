"""Deep input checks: truncated and corrupt rasters are refused before Spark, naming file and block."""

import shutil

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from conftest import NAIP_2009, ND_CRS
from landshift.core.errors import InputError
from landshift.core.grid import TileGrid
from landshift.imagery.scenes import SceneInfo, check_blocks, inspect_scene, scene_stats

pytestmark = pytest.mark.data

GRID = TileGrid(ND_CRS, 224)


def _tiled_scene(path, compress="deflate", size=1024, block=256):
    """A tiled 4-band scene of real NAIP pixels (the 2009 scene, repeated to ``size``)."""
    with rasterio.open(NAIP_2009) as src:
        real = src.read()[:, 100:612, 100:612]
    pixels = np.tile(real, (1, -(-size // 512), -(-size // 512)))[:, :size, :size]
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 4,
        "dtype": "uint8",
        "crs": ND_CRS,
        "transform": from_origin(486000, 5209000, 1.0, 1.0),
        "tiled": True,
        "blockxsize": block,
        "blockysize": block,
        "compress": compress,
        "photometric": "RGB",
        "alpha": "unspecified",
    }
    with rasterio.open(path, "w", **profile) as out:
        out.write(pixels)
    return path


def _block_extent(path, block_col, block_row):
    with rasterio.open(path) as src:
        offset = int(src.get_tag_item(f"BLOCK_OFFSET_{block_col}_{block_row}", "TIFF", bidx=1))
        length = int(src.get_tag_item(f"BLOCK_SIZE_{block_col}_{block_row}", "TIFF", bidx=1))
    return offset, length


def test_a_sound_scene_passes_the_deep_check_and_carries_its_radiometry(tmp_path):
    path = _tiled_scene(tmp_path / "sound.tif")
    info = inspect_scene(str(path), GRID, deep=True)
    assert len(info.stats) == 9 and info.stats == tuple(scene_stats(str(path), GRID))
    assert SceneInfo.from_dict(info.to_dict()) == info
    with rasterio.open(path) as src:
        assert check_blocks(src, str(path), sample_blocks=None) == 16
        assert check_blocks(src, str(path), sample_blocks=5) == 5


def test_corrupt_truncated_scene_is_refused_naming_file_and_block(tmp_path):
    path = _tiled_scene(tmp_path / "truncated.tif")
    offset, _ = _block_extent(path, 3, 3)  # the last block
    with open(path, "r+b") as handle:
        handle.truncate(offset + 10)
    with pytest.raises(InputError, match=r"truncated\.tif: truncated: block \(band 1, block row 3, block column 3\)"):
        inspect_scene(str(path), GRID, deep=True)


def test_corrupt_block_in_the_middle_is_found_by_the_full_check(tmp_path):
    path = _tiled_scene(tmp_path / "corrupt.tif")
    offset, length = _block_extent(path, 1, 2)
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(b"\xff" * length)  # garbage where a deflate stream should be
    expected = r"corrupt\.tif: corrupt or truncated block \(band all, block row 2, block column 1"
    with pytest.raises(InputError, match=expected):
        inspect_scene(str(path), GRID, deep=True, sample_blocks=None)


def test_corrupt_block_is_invisible_to_the_shallow_check(tmp_path):
    """The shallow check (header only) is what let a corrupt scene reach Spark before."""
    path = _tiled_scene(tmp_path / "corrupt.tif")
    offset, length = _block_extent(path, 1, 2)
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(b"\xff" * length)
    assert inspect_scene(str(path), GRID).band_count == 4


def test_corrupt_not_a_raster_is_refused(tmp_path):
    path = tmp_path / "bad.tif"
    shutil.copy(NAIP_2009, path)
    with open(path, "r+b") as handle:
        handle.write(b"not a tiff")
    with pytest.raises(InputError, match=r"bad\.tif: not a readable raster"):
        inspect_scene(str(path), GRID, deep=True)


def test_corrupt_label_raster_is_refused_naming_the_file(tmp_path):
    from landshift.imagery.scenes import check_raster_file

    path = _tiled_scene(tmp_path / "labels.tif")
    assert check_raster_file(str(path)) == 16
    offset, _ = _block_extent(path, 3, 3)
    with open(path, "r+b") as handle:
        handle.truncate(offset + 1)
    with pytest.raises(InputError, match=r"labels\.tif: truncated"):
        check_raster_file(str(path))
