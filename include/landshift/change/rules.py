"""Change detection: post-classification comparison of predictions with a prior, per tile."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from landshift.change.policy import ChangeRule
from landshift.core.errors import InputError

CHANGE_COLUMNS = [
    "tile_id",
    "col",
    "row",
    "from_class",
    "to_class",
    "probability",
    "prior_agreement",
    "status",
    "change_code",
]
STATUS_CHANGE = "change"
STATUS_STABLE = "stable"
STATUS_UNCERTAIN = "uncertain_change"
STATUS_NO_PRIOR = "no_prior"

# Values of the change raster. Reported changes are ``from * 100 + to`` (1111..9999, both NLCD
# class codes); every other tile gets a value of its own, so no value means two things.
CHANGE_NODATA = 0  # no tile (outside the scored area, or skipped as nodata)
CHANGE_STABLE = 1  # same class as the prior
CHANGE_UNCERTAIN = 2  # differs from the prior, below the rule's thresholds
CHANGE_NO_PRIOR = 3  # no prior label for the tile
STATUS_CODES = {STATUS_STABLE: CHANGE_STABLE, STATUS_UNCERTAIN: CHANGE_UNCERTAIN, STATUS_NO_PRIOR: CHANGE_NO_PRIOR}
SPECIAL_CHANGE_NAMES = {
    CHANGE_NODATA: "No data",
    CHANGE_STABLE: "Stable",
    CHANGE_UNCERTAIN: "Uncertain change",
    CHANGE_NO_PRIOR: "No prior label",
}


def change_code(from_class: int, to_class: int) -> int:
    """Annual-NLCD-style from-to code of a reported change: ``from * 100 + to``."""
    if from_class == to_class:
        raise InputError(f"no transition from class {from_class} to itself")
    return from_class * 100 + to_class


def is_transition(code: int) -> bool:
    """Whether a change-raster value is a reported from-to transition (not a status value)."""
    return code >= 100


def split_transition(code: int) -> tuple[int, int]:
    """(from, to) classes of a transition code."""
    if not is_transition(code):
        raise InputError(f"change value {code} is not a from-to transition")
    return divmod(int(code), 100)


def compare(predictions: pd.DataFrame, priors: pd.DataFrame, rule: ChangeRule) -> pd.DataFrame:
    """One row per scored tile: from/to classes, the rule's verdict and the change code.

    ``predictions`` needs tile_id, col, row, class_code, probability (scored tiles only);
    ``priors`` needs tile_id, prior_class, prior_agreement.
    """
    missing = {"tile_id", "col", "row", "class_code", "probability"} - set(predictions.columns)
    if missing:
        raise InputError(f"predictions lack columns {sorted(missing)}")
    merged = predictions[["tile_id", "col", "row", "class_code", "probability"]].merge(
        priors[["tile_id", "prior_class", "prior_agreement"]], on="tile_id", how="left"
    )
    has_prior = merged["prior_class"].notna() & (merged["prior_class"] > 0)
    from_class = merged["prior_class"].fillna(0).astype(np.int32)
    to_class = merged["class_code"].astype(np.int32)
    differs = has_prior & (from_class != to_class)
    confident = (merged["probability"] >= rule.min_probability) & (
        merged["prior_agreement"].fillna(0) >= rule.min_prior_agreement
    )
    status = np.select(
        [~has_prior, ~differs, confident],
        [STATUS_NO_PRIOR, STATUS_STABLE, STATUS_CHANGE],
        default=STATUS_UNCERTAIN,
    )
    reported = status == STATUS_CHANGE
    return pd.DataFrame(
        {
            "tile_id": merged["tile_id"],
            "col": merged["col"].astype(np.int32),
            "row": merged["row"].astype(np.int32),
            "from_class": from_class,
            "to_class": to_class,
            "probability": merged["probability"].astype(float),
            "prior_agreement": merged["prior_agreement"].astype(float),
            "status": status,
            "change_code": np.where(
                reported, from_class * 100 + to_class, pd.Series(status).map(STATUS_CODES).fillna(0)
            ).astype(np.int32),
        },
        columns=CHANGE_COLUMNS,
    )


def transition_matrix(changes: pd.DataFrame, codes: list[int], reported_only: bool = False) -> dict:
    """``{from: {to: tiles}}`` over tiles with a prior (only reported changes if asked)."""
    rows = changes[changes["status"] != STATUS_NO_PRIOR]
    if reported_only:
        rows = rows[rows["status"] == STATUS_CHANGE]
    counts = rows.groupby(["from_class", "to_class"]).size()
    return {str(f): {str(t): int(counts.get((f, t), 0)) for t in codes} for f in codes}


def changed_area_km2(changes: pd.DataFrame, tile_size_m: float) -> dict[str, float]:
    """Area of reported change per from-to code, in km²."""
    tile_km2 = (tile_size_m / 1000.0) ** 2
    reported = changes[changes["status"] == STATUS_CHANGE]
    counts = reported.groupby("change_code").size()
    return {str(int(code)): round(float(n) * tile_km2, 6) for code, n in counts.items()}


def change_summary(changes: pd.DataFrame, codes: list[int], tile_size_m: float, rule: ChangeRule) -> dict:
    """Counts, transition matrices and changed areas, JSON-ready."""
    by_status = changes["status"].value_counts()
    area = changed_area_km2(changes, tile_size_m)
    return {
        "rule": asdict(rule),
        "tiles_compared": int((changes["status"] != STATUS_NO_PRIOR).sum()),
        "tiles_stable": int(by_status.get(STATUS_STABLE, 0)),
        "tiles_changed": int(by_status.get(STATUS_CHANGE, 0)),
        "tiles_uncertain": int(by_status.get(STATUS_UNCERTAIN, 0)),
        "tiles_without_prior": int(by_status.get(STATUS_NO_PRIOR, 0)),
        "changed_area_km2": round(sum(area.values()), 6),
        "changed_area_km2_by_transition": area,
        "transition_matrix": transition_matrix(changes, codes),
        "reported_transition_matrix": transition_matrix(changes, codes, reported_only=True),
    }
