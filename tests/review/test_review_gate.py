"""What the review gate of a ``review_required`` region asks and does once approved, on a real
published product: the body links the review page of the run's vintage and counts the queue;
``publish_reviewed`` (the task after the approval) republishes the product with the decisions."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from landshift.regions.registry import get_region
from landshift.regions.requests import RunRequest
from landshift.review.decisions import record_decision
from landshift.review.queue import product_uri, review_queue
from landshift.run.review_gate import gate_body, gate_subject, publish_reviewed

from .conftest import REGION, VINTAGE

pytestmark = pytest.mark.data
DAG_ID = f"landshift_region_{REGION}"


def _published_state(lake) -> dict:
    """The state the region run's ``publish`` task hands on (its request is all the gate reads)."""
    request = RunRequest(lake.root, get_region(REGION), VINTAGE)
    return {"request": request.to_dict(), "published_uri": product_uri(lake, REGION, VINTAGE)}


def test_the_gate_body_links_the_review_page_of_the_run_and_counts_the_queue(lake):
    queue = review_queue(lake, REGION, VINTAGE)
    record_decision(lake, REGION, VINTAGE, queue[0].tile_id, "accept", reviewer="ann")
    state = _published_state(lake)

    body = gate_body(state, "http://airflow.example/landshift-review", DAG_ID, "manual__2026-01-01")

    link = body.split("](", 1)[1].split(")", 1)[0]
    assert link.startswith("http://airflow.example/landshift-review/?")
    assert parse_qs(urlparse(link).query) == {
        "dag_id": [DAG_ID],
        "run_id": ["manual__2026-01-01"],
        "vintage": [VINTAGE],
    }
    changes = sum(1 for item in queue if item.reason == "change")
    assert f"{len(queue)} tiles in the queue ({changes} reported changes), 1 decided so far" in body
    assert gate_subject(state) == f"Review {REGION} {VINTAGE}, then publish the reviewed product"


def test_after_approval_the_reviewed_product_is_published(lake):
    queue = review_queue(lake, REGION, VINTAGE)
    change = next(i for i in queue if i.reason == "change")
    record_decision(lake, REGION, VINTAGE, change.tile_id, "reject", reviewer="ann")
    product = Path(product_uri(lake, REGION, VINTAGE))
    before = json.loads((product / "summary.json").read_text())
    state = _published_state(lake)

    result = publish_reviewed(state)

    assert result["request"] == state["request"]
    review = result["review"]
    assert (review["reviewed"], review["rejected"], review["reviewers"]) == (1, 1, ["ann"])
    after = json.loads((product / "summary.json").read_text())
    assert after["review"] == result["review"]
    assert after["change"]["tiles_changed"] == before["change"]["tiles_changed"] - 1
    assert "review" not in before
    assert publish_reviewed(state)["review"]["reviewed"] == 1  # a retried task publishes the same review
