"""Trust suite (issue 26) at the region stages: inputs checked at the moment of use, geometry that
lies, and size limits before planning. Real GeoTIFF copies in a real lake; each refusal is
asserted by its message and by every published file's checksum staying the same."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import rasterio
from affine import Affine
from support.trust import MODEL, NAIP, PRIOR, build_lake, checksums, request_2020, write_scene

from conftest import NAIP_2020
from landshift.change.policy import ChangeRule
from landshift.core.errors import InputError, IntegrityError, ModelIntegrityError
from landshift.lake.base import read_json, read_table, write_table
from landshift.model.registry import model_root
from landshift.regions.registry import manual_region
from landshift.regions.requests import RunRequest
from landshift.run.region_stages import plan, publish, scene_infos_uri, validate_inputs
from landshift.scoring.batch import ScoringConfig, cached_model, score_partitions

pytestmark = pytest.mark.data


@pytest.fixture
def lake(tmp_path, monkeypatch):
    return build_lake(tmp_path, monkeypatch)


@pytest.fixture
def published(lake):
    """Checksums of every published file before the test; compare after."""
    root = Path(lake.root, "published")
    before = checksums(root)
    assert before
    return lambda: checksums(root) == before


def scoring_config(request: RunRequest, version: str) -> ScoringConfig:
    return ScoringConfig(request.lake_root, MODEL, version, request.region.crs, request.region.tile_size_m)


# -- 1. checked once, used later ---------------------------------------------------------------------
def test_hostile_model_file_swapped_after_validation_is_refused_when_scoring_loads_it(lake, published):
    request = request_2020(lake)
    validated = validate_inputs(request)
    head = Path(model_root(lake, MODEL), validated["model_version"], "head.npz")
    head.write_bytes(head.read_bytes()[:-64] + bytes(64))  # replaced between validation and scoring
    cached_model.cache_clear()
    with pytest.raises(ModelIntegrityError, match=r"head\.npz has sha256 [0-9a-f]{64}, the manifest records"):
        scoring_config(request, validated["model_version"]).load()
    assert published()


def test_hostile_scene_swapped_after_validation_is_refused_when_scoring_opens_it(lake, published):
    request = request_2020(lake)
    validated = validate_inputs(request)
    plan(request, validated["scenes"])
    tiles = read_table(lake, request.layout.tiles)
    scene = validated["scenes"][0]
    recorded = tiles["scene_revision"].iloc[0]
    assert recorded == read_json(lake, scene_infos_uri(request))["scenes"][0]["revision"]
    shutil.copyfile(NAIP / "m_4709963_se_14_1_20190904.tif", scene)  # another acquisition, same name
    score = score_partitions(scoring_config(request, validated["model_version"]))
    with pytest.raises(
        IntegrityError, match=r"changed since the run validated it \(size:revision .*nothing was scored"
    ):
        list(score(iter([tiles])))  # refused before the model is loaded or a pixel read
    assert not lake.exists(request.layout.predictions)
    assert published()


def test_hostile_swaps_stay_traceable_the_summary_records_the_digests_it_was_made_from(lake, tmp_path):
    from support.product_inputs import label_product_inputs

    request = request_2020(lake)
    validated = validate_inputs(request)
    digests = validated["fingerprint"]["digests"]
    version_dir = Path(model_root(lake, MODEL), validated["model_version"])
    head_sha = hashlib.sha256((version_dir / "head.npz").read_bytes()).hexdigest()
    assert digests["model"]["head.npz"] == head_sha
    assert (
        digests["model"]["backbone"] == hashlib.sha256(Path(lake.uri("models/backbones/w.h5")).read_bytes()).hexdigest()
    )
    info = Path(validated["scenes"][0]).stat()
    assert digests["scenes"] == {validated["scenes"][0]: f"{info.st_size}:{info.st_mtime_ns}"}
    inputs = label_product_inputs("2020")  # the 2014 labels stand in for predictions
    write_table(lake, request.layout.predictions + "/part-00000.parquet", inputs["predictions"].assign(status="scored"))
    write_table(lake, request.layout.changes, inputs["changes"])
    publish(request, ChangeRule(0.7, 0.6), validated["model_version"], validated["scenes"], validated["fingerprint"])
    summary = read_json(lake, f"{request.layout.published}/summary.json")
    assert summary["inputs"]["fingerprint"]["digests"] == digests


# -- 3. geometry that lies ---------------------------------------------------------------------------
def test_hostile_rotated_scene_is_refused_before_tiling(lake, published):
    with rasterio.open(NAIP_2020) as src:
        north_up = src.transform
    rotated = north_up * Affine.rotation(10)
    path = write_scene(Path(lake.root, "raw/imagery/nd-pothole/2020/rotated.tif"), rotated, "EPSG:26914")
    with pytest.raises(InputError, match=r"rotated\.tif: geotransform .* is rotated, sheared or flipped: .*gdalwarp"):
        validate_inputs(request_2020(lake))
    assert not lake.exists(scene_infos_uri(request_2020(lake)))
    assert path.exists() and published()


def test_hostile_feet_crs_is_refused_as_a_grid_with_what_to_do(lake, published):
    from rasterio.warp import calculate_default_transform, reproject

    feet = Path(lake.root, "raw/imagery/feet/2020/scene_ftus.tif")
    feet.parent.mkdir(parents=True)
    with rasterio.open(NAIP_2020) as src:
        transform, width, height = calculate_default_transform(src.crs, "EPSG:2265", src.width, src.height, *src.bounds)
        profile = {**src.profile, "crs": "EPSG:2265", "transform": transform, "width": width, "height": height}
        with rasterio.open(feet, "w", **profile) as dst:
            for band in range(1, 5):
                reproject(rasterio.band(src, band), rasterio.band(dst, band))
    form = {
        "region_id": "feet-run",
        "imagery_uri": "raw/imagery/feet/2020/",
        "prior_labels_uri": PRIOR,
        "prior_year": 2009,
    }
    with pytest.raises(
        InputError, match=r"scene_ftus\.tif: its CRS cannot be the tile grid's: .*measures in foot.*UTM"
    ):
        manual_region(form, lake.root)  # the grid CRS would default to the scene's
    with pytest.raises(InputError, match=r"'EPSG:2265' measures in foot \(0\.3048 m\), not metres"):
        manual_region({**form, "crs": "EPSG:2265"}, lake.root)
    assert published()


def test_hostile_web_mercator_grid_is_refused_naming_the_utm_zone_to_use(lake, published):
    form = {"region_id": "merc-run", "imagery_uri": "raw/imagery/nd-pothole/2020/", "prior_labels_uri": PRIOR}
    with pytest.raises(
        InputError, match=r"'EPSG:3857' is a Mercator_1SP projection: its metres are ground metres only"
    ):
        manual_region({**form, "prior_year": 2009, "crs": "EPSG:3857"}, lake.root)
    # A grid CRS whose metres drift far from ground metres at the scene (UTM zone 10 for North Dakota):
    with pytest.raises(InputError, match=r"a metre of the grid CRS EPSG:32610 is 0\.\d+ m on the ground .*EPSG:32614"):
        validate_inputs(request_2020(lake, crs="EPSG:32610"))
    assert published()


def test_hostile_manual_run_on_a_region_root_mixing_vintages_is_refused(lake, published):
    old = Path(lake.root, "raw/imagery/nd-pothole/2009", "m_4709963_se_14_1_20090818.tif")
    old.parent.mkdir(parents=True)
    shutil.copyfile(NAIP / old.name, old)
    form = {
        "region_id": "root-run",
        "imagery_uri": "raw/imagery/nd-pothole/",  # the region's root: 2009 and 2020 scenes
        "prior_labels_uri": PRIOR,
        "prior_year": 2009,
        "crs": "EPSG:26914",
    }
    request = RunRequest(lake.root, manual_region(form, lake.root), "2020")
    with pytest.raises(InputError, match=r"mixes vintages: 2009: 1 scene\(s\) besides the requested vintage 2020"):
        validate_inputs(request)
    fixed = RunRequest(
        lake.root, manual_region({**form, "imagery_uri": "raw/imagery/nd-pothole/2020/"}, lake.root), "2020"
    )
    assert validate_inputs(fixed)["scenes"] == [str(Path(lake.root, "raw/imagery/nd-pothole/2020", NAIP_2020.name))]
    assert published()


# -- 4. size limits before planning ------------------------------------------------------------------
def test_hostile_huge_header_is_refused_with_the_estimate_before_any_pixel_is_read(lake, published):
    with rasterio.open(NAIP_2020) as src:
        west, north = src.transform.c, src.transform.f
    huge = write_scene(
        Path(lake.root, "raw/imagery/nd-pothole/2020/huge.tif"),
        Affine(5.0, 0, west, 0, -5.0, north),
        "EPSG:26914",
        width=100_000,
        height=100_000,
        sparse=True,
    )
    assert huge.stat().st_size < 5_000_000  # a header claiming 10^10 pixels
    with pytest.raises(
        InputError,
        match=r"would plan about 4,9\d\d,\d{3} tiles of 224 m .* above LANDSHIFT_MAX_TILES_PER_RUN=1,000,000",
    ):
        validate_inputs(request_2020(lake))
    assert not lake.exists(scene_infos_uri(request_2020(lake)))
    assert published()


def test_hostile_limits_follow_their_settings(lake, published, monkeypatch):
    request = request_2020(lake)
    monkeypatch.setenv("LANDSHIFT_MAX_TILES_PER_RUN", "100")
    with pytest.raises(InputError, match=r"about 3\d\d tiles .*LANDSHIFT_MAX_TILES_PER_RUN=100:"):
        validate_inputs(request)
    monkeypatch.delenv("LANDSHIFT_MAX_TILES_PER_RUN")
    with pytest.raises(
        InputError,
        match=r"tile size 1 m is 0\.2 native px .* for a 64 px model input.*choose a tile size in 40\.\.10240 m",
    ):
        validate_inputs(request_2020(lake, tile_size_m=1.0, aoi=(-99.17, 47.01, -99.168, 47.012)))
    assert validate_inputs(request)["scenes"]  # the defaults admit the real run
    assert published()


def test_hostile_five_km_pixels_are_refused(lake, published):
    with rasterio.open(NAIP_2020) as src:
        west, north = src.transform.c, src.transform.f
    write_scene(
        Path(lake.root, "raw/imagery/nd-pothole/2020/coarse.tif"),
        Affine(5000.0, 0, west, 0, -5000.0, north),
        "EPSG:26914",
        4,
        4,
    )
    with pytest.raises(InputError, match=r"coarse\.tif: pixels of 5e\+03 m .* outside 0\.05\.\.30 m"):
        validate_inputs(request_2020(lake))
    assert published()
