"""The review queue of a published product: what an analyst should look at, most uncertain first.

A published product keeps no Parquet tables (a run's work folder is deleted once the product is
published), so the queue is computed from the product's own per-tile rasters, one pixel per tile:
``landuse.tif`` (the model's class), ``confidence.tif`` (its probability, percent) and
``change.tif`` (the rule's verdict, ``from * 100 + to`` for a reported change). A reported change
carries its prior class in its code; for the other tiles that differ from the prior ("uncertain
change", value 2) the prior labels recorded in ``summary.json`` are aggregated to the tiles again.

Queue: every reported change (reason ``change``) plus the unchanged tiles the model is least sure
of (reason ``uncertain``), all ordered by the model's confidence, lowest first. Why that order:
an analyst's first decisions should be the ones most likely to correct the map and to teach the
next model the most. The least confident calls are the likeliest to be wrong (uncertainty
sampling); the product stores only the winning probability ``p``, and with it the margin to the
runner-up is at least ``2p - 1``, so sorting by ``p`` is sorting by that margin bound.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from landshift.change.rules import (
    CHANGE_NO_PRIOR,
    CHANGE_NODATA,
    CHANGE_STABLE,
    CHANGE_UNCERTAIN,
    STATUS_CHANGE,
    STATUS_NO_PRIOR,
    STATUS_STABLE,
    STATUS_UNCERTAIN,
)
from landshift.core.errors import InputError, NotFoundError
from landshift.core.grid import TILE_ID_PATTERN, TileGrid, tile_ids
from landshift.core.legend import DEFAULT_LEGEND, Legend
from landshift.lake.base import Lake, read_json
from landshift.regions.layout import RunLayout
from landshift.regions.registry import validate_region_id, validate_vintage

log = logging.getLogger(__name__)

REASON_CHANGE = "change"
REASON_UNCERTAIN = "uncertain"
DEFAULT_UNCERTAIN_TILES = 30  # unchanged tiles added to the queue, least confident first
CONFIDENCE_NODATA = 255
TILE_COLUMNS = [
    "tile_id",
    "col",
    "row",
    "class_code",
    "probability",
    "change_code",
    "status",
    "prior_class",
    "prior_agreement",
]


@dataclass(frozen=True)
class QueueItem:
    """One tile to review: why it is queued, the classes and the model's confidence."""

    position: int
    tile_id: str
    col: int
    row: int
    reason: str
    status: str
    predicted: int
    prior: int
    confidence: float
    change_code: int

    def to_dict(self) -> dict:
        """JSON-ready."""
        return asdict(self)


def validate_tile_id(tile_id: str) -> str:
    """Return ``tile_id`` if it is a grid id ``E{col}_N{row}``, else InputError (never a path)."""
    if not isinstance(tile_id, str) or not TILE_ID_PATTERN.match(tile_id):
        raise InputError(f"tile id {tile_id!r} is not a grid tile id like E2170_N23240")
    return tile_id


def product_uri(lake: Lake, region: str, vintage: str) -> str:
    """The published product folder of a registered region's vintage (both validated)."""
    return RunLayout(lake.root, validate_region_id(region), validate_vintage(vintage)).published


def read_summary(lake: Lake, product: str) -> dict:
    """The product's summary.json, or NotFoundError naming the product."""
    uri = f"{product}/summary.json"
    if not lake.exists(uri):
        raise NotFoundError(f"no published product at {product}")
    return read_json(lake, uri)


def product_digest(lake: Lake, product: str) -> str:
    """A short digest of the product's summary.json: which publication a decision was made on."""
    return hashlib.sha256(lake.read_bytes(f"{product}/summary.json")).hexdigest()[:16]


def product_legend(summary: dict) -> Legend:
    """The product's legend (the default one if the summary carries none)."""
    return Legend.from_dict(summary["legend"]) if "legend" in summary else DEFAULT_LEGEND


