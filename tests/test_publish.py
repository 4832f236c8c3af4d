"""Published products: COGs on the tile grid, palettes, quicklooks, summary, STAC; atomic replace."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from conftest import LABELS_DIR, ND_CRS
from landshift.change import ChangeRule, change_summary, compare
from landshift.grid import TileGrid
from landshift.labels import aggregate_labels
from landshift.lake import LocalLake
from landshift.legend import DEFAULT_LEGEND, LandClass, Legend
from landshift.publish import CHANGE_NODATA, PRODUCT_FILES, publish_product

pytestmark = pytest.mark.data

GRID = TileGrid(ND_CRS, 224)


@pytest.fixture(scope="module")
def product_inputs():
    """2014 labels standing in for predictions, compared with the 2009 labels."""
    prior = aggregate_labels(str(LABELS_DIR / "labels_2009_5m.tif"), GRID, DEFAULT_LEGEND)
    later = aggregate_labels(str(LABELS_DIR / "labels_2014_5m.tif"), GRID, DEFAULT_LEGEND)
    predictions = later.rename(columns={"prior_class": "class_code"}).assign(probability=later["prior_agreement"])
    rule = ChangeRule(0.7, 0.6)
    changes = compare(predictions, prior, rule)
    summary = {
        "region": "nd-pothole",
        "vintage": "2014",
        "prior": {"source": "annotated-2009"},
        "model": {"version": "7"},
        "change": change_summary(changes, DEFAULT_LEGEND.codes, 224, rule),
    }
    return {"predictions": predictions, "changes": changes, "summary": summary}


def _publish(lake: LocalLake, inputs: dict, legend: Legend = DEFAULT_LEGEND) -> str:
    dest = lake.uri("published", "nd-pothole", "2014")
    publish_product(lake, dest, legend=legend, grid=GRID, **inputs)
    return dest


def test_product_has_six_files_and_valid_cogs_on_the_grid(tmp_path, product_inputs):
    dest = Path(_publish(LocalLake(str(tmp_path)), product_inputs))
    assert sorted(p.name for p in dest.iterdir()) == sorted(PRODUCT_FILES)
    for name in ("landuse.tif", "change.tif"):
        assert cog_validate(str(dest / name), quiet=True)[0], name
    with rasterio.open(dest / "landuse.tif") as src:
        assert src.crs.to_epsg() == 26914
        assert src.res == (224.0, 224.0)
        assert src.transform.c % 224 == 0 and src.transform.f % 224 == 0
        landuse = src.read(1)
        assert src.colormap(1)[11][:3] == (0x46, 0x6B, 0x9F)
        assert json.loads(src.tags()["LANDSHIFT_LEGEND"])["name"] == DEFAULT_LEGEND.name
    assert sorted(np.unique(landuse).tolist()) == [11, 71, 82]
    assert (landuse == 11).sum() == 78
    with rasterio.open(dest / "change.tif") as src:
        change = src.read(1)
        assert src.nodata == CHANGE_NODATA
    reported = product_inputs["changes"]
    assert (change == 8211).sum() == (reported["change_code"] == 8211).sum() > 0
    assert (change == 0).sum() == (reported["change_code"] == 0).sum()


def test_summary_and_stac_item_describe_the_product(tmp_path, product_inputs):
    dest = Path(_publish(LocalLake(str(tmp_path)), product_inputs))
    summary = json.loads((dest / "summary.json").read_text())
    assert summary["model"]["version"] == "7"
    assert summary["change"]["transition_matrix"]["82"]["11"] > 0
    assert summary["raster"]["tile_size_m"] == 224
    item = json.loads((dest / "item.json").read_text())
    assert set(item["assets"]) >= {"landuse", "change"}
    classes = {c["value"]: c["name"] for c in item["assets"]["landuse"]["classification:classes"]}
    assert classes[11] == "water"
    assert any(c["value"] == 8211 for c in item["assets"]["change"]["classification:classes"])
    assert -99.2 < item["bbox"][0] < item["bbox"][2] < -99.1


def test_republishing_is_byte_identical_and_replaces_in_place(tmp_path, product_inputs):
    lake = LocalLake(str(tmp_path))
    dest = Path(_publish(lake, product_inputs))
    first = {n: hashlib.sha256((dest / n).read_bytes()).hexdigest() for n in PRODUCT_FILES}
    _publish(lake, product_inputs)
    second = {n: hashlib.sha256((dest / n).read_bytes()).hexdigest() for n in PRODUCT_FILES}
    assert first["landuse.tif"] == second["landuse.tif"] and first["change.tif"] == second["change.tif"]
    assert first == second
    assert not list((tmp_path / "trash").glob("*")) and not list((tmp_path / "staging").glob("*"))


def test_a_failed_publish_leaves_the_old_product_untouched(tmp_path, product_inputs):
    lake = LocalLake(str(tmp_path))
    dest = Path(_publish(lake, product_inputs))
    before = {n: (dest / n).read_bytes() for n in PRODUCT_FILES}
    no_water = Legend(
        "broken", (*tuple(c for c in DEFAULT_LEGEND.classes if c.code != 11), LandClass(12, "Ice", "#ffffff", (12,)))
    )
    with pytest.raises(Exception, match="11"):
        _publish(lake, product_inputs, legend=no_water)
    assert {n: (dest / n).read_bytes() for n in PRODUCT_FILES} == before


def test_published_folders_are_readable_by_other_users(tmp_path, product_inputs):
    dest = Path(_publish(LocalLake(str(tmp_path)), product_inputs))
    assert dest.stat().st_mode & 0o055 == 0o055  # group and others may list and read it
