"""The region registry and trigger-parameter validation."""

import json

import pytest

from landshift.core.errors import InputError, NotFoundError
from landshift.regions.registry import get_region, load_regions, parse_bounds, region_from_dict, validate_region_id


def test_registry_holds_nd_pothole_as_data():
    region = get_region("nd-pothole")
    assert region.crs == "EPSG:26914" and region.tile_size_m == 224
    assert region.imagery_prefix("2020") == "raw/imagery/nd-pothole/2020/"
    assert [s.year for s in region.training_labels] == [2009, 2012, 2014]
    assert region.prior_labels.year == 2009


def test_adding_a_region_is_adding_a_file(tmp_path, monkeypatch):
    raw = json.loads(json.dumps(get_region("nd-pothole").to_dict()))
    raw.update(id="other-place", schedule="@monthly")
    (tmp_path / "other-place.json").write_text(json.dumps(raw))
    monkeypatch.setenv("LANDSHIFT_REGIONS_DIR", str(tmp_path))
    assert list(load_regions()) == ["other-place"]
    with pytest.raises(NotFoundError, match="registered: \\['other-place'\\]"):
        get_region("nd-pothole")


@pytest.mark.parametrize("bad", ["ND-Pothole", "a", "-abc", "abc-", "a b", "../etc", "x" * 60, 42])
def test_region_ids_must_be_slugs(bad):
    with pytest.raises(InputError, match="slug"):
        validate_region_id(bad)


def test_malformed_region_entries_are_rejected():
    raw = get_region("nd-pothole").to_dict()
    with pytest.raises(InputError, match="unknown field"):
        region_from_dict({**raw, "colour": "red"})
    with pytest.raises(InputError, match="vintage"):
        region_from_dict({**raw, "imagery": "raw/imagery/fixed/"})
    with pytest.raises(InputError, match="malformed"):
        region_from_dict({k: v for k, v in raw.items() if k != "prior_labels"})


def test_aoi_accepts_a_bbox_or_geojson_and_rejects_the_rest():
    assert parse_bounds([-99.18, 47.0, -99.15, 47.02]) == (-99.18, 47.0, -99.15, 47.02)
    assert parse_bounds("[-99.18, 47.0, -99.15, 47.02]") == (-99.18, 47.0, -99.15, 47.02)
    polygon = {"type": "Polygon", "coordinates": [[[-99.18, 47.0], [-99.15, 47.0], [-99.15, 47.02], [-99.18, 47.0]]]}
    assert parse_bounds(json.dumps({"type": "Feature", "geometry": polygon})) == (-99.18, 47.0, -99.15, 47.02)
    assert parse_bounds("") is None
    with pytest.raises(InputError, match="not valid JSON"):
        parse_bounds('{"type": "Polygon", "coordinates": [[[0,0],')
    with pytest.raises(InputError, match="GeoJSON type"):
        parse_bounds({"type": "Point", "coordinates": [0, 0]})
    with pytest.raises(InputError, match="encloses no area"):
        parse_bounds([1, 1, 0, 2])
    with pytest.raises(InputError, match="malformed GeoJSON coordinates"):
        parse_bounds({"type": "Polygon", "coordinates": "nope"})
