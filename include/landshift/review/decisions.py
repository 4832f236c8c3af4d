"""Analysts' decisions on queued tiles, kept in the lake under ``reviews/<region>/<vintage>/``.

Each decision is its own small JSON file, ``decisions/<tile_id>/<stamp>-<random>.json``, written
in one step (:meth:`Lake.write_bytes`): two reviewers deciding at the same moment write two files
and both keep their decision; deciding a tile again adds a file, so the history stays and the
latest decision (by time, then file name) counts. Region, vintage and tile id are validated
before any path is built, so no decision can be written outside the lake.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from landshift.core.errors import InputError, NotFoundError
from landshift.lake.base import Lake, read_json
from landshift.review.queue import ModelProduct, model_product, reviews_uri, validate_tile_id

log = logging.getLogger(__name__)

ACCEPT, REJECT, RELABEL = "accept", "reject", "relabel"
DECISIONS = (ACCEPT, REJECT, RELABEL)
DEFAULT_REVIEWER = "cli"
CSV_COLUMNS = ("region", "vintage", "tile_id", "decision", "label", "reviewer")


@dataclass(frozen=True)
class Decision:
    """One analyst's decision on one tile of one product."""

    region: str
    vintage: str
    tile_id: str
    decision: str
    label: int | None
    reviewer: str
    decided_at: str
    product_digest: str
    model_name: str
    model_version: str
    predicted: int
    prior: int

    def to_dict(self) -> dict:
        """JSON-ready."""
        return asdict(self)

    @property
    def final_class(self) -> int:
        """The class the analyst says the tile has: predicted, prior, or the relabel."""
        if self.decision == ACCEPT:
            return self.predicted
        if self.decision == REJECT:
            return self.prior or self.predicted
        return int(self.label or 0)


def decisions_uri(lake: Lake, region: str, vintage: str) -> str:
    """The folder of every decision file of a region's vintage."""
    return f"{reviews_uri(lake, region, vintage)}/decisions"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_decision(
    product: ModelProduct, tile_id: str, decision: str, label: int | None, reviewer: str
) -> tuple[int, int]:
    """Refuse a bad decision (unknown tile, decision or class, relabel without label); (predicted, prior)."""
    validate_tile_id(tile_id)
    if decision not in DECISIONS:
        raise InputError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    if decision == RELABEL and label is None:
        raise InputError(f"relabel of {tile_id} needs a class: give --label with an NLCD code")
    if decision != RELABEL and label is not None:
        raise InputError(f"--label goes with relabel only, not with {decision}")
    if label is not None:
        from landshift.review.queue import product_legend

        codes = product_legend(product.summary).codes
        if int(label) not in codes:
            raise InputError(f"unknown class code {label}: the product's classes are {codes}")
    if not reviewer or not reviewer.strip() or len(reviewer) > 200:
        raise InputError("reviewer must be a non-empty name of at most 200 characters")
    row = product.tiles[product.tiles["tile_id"] == tile_id]
    if row.empty:
        raise InputError(f"unknown tile {tile_id}: not a tile of the product {product.uri}")
    return int(row["class_code"].iloc[0]), int(row["prior_class"].iloc[0])


def record_decision(
    lake: Lake,
    region: str,
    vintage: str,
    tile_id: str,
    decision: str,
    label: int | None = None,
    reviewer: str = DEFAULT_REVIEWER,
    product: ModelProduct | None = None,
) -> Decision:
    """Validate and write one decision in its own file; the decision as written."""
    product = product or model_product(lake, region, vintage)
    predicted, prior = check_decision(product, tile_id, decision, label, reviewer)
    made = Decision(
        region=region,
        vintage=vintage,
        tile_id=tile_id,
        decision=decision,
        label=int(label) if label is not None else None,
        reviewer=reviewer.strip(),
        decided_at=_now(),
        product_digest=product.digest,
        model_name=str(product.summary.get("model", {}).get("name", "")),
        model_version=str(product.summary.get("model", {}).get("version", "")),
        predicted=predicted,
        prior=prior,
    )
    name = f"{made.decided_at.replace(':', '').replace('-', '')}-{uuid.uuid4().hex[:12]}.json"
    uri = f"{decisions_uri(lake, region, vintage)}/{tile_id}/{name}"
    lake.write_bytes(uri, (json.dumps(made.to_dict(), indent=2, sort_keys=True) + "\n").encode())
    log.info("Review %s %s %s: %s by %s", region, vintage, tile_id, decision, made.reviewer)
    return made


def decision_history(lake: Lake, region: str, vintage: str) -> list[Decision]:
    """Every decision of a region's vintage, oldest first."""
    uris = lake.list_files(decisions_uri(lake, region, vintage), ".json")
    found = [(Decision(**read_json(lake, uri)), uri.rsplit("/", 1)[-1]) for uri in uris]
    return [d for d, _ in sorted(found, key=lambda pair: (pair[0].decided_at, pair[1]))]


def latest_decisions(lake: Lake, region: str, vintage: str) -> dict[str, Decision]:
    """The decision that counts for each decided tile: the latest."""
    return {d.tile_id: d for d in decision_history(lake, region, vintage)}


def read_decisions_csv(path: str) -> list[dict]:
    """Rows of a bulk-decision CSV (columns region, vintage, tile_id, decision, label, reviewer)."""
    file = Path(path)
    if not file.is_file():
        raise NotFoundError(f"{path}: no such file")
    with file.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"region", "vintage", "tile_id", "decision"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(f"{path}: missing columns {sorted(missing)} (expected {', '.join(CSV_COLUMNS)})")
        return [dict(row) for row in reader]


def _label(raw: str | None, where: str) -> int | None:
    text = (raw or "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise InputError(f"{where}: label must be an NLCD class code, got {text!r}")
    return int(text)


def import_decisions(lake: Lake, path: str, reviewer: str = DEFAULT_REVIEWER) -> list[Decision]:
    """Record every decision of a CSV file, after checking all of them: one bad row writes nothing."""
    rows = read_decisions_csv(path)
    products: dict[tuple[str, str], ModelProduct] = {}
    checked = []
    for number, row in enumerate(rows, start=2):
        where = f"{path} line {number}"
        region, vintage = (row.get("region") or "").strip(), (row.get("vintage") or "").strip()
        tile_id, decision = (row.get("tile_id") or "").strip(), (row.get("decision") or "").strip().lower()
        label = _label(row.get("label"), where)
        who = (row.get("reviewer") or "").strip() or reviewer
        try:
            if (region, vintage) not in products:
                products[(region, vintage)] = model_product(lake, region, vintage)
            check_decision(products[(region, vintage)], tile_id, decision, label, who)
        except (InputError, NotFoundError) as exc:
            raise InputError(f"{where}: {exc}") from exc
        checked.append((region, vintage, tile_id, decision, label, who))
    return [record_decision(lake, r, v, t, d, lab, who, products[(r, v)]) for r, v, t, d, lab, who in checked]
