"""Published products: COGs on the tile grid, class names for GIS, honest change values, confidence,
quicklooks, summary; atomic replace; byte-identical republication."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate
from support.product_inputs import GRID, label_product_inputs

from landshift.change.rules import CHANGE_NO_PRIOR, CHANGE_NODATA, CHANGE_STABLE, CHANGE_UNCERTAIN, STATUS_CHANGE
from landshift.core.legend import DEFAULT_LEGEND, LandClass, Legend
from landshift.lake.base import LocalLake
from landshift.products.layout import CONFIDENCE_NODATA, PRODUCT_FILES
from landshift.products.publish import publish_product
from landshift.products.symbology import gdal_band_classes

pytestmark = pytest.mark.data

RASTERS = ("landuse.tif", "change.tif", "confidence.tif")


@pytest.fixture(scope="module")
def product_inputs():
    """Every kind of change value present: 6 unscored tiles inside the raster, 10 without prior."""
    return label_product_inputs(skip_tiles=6, skip_priors=10)


def _publish(lake: LocalLake, inputs: dict, legend: Legend = DEFAULT_LEGEND, vintage: str = "2014") -> Path:
    dest = lake.uri("published", "nd-pothole", vintage)
    publish_product(lake, dest, legend=legend, grid=GRID, **inputs)
    return Path(dest)


def _qml_palette(path: Path) -> dict[int, tuple[str, str]]:
    root = ET.parse(path).getroot()
    assert root.find("pipe/rasterrenderer").get("type") == "paletted"
    return {int(e.get("value")): (e.get("color"), e.get("label")) for e in root.iter("paletteEntry")}


def test_product_files_and_valid_cogs_on_the_grid(tmp_path, product_inputs):
    dest = _publish(LocalLake(str(tmp_path)), product_inputs)
    assert sorted(p.name for p in dest.iterdir()) == sorted(PRODUCT_FILES)
    for name in RASTERS:
        assert cog_validate(str(dest / name), quiet=True)[0], name
    with rasterio.open(dest / "landuse.tif") as src:
        assert src.crs.to_epsg() == 26914
        assert src.res == (224.0, 224.0)
        assert src.transform.c % 224 == 0 and src.transform.f % 224 == 0
        landuse, grid = src.read(1), (src.transform, src.shape)
        assert src.colormap(1)[11][:3] == (0x46, 0x6B, 0x9F)
        assert json.loads(src.tags()["LANDSHIFT_LEGEND"])["name"] == DEFAULT_LEGEND.name
    assert sorted(np.unique(landuse).tolist()) == [0, 11, 71, 82]
    assert (landuse == 0).sum() == 6
    with rasterio.open(dest / "change.tif") as src:
        assert (src.transform, src.shape) == grid
        assert src.dtypes[0] == "uint16" and src.nodata == CHANGE_NODATA
        with pytest.raises(ValueError):
            src.colormap(1)  # no 65,536-entry palette: colours live in the sidecars
    assert (dest / "change.tif").stat().st_size < 20_000
    assert (dest / "change.tif").stat().st_size < 5_000  # a few KB


def test_change_values_say_what_they_mean_and_summary_counts_match_the_raster(tmp_path, product_inputs):
    dest = _publish(LocalLake(str(tmp_path)), product_inputs)
    with rasterio.open(dest / "change.tif") as src:
        change = src.read(1)
    changes = product_inputs["changes"]
    summary = json.loads((dest / "summary.json").read_text())
    pixels = summary["change_raster"]["pixels"]
    assert pixels == {
        "nodata": int((change == CHANGE_NODATA).sum()),
        "stable": int((change == CHANGE_STABLE).sum()),
        "uncertain": int((change == CHANGE_UNCERTAIN).sum()),
        "no_prior": int((change == CHANGE_NO_PRIOR).sum()),
        "reported": int((change >= 100).sum()),
    }
    # every kind present, and each agrees with the change table's verdicts
    assert pixels["nodata"] == 6 and pixels["no_prior"] == 10
    assert pixels["stable"] == summary["change"]["tiles_stable"] > 0
    assert pixels["uncertain"] == summary["change"]["tiles_uncertain"] > 0
    assert pixels["no_prior"] == summary["change"]["tiles_without_prior"]
    assert pixels["reported"] == summary["change"]["tiles_changed"] == (changes["status"] == STATUS_CHANGE).sum()
    assert sum(pixels.values()) == change.size
    assert (change == 8211).sum() == (changes["change_code"] == 8211).sum() > 0
    assert summary["change_raster"]["values"]["8211"] == "Cultivated to Water"


def test_gdal_reads_class_names_and_colours_through_the_sidecars(tmp_path, product_inputs):
    dest = _publish(LocalLake(str(tmp_path)), product_inputs)
    landuse = gdal_band_classes(str(dest / "landuse.tif"))
    assert landuse.category_names[11] == "Water" and landuse.category_names[82] == "Cultivated"
    assert landuse.category_names[0] == "No data" and landuse.category_names[12] == ""
    assert landuse.rat_names()[71] == "Herbaceous"
    change = gdal_band_classes(str(dest / "change.tif"))
    names = change.rat_names()
    assert {k: names[k] for k in (0, 1, 2, 3)} == {
        0: "No data",
        1: "Stable",
        2: "Uncertain change",
        3: "No prior label",
    }
    assert names[8211] == "Cultivated to Water"
    with rasterio.open(dest / "change.tif") as src:
        values, counts = np.unique(src.read(1), return_counts=True)
    columns = [name for name, _ in change.rat_columns]
    rat_counts = {int(r[columns.index("Value")]): int(r[columns.index("Count")]) for r in change.rat_rows}
    assert {int(v): int(n) for v, n in zip(values, counts, strict=True)} == {v: n for v, n in rat_counts.items() if n}
    # QGIS styles next to every raster; their palettes name the same values as the RAT
    for name in RASTERS:
        assert (dest / name).with_suffix(".qml").is_file()
    palette = _qml_palette(dest / "change.qml")
    assert set(palette) == set(names) - {CHANGE_NODATA}
    assert palette[8211][1] == "Cultivated to Water"
    assert _qml_palette(dest / "landuse.qml")[11] == ("#466b9f", "Water")


def test_confidence_raster_is_the_winning_probability_in_percent(tmp_path, product_inputs):
    dest = _publish(LocalLake(str(tmp_path)), product_inputs)
    with rasterio.open(dest / "confidence.tif") as src, rasterio.open(dest / "landuse.tif") as landuse:
        assert (src.transform, src.shape, src.crs) == (landuse.transform, landuse.shape, landuse.crs)
        assert src.dtypes[0] == "uint8" and src.nodata == CONFIDENCE_NODATA
        confidence, classes = src.read(1), landuse.read(1)
        rows, cols = rasterio.transform.rowcol(
            src.transform,
            (product_inputs["predictions"]["col"] + 0.5) * 224,
            (product_inputs["predictions"]["row"] + 0.5) * 224,
        )
    expected = np.rint(product_inputs["predictions"]["probability"].to_numpy() * 100)
    assert np.array_equal(confidence[rows, cols], expected.astype(np.uint8))
    assert np.array_equal(confidence == CONFIDENCE_NODATA, classes == 0)
    assert confidence[classes > 0].min() >= 0 and confidence[classes > 0].max() <= 100


def test_the_same_transition_has_the_same_colour_in_two_products(tmp_path, product_inputs):
    lake = LocalLake(str(tmp_path))
    first = _publish(lake, product_inputs)
    second_inputs = label_product_inputs(vintage="2015", keep_codes={CHANGE_STABLE, 8211})
    second = _publish(lake, second_inputs, vintage="2015")
    palettes = {dest: _qml_palette(dest / "change.qml") for dest in (first, second)}
    transitions = {dest: {v for v in palette if v >= 100} for dest, palette in palettes.items()}
    assert transitions[first] > transitions[second] == {8211}  # different transition sets
    for dest in (first, second):
        summary = json.loads((dest / "summary.json").read_text())
        item = json.loads((dest / "item.json").read_text())
        hints = {c["value"]: c.get("color_hint") for c in item["assets"]["change"]["classification:classes"]}
        rat = gdal_band_classes(str(dest / "change.tif"))
        columns = [name for name, _ in rat.rat_columns]
        row = next(r for r in rat.rat_rows if r[columns.index("Value")] == "8211")
        rat_hex = "#" + "".join(f"{int(row[columns.index(c)]):02x}" for c in ("Red", "Green", "Blue"))
        assert palettes[dest][8211][0] == summary["change_raster"]["colors"]["8211"] == rat_hex
        assert hints[8211] == rat_hex.lstrip("#").upper()
    assert palettes[first][8211] == palettes[second][8211]
    assert palettes[first][CHANGE_STABLE] == palettes[second][CHANGE_STABLE]


def test_republishing_is_byte_identical_and_replaces_in_place(tmp_path, product_inputs):
    lake = LocalLake(str(tmp_path))
    dest = _publish(lake, product_inputs)
    catalog_files = ("published/catalog.json", "published/nd-pothole/collection.json")
    first = {n: hashlib.sha256((dest / n).read_bytes()).hexdigest() for n in PRODUCT_FILES}
    first_catalog = {n: (tmp_path / n).read_bytes() for n in catalog_files}
    _publish(lake, product_inputs)
    second = {n: hashlib.sha256((dest / n).read_bytes()).hexdigest() for n in PRODUCT_FILES}
    assert first == second
    assert {n: (tmp_path / n).read_bytes() for n in catalog_files} == first_catalog
    assert not list((tmp_path / "trash").glob("*")) and not list((tmp_path / "staging").glob("*"))


def test_a_failed_publish_leaves_the_old_product_untouched(tmp_path, product_inputs):
    lake = LocalLake(str(tmp_path))
    dest = _publish(lake, product_inputs)
    before = {n: (dest / n).read_bytes() for n in PRODUCT_FILES}
    no_water = Legend(
        "broken", (*tuple(c for c in DEFAULT_LEGEND.classes if c.code != 11), LandClass(12, "Ice", "#ffffff", (12,)))
    )
    with pytest.raises(Exception, match="11"):
        _publish(lake, product_inputs, legend=no_water)
    assert {n: (dest / n).read_bytes() for n in PRODUCT_FILES} == before


def test_published_folders_and_catalog_are_readable_by_other_users(tmp_path, product_inputs):
    dest = _publish(LocalLake(str(tmp_path)), product_inputs)
    assert dest.stat().st_mode & 0o055 == 0o055  # group and others may list and read it
    for catalog in (tmp_path / "published" / "catalog.json", dest.parent / "collection.json"):
        assert catalog.stat().st_mode & 0o044 == 0o044


def test_water_share_raster_is_the_tile_water_percent_on_the_landuse_grid(tmp_path, product_inputs):
    from landshift.products.layout import WATER_SHARE_NODATA

    inputs = {**product_inputs}
    predictions = inputs["predictions"]
    inputs["predictions"] = predictions.assign(water_share=predictions["prior_water_share"])
    dest = _publish(LocalLake(str(tmp_path)), inputs)
    path = dest / "water_share.tif"
    assert cog_validate(str(path), quiet=True)[0]
    with rasterio.open(path) as src, rasterio.open(dest / "landuse.tif") as landuse:
        assert (src.transform, src.shape, src.crs) == (landuse.transform, landuse.shape, landuse.crs)
        assert src.dtypes[0] == "uint8" and src.nodata == WATER_SHARE_NODATA
        water, classes = src.read(1), landuse.read(1)
        rows, cols = rasterio.transform.rowcol(
            src.transform, (predictions["col"] + 0.5) * 224, (predictions["row"] + 0.5) * 224
        )
    expected = np.floor(predictions["prior_water_share"].to_numpy() * 100 + 0.5).astype(np.uint8)
    assert np.array_equal(water[rows, cols], expected)
    assert np.array_equal(water == WATER_SHARE_NODATA, classes == 0)
    # Water tiles are mostly water, the rest mostly dry: the raster carries the measured share.
    assert water[classes == 11].mean() > 50 > water[(classes > 0) & (classes != 11)].mean()
    pam = ET.parse(f"{path}.aux.xml").getroot()
    assert pam.find("PAMRasterBand/UnitType").text == "%"
    assert pam.find("PAMRasterBand/NoDataValue").text == str(WATER_SHARE_NODATA)
    assert ET.parse(dest / "water_share.qml").getroot().find("pipe/rasterrenderer") is not None
    item = json.loads((dest / "item.json").read_text())
    asset = item["assets"]["water_share"]
    assert asset["href"] == "./water_share.tif" and asset["nodata"] == WATER_SHARE_NODATA and asset["unit"] == "%"
    assert asset["proj:shape"] == list(water.shape)
    summary = json.loads((dest / "summary.json").read_text())
    assert summary["water_share_raster"]["tiles"] == int((classes > 0).sum())


def test_predictions_without_water_share_publish_an_all_nodata_water_raster(tmp_path, product_inputs):
    from landshift.products.layout import WATER_SHARE_NODATA

    dest = _publish(LocalLake(str(tmp_path)), product_inputs)
    with rasterio.open(dest / "water_share.tif") as src:
        assert (src.read(1) == WATER_SHARE_NODATA).all()


def test_the_report_shows_water_share_before_and_after_each_reported_change(tmp_path):
    import re

    from support.product_inputs import naip_chips

    inputs = label_product_inputs(keep_codes={8211, 1182})
    lake = LocalLake(str(tmp_path))
    dest = lake.uri("published", "nd-pothole", "2014")
    publish_product(lake, dest, legend=DEFAULT_LEGEND, grid=GRID, chips=naip_chips(), **inputs)
    page = Path(dest, "report.html").read_text()
    assert "<th>water before</th><th>water after</th>" in page
    rows = re.findall(r'<tr id="(E\d+_N\d+)">.*?<td>(\d+) %</td><td>(\d+) %</td>', page)
    changes = inputs["changes"].set_index("tile_id")
    reported = changes[changes["status"] == STATUS_CHANGE]
    assert len(rows) == len(reported) > 0
    shares = {tile: (int(before), int(after)) for tile, before, after in rows}
    # Cultivated that became water gained water between 2009 and 2014; water that became cropland lost it.
    gained = [shares[t][1] - shares[t][0] for t in reported.index if reported.loc[t, "change_code"] == 8211]
    lost = [shares[t][1] - shares[t][0] for t in reported.index if reported.loc[t, "change_code"] == 1182]
    assert gained and np.mean(gained) > 20
    assert not lost or np.mean(lost) < 0