def _read_band(lake: Lake, uri: str) -> tuple[np.ndarray, int, int, float]:
    """Band 1 of a one-pixel-per-tile raster, its first column, its top row + 1 and tile size."""
    import rasterio

    from landshift.lake.base import local_copy

    with local_copy(lake, uri) as path, rasterio.open(path) as src:
        size = float(src.transform.a)
        return src.read(1), round(src.transform.c / size), round(src.transform.f / size), size


def raster_tiles(lake: Lake, product: str) -> pd.DataFrame:
    """Per-tile class, confidence and change value of a product, read from its rasters."""
    landuse, col0, row_top, _ = _read_band(lake, f"{product}/landuse.tif")
    confidence, *_ = _read_band(lake, f"{product}/confidence.tif")
    change, *_ = _read_band(lake, f"{product}/change.tif")
    rows, cols = np.nonzero(change != CHANGE_NODATA)
    codes = change[rows, cols].astype(np.int32)
    percent = confidence[rows, cols].astype(float)
    return pd.DataFrame(
        {
            "tile_id": tile_ids(col0 + cols, row_top - 1 - rows),
            "col": (col0 + cols).astype(np.int32),
            "row": (row_top - 1 - rows).astype(np.int32),
            "class_code": landuse[rows, cols].astype(np.int32),
            "probability": np.where(percent == CONFIDENCE_NODATA, np.nan, percent / 100.0),
            "change_code": codes,
        }
    )


def _status(code: int) -> str:
    if code >= 100:
        return STATUS_CHANGE
    return {CHANGE_STABLE: STATUS_STABLE, CHANGE_UNCERTAIN: STATUS_UNCERTAIN, CHANGE_NO_PRIOR: STATUS_NO_PRIOR}[code]


def _priors(lake: Lake, summary: dict, tiles: pd.DataFrame) -> pd.DataFrame | None:
    """The prior labels recorded in the summary, aggregated to the tiles again (None if not in the lake)."""
    uri = (summary.get("prior") or {}).get("uri") or (summary.get("inputs") or {}).get("prior_labels")
    if not uri or not lake.exists(uri) or tiles.empty:
        return None
    from landshift.labels.prior import aggregate_labels
    from landshift.regions.registry import get_region

    raster = summary.get("raster") or {}
    grid = TileGrid(raster["crs"], float(raster["tile_size_m"]))
    try:
        code_map = get_region(summary["region"]).prior_labels.code_map
    except (NotFoundError, InputError):
        code_map = None
    size = grid.tile_size_m
    bounds = (
        float(tiles["col"].min()) * size,
        float(tiles["row"].min()) * size,
        float(tiles["col"].max() + 1) * size,
        float(tiles["row"].max() + 1) * size,
    )
    return aggregate_labels(
        lake.gdal_path(uri), grid, product_legend(summary), bounds, code_map=code_map, check_codes=False
    )


