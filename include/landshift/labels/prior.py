"""Prior land-cover labels: any single-band NLCD-coded raster aggregated to the tile grid."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from landshift.core.errors import InputError
from landshift.core.grid import Bounds, TileGrid, tile_ids
from landshift.core.legend import Legend
from landshift.imagery.scenes import crs_name, parse_crs

log = logging.getLogger(__name__)

MAX_CHECK_PIXELS = 16_000_000  # label rasters larger than this are checked on a nearest-neighbour decimation
MAX_UNKNOWN_SHARE = 0.05
LABEL_COLUMNS = [
    "tile_id",
    "col",
    "row",
    "prior_class",
    "prior_agreement",
    "prior_valid_fraction",
    "prior_water_share",
]
WATER_CODE = 11
CONFIDENCE_LEVELS = ("low", "medium", "high")
MAX_SUBPIXELS = 112
ROWS_PER_CHUNK = 8


def subpixels_per_tile(tile_size_m: float, label_resolution_m: float) -> int:
    """How many label samples per tile side: about one per label pixel, at least 1, capped."""
    return int(min(MAX_SUBPIXELS, max(1, round(tile_size_m / label_resolution_m))))


def code_lookup(code_map: dict[int, int] | None) -> np.ndarray | None:
    """A 65536-entry table applying ``code_map`` (other codes kept), or None without a map."""
    if not code_map:
        return None
    table = np.arange(65536, dtype=np.int64)
    for source, target in code_map.items():
        if not (0 <= int(source) <= 65535 and 0 <= int(target) <= 255):
            raise InputError(f"code_map {source} -> {target}: source codes 0..65535, NLCD codes 0..255")
        table[int(source)] = int(target)
    return table


def apply_code_map(codes: np.ndarray, code_map: dict[int, int] | None) -> np.ndarray:
    """The raster's codes translated to NLCD codes through ``code_map`` (unchanged without one)."""
    table = code_lookup(code_map)
    if table is None:
        return codes
    return table[np.clip(codes.astype(np.int64), 0, 65535)]


