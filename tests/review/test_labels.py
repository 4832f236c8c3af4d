"""Decisions as weighted training labels."""

from __future__ import annotations

import pytest

from landshift.review.decisions import record_decision
from landshift.review.labels import REVIEW_LABEL_WEIGHT, review_labels
from landshift.review.queue import review_queue

from .conftest import REGION, VINTAGE

pytestmark = pytest.mark.data


def test_each_decided_tile_gives_its_latest_class_as_a_weighted_label(lake):
    assert review_labels(lake, REGION).empty
    queue = review_queue(lake, REGION, VINTAGE)
    change = next(i for i in queue if i.reason == "change")
    other = next(i for i in queue if i.tile_id != change.tile_id)
    record_decision(lake, REGION, VINTAGE, change.tile_id, "accept", reviewer="ann")
    record_decision(lake, REGION, VINTAGE, change.tile_id, "reject", reviewer="bob")  # the latest counts
    record_decision(lake, REGION, VINTAGE, other.tile_id, "relabel", 11, reviewer="ann")
    labels = review_labels(lake, REGION).set_index("tile_id")
    assert len(labels) == 2
    assert labels.loc[change.tile_id, "label_class"] == change.prior
    assert labels.loc[change.tile_id, "decision"] == "reject"
    assert labels.loc[other.tile_id, "label_class"] == 11
    assert (labels["weight"] == REVIEW_LABEL_WEIGHT).all() and (labels["vintage"] == VINTAGE).all()
    assert (labels.loc[other.tile_id, "col"], labels.loc[other.tile_id, "row"]) == (other.col, other.row)
