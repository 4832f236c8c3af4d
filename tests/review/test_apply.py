"""The reviewed product: decisions applied, republished atomically, the previous version kept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from landshift.lake.publishing import previous_products
from landshift.review.apply import apply_reviews
from landshift.review.decisions import record_decision
from landshift.review.queue import model_product, product_uri, review_queue

from .conftest import REGION, VINTAGE

pytestmark = pytest.mark.data


def _pixel(product: Path, name: str, col: int, row: int) -> int:
    with rasterio.open(product / name) as src:
        size = src.transform.a
        x, y = (col + 0.5) * size, (row + 0.5) * size
        r, c = src.index(x, y)
        return int(src.read(1)[r, c])


def test_apply_rejects_relabels_and_accepts_and_says_so(lake):
    queue = review_queue(lake, REGION, VINTAGE)
    change = next(i for i in queue if i.reason == "change")
    stable = next(i for i in queue if i.status == "stable")
    uncertain = next(i for i in queue if i.status == "uncertain_change")
    record_decision(lake, REGION, VINTAGE, change.tile_id, "reject", reviewer="ann")
    relabel_to = 11 if stable.prior != 11 else 71
    record_decision(lake, REGION, VINTAGE, stable.tile_id, "relabel", relabel_to, reviewer="bob")
    record_decision(lake, REGION, VINTAGE, uncertain.tile_id, "accept", reviewer="bob")
    before = json.loads(Path(product_uri(lake, REGION, VINTAGE), "summary.json").read_text())

    summary = apply_reviews(lake, REGION, VINTAGE)

    product = Path(product_uri(lake, REGION, VINTAGE))
    assert summary["review"]["reviewed"] == 3
    assert (summary["review"]["accepted"], summary["review"]["rejected"], summary["review"]["relabelled"]) == (1, 1, 1)
    assert summary["review"]["reviewers"] == ["ann", "bob"]
    # rejected change back to its prior (stable), relabel a new change, accepted uncertain change reported
    assert _pixel(product, "landuse.tif", change.col, change.row) == change.prior
    assert _pixel(product, "change.tif", change.col, change.row) == 1
    assert _pixel(product, "landuse.tif", stable.col, stable.row) == relabel_to
    assert _pixel(product, "change.tif", stable.col, stable.row) == stable.prior * 100 + relabel_to
    assert _pixel(product, "change.tif", uncertain.col, uncertain.row) == uncertain.prior * 100 + uncertain.predicted
    assert _pixel(product, "confidence.tif", stable.col, stable.row) == 100
    assert summary["change"]["tiles_changed"] == before["change"]["tiles_changed"] - 1 + 1 + 1
    assert summary["change"]["tiles_uncertain"] == before["change"]["tiles_uncertain"] - 1
    written = json.loads((product / "summary.json").read_text())
    assert written["review"] == summary["review"]
    item = json.loads((product / "item.json").read_text())
    assert item["properties"]["landshift:review"]["reviewed"] == 3
    assert (
        item["properties"]["created"]
        == json.loads(Path(previous_products(lake, str(product))[-1], "item.json").read_text())["properties"]["created"]
    )
    assert cog_validate(str(product / "change.tif"), quiet=True)[0]
    # the previous (model's) product is kept
    kept = previous_products(lake, str(product))
    assert len(kept) == 1 and "review" not in json.loads(Path(kept[0], "summary.json").read_text())


def test_a_second_apply_starts_from_the_models_product_not_the_first_review(lake):
    queue_before = review_queue(lake, REGION, VINTAGE)
    change = next(i for i in queue_before if i.reason == "change")
    record_decision(lake, REGION, VINTAGE, change.tile_id, "reject", reviewer="ann")
    apply_reviews(lake, REGION, VINTAGE)
    # the queue is still the model's queue, and the model's calls are still known
    assert review_queue(lake, REGION, VINTAGE) == queue_before
    assert model_product(lake, REGION, VINTAGE).summary["change"]["tiles_changed"] == 43
    record_decision(lake, REGION, VINTAGE, change.tile_id, "accept", reviewer="ann")
    summary = apply_reviews(lake, REGION, VINTAGE)
    product = Path(product_uri(lake, REGION, VINTAGE))
    assert _pixel(product, "change.tif", change.col, change.row) == change.change_code
    assert summary["change"]["tiles_changed"] == 43
    assert (summary["review"]["reviewed"], summary["review"]["accepted"]) == (1, 1)


def test_a_model_republish_keeps_the_analysts_decisions(lake, product_template):
    from landshift.review.apply import reapply_reviews

    product = Path(product_uri(lake, REGION, VINTAGE))
    untouched = (product / "change.tif").read_bytes()
    assert reapply_reviews(lake, REGION, VINTAGE) == {"review": None}
    assert (product / "change.tif").read_bytes() == untouched
    change = next(i for i in review_queue(lake, REGION, VINTAGE) if i.reason == "change")
    record_decision(lake, REGION, VINTAGE, change.tile_id, "reject", reviewer="ann")
    apply_reviews(lake, REGION, VINTAGE)
    # a model run publishes the model's product again (here: the template's copy), then re-applies
    shutil.rmtree(product)
    shutil.copytree(Path(product_template, "published", REGION, VINTAGE), product)
    assert _pixel(product, "change.tif", change.col, change.row) == change.change_code
    assert reapply_reviews(lake, REGION, VINTAGE)["review"]["rejected"] == 1
    assert _pixel(product, "change.tif", change.col, change.row) == 1