def label_code_counts(path: str) -> tuple[dict[int, int], float | None]:
    """Pixel count of every code of a label raster (decimated beyond MAX_CHECK_PIXELS), and its nodata."""
    try:
        with rasterio.open(path) as src:
            _check_label_raster(path, src)
            step = max(1, int(np.ceil(np.sqrt(src.width * src.height / MAX_CHECK_PIXELS))))
            codes = src.read(
                1,
                out_shape=(max(1, src.height // step), max(1, src.width // step)),
                resampling=Resampling.nearest,
            )
            nodata = src.nodata
    except RasterioIOError as exc:
        raise InputError(f"{path}: not a readable label raster: {exc}") from exc
    values, counts = np.unique(codes, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts, strict=True)}, nodata


def check_label_codes(
    path: str,
    legend: Legend,
    code_map: dict[int, int] | None = None,
    max_unknown_share: float = MAX_UNKNOWN_SHARE,
) -> dict:
    """Refuse a label raster whose codes the legend does not know (after ``code_map``).

    Nodata and 0 are not labels. When more than ``max_unknown_share`` of the labelled pixels
    hold codes outside the legend (or none is known), InputError lists the unknown codes with
    their counts and suggests a ``code_map``. Returns the known and unknown counts.
    """
    counts, nodata = label_code_counts(path)
    known_sources = set(np.nonzero(legend.source_lookup())[0].tolist())
    table = code_lookup(code_map)
    known: dict[int, int] = {}
    unknown: dict[int, int] = {}
    for code, count in counts.items():
        if code == 0 or (nodata is not None and code == nodata):
            continue
        mapped = int(table[min(max(code, 0), 65535)]) if table is not None else code
        if mapped == 0:
            continue  # mapped to "no label" on purpose
        (known if mapped in known_sources else unknown)[code] = count
    labelled = sum(known.values()) + sum(unknown.values())
    share = sum(unknown.values()) / labelled if labelled else 1.0
    if not known or share > max_unknown_share:
        listed = ", ".join(f"{c}: {n} px" for c, n in sorted(unknown.items(), key=lambda kv: -kv[1])[:12])
        raise InputError(
            f"{path}: {share:.0%} of the labelled pixels hold codes not in legend {legend.name!r} "
            f"(unknown codes {listed or 'none'}; known NLCD codes {sorted(known_sources)}); "
            "give a code_map from this raster's codes to NLCD codes"
            + (" (the one given leaves them unknown)" if code_map else "")
        )
    return {"known": known, "unknown": unknown, "unknown_share": share}


def aggregate_labels(
    path: str,
    grid: TileGrid,
    legend: Legend,
    aoi: Bounds | None = None,
    min_valid_fraction: float = 0.5,
    code_map: dict[int, int] | None = None,
    check_codes: bool = True,
) -> pd.DataFrame:
    """Majority class per tile of a label raster, with the majority's share of valid samples.

    The raster's codes go through ``code_map`` (for other legends), then NLCD codes are mapped
    through ``legend``; codes it does not know count as nodata. Tiles whose valid share is below
    ``min_valid_fraction`` are left out. With ``check_codes`` a raster whose codes the legend
    does not know is refused first (:func:`check_label_codes`), never read as all nodata.
    """
    if check_codes:
        check_label_codes(path, legend, code_map)
    table = code_lookup(code_map)
    try:
        with rasterio.open(path) as src:
            _check_label_raster(path, src)
            k = subpixels_per_tile(grid.tile_size_m, _resolution_in_grid_units(src, grid))
            footprint = transform_bounds(src.crs, parse_crs(grid.crs), *src.bounds, densify_pts=21)
            cols, rows = grid.index_range(_clip(footprint, aoi))
            sample_size = grid.tile_size_m / k
            with WarpedVRT(
                src,
                crs=parse_crs(grid.crs),
                transform=Affine(
                    sample_size,
                    0,
                    cols.start * grid.tile_size_m,
                    0,
                    -sample_size,
                    rows.stop * grid.tile_size_m,
                ),
                width=len(cols) * k,
                height=len(rows) * k,
                resampling=Resampling.nearest,
                nodata=src.nodata if src.nodata is not None else 0,
            ) as vrt:
                frames = [
                    _aggregate_rows(vrt, legend, cols, rows, row_offset, k, table)
                    for row_offset in range(0, len(rows), ROWS_PER_CHUNK)
                ]
    except RasterioIOError as exc:
        raise InputError(f"{path}: not a readable label raster: {exc}") from exc
    labels = pd.concat(frames, ignore_index=True)
    kept = labels[labels["prior_valid_fraction"] >= min_valid_fraction].reset_index(drop=True)
    log.info(
        "Aggregated %s to %d tiles (%d sub-samples per side), %d left out as mostly nodata",
        path,
        len(kept),
        k,
        len(labels) - len(kept),
    )
    return kept


def _check_label_raster(path: str, src: rasterio.DatasetReader) -> None:
    if src.crs is None or src.transform.is_identity:
        raise InputError(f"{path}: label raster is not georeferenced")
    if src.count != 1:
        raise InputError(f"{path}: label raster must have 1 band, has {src.count}")
    if src.dtypes[0] not in ("uint8", "uint16", "int16", "int32"):
        raise InputError(f"{path}: label raster must hold integer codes, has {src.dtypes[0]}")


def _resolution_in_grid_units(src: rasterio.DatasetReader, grid: TileGrid) -> float:
    """Approximate pixel size of ``src`` in the grid CRS."""
    left, bottom, right, top = transform_bounds(src.crs, parse_crs(grid.crs), *src.bounds)
    if crs_name(src.crs) == grid.crs:
        return float(min(abs(src.res[0]), abs(src.res[1])))
    return float(min((right - left) / src.width, (top - bottom) / src.height))


def _clip(footprint: Bounds, aoi: Bounds | None) -> Bounds:
    if aoi is None:
        return footprint
    clipped = (
        max(footprint[0], aoi[0]),
        max(footprint[1], aoi[1]),
        min(footprint[2], aoi[2]),
        min(footprint[3], aoi[3]),
    )
    if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
        raise InputError(f"AOI {aoi} does not intersect the label raster {footprint}")
    return clipped


def _aggregate_rows(
    vrt: WarpedVRT,
    legend: Legend,
    cols: range,
    rows: range,
    row_offset: int,
    k: int,
    table: np.ndarray | None = None,
) -> pd.DataFrame:
    """Aggregate up to ROWS_PER_CHUNK tile rows, counted from the north edge of ``rows``."""
    n_rows = min(ROWS_PER_CHUNK, len(rows) - row_offset)
    window = Window(0, row_offset * k, len(cols) * k, n_rows * k)
    raw = vrt.read(1, window=window)
    codes = table[np.clip(raw.astype(np.int64), 0, 65535)] if table is not None else raw
    codes = np.where(raw == vrt.nodata, 0, np.clip(codes, 0, 255))
    classes = legend.map_codes(codes)
    blocks = classes.reshape(n_rows, k, len(cols), k).transpose(0, 2, 1, 3)
    counts = np.stack([(blocks == code).sum(axis=(2, 3)) for code in legend.codes], axis=-1)
    valid = counts.sum(axis=-1)
    majority = np.array(legend.codes, dtype=np.int32)[counts.argmax(axis=-1)]
    agreement = np.divide(counts.max(axis=-1), valid, out=np.zeros(valid.shape), where=valid > 0)
    water = counts[..., legend.codes.index(WATER_CODE)] if WATER_CODE in legend.codes else np.zeros(valid.shape)
    water_share = np.divide(water, valid, out=np.zeros(valid.shape), where=valid > 0)
    north_row = rows.stop - 1 - row_offset
    row_ids = np.repeat(np.arange(north_row, north_row - n_rows, -1), len(cols))
    col_ids = np.tile(np.arange(cols.start, cols.stop), n_rows)
    return pd.DataFrame(
        {
            "tile_id": tile_ids(col_ids, row_ids),
            "col": col_ids.astype(np.int32),
            "row": row_ids.astype(np.int32),
            "prior_class": np.where(valid > 0, majority, 0).ravel().astype(np.int32),
            "prior_agreement": agreement.ravel(),
            "prior_valid_fraction": (valid / (k * k)).ravel(),
            "prior_water_share": water_share.ravel(),
        },
        columns=LABEL_COLUMNS,
    )


def reference_table(path: str, legend: Legend) -> pd.DataFrame:
    """An annotator's per-tile reference CSV (``tile_id, col, row, nlcd_class, confidence, ...``)
    as (tile_id, col, row, reference_class, confidence): classes mapped through ``legend``."""
    try:
        raw = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable reference-label CSV: {exc}") from exc
    missing = sorted({"tile_id", "col", "row", "nlcd_class", "confidence"} - set(raw.columns))
    if missing:
        raise InputError(f"{path}: reference-label CSV lacks columns {missing}")
    unknown = sorted(set(raw["confidence"].astype(str)) - set(CONFIDENCE_LEVELS))
    if unknown:
        raise InputError(f"{path}: confidence must be one of {list(CONFIDENCE_LEVELS)}, got {unknown}")
    classes = legend.map_codes(raw["nlcd_class"].to_numpy().clip(0, 255).astype(np.uint8))
    return pd.DataFrame(
        {
            "tile_id": raw["tile_id"].astype(str),
            "col": raw["col"].astype(np.int32),
            "row": raw["row"].astype(np.int32),
            "reference_class": np.asarray(classes, dtype=np.int32),
            "confidence": raw["confidence"].astype(str),
        }
    )
