"""Open water per pixel: NDWI against a per-scene threshold taken from the scene's own histogram.

The threshold is the scene's Otsu split of NDWI (``scene_stats[8]``, see
:func:`landshift.imagery.scenes.scene_stats`), never lower than a floor: in a drought summer
(nd-pothole 2012) the NDWI histogram's deepest valley lies between bare soil and crops, not
between land and water, and Otsu lands below zero. The floor was chosen inside the training
vintages of the leave-one-vintage-out evaluation (docs/model.md).
"""

from __future__ import annotations

import numpy as np

from landshift.core.errors import InputError

# NDWI threshold floor (applied to each scene's Otsu threshold); -1 turns the floor off.
WATER_THRESHOLD_FLOOR = 0.15
SCENE_THRESHOLD_INDEX = 8  # the NDWI Otsu threshold's place in a scene-stats vector
GREEN_BAND, NIR_BAND = 2, 4  # NDWI's bands, 1-based in a scene (channels 1 and 3 of RGBN tiles)


def ndwi(tiles: np.ndarray) -> np.ndarray:
    """McFeeters NDWI = (green - nir) / (green + nir) of uint8 RGBN tiles [..., 4], float32."""
    if tiles.shape[-1] < 4:
        raise InputError(f"NDWI needs R, G, B, NIR bands, got {tiles.shape[-1]}")
    green, nir = tiles[..., GREEN_BAND - 1].astype(np.float32), tiles[..., NIR_BAND - 1].astype(np.float32)
    return (green - nir) / np.maximum(green + nir, 1.0)


def water_thresholds(scene_stats: np.ndarray, floor: float = WATER_THRESHOLD_FLOOR) -> np.ndarray:
    """Per-row NDWI water threshold: each scene's Otsu threshold, raised to ``floor``."""
    stats = np.asarray(scene_stats, dtype=np.float32)
    if stats.ndim != 2 or stats.shape[1] <= SCENE_THRESHOLD_INDEX:
        raise InputError(f"scene stats must be [N, >{SCENE_THRESHOLD_INDEX}], got {stats.shape}")
    return np.maximum(stats[:, SCENE_THRESHOLD_INDEX], np.float32(floor))


def tile_water_share(tiles: np.ndarray, scene_stats: np.ndarray, floor: float = WATER_THRESHOLD_FLOOR) -> np.ndarray:
    """Share (0..1) of each tile's valid pixels that are open water, for uint8 RGBN tiles
    [N, S, S, 4] (the arrays scoring already read) and their scenes' stats [N, 9]."""
    if tiles.ndim != 4:
        raise InputError(f"tiles must be [N, S, S, 4], got shape {tiles.shape}")
    thresholds = water_thresholds(scene_stats, floor)
    if len(thresholds) != len(tiles):
        raise InputError(f"{len(tiles)} tiles but {len(thresholds)} scene-stats rows")
    valid = _valid_pixels(tiles)
    if tiles.dtype == np.uint8:  # NDWI of every (green, nir) pair, looked up: no division per pixel
        pairs = (tiles[..., GREEN_BAND - 1].astype(np.uint16) << 8) | tiles[..., NIR_BAND - 1]
        index = _NDWI_OF_PAIR[pairs]
    else:
        index = ndwi(tiles)
    water = (index > thresholds[:, None, None]) & valid
    counts = np.count_nonzero(valid, axis=(1, 2))
    return np.where(counts > 0, np.count_nonzero(water, axis=(1, 2)) / np.maximum(counts, 1), 0.0).astype(np.float32)


def _ndwi_of_pair() -> np.ndarray:
    """NDWI of each uint8 (green, nir) pair, index green * 256 + nir, as :func:`ndwi` computes it."""
    green, nir = np.divmod(np.arange(65536), 256)
    pairs = np.zeros((65536, 4), dtype=np.uint8)
    pairs[:, 1], pairs[:, 3] = green, nir
    return ndwi(pairs)


_NDWI_OF_PAIR = _ndwi_of_pair()


def _valid_pixels(tiles: np.ndarray) -> np.ndarray:
    """Pixels where any band differs from nodata (0): one 32-bit compare per RGBN pixel."""
    if tiles.dtype == np.uint8 and tiles.shape[-1] == 4 and tiles.flags.c_contiguous:
        return tiles.view(np.uint32)[..., 0] != 0
    return (tiles != 0).any(axis=-1)


def share_percent(shares: np.ndarray) -> np.ndarray:
    """Water shares 0..1 as uint8 percent 0..100 (rounded half up)."""
    return np.floor(np.clip(np.asarray(shares, dtype=np.float64), 0.0, 1.0) * 100.0 + 0.5).astype(np.uint8)