def product_tiles(lake: Lake, product: str, summary: dict | None = None) -> pd.DataFrame:
    """Every tile of a published product: model class and confidence, change verdict, prior class."""
    summary = summary if summary is not None else read_summary(lake, product)
    tiles = raster_tiles(lake, product)
    tiles["status"] = [_status(int(c)) for c in tiles["change_code"]]
    prior = np.where(tiles["status"] == STATUS_STABLE, tiles["class_code"], 0)
    reported = tiles["status"] == STATUS_CHANGE
    prior = np.where(reported, tiles["change_code"] // 100, prior)
    priors = _priors(lake, summary, tiles)
    agreement = np.full(len(tiles), np.nan)
    if priors is not None:
        by_tile = priors.set_index("tile_id")
        found = by_tile.reindex(tiles["tile_id"])
        uncertain = (tiles["status"] == STATUS_UNCERTAIN).to_numpy()
        prior = np.where(uncertain, found["prior_class"].fillna(0).to_numpy(), prior)
        agreement = found["prior_agreement"].to_numpy(dtype=float)
    tiles["prior_class"] = prior.astype(np.int32)
    tiles["prior_agreement"] = agreement
    return tiles[TILE_COLUMNS].sort_values(["row", "col"], ascending=[False, True]).reset_index(drop=True)


def build_queue(tiles: pd.DataFrame, uncertain_tiles: int = DEFAULT_UNCERTAIN_TILES) -> list[QueueItem]:
    """Every reported change and the ``uncertain_tiles`` least confident unchanged tiles, least
    confident first (ties by tile id, so the order is stable)."""
    if uncertain_tiles < 0:
        raise InputError(f"uncertain_tiles must be >= 0, got {uncertain_tiles}")
    scored = tiles[tiles["probability"].notna()]
    changes = scored[scored["status"] == STATUS_CHANGE].assign(reason=REASON_CHANGE)
    unchanged = scored[scored["status"].isin([STATUS_STABLE, STATUS_UNCERTAIN])]
    unchanged = unchanged.sort_values(["probability", "tile_id"]).head(uncertain_tiles).assign(reason=REASON_UNCERTAIN)
    queued = pd.concat([changes, unchanged]).sort_values(["probability", "tile_id"]).reset_index(drop=True)
    return [
        QueueItem(
            position=int(i),
            tile_id=str(t.tile_id),
            col=int(t.col),
            row=int(t.row),
            reason=str(t.reason),
            status=str(t.status),
            predicted=int(t.class_code),
            prior=int(t.prior_class),
            confidence=round(float(t.probability), 4),
            change_code=int(t.change_code),
        )
        for i, t in enumerate(queued.itertuples(index=False))
    ]


def reviews_uri(lake: Lake, region: str, vintage: str) -> str:
    """Where the decisions and the model's snapshot of a region's vintage live: ``reviews/<region>/<vintage>``."""
    return lake.uri("reviews", validate_region_id(region), validate_vintage(vintage))


def base_uri(lake: Lake, region: str, vintage: str) -> str:
    """Where the model's (unreviewed) product tables are kept once a reviewed product replaces it."""
    return f"{reviews_uri(lake, region, vintage)}/base"


# Tiles of recently read products, keyed by URI and file revisions (a republish changes the key):
# the review page asks for the same product's tiles on every request.
TILES_CACHE_SIZE = 8
_TILES_CACHE: OrderedDict[tuple[str, str, str], pd.DataFrame] = OrderedDict()


@dataclass(frozen=True)
class ModelProduct:
    """The model's product of a vintage (before review): its tiles, summary and where it is published."""

    uri: str
    summary: dict
    tiles: pd.DataFrame
    digest: str


def model_product(lake: Lake, region: str, vintage: str) -> ModelProduct:
    """The model's product: the published one, or, when that is a reviewed product, the snapshot of
    the model's product that :func:`landshift.review.apply.apply_reviews` kept before replacing it."""
    from landshift.lake.base import read_table

    uri = product_uri(lake, region, vintage)
    summary = read_summary(lake, uri)
    if "review" not in summary:
        key = (uri, lake.file_info(f"{uri}/summary.json").revision, lake.file_info(f"{uri}/change.tif").revision)
        if key not in _TILES_CACHE:
            _TILES_CACHE[key] = product_tiles(lake, uri, summary)
            while len(_TILES_CACHE) > TILES_CACHE_SIZE:
                _TILES_CACHE.popitem(last=False)
        return ModelProduct(uri, summary, _TILES_CACHE[key], product_digest(lake, uri))
    base = base_uri(lake, region, vintage)
    if not lake.exists(f"{base}/tiles.parquet"):
        raise NotFoundError(f"{uri} is a reviewed product but the model's snapshot {base} is missing")
    base_summary = read_json(lake, f"{base}/summary.json")
    return ModelProduct(uri, base_summary, read_table(lake, f"{base}/tiles.parquet"), summary["review"]["base_digest"])


def review_queue(
    lake: Lake, region: str, vintage: str, limit: int | None = None, uncertain_tiles: int = DEFAULT_UNCERTAIN_TILES
) -> list[QueueItem]:
    """The review queue of a published product (first ``limit`` items, all if None)."""
    if limit is not None and limit < 0:
        raise InputError(f"limit must be >= 0, got {limit}")
    queue = build_queue(model_product(lake, region, vintage).tiles, uncertain_tiles)
    return queue if limit is None else queue[:limit]
