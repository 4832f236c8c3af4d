"""The review queue of a published product, computed from its own rasters."""

from __future__ import annotations

import pytest

from landshift.core.errors import InputError, NotFoundError
from landshift.review.queue import REASON_CHANGE, REASON_UNCERTAIN, model_product, review_queue

from .conftest import REGION, VINTAGE

pytestmark = pytest.mark.data


def test_the_queue_holds_every_reported_change_and_the_least_confident_unchanged_tiles(lake):
    product = model_product(lake, REGION, VINTAGE)
    tiles = product.tiles
    queue = review_queue(lake, REGION, VINTAGE, uncertain_tiles=30)
    changes = [i for i in queue if i.reason == REASON_CHANGE]
    uncertain = [i for i in queue if i.reason == REASON_UNCERTAIN]
    assert {i.tile_id for i in changes} == set(tiles.loc[tiles["status"] == "change", "tile_id"])
    assert len(changes) == product.summary["change"]["tiles_changed"] == 43
    assert len(uncertain) == 30
    unchanged = tiles[tiles["status"].isin(["stable", "uncertain_change"])]
    # no unchanged tile left out is less confident than one queued
    left_out = unchanged[~unchanged["tile_id"].isin({i.tile_id for i in uncertain})]
    assert left_out["probability"].min() >= max(i.confidence for i in uncertain)


def test_the_queue_is_ordered_least_confident_first_and_numbered(lake):
    queue = review_queue(lake, REGION, VINTAGE)
    confidences = [i.confidence for i in queue]
    assert confidences == sorted(confidences)
    assert [i.position for i in queue] == list(range(len(queue)))
    assert review_queue(lake, REGION, VINTAGE, limit=5) == queue[:5]


def test_queue_items_carry_prior_and_predicted_classes_from_the_product(lake):
    queue = review_queue(lake, REGION, VINTAGE)
    for item in queue:
        if item.reason == REASON_CHANGE:
            assert item.change_code == item.prior * 100 + item.predicted
            assert item.prior != item.predicted
        elif item.status == "stable":
            assert item.prior == item.predicted
    # the uncertain changes (value 2 in change.tif) get their prior from the prior labels again
    uncertain_changes = [i for i in queue if i.status == "uncertain_change"]
    assert uncertain_changes and all(i.prior and i.prior != i.predicted for i in uncertain_changes)


def test_the_queue_refuses_bad_names_and_missing_products(lake):
    with pytest.raises(InputError):
        review_queue(lake, "../etc", VINTAGE)
    with pytest.raises(InputError):
        review_queue(lake, REGION, "2014/..")
    with pytest.raises(NotFoundError, match="no published product"):
        review_queue(lake, REGION, "2016")
    with pytest.raises(InputError):
        review_queue(lake, REGION, VINTAGE, limit=-1)
