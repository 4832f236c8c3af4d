"""Analysts' decisions as a label source for training: one weighted label per decided tile.

A decision says which class a tile of a vintage really has: ``accept`` the model's class,
``reject`` the prior class, ``relabel`` the analyst's. Those labels were looked at by a person,
tile by tile, so training may weigh them above the annotated prior labels
(:data:`REVIEW_LABEL_WEIGHT`). The training run reads them with :func:`review_labels`.
"""

from __future__ import annotations

import logging

import pandas as pd

from landshift.core.grid import TILE_ID_PATTERN
from landshift.lake.base import Lake
from landshift.model.lovo import REVIEW_LABEL_WEIGHT
from landshift.regions.registry import validate_region_id
from landshift.review.decisions import latest_decisions

log = logging.getLogger(__name__)

REVIEW_LABEL_COLUMNS = ["tile_id", "col", "row", "vintage", "label_class", "weight", "decision", "reviewer"]


def reviewed_vintages(lake: Lake, region: str) -> list[str]:
    """Vintages of a region with at least one decision."""
    root = lake.uri("reviews", validate_region_id(region))
    prefix = root.rstrip("/") + "/"
    found = {u[len(prefix) :].split("/", 1)[0] for u in lake.list_files(root, ".json") if "/decisions/" in u}
    return sorted(v for v in found if v.isdigit())


def review_labels(lake: Lake, region: str, weight: float = REVIEW_LABEL_WEIGHT) -> pd.DataFrame:
    """The latest decision of every decided tile of every vintage of ``region`` as a label row."""
    rows = []
    for vintage in reviewed_vintages(lake, region):
        for tile_id, decision in sorted(latest_decisions(lake, region, vintage).items()):
            match = TILE_ID_PATTERN.match(tile_id)
            if match is None or not decision.final_class:
                continue
            rows.append(
                {
                    "tile_id": tile_id,
                    "col": int(match.group(1)),
                    "row": int(match.group(2)),
                    "vintage": vintage,
                    "label_class": int(decision.final_class),
                    "weight": float(weight),
                    "decision": decision.decision,
                    "reviewer": decision.reviewer,
                }
            )
    log.info("Review labels of %s: %d tile(s)", region, len(rows))
    return pd.DataFrame(rows, columns=REVIEW_LABEL_COLUMNS)
