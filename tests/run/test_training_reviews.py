"""Analysts' decisions as training labels: a real training run on a small lake with a few decisions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from landshift.lake.base import LocalLake
from landshift.regions.registry import get_region
from landshift.run.training import TrainingRequest

REGION = "nd-pothole"
MODEL = "review-trained"


def test_use_reviews_at_its_default_leaves_the_request_record_and_key_as_before():
    request = TrainingRequest("/lake", get_region(REGION))
    assert "use_reviews" not in request.to_dict() and request.use_reviews
    off = TrainingRequest("/lake", get_region(REGION), use_reviews=False)
    assert off.to_dict()["use_reviews"] is False and off.key != request.key
    assert TrainingRequest.from_dict(json.loads(json.dumps(off.to_dict()))) == off
    assert TrainingRequest.from_params({"region": REGION, "use_reviews": False}, "/lake").use_reviews is False


def _publish_label_product(lake: LocalLake, vintage: str, after_date: str) -> None:
    """A product of ``vintage`` whose 'predictions' are the 2014 labels (tests/support/product_inputs.py)."""
    from support.product_inputs import label_product_inputs, naip_chips

    from landshift.core.grid import TileGrid
    from landshift.core.legend import DEFAULT_LEGEND
    from landshift.products.publish import publish_product

    prior = lake.uri("raw", "labels", REGION, "2009", "labels_2009_5m.tif")
    inputs = label_product_inputs(vintage)
    inputs["summary"]["prior"] = {"source": "annotated-2009", "year": 2009, "uri": prior}
    publish_product(
        lake,
        lake.uri("published", REGION, vintage),
        chips=naip_chips(after_date),
        legend=DEFAULT_LEGEND,
        grid=TileGrid("EPSG:26914", 224),
        **inputs,
    )


@pytest.fixture(scope="module")
def reviewed_lake(tmp_path_factory, shared_data):
    """A seeded lake with products of 2014 (a label year) and 2020 (no label raster), and decisions:
    a 2014 tile relabelled away from its annotated class, a 2020 tile accepted, another relabelled."""
    from landshift.review.decisions import record_decision
    from landshift.review.queue import review_queue
    from landshift.run.demo import seed_lake

    lake = LocalLake(str(tmp_path_factory.mktemp("reviewed-lake")))
    seed_lake(shared_data, lake)
    _publish_label_product(lake, "2014", "20140720")
    _publish_label_product(lake, "2020", "20200831")
    decided = {}
    relabelled_2014 = next(i for i in review_queue(lake, REGION, "2014") if i.predicted == 82)
    record_decision(lake, REGION, "2014", relabelled_2014.tile_id, "relabel", 71, reviewer="ann")
    decided["2014", relabelled_2014.tile_id] = 71
    queue_2020 = review_queue(lake, REGION, "2020")
    accepted, relabelled = queue_2020[0], next(i for i in queue_2020[1:] if i.predicted != 11)
    record_decision(lake, REGION, "2020", accepted.tile_id, "accept", reviewer="bob")
    record_decision(lake, REGION, "2020", relabelled.tile_id, "relabel", 11, reviewer="ann")
    decided["2020", accepted.tile_id] = accepted.predicted
    decided["2020", relabelled.tile_id] = 11
    return lake, decided


@pytest.mark.slow
@pytest.mark.data
def test_training_uses_the_decisions_as_weighted_labels_and_lists_them_in_the_model_card(reviewed_lake):
    from landshift.lake.base import read_json, read_table
    from landshift.review.labels import REVIEW_LABEL_WEIGHT
    from landshift.run.training import feature_matrix, prepare, review_table, run_training, split_reviewed

    lake, decided = reviewed_lake
    request = TrainingRequest(lake.root, get_region(REGION), (2014,), MODEL, augment=False, promote_alias="")
    registered = run_training(request)
    version = Path(registered["uri"])
    training = json.loads((version / "training.json").read_text())
    assert training["review_labels"]["tiles"] == 3
    assert training["review_labels"]["vintages"] == {"2014": 1, "2020": 2}
    assert training["review_labels"]["decisions"] == {"accept": 1, "relabel": 2}
    assert training["review_labels"]["weight"] == [REVIEW_LABEL_WEIGHT]
    assert (
        "Review labels: 3 tile(s) decided by analysts (vintages 2014 (1), 2020 (2)"
        in (version / "model_card.md").read_text()
    )
    metrics = read_json(lake, f"{registered['uri']}/metrics.json")
    assert metrics["production_choices"]["extra_labels"] == {"tiles": 3, "rows": 3}

    # The 2020 tiles (no label raster) were embedded; the relabelled 2014 tile trains with the
    # analyst's class, not its annotated one, and leaves the annotated rows.
    prepared = run_training(request, until="extract_features")
    assert prepared["features_uri"].rsplit("/", 1)[-1].startswith("features-reviews-")
    table, features = feature_matrix(lake, prepared)
    assert sorted(table.loc[table["year"] == 2020, "tile_id"]) == sorted(t for v, t in decided if v == "2020")
    annotated, _, extra, _ = split_reviewed(table, features, review_table(lake, prepared))
    tile_ids = table.drop_duplicates(["year", "col", "row"]).set_index(["year", "col", "row"])["tile_id"]
    cells = zip(extra.table["year"], extra.table["col"], extra.table["row"], extra.labels, strict=True)
    trained = {(str(year), tile_ids[year, col, row]): int(label) for year, col, row, label in cells}
    assert trained == decided
    tile_2014 = next(t for v, t in decided if v == "2014")
    tiles = read_table(lake, prepared["tiles_uri"])
    annotated_class = int(tiles.loc[(tiles["year"] == 2014) & (tiles["tile_id"] == tile_2014), "prior_class"].iloc[0])
    assert annotated_class == 82 != trained["2014", tile_2014]
    assert tile_2014 not in set(annotated.loc[annotated["year"] == 2014, "tile_id"])
    assert np.all(extra.weights == REVIEW_LABEL_WEIGHT)

    # Switched off: no review rows, the features folder of a run without reviews.
    off = prepare(TrainingRequest(lake.root, get_region(REGION), (2014,), MODEL, augment=False, use_reviews=False))
    assert "review_labels_uri" not in off and off["features_uri"].endswith("/features")
