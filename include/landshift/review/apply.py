"""The reviewed product: the model's product with the analysts' latest decisions applied, republished.

``accept`` keeps the model's class (an uncertain change the analyst accepts becomes a reported
change), ``reject`` puts the tile back to its prior class (stable), ``relabel`` gives it the
analyst's class (a change from the prior unless it equals it). A decided tile's confidence is the
model's probability when the analyst kept the model's class, else 100 % (the analyst's call).

The product is rebuilt with the publishing code every product uses (:func:`build_product`) and
swapped in atomically by :func:`publish_dir`, which keeps the replaced product in ``trash/``
(at least one previous version). Before the model's product is first replaced, its tiles and
summary are kept under ``reviews/<region>/<vintage>/base/``, so a later apply always starts from
the model's calls, never from an earlier review. ``summary.json`` gets a ``review`` block and the
STAC item the same figures as ``landshift:review``.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from landshift.change.policy import ChangeRule
from landshift.change.rules import (
    CHANGE_COLUMNS,
    CHANGE_NO_PRIOR,
    CHANGE_STABLE,
    STATUS_CHANGE,
    STATUS_NO_PRIOR,
    STATUS_STABLE,
    change_summary,
)
from landshift.core.errors import NotFoundError
from landshift.core.grid import TileGrid
from landshift.lake.base import Lake, write_table
from landshift.review.decisions import ACCEPT, REJECT, RELABEL, Decision, decisions_uri, latest_decisions
from landshift.review.queue import ModelProduct, base_uri, model_product, product_legend

log = logging.getLogger(__name__)


def reviewed_tables(tiles: pd.DataFrame, decisions: dict[str, Decision]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The predictions and change tables of the reviewed product (scored tiles only)."""
    scored = tiles[tiles["probability"].notna()].reset_index(drop=True)
    classes = scored["class_code"].to_numpy(dtype=np.int32).copy()
    probability = scored["probability"].to_numpy(dtype=float).copy()
    status = scored["status"].to_numpy(dtype=object).copy()
    codes = scored["change_code"].to_numpy(dtype=np.int32).copy()
    prior = scored["prior_class"].to_numpy(dtype=np.int32)
    for i, tile_id in enumerate(scored["tile_id"]):
        decision = decisions.get(tile_id)
        if decision is None:
            continue
        final = decision.final_class
        if final != classes[i]:
            probability[i] = 1.0
        classes[i] = final
        if prior[i] == 0:
            status[i], codes[i] = STATUS_NO_PRIOR, CHANGE_NO_PRIOR
        elif final == prior[i]:
            status[i], codes[i] = STATUS_STABLE, CHANGE_STABLE
        else:
            status[i], codes[i] = STATUS_CHANGE, prior[i] * 100 + final
    predictions = pd.DataFrame(
        {
            "tile_id": scored["tile_id"],
            "col": scored["col"].astype(np.int32),
            "row": scored["row"].astype(np.int32),
            "class_code": classes,
            "probability": probability,
        }
    )
    changes = pd.DataFrame(
        {
            "tile_id": scored["tile_id"],
            "col": scored["col"].astype(np.int32),
            "row": scored["row"].astype(np.int32),
            "from_class": prior,
            "to_class": classes,
            "probability": probability,
            "prior_agreement": scored["prior_agreement"].astype(float),
            "status": status.astype(str),
            "change_code": codes,
        },
        columns=CHANGE_COLUMNS,
    )
    return predictions, changes


def review_block(product: ModelProduct, decisions: dict[str, Decision], lake: Lake) -> dict:
    """What was reviewed: counts per decision, reviewers, the model product it was applied to."""
    known = set(product.tiles["tile_id"])
    applied = [d for tile, d in sorted(decisions.items()) if tile in known]
    count = {kind: sum(d.decision == kind for d in applied) for kind in (ACCEPT, REJECT, RELABEL)}
    region, vintage = product.summary["region"], str(product.summary["vintage"])
    return {
        "reviewed": len(applied),
        "accepted": count[ACCEPT],
        "rejected": count[REJECT],
        "relabelled": count[RELABEL],
        "reviewers": sorted({d.reviewer for d in applied}),
        "last_decision_at": max((d.decided_at for d in applied), default=None),
        "base_digest": product.digest,
        "base_model_version": str(product.summary.get("model", {}).get("version", "")),
        "decisions_uri": decisions_uri(lake, region, vintage),
        "base_uri": base_uri(lake, region, vintage),
    }


