"""Open water per pixel from NDWI against a per-scene threshold, on real NAIP tiles and small arrays."""

import numpy as np
import pytest

from landshift.core.errors import InputError
from landshift.imagery.water import ndwi, share_percent, tile_water_share, water_thresholds


def _stats(threshold: float, rows: int = 1) -> np.ndarray:
    return np.tile(np.array([0, 255] * 4 + [threshold], dtype=np.float32), (rows, 1))


def test_share_counts_valid_pixels_above_the_scene_threshold():
    tiles = np.zeros((1, 4, 4, 4), dtype=np.uint8)
    tiles[0, :, :] = (60, 80, 60, 120)  # land: NDWI = -0.2
    tiles[0, :2, :] = (30, 90, 60, 20)  # water: NDWI = 0.636
    tiles[0, 3, 3] = 0  # nodata does not count
    assert ndwi(tiles)[0, 0, 0] == pytest.approx(70 / 110)
    assert tile_water_share(tiles, _stats(0.2))[0] == pytest.approx(8 / 15)
    assert tile_water_share(tiles, _stats(0.7), floor=-1.0)[0] == 0.0


def test_the_floor_guards_a_drought_scene_whose_otsu_split_is_below_zero():
    assert water_thresholds(_stats(-0.04), floor=0.15)[0] == pytest.approx(0.15)
    assert water_thresholds(_stats(0.40), floor=0.15)[0] == pytest.approx(0.40)
    assert water_thresholds(_stats(-0.04), floor=-1.0)[0] == pytest.approx(-0.04)


def test_percent_is_rounded_and_clipped():
    assert share_percent(np.array([0.0, 0.004, 0.005, 0.499, 1.0, 1.2])).tolist() == [0, 0, 1, 50, 100, 100]


def test_bad_shapes_are_refused():
    with pytest.raises(InputError, match="tiles must be"):
        tile_water_share(np.zeros((4, 4, 4), dtype=np.uint8), _stats(0.1))
    with pytest.raises(InputError, match="2 tiles but 1"):
        tile_water_share(np.zeros((2, 4, 4, 4), dtype=np.uint8), _stats(0.1))


@pytest.mark.data
def test_real_tiles_water_share_follows_the_label_rasters_water_pixels():
    """2012 (drought): the raw Otsu threshold calls a third of the land water; the floor fixes it."""
    from conftest import LABELS_DIR, ND_CRS, SHARED_DATA
    from landshift.core.grid import TileGrid
    from landshift.core.legend import DEFAULT_LEGEND
    from landshift.imagery.scenes import open_on_grid, read_tiles, scene_stats
    from landshift.labels.prior import aggregate_labels

    grid = TileGrid(ND_CRS, 224)
    scene = str(SHARED_DATA / "naip-nd" / "m_4709963_se_14_1_20120731.tif")
    labels = aggregate_labels(str(LABELS_DIR / "labels_2012_5m.tif"), grid, DEFAULT_LEGEND)
    stats = np.asarray(scene_stats(scene, grid), dtype=np.float32)
    assert stats[8] < 0  # Otsu splits soil from crops in this scene, not water from land
    with open_on_grid(scene, grid) as src:
        reads = read_tiles(
            src, [grid.tile(int(c), int(r)) for c, r in zip(labels["col"], labels["row"], strict=True)], 64
        )
    tiles = np.stack([pixels for pixels, _ in reads])
    rows = np.repeat(stats[None], len(tiles), axis=0)
    truth = labels["prior_water_share"].to_numpy()
    floored = np.abs(tile_water_share(tiles, rows) - truth).mean()
    raw = np.abs(tile_water_share(tiles, rows, floor=-1.0) - truth).mean()
    assert floored < 0.10 < 0.15 < raw


def test_scoring_share_equals_the_models_first_spectral_feature():
    from landshift.model.spec import spectral_features

    rng = np.random.default_rng(3)
    tiles = rng.integers(0, 256, size=(6, 16, 16, 4), dtype=np.uint8)
    tiles[0, :4] = 0
    stats = np.concatenate([_stats(-0.05), _stats(0.15), _stats(0.4)] * 2)
    feature = spectral_features(tiles, stats, water_floor=0.15)[:, 0]
    assert np.allclose(tile_water_share(tiles, stats, floor=0.15), feature, atol=1e-6)
