"""What the review page shows of one tile: chips before and after, the classes and confidences on
both dates, and the water share of the tile on both dates.

Chips are read from the imagery the product was made from (after) and the imagery of the prior
labels' year (before), like ``report.html``'s, as PNG. The water share is the share of the
tile's pixels whose NDWI = (green - nir) / (green + nir) lies above the scene's own Otsu
threshold (:func:`landshift.imagery.scenes.scene_stats`), the split the model's features use.
"""

from __future__ import annotations

import functools
import io
import logging
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from landshift.core.errors import InputError, NotFoundError
from landshift.core.grid import TileGrid
from landshift.lake.base import Lake
from landshift.products.report_html import outline_tile, stretch_bands
from landshift.review.queue import ModelProduct, model_product, product_uri, raster_tiles, validate_tile_id

log = logging.getLogger(__name__)

SIDES = ("before", "after")
COMPOSITES = {"nir": (4, 1, 2), "true": (1, 2, 3)}
CHIP_PX = 96
CONTEXT_TILES = 0.5


@dataclass(frozen=True)
class SceneSet:
    """The scenes of one side (GDAL paths) and what they show."""

    paths: tuple[str, ...]
    caption: str


def product_grid(summary: dict) -> TileGrid:
    """The tile grid of a product, from its summary."""
    raster = summary.get("raster") or {}
    if "crs" not in raster:
        raise NotFoundError(f"product summary of {summary.get('region')} {summary.get('vintage')} has no raster grid")
    return TileGrid(raster["crs"], float(raster["tile_size_m"]))


def scene_sets(lake: Lake, summary: dict) -> dict[str, SceneSet]:
    """Imagery before (the prior labels' year) and after (this product's scenes)."""
    from landshift.imagery.planning import discover_scenes
    from landshift.regions.layout import resolve_path
    from landshift.regions.registry import get_region

    after = tuple(lake.gdal_path(s) for s in (summary.get("inputs") or {}).get("imagery") or [])
    before: tuple[str, ...] = ()
    year = str((summary.get("prior") or {}).get("year") or "")
    try:
        region = get_region(summary["region"])
        year = year or str(region.prior_labels.year)
        if year and year != str(summary["vintage"]):
            found = discover_scenes(lake, resolve_path(lake.root, region.imagery_prefix(year)))
            before = tuple(lake.gdal_path(s) for s in found)
    except (NotFoundError, InputError) as exc:
        log.info("No before imagery for %s: %s", summary.get("region"), exc)
    return {
        "before": SceneSet(before, f"{year} imagery (prior labels' year)" if before else "no earlier imagery"),
        "after": SceneSet(after, f"{summary['vintage']} imagery"),
    }


@functools.lru_cache(maxsize=32)
def _stats(path: str, crs: str, tile_size_m: float) -> tuple[float, ...]:
    from landshift.imagery.scenes import scene_stats

    return tuple(scene_stats(path, TileGrid(crs, tile_size_m)))


def _read(paths: tuple[str, ...], grid: TileGrid, col: int, row: int, context: float):
    """Pixels (HWC uint8) of the tile with ``context`` tiles around it, from the first covering scene,
    with that scene's stats and the tile's pixel span; None if no scene covers it."""
    from landshift.imagery.scenes import open_on_grid, read_tile

    size = grid.tile_size_m
    margin = context * size
    left, bottom = col * size - margin, row * size - margin
    for path in paths:
        with ExitStack() as stack:
            try:
                src = stack.enter_context(open_on_grid(path, grid))
            except Exception as exc:  # an unreadable scene leaves the chip out, not the page
                log.warning("review: cannot read %s: %s", path, exc)
                continue
            sl, sb, sr, st = src.bounds
            x, y = (col + 0.5) * size, (row + 0.5) * size
            if not (sl <= x <= sr and sb <= y <= st):
                continue
            extent = size + 2 * margin
            px = min(CHIP_PX, max(16, round(extent / abs(src.res[0]))))
            region = _Area((left, bottom, left + extent, bottom + extent))
            pixels, valid = read_tile(src, region, px, resampling="nearest")  # type: ignore[arg-type]
            if valid == 0:
                continue
            start = round(px * margin / extent)
            return pixels, _stats(path, grid.crs, grid.tile_size_m), (start, px - start)
    return None


