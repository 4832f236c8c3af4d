"""Run requests: validated once, a small JSON-able dict on the wire, the same request back."""

from __future__ import annotations

import json

import pytest

from landshift.change.policy import ChangeRule
from landshift.core.errors import InputError
from landshift.regions.layout import slug_run_key
from landshift.regions.registry import get_region, manual_region
from landshift.regions.requests import RunRequest


def test_a_run_request_round_trips_through_json():
    request = RunRequest("/lake", get_region("nd-pothole"), "2020", "3", ChangeRule(0.8, 0.5), "manual__2026-12-02")
    wire = json.loads(json.dumps(request.to_dict()))
    assert RunRequest.from_dict(wire) == request
    assert wire["rule"] == {"min_probability": 0.8, "min_prior_agreement": 0.5}


def test_the_run_key_isolates_the_work_folder_not_the_product():
    region = get_region("nd-pothole")
    one = RunRequest("/lake", region, "2020", run_key=slug_run_key("scheduled__2026-12-02T00:00:00+00:00"))
    other = RunRequest("/lake", region, "2020", run_key="manual_1")
    assert one.layout.work != other.layout.work
    assert one.layout.work.startswith("/lake/work/nd-pothole/2020/")
    assert one.layout.published == other.layout.published == "/lake/published/nd-pothole/2020"
    with pytest.raises(InputError, match="run key"):
        RunRequest("/lake", region, "2020", run_key="../../published")


@pytest.mark.parametrize("vintage", ["20x0", "", "202", "2020-08-31", None])
def test_invalid_vintages_are_refused(vintage):
    with pytest.raises(InputError, match="vintage"):
        RunRequest("/lake", get_region("nd-pothole"), vintage)


@pytest.mark.parametrize("rule", [(1.5, 0.6), (0.7, -0.1), ("high", 0.6)])
def test_invalid_change_thresholds_are_refused(rule):
    with pytest.raises(InputError, match="must lie in"):
        ChangeRule(*rule)


def test_defaults_live_in_one_place():
    rule = RunRequest("/lake", get_region("nd-pothole"), "2020").rule
    assert rule == ChangeRule() and (rule.min_probability, rule.min_prior_agreement) == (0.9, 0.6)
    assert RunRequest("/lake", get_region("nd-pothole"), "2020").model_reference == "production"


def test_a_manual_region_is_built_and_checked_in_the_library():
    params = {
        "region_id": "my-farm",
        "imagery_uri": "raw/imagery/my-farm/2020/",
        "prior_labels_uri": "raw/labels/my-farm/2011/nlcd.tif",
        "prior_year": 2011,
        "crs": "EPSG:26914",
        "aoi": "[-99.1, 47.0, -99.0, 47.1]",
    }
    region = manual_region(params, "/lake")
    assert (region.id, region.crs, region.schedule, region.model_ref) == ("my-farm", "EPSG:26914", None, "production")
    request = RunRequest("/lake", region, "2020")
    assert RunRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    with pytest.raises(InputError, match="imagery_uri is required"):
        manual_region({**params, "imagery_uri": " "}, "/lake")
    with pytest.raises(InputError, match="region id"):
        manual_region({**params, "region_id": "My Farm"}, "/lake")
