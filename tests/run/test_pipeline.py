"""The whole pipeline in-process on real data: train on 2009+2014 labels, score 2020, publish."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate
from support.cli import landshift

from landshift.core.errors import InputError, NoImageryError, NotFoundError
from landshift.lake.base import LocalLake, read_table
from landshift.products.layout import PRODUCT_FILES
from landshift.regions.registry import get_region
from landshift.regions.requests import RunRequest
from landshift.run.demo import seed_lake
from landshift.run.pipeline import run_pipeline
from landshift.run.region_run import REGION_RUN
from landshift.run.region_stages import validate_inputs
from landshift.run.training import TRAINING_RUN, TrainingRequest, prepare
from landshift.scoring.batch import ScoringConfig, run_scoring

pytestmark = [pytest.mark.slow, pytest.mark.data]
MODEL = "landshift-mobilenetv2"


@pytest.fixture(scope="module")
def trained_lake(tmp_path_factory, shared_data, spark):
    """A seeded lake with a model trained through the feature job and registered as production."""
    lake = LocalLake(str(tmp_path_factory.mktemp("lake")))
    seed_lake(shared_data, lake)
    request = TrainingRequest(lake.root, get_region("nd-pothole"), (2009, 2014), MODEL)
    return lake, run_pipeline(TRAINING_RUN, request, spark)


def _run(lake: LocalLake, spark, vintage: str = "2020") -> tuple[RunRequest, dict]:
    request = RunRequest(lake.root, get_region("nd-pothole"), vintage)
    return request, run_pipeline(REGION_RUN, request, spark)


def test_training_registers_a_production_version_with_metrics(trained_lake):
    lake, trained = trained_lake
    assert trained["model_version"] == "1"
    version_dir = Path(lake.root, "models", MODEL, "1")
    assert {"head.npz", "spec.json", "legend.json", "metrics.json", "training.json", "model_card.md"} <= {
        p.name for p in version_dir.iterdir()
    }
    alias = json.loads(Path(lake.root, "models", MODEL, "aliases", "production.json").read_text())
    assert alias["version"] == "1"
    spec = json.loads((version_dir / "spec.json").read_text())
    assert spec["weights_sha256"] == "04af0032331eca800a501cbd14b1861ef1d07bfa5728325084bbe295e7ffaecb"


def test_region_run_publishes_the_2020_product(trained_lake, spark):
    lake, _ = trained_lake
    request, published = _run(lake, spark)
    product = Path(published["published_uri"])
    assert sorted(p.name for p in product.iterdir()) == sorted(PRODUCT_FILES)
    assert cog_validate(str(product / "landuse.tif"), quiet=True)[0]
    summary = json.loads((product / "summary.json").read_text())
    assert summary["model"]["version"] == "1"
    assert summary["tiles"]["tiles_scored"] >= 300
    assert summary["tiles"]["tiles_skipped_nodata"] > 0  # the grid's edge cells barely touch the scene
    assert set(summary["class_tiles"]) <= {"11", "71", "82"}
    # Ponds grew over cropland between 2009 and 2020: the map must find water gained from cultivated land.
    assert summary["change"]["transition_matrix"]["82"]["11"] > 0
    predictions = read_table(lake, request.layout.predictions)
    assert predictions["tile_id"].is_unique


def test_a_region_run_without_spark_scores_in_process_and_publishes_the_same_bytes(trained_lake, spark):
    lake, _ = trained_lake
    _run(lake, spark)
    product = Path(lake.root, "published", "nd-pothole", "2020")
    with_spark = {name: (product / name).read_bytes() for name in ("landuse.tif", "change.tif", "confidence.tif")}
    _, published = _run(lake, None)
    assert published["score_tiles"]["in_process"] is True
    assert published["score_tiles"]["rows"] == published["score_tiles"]["tiles"] >= 300
    assert {name: (product / name).read_bytes() for name in with_spark} == with_spark


def test_the_2020_product_is_ready_for_a_gis_analyst(trained_lake):
    """Issue 15 on the demo product: class names through GDAL, QGIS styles, a small change raster whose
    counts match summary.json, a STAC catalog that validates offline, chips for every reported change."""
    import rasterio
    from support.stac_validation import stac_errors

    from landshift.products.stac import catalog_documents
    from landshift.products.symbology import gdal_band_classes

    lake, _ = trained_lake
    product = Path(lake.root, "published", "nd-pothole", "2020")
    assert gdal_band_classes(str(product / "landuse.tif")).category_names[11] == "Water"
    change_names = gdal_band_classes(str(product / "change.tif")).rat_names()
    assert change_names[1] == "Stable" and change_names[8211] == "Cultivated to Water"
    assert all((product / f"{stem}.qml").is_file() for stem in ("landuse", "change", "confidence"))
    assert (product / "change.tif").stat().st_size < 20_000
    with rasterio.open(product / "change.tif") as src:
        change = src.read(1)
    pixels = json.loads((product / "summary.json").read_text())["change_raster"]["pixels"]
    assert [pixels[k] for k in ("nodata", "stable", "uncertain", "no_prior")] == [
        int((change == v).sum()) for v in (0, 1, 2, 3)
    ]
    assert pixels["reported"] == int((change >= 100).sum()) > 0
    documents = catalog_documents(lake, lake.uri("published"))
    assert sorted(d["type"] for d in documents.values()) == ["Catalog", "Collection", "Feature"]
    assert {uri: stac_errors(d) for uri, d in documents.items()} == {uri: [] for uri in documents}
    page = (product / "report.html").read_text()
    assert page.count('<img src="data:image/jpeg') == 4 * pixels["reported"]
    assert "no imagery" not in page


def test_bad_requests_fail_before_any_output(trained_lake):
    lake, _ = trained_lake
    region = get_region("nd-pothole")
    with pytest.raises(NoImageryError, match="no imagery"):
        validate_inputs(RunRequest(lake.root, region, "2011"))
    with pytest.raises(NotFoundError, match=r"no-such-alias"):
        validate_inputs(RunRequest(lake.root, region, "2020", model_ref="no-such-alias"))
    with pytest.raises(InputError, match="vintage"):
        RunRequest(lake.root, region, "20x0")
    assert not Path(lake.root, "published", "nd-pothole", "2011").exists()


def test_scoring_and_training_preprocess_a_tile_identically(trained_lake, spark):
    """Features the scoring path computes with the registered version equal the training features."""
    import numpy as np

    lake, trained = trained_lake
    training = json.loads(Path(trained["uri"], "training.json").read_text())
    config = ScoringConfig(lake.root, MODEL, trained["model_version"], "EPSG:26914", 224.0, emit_features=True)
    rescored_uri = lake.uri("work", "test", "rescored")
    run_scoring(spark, config, training["tiles_uri"], rescored_uri)
    rescored = read_table(lake, rescored_uri).set_index(["tile_id", "scene_uri"]).sort_index()
    trained_features = read_table(lake, training["features_uri"])
    trained_features = trained_features[trained_features["variant"] == 0]  # the unaugmented tile
    trained_features = trained_features.set_index(["tile_id", "scene_uri"]).sort_index()
    assert len(rescored) == len(trained_features) > 500
    sample = trained_features.index[::50]
    for key in sample:
        assert np.allclose(rescored.loc[key, "features"], trained_features.loc[key, "features"], atol=1e-5)


def test_training_labels_can_come_from_a_uri_template(trained_lake):
    """A label source given at trigger time (here the per-tile rasters) replaces the region's."""
    lake, _ = trained_lake
    region = get_region("nd-pothole")
    template = "raw/labels/{region}/{year}/labels_{year}_tiles.tif"
    request = TrainingRequest(lake.root, region, (2009, 2014), MODEL, labels_uri=template)
    assert [s.path for s in request.label_sources] == [
        "raw/labels/nd-pothole/2009/labels_2009_tiles.tif",
        "raw/labels/nd-pothole/2014/labels_2014_tiles.tif",
    ]
    prepared = prepare(request)
    tiles = read_table(lake, prepared["tiles_uri"])
    assert set(tiles["year"]) == {2009, 2014} and len(tiles) == 2 * 300  # the annotated 20 x 15 tile grid
    assert (tiles["prior_agreement"] == 1.0).all()  # one label pixel per tile: no mixed tiles
    with pytest.raises(InputError, match="placeholder"):
        TrainingRequest(lake.root, region, (2009, 2014), MODEL, labels_uri="raw/labels/one.tif")
    with pytest.raises(InputError, match="validation share"):
        TrainingRequest(lake.root, region, (2009,), MODEL, validation_share=0.9)
    missing = TrainingRequest(lake.root, region, (2009,), MODEL, labels_uri="raw/labels/none/{year}.tif")
    with pytest.raises(NotFoundError, match="training labels for 2009"):
        prepare(missing)
    assert not Path(missing.work).exists()