@dataclass(frozen=True)
class _Area:
    """A box with the ``bounds`` attribute :func:`read_tile` reads."""

    bounds: tuple[float, float, float, float]


def chip_png(lake: Lake, region: str, vintage: str, tile_id: str, side: str, composite: str = "nir") -> bytes | None:
    """A PNG chip of the tile (yellow outline, half a tile of context), or None without imagery."""
    from PIL import Image

    if side not in SIDES:
        raise InputError(f"side must be one of {SIDES}, got {side!r}")
    if composite not in COMPOSITES:
        raise InputError(f"composite must be one of {sorted(COMPOSITES)}, got {composite!r}")
    product = model_product(lake, region, vintage)
    col, row = _tile_position(product, tile_id)
    grid = product_grid(product.summary)
    read = _read(scene_sets(lake, product.summary)[side].paths, grid, col, row, CONTEXT_TILES)
    if read is None:
        return None
    pixels, stats, (start, stop) = read
    buffer = io.BytesIO()
    stretch = [(stats[2 * band], stats[2 * band + 1]) for band in range(len(stats) // 2)]  # per band (2 %, 98 %)
    chip = outline_tile(stretch_bands(pixels, COMPOSITES[composite], stretch), start, stop)
    Image.fromarray(chip).save(buffer, format="PNG")
    return buffer.getvalue()


def _tile_position(product: ModelProduct, tile_id: str) -> tuple[int, int]:
    validate_tile_id(tile_id)
    row = product.tiles[product.tiles["tile_id"] == tile_id]
    if row.empty:
        raise InputError(f"unknown tile {tile_id}: not a tile of the product {product.uri}")
    return int(row["col"].iloc[0]), int(row["row"].iloc[0])


def water_share(pixels: np.ndarray, stats: tuple[float, ...]) -> float | None:
    """Share of valid pixels with NDWI above the scene's Otsu threshold (None without a threshold)."""
    if len(stats) < 9:
        return None
    green, nir = pixels[..., 1].astype(float), pixels[..., 3].astype(float)
    valid = pixels.any(axis=-1)
    total = green + nir
    ndwi = np.divide(green - nir, total, out=np.zeros_like(total), where=total > 0)
    return round(float(((ndwi > stats[8]) & valid).sum() / max(int(valid.sum()), 1)), 4) if valid.any() else None


def tile_details(lake: Lake, region: str, vintage: str, tile_id: str, with_water: bool = True) -> dict:
    """The tile's prior label, the model's class and confidence now and in the previous published
    vintage, and the water share before and after."""
    product = model_product(lake, region, vintage)
    col, row = _tile_position(product, tile_id)
    tile = product.tiles[product.tiles["tile_id"] == tile_id].iloc[0]
    details: dict = {
        "tile_id": tile_id,
        "col": col,
        "row": row,
        "prior": int(tile["prior_class"]),
        "predicted": int(tile["class_code"]),
        "confidence": None if np.isnan(tile["probability"]) else round(float(tile["probability"]), 4),
        "status": str(tile["status"]),
        "previous": None,
        "water_share": None,
    }
    previous = (product.summary.get("change_since_previous") or {}).get("previous_vintage")
    if previous:
        try:
            earlier = raster_tiles(lake, product_uri(lake, region, str(previous)))
            match = earlier[earlier["tile_id"] == tile_id]
            if not match.empty:
                details["previous"] = {
                    "vintage": str(previous),
                    "predicted": int(match["class_code"].iloc[0]),
                    "confidence": round(float(match["probability"].iloc[0]), 4),
                }
        except (NotFoundError, InputError) as exc:
            log.info("No previous vintage for %s: %s", tile_id, exc)
    if with_water:
        grid = product_grid(product.summary)
        shares = {}
        for side, scenes in scene_sets(lake, product.summary).items():
            read = _read(scenes.paths, grid, col, row, 0.0)
            shares[side] = water_share(read[0], read[1]) if read else None
        details["water_share"] = shares
    return details