def reviewed_summary(product: ModelProduct, predictions: pd.DataFrame, changes: pd.DataFrame, review: dict) -> dict:
    """The model product's summary with class counts and change figures of the reviewed tables."""
    summary = dict(product.summary)
    tile_size = float(summary["raster"]["tile_size_m"])
    tile_km2 = (tile_size / 1000.0) ** 2
    class_tiles = predictions["class_code"].value_counts()
    rule = ChangeRule(**summary["change"]["rule"]) if "change" in summary else ChangeRule()
    summary["class_tiles"] = {str(int(c)): int(n) for c, n in sorted(class_tiles.items())}
    summary["class_area_km2"] = {str(int(c)): round(int(n) * tile_km2, 6) for c, n in sorted(class_tiles.items())}
    summary["change"] = change_summary(changes, product_legend(summary).codes, tile_size, rule)
    summary["review"] = review
    return summary


def _chip_sources(lake: Lake, summary: dict):
    """Imagery for the report's chips: the product's scenes after, the prior labels' year before."""
    from landshift.products.report_html import ChipSources

    after = list((summary.get("inputs") or {}).get("imagery") or [])
    if not after:
        return None
    before: list[str] = []
    try:
        from landshift.imagery.planning import discover_scenes
        from landshift.regions.layout import resolve_path
        from landshift.regions.registry import get_region

        region = get_region(summary["region"])
        year = str(region.prior_labels.year)
        if year != str(summary["vintage"]):
            before = discover_scenes(lake, resolve_path(lake.root, region.imagery_prefix(year)))
    except (NotFoundError, ValueError) as exc:  # InputError is a ValueError
        log.info("No before imagery for the reviewed product's chips: %s", exc)
    return ChipSources(
        after_scenes=[lake.gdal_path(s) for s in after],
        after_caption=f"{summary['vintage']} imagery (this vintage)",
        before_scenes=[lake.gdal_path(s) for s in before],
        before_caption="imagery of the prior labels' year" if before else "no earlier imagery in the lake",
    )


def keep_base(lake: Lake, product: ModelProduct) -> None:
    """Keep the model's product tables before a reviewed product replaces it (once per model product)."""
    region, vintage = product.summary["region"], str(product.summary["vintage"])
    base = base_uri(lake, region, vintage)
    write_table(lake, f"{base}/tiles.parquet", product.tiles)
    lake.write_bytes(f"{base}/summary.json", (json.dumps(product.summary, indent=2, sort_keys=True) + "\n").encode())


def apply_reviews(lake: Lake, region: str, vintage: str) -> dict:
    """Republish ``published/<region>/<vintage>`` with the latest decisions applied; the summary as published."""
    from landshift.lake.publishing import keep_previous_default, publish_dir
    from landshift.products.layout import PRODUCT_FILES
    from landshift.products.publish import build_product
    from landshift.products.stac import StacContext, update_catalog

    product = model_product(lake, region, vintage)
    decisions = latest_decisions(lake, region, vintage)
    predictions, changes = reviewed_tables(product.tiles, decisions)
    review = review_block(product, decisions, lake)
    summary = reviewed_summary(product, predictions, changes, review)
    raster = summary["raster"]
    grid = TileGrid(raster["crs"], float(raster["tile_size_m"]))
    if "review" not in json.loads(lake.read_bytes(f"{product.uri}/summary.json")):
        keep_base(lake, product)
    context = StacContext.for_product(lake, product.uri)
    with tempfile.TemporaryDirectory(prefix="landshift-reviewed-") as tmp:
        published = build_product(
            tmp,
            predictions,
            changes,
            product_legend(summary),
            grid,
            summary,
            stac=context,
            chips=_chip_sources(lake, summary),
        )
        item_path = Path(tmp, "item.json")
        item = json.loads(item_path.read_text())
        item["properties"]["landshift:review"] = {
            k: review[k] for k in ("reviewed", "accepted", "rejected", "relabelled", "reviewers", "last_decision_at")
        }
        item_path.write_text(json.dumps(item, indent=2, sort_keys=True) + "\n")
        missing = [name for name in PRODUCT_FILES if not Path(tmp, name).is_file()]
        if missing:
            raise RuntimeError(f"reviewed product incomplete, not published: missing {missing}")
        publish_dir(lake, tmp, product.uri, keep_previous=max(1, keep_previous_default()))
    update_catalog(lake, product.uri)
    log.info("Published the reviewed %s %s: %s", region, vintage, review)
    return published


def reapply_reviews(lake: Lake, region: str, vintage: str) -> dict:
    """After a model run republished a vintage: apply the analysts' decisions again, if there are any.

    Returns ``{"review": <the review block>}``, or ``{"review": None}`` when nobody reviewed the
    vintage (then nothing is written, and the model's product stays byte for byte as published).
    """
    if not latest_decisions(lake, region, vintage):
        return {"review": None}
    return {"review": apply_reviews(lake, region, vintage)["review"]}