def test_the_cli_runs_the_same_pipeline_and_lists_what_it_published(trained_lake, spark):
    """`landshift run` publishes the same rasters as the pipeline Airflow runs; products list/show read them."""
    lake, _ = trained_lake
    _run(lake, spark)
    product = Path(lake.root, "published", "nd-pothole", "2020")
    expected = {name: (product / name).read_bytes() for name in ("landuse.tif", "change.tif", "confidence.tif")}
    result = landshift("run", "nd-pothole", "2020", "--json", lake=Path(lake.root))
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["published_uri"] == str(product)
    assert {name: (product / name).read_bytes() for name in expected} == expected
    listed = json.loads(landshift("products", "list", "nd-pothole", "--json", lake=Path(lake.root)).stdout)
    assert [(row["vintage"], row["model_version"]) for row in listed] == [("2020", "1")]
    shown = landshift("products", "show", "nd-pothole", "2020", lake=Path(lake.root))
    assert shown.returncode == 0 and f"published at {product}/" in shown.stdout


def test_a_model_run_keeps_the_analysts_decisions(trained_lake, spark):
    """A reviewed vintage republished by a model run is published again with the decisions applied."""
    from landshift.review.decisions import record_decision
    from landshift.review.queue import review_queue

    lake, _ = trained_lake
    _run(lake, spark)
    product = Path(lake.root, "published", "nd-pothole", "2020")
    first = review_queue(lake, "nd-pothole", "2020", limit=1)[0]
    relabel = 71 if first.predicted != 71 else 82
    record_decision(lake, "nd-pothole", "2020", first.tile_id, "relabel", label=relabel, reviewer="analyst")
    _, published = _run(lake, spark)
    assert published["review"]["reviewed"] == 1 and published["review"]["relabelled"] == 1
    summary = json.loads((product / "summary.json").read_text())
    assert summary["review"]["reviewed"] == 1
    with rasterio.open(product / "landuse.tif") as src:
        row, col = src.index(*_tile_centre(first, src.res[0]))
        assert src.read(1)[row, col] == relabel


def _tile_centre(item, tile_size_m: float) -> tuple[float, float]:
    return (item.col + 0.5) * tile_size_m, (item.row + 0.5) * tile_size_m
