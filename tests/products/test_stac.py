"""The lake's STAC catalog: catalog -> collection per region -> items, validated offline against the
STAC 1.1 core schemas (bundled with pystac) and the vendored extension schemas (tests/support/schemas)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from support.product_inputs import GRID, label_product_inputs
from support.stac_validation import stac_errors

from landshift.core.legend import DEFAULT_LEGEND
from landshift.lake.base import LocalLake
from landshift.products.publish import publish_product
from landshift.products.stac import CLASSIFICATION_SCHEMA, catalog_documents

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def lake_with_two_vintages(tmp_path_factory) -> Path:
    """Two vintages of nd-pothole, the second over part of the area only."""
    root = tmp_path_factory.mktemp("stac-lake")
    lake = LocalLake(str(root))
    for vintage, inputs in (
        ("2020", label_product_inputs(vintage="2020", keep_codes={8211})),
        ("2014", label_product_inputs(vintage="2014")),
    ):
        publish_product(lake, lake.uri("published", "nd-pothole", vintage), legend=DEFAULT_LEGEND, grid=GRID, **inputs)
    return root


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_every_catalog_collection_and_item_validates_offline(lake_with_two_vintages):
    documents = catalog_documents(LocalLake(str(lake_with_two_vintages)), str(lake_with_two_vintages / "published"))
    kinds = sorted(d["type"] for d in documents.values())
    assert kinds == ["Catalog", "Collection", "Feature", "Feature"]
    for uri, document in documents.items():
        assert stac_errors(document) == [], uri


def test_links_resolve_root_parent_collection_self(lake_with_two_vintages):
    published = lake_with_two_vintages / "published"
    item_path = published / "nd-pothole" / "2014" / "item.json"
    item = _load(item_path)
    links = {link["rel"]: link["href"] for link in item["links"]}
    assert (item_path.parent / links["root"]).resolve() == published / "catalog.json"
    assert (item_path.parent / links["parent"]).resolve() == published / "nd-pothole" / "collection.json"
    assert links["collection"] == links["parent"] and item["collection"] == "landshift-nd-pothole"
    assert links["self"] == item_path.as_uri()
    collection = _load(published / "nd-pothole" / "collection.json")
    items = [link["href"] for link in collection["links"] if link["rel"] == "item"]
    assert items == ["./2014/item.json", "./2020/item.json"]
    catalog = _load(published / "catalog.json")
    assert [link["href"] for link in catalog["links"] if link["rel"] == "child"] == ["./nd-pothole/collection.json"]


def test_collection_extent_grows_with_each_vintage_and_summarises_classes(lake_with_two_vintages):
    region = lake_with_two_vintages / "published" / "nd-pothole"
    collection = _load(region / "collection.json")
    boxes = [_load(region / v / "item.json")["bbox"] for v in ("2014", "2020")]
    assert boxes[0] != boxes[1]  # the 2020 product covers less ground
    (bbox,) = collection["extent"]["spatial"]["bbox"]
    assert bbox == [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]
    assert collection["extent"]["temporal"]["interval"] == [["2014-01-01T00:00:00Z", "2020-12-31T23:59:59Z"]]
    assert collection["summaries"]["landshift:vintage"] == ["2014", "2020"]
    assert collection["summaries"]["gsd"] == [224]
    titles = {c["value"]: c["title"] for c in collection["summaries"]["classification:classes"]}
    assert titles[11] == "Water" and titles[0] == "No data"
    assert collection["license"] == "Apache-2.0" and collection["providers"]
    assert {_load(region / v / "item.json")["properties"]["license"] for v in ("2014", "2020")} == {"Apache-2.0"}


def test_item_assets_carry_roles_projection_and_classes(lake_with_two_vintages):
    item = _load(lake_with_two_vintages / "published" / "nd-pothole" / "2014" / "item.json")
    assert not any(key.startswith("proj:") for key in item["properties"])  # per asset, not for the PNGs
    assert item["properties"]["gsd"] == 224 and item["properties"]["created"].endswith("Z")
    assets = item["assets"]
    assert "thumbnail" in assets["thumbnail"]["roles"] and assets["summary"]["roles"] == ["metadata"]
    for key in ("landuse", "change", "confidence"):
        assert assets[key]["roles"] == ["data"]
        assert assets[key]["proj:shape"] == [15, 20] and assets[key]["proj:code"] == "EPSG:26914"
    for key in ("thumbnail", "change_overview", "report"):
        assert not any(field.startswith("proj:") for field in assets[key])
    assert (assets["landuse"]["data_type"], assets["landuse"]["nodata"]) == ("uint8", 0)
    assert (assets["change"]["data_type"], assets["change"]["nodata"]) == ("uint16", 0)
    assert (assets["confidence"]["data_type"], assets["confidence"]["nodata"]) == ("uint8", 255)
    change = {c["value"]: c for c in assets["change"]["classification:classes"]}
    assert change[0]["nodata"] is True
    assert [change[v]["title"] for v in (1, 2, 3)] == ["Stable", "Uncertain change", "No prior label"]
    assert change[8211]["title"] == "Cultivated to Water" and change[8211]["name"] == "cultivated-to-water"


def test_created_survives_republishing(tmp_path):
    lake = LocalLake(str(tmp_path))
    inputs = label_product_inputs()
    dest = lake.uri("published", "nd-pothole", "2014")
    publish_product(lake, dest, legend=DEFAULT_LEGEND, grid=GRID, **inputs)
    item = Path(dest, "item.json")
    stamped = _load(item)["properties"]["created"].replace("2", "1", 1)  # as if made long ago
    document = _load(item)
    document["properties"]["created"] = stamped
    item.write_text(json.dumps(document))
    publish_product(lake, dest, legend=DEFAULT_LEGEND, grid=GRID, **inputs)
    assert _load(item)["properties"]["created"] == stamped


def _broken(document: dict, how: str) -> dict:
    broken = copy.deepcopy(document)
    if how == "class without a name":
        del broken["assets"]["change"]["classification:classes"][1]["name"]
    elif how == "colour hint not hex":
        broken["assets"]["landuse"]["classification:classes"][1]["color_hint"] = "blue"
    elif how == "unknown classification field":
        broken["assets"]["landuse"]["classification:labels"] = ["water"]
    elif how == "three-number shape":
        broken["assets"]["change"]["proj:shape"] = [15, 20, 1]
    elif how == "extension with no schema":
        broken["stac_extensions"].append("https://stac-extensions.github.io/nonesuch/v1.0.0/schema.json")
    elif how == "no geometry":
        del broken["geometry"]
    return broken


@pytest.mark.parametrize(
    "how",
    [
        "class without a name",
        "colour hint not hex",
        "unknown classification field",
        "three-number shape",
        "extension with no schema",
        "no geometry",
    ],
)
def test_negative_control_broken_items_fail_validation(lake_with_two_vintages, how):
    item = _load(lake_with_two_vintages / "published" / "nd-pothole" / "2014" / "item.json")
    assert stac_errors(item) == []
    assert stac_errors(_broken(item, how)), how


def test_negative_control_collection_without_license_fails(lake_with_two_vintages):
    collection = _load(lake_with_two_vintages / "published" / "nd-pothole" / "collection.json")
    del collection["license"]
    assert any("license" in error for error in stac_errors(collection))
    assert CLASSIFICATION_SCHEMA in collection["stac_extensions"]
