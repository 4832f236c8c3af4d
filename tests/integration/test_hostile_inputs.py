"""Hostile-input suite: every case of issue 12 on the library side, one test per case.

Each test plays a careless or hostile user against a lake of real GeoTIFFs (copies of the shared
data) holding a published product, asserts the specific error, and checks that every published
file's checksum is unchanged. Names carry "hostile", "invalid", "bad" or "corrupt" so that
``pytest -k "bad or invalid or corrupt or fault or hostile"`` selects them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from conftest import LABELS_DIR, NAIP_2020, REPO_ROOT
from landshift.core.errors import (
    InputError,
    IntegrityError,
    LakeBoundaryError,
    NotFoundError,
    ProductConflictError,
    PublishBusyError,
    TransientError,
    is_retryable,
    is_transient,
)
from landshift.core.legend import DEFAULT_LEGEND
from landshift.labels.prior import aggregate_labels, check_label_codes
from landshift.lake.base import LocalLake
from landshift.lake.factory import open_lake
from landshift.lake.publishing import publish_dir
from landshift.lake.uris import allowed_lake_roots, confine_uri
from landshift.regions.aoi import aoi_in_crs, parse_aoi
from landshift.regions.layout import RunLayout
from landshift.regions.registry import (
    Region,
    check_replacement,
    get_region,
    load_regions_report,
    manual_region,
    region_from_dict,
    validate_vintage,
)

pytestmark = pytest.mark.data

ND_AOI = [-99.19, 46.99, -99.12, 47.06]  # around the nd-pothole quarter-quad
SCENE = f"raw/imagery/nd-pothole/2020/{NAIP_2020.name}"
PRIOR = "raw/labels/nd-pothole/2009/labels_2009_5m.tif"
OTHER_ACCOUNT_URI = "abfss://lake@attacker.dfs.core.windows.net/raw/imagery/x.tif"


def checksums(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def lake(tmp_path, monkeypatch) -> LocalLake:
    """A lake with the 2020 scene, the 2009 labels, the registry, and a published nd-pothole 2020 product."""
    lake = LocalLake(str(tmp_path / "lake"))
    root = Path(lake.root)
    for source, target in ((NAIP_2020, SCENE), (LABELS_DIR / "labels_2009_5m.tif", PRIOR)):
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, root / target)
    product = tmp_path / "product"
    product.mkdir()
    shutil.copyfile(LABELS_DIR / "labels_2009_tiles.tif", product / "landuse.tif")
    summary = {
        "region": "nd-pothole",
        "vintage": "2020",
        "raster": {"crs": "EPSG:26914", "tile_size_m": 224},
        "prior": {"uri": str(root / PRIOR)},
        "model": {"name": "landshift-mobilenetv2", "ref": "production"},
        "inputs": {"imagery": [str(root / SCENE)]},
    }
    (product / "summary.json").write_text(json.dumps(summary))
    publish_dir(lake, str(product), lake.uri("published", "nd-pothole", "2020"))
    regions = tmp_path / "regions"
    regions.mkdir()
    shutil.copyfile(REPO_ROOT / "include" / "regions" / "nd-pothole.json", regions / "nd-pothole.json")
    monkeypatch.setenv("LANDSHIFT_REGIONS_DIR", str(regions))
    monkeypatch.setenv("LANDSHIFT_LAKE_ROOT", lake.root)
    monkeypatch.delenv("LANDSHIFT_ALLOWED_LAKE_ROOTS", raising=False)
    return lake


@pytest.fixture
def published(lake):
    """Checksums of every published file before the test; compare after."""
    root = Path(lake.root, "published")
    before = checksums(root)
    assert before
    yield lambda: checksums(root) == before


def form(lake: LocalLake, **overrides) -> dict:
    """A valid manual trigger form for a new region over the nd-pothole scene."""
    return {
        "region_id": "my-ponds",
        "vintage": "2020",
        "imagery_uri": "raw/imagery/nd-pothole/2020/",
        "prior_labels_uri": PRIOR,
        "prior_year": 2009,
        "aoi": ND_AOI,
        "crs": "EPSG:26914",
        "tile_size_m": 224,
        **overrides,
    }


# -- names are owned ----------------------------------------------------------------------------------
def test_hostile_manual_run_with_a_registered_region_id_is_refused(lake, published):
    with pytest.raises(ProductConflictError, match="'nd-pothole' is a registered region"):
        manual_region(form(lake, region_id="nd-pothole"), lake.root)
    assert published()


def test_hostile_manual_region_publishes_in_its_own_namespace(lake, published):
    region = manual_region(form(lake), lake.root)
    layout = RunLayout.for_region(lake.root, region, "2020", run_key="manual__2026-01-01T00:00:00+00:00")
    assert region.namespace == "manual"
    assert layout.published == f"{lake.root}/published/manual/my-ponds/2020"
    assert layout.work == f"{lake.root}/work/manual/my-ponds/2020/runs/manual__2026-01-01T00_00_00_00_00"
    registered = RunLayout.for_region(lake.root, get_region("nd-pothole"), "2020")
    assert registered.published == f"{lake.root}/published/nd-pothole/2020"
    assert published()


def test_hostile_manual_rerun_with_other_inputs_needs_replace_existing(lake, published):
    region = get_region("nd-pothole")
    dest = lake.uri("published", "nd-pothole", "2020")
    scenes, prior = [lake.uri(SCENE)], lake.uri(PRIOR)
    assert check_replacement(lake, dest, region, scenes, prior) == []  # same inputs: an idempotent rerun
    other = Region.from_dict({**region.to_dict(), "tile_size_m": 448})
    with pytest.raises(ProductConflictError, match=r"tile_size_m: published 224.0, requested 448.0.*replace_existing"):
        check_replacement(lake, dest, other, scenes, prior)
    assert check_replacement(lake, dest, other, scenes, prior, replace_existing=True) == [
        "tile_size_m: published 224.0, requested 448.0"
    ]
    assert published()


def test_hostile_reserved_region_id_is_refused(lake, published):
    with pytest.raises(InputError, match="reserved"):
        manual_region(form(lake, region_id="manual"), lake.root)
    assert published()


# -- one lake, one boundary -------------------------------------------------------------------------
def test_hostile_absolute_path_outside_the_lake_is_refused(lake, published, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copyfile(NAIP_2020, outside / NAIP_2020.name)
    with pytest.raises(LakeBoundaryError, match=r"imagery_uri: outside the lake") as raised:
        manual_region(form(lake, imagery_uri=str(outside)), lake.root)
    assert raised.value.uri == str(outside)
    assert published()


def test_hostile_dotdot_escape_is_refused(lake, published):
    with pytest.raises(LakeBoundaryError, match=r"'\.\.' segments would escape the lake"):
        manual_region(form(lake, prior_labels_uri="raw/labels/../../../etc/passwd"), lake.root)
    with pytest.raises(LakeBoundaryError, match=r"'\.\.'"):
        confine_uri(lake.root, f"{lake.root}/raw/../../outside.tif")
    assert published()


def test_hostile_abfss_uri_of_another_account_or_filesystem_is_refused(published):
    root = "abfss://lake@landshift.dfs.core.windows.net/prod"
    assert confine_uri(root, "raw/x.tif") == f"{root}/raw/x.tif"
    assert confine_uri(root, f"{root}/raw/x.tif") == f"{root}/raw/x.tif"
    for uri in (
        OTHER_ACCOUNT_URI,
        "abfss://other@landshift.dfs.core.windows.net/prod/raw/x.tif",  # another filesystem
        "abfss://lake@landshift.dfs.core.windows.net/production-copy/x.tif",  # a sibling prefix
    ):
        with pytest.raises(LakeBoundaryError, match="outside the lake"):
            confine_uri(root, uri)
    assert published()


@pytest.mark.parametrize(
    "uri",
    [
        "https://attacker.example/scene.tif",
        "/vsicurl/https://attacker.example/scene.tif",
        "file:///etc/passwd",
        "s3://bucket/x.tif",
        "~/scene.tif",
        "raw/imagery/\x00x.tif",
        "raw/imagery/x.tif?sv=2024&sig=c2VjcmV0",
    ],
)
def test_hostile_other_schemes_and_gdal_virtual_paths_are_refused(lake, published, uri):
    with pytest.raises(LakeBoundaryError):
        confine_uri(lake.root, uri)
    assert published()


def test_hostile_allow_list_admits_extra_roots_but_never_another_account(lake, published, tmp_path, monkeypatch):
    extra = tmp_path / "archive"
    monkeypatch.setenv("LANDSHIFT_ALLOWED_LAKE_ROOTS", str(extra))
    assert confine_uri(lake.root, f"{extra}/scene.tif") == f"{extra}/scene.tif"
    root = "abfss://lake@landshift.dfs.core.windows.net/prod"
    same_account = "abfss://archive@landshift.dfs.core.windows.net/old"
    assert allowed_lake_roots(root, {"LANDSHIFT_ALLOWED_LAKE_ROOTS": same_account}) == [root, same_account]
    with pytest.raises(LakeBoundaryError, match="not on the lake's own storage account"):
        allowed_lake_roots(root, {"LANDSHIFT_ALLOWED_LAKE_ROOTS": OTHER_ACCOUNT_URI})
    assert published()


def test_hostile_credentials_are_never_sent_to_another_account(lake, published, monkeypatch):
    from landshift.lake.adls import AdlsLake, AdlsSettings

    settings = AdlsSettings(account_name="landshift", account_key="c2VjcmV0", dfs_endpoint="http://127.0.0.1:9")
    with pytest.raises(LakeBoundaryError, match="credentials are for account 'landshift'") as raised:
        AdlsLake("abfss://lake@attacker.dfs.core.windows.net/x", settings)
    assert "c2VjcmV0" not in str(raised.value)
    monkeypatch.setenv("LANDSHIFT_LAKE_ROOT", "abfss://lake@landshift.dfs.core.windows.net/prod")
    with pytest.raises(LakeBoundaryError, match="credentials stay home"):
        open_lake("abfss://lake@attacker.dfs.core.windows.net/x")
    assert published()


# -- region files one by one -------------------------------------------------------------------------
def test_bad_region_file_fails_only_that_region_naming_file_and_field(lake, published, tmp_path):
    folder = Path(tmp_path / "regions")
    good = json.loads((folder / "nd-pothole.json").read_text())
    (folder / "broken-json.json").write_text('{"id": "broken-json", ')
    (folder / "bad-tile.json").write_text(json.dumps({**good, "id": "bad-tile", "tile_size_m": -5}))
    (folder / "typo-field.json").write_text(json.dumps({**good, "id": "typo-field", "schedul": "@daily"}))
    (folder / "wrong-name.json").write_text(json.dumps({**good, "id": "other-name"}))
    (folder / "escape.json").write_text(
        json.dumps({**good, "id": "escape", "prior_labels": {**good["prior_labels"], "path": "../../etc/x.tif"}})
    )
    report = load_regions_report(folder)
    assert list(report.regions) == ["nd-pothole"]
    errors = {e.region_id: (e.field, e.message) for e in report.errors}
    assert errors["broken-json"][0] == "(file)" and "not valid JSON" in errors["broken-json"][1]
    assert errors["bad-tile"][0] == "tile_size_m"
    assert errors["typo-field"] == ("schedul", "unknown field 'schedul'")
    assert errors["wrong-name"][0] == "id"
    assert errors["escape"][0] == "prior_labels.path" and "'..'" in errors["escape"][1]
    with pytest.raises(InputError, match=r"bad-tile\.json: field tile_size_m"):
        get_region("bad-tile")
    assert get_region("nd-pothole").id == "nd-pothole"
    assert published()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start_year": 0}, "start_year"),
        ({"tile_size_m": float("nan")}, "tile_size_m"),
        ({"imagery": "raw/{vintage}/{region.__class__}/"}, "imagery"),
        ({"model_ref": "../prod"}, "model_ref"),
        ({"crs": "+proj=longlat; rm -rf /"}, "crs"),
        ({"aoi": [47.0, -99.18, 47.02, -99.15]}, "aoi"),
        ({"prior_labels": {"source": "x", "year": 2009, "path": "a.tif", "code_map": {"21": 999}}}, "code_map"),
    ],
)
def test_invalid_region_field_values_are_named(lake, published, change, field):
    raw = {**get_region("nd-pothole").to_dict(), **change}
    with pytest.raises(InputError, match=field):
        region_from_dict(raw)
    assert published()


def test_hostile_tampered_region_dict_is_revalidated_on_the_way_back(lake, published):
    region = manual_region(form(lake), lake.root)
    raw = region.to_dict()
    assert Region.from_dict(json.loads(json.dumps(raw))) == region  # the XCom round trip
    with pytest.raises(InputError, match="namespace"):
        Region.from_dict({**raw, "namespace": "../published"})
    with pytest.raises(InputError, match="unknown field 'extra'"):
        Region.from_dict({**raw, "extra": 1})
    with pytest.raises(LakeBoundaryError):
        Region.from_dict({**raw, "imagery": "/vsicurl/http://x/"})
    assert published()


# -- vintages and dates --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "vintage", ["0000", "0", "1492", "3020", "20201332", "20210229", "2020-08-31", "\uff12\uff10\uff12\uff10", None]
)
def test_invalid_vintages_are_refused(vintage):
    with pytest.raises(InputError, match="vintage"):
        validate_vintage(vintage)


def test_real_vintages_pass():
    assert validate_vintage("2020") == "2020"
    assert validate_vintage(" 20200229 ") == "20200229"


def test_invalid_prior_year_in_the_form_is_refused(lake, published):
    for year in (0, "abc", None, 2999):
        with pytest.raises(InputError, match="prior_year"):
            manual_region(form(lake, prior_year=year), lake.root)
    assert published()


# -- AOIs ------------------------------------------------------------------------------------------
def test_hostile_aoi_crossing_the_antimeridian_is_refused_not_a_world_box(published):
    crossing = {"type": "Polygon", "coordinates": [[[179, 50], [-179, 50], [-179, 51], [179, 51], [179, 50]]]}
    with pytest.raises(InputError, match="antimeridian"):
        parse_aoi(crossing)
    with pytest.raises(InputError, match="antimeridian"):
        parse_aoi([179.0, 50.0, -179.0, 51.0])
    split = {
        "type": "MultiPolygon",
        "coordinates": [
            [[[179, 50], [180, 50], [180, 51], [179, 51], [179, 50]]],
            [[[-180, 50], [-179, 50], [-179, 51], [-180, 51], [-180, 50]]],
        ],
    }
    with pytest.raises(InputError, match="split at the antimeridian"):
        parse_aoi(split)
    assert published()


def test_invalid_aoi_with_swapped_axes_is_named(published):
    with pytest.raises(InputError, match=r"latitude -99.18 is out of range.*looks like \(lat, lon\)"):
        parse_aoi([47.0, -99.18, 47.02, -99.15])
    polygon = {"type": "Polygon", "coordinates": [[[47.0, -99.18], [47.02, -99.18], [47.02, -99.15], [47.0, -99.18]]]}
    with pytest.raises(InputError, match="lat, lon"):
        parse_aoi(polygon)
    assert published()


def test_aoi_winding_either_way_gives_the_same_box_and_a_bowtie_is_invalid(published):
    ring = [[-99.18, 47.0], [-99.15, 47.0], [-99.15, 47.02], [-99.18, 47.02], [-99.18, 47.0]]
    counter = parse_aoi({"type": "Polygon", "coordinates": [ring]})
    clockwise = parse_aoi({"type": "Polygon", "coordinates": [ring[::-1]]})
    assert counter == clockwise == (-99.18, 47.0, -99.15, 47.02)
    bowtie = [[-99.18, 47.0], [-99.15, 47.02], [-99.15, 47.0], [-99.18, 47.02], [-99.18, 47.0]]
    with pytest.raises(InputError, match="not a valid polygon: Self-intersection"):
        parse_aoi({"type": "Polygon", "coordinates": [bowtie]})
    assert published()


def test_world_sized_aoi_is_accepted_for_a_scene_east_of_greenwich(published):
    from rasterio.warp import transform_bounds

    from landshift.imagery.planning import intersect

    world = parse_aoi([-180, -90, 180, 90])
    scene_west_of_zone_33_centre = (300_000.0, 5_200_000.0, 310_000.0, 5_210_000.0)  # UTM 33N, ~12.3 E
    assert intersect(aoi_in_crs(world, "EPSG:32633"), scene_west_of_zone_33_centre) is not None
    # The former projection of the whole box lost the zone's western half, refusing this scene.
    assert intersect(transform_bounds("EPSG:4326", "EPSG:32633", *world), scene_west_of_zone_33_centre) is None
    with rasterio.open(NAIP_2020) as src:
        assert intersect(aoi_in_crs(world, "EPSG:26914"), tuple(src.bounds)) is not None
    assert published()


def test_hostile_aoi_outside_the_imagery_is_refused(lake, published):
    from landshift.regions.requests import RunRequest
    from landshift.run.region_stages import validate_inputs

    region = Region.from_dict({**get_region("nd-pothole").to_dict(), "aoi": [-99.5, 46.5, -99.45, 46.55]})
    with pytest.raises(InputError, match="does not intersect the imagery"):
        validate_inputs(RunRequest(lake.root, region, "2020"))
    with pytest.raises(InputError, match="outside the area where EPSG:26914 is defined"):
        aoi_in_crs(parse_aoi([10.0, 45.0, 11.0, 46.0]), "EPSG:26914")
    assert published()


# -- label codes -----------------------------------------------------------------------------------
def shifted_labels(tmp_path: Path, offset: int) -> str:
    """The 2009 labels with every code moved by ``offset``: a raster in another legend."""
    target = tmp_path / "other-legend.tif"
    with rasterio.open(LABELS_DIR / "labels_2009_5m.tif") as src:
        profile, codes = src.profile, src.read(1)
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(np.where(codes > 0, codes + offset, 0).astype(codes.dtype), 1)
    return str(target)


def test_bad_label_codes_not_in_the_legend_are_refused(lake, published, tmp_path):
    path = shifted_labels(tmp_path, 100)
    with pytest.raises(InputError, match=r"100% of the labelled pixels hold codes not in legend.*182: .*code_map"):
        check_label_codes(path, DEFAULT_LEGEND)
    assert published()


def test_label_code_map_makes_another_legend_usable(lake, published, tmp_path):
    from landshift.core.grid import TileGrid

    path = shifted_labels(tmp_path, 100)
    code_map = {111: 11, 171: 71, 182: 82, 195: 95}
    assert check_label_codes(path, DEFAULT_LEGEND, code_map)["unknown_share"] == 0.0
    grid = TileGrid("EPSG:26914", 224)
    original = aggregate_labels(str(LABELS_DIR / "labels_2009_5m.tif"), grid, DEFAULT_LEGEND)
    mapped = aggregate_labels(path, grid, DEFAULT_LEGEND, code_map=code_map)
    assert len(original) > 100
    assert original.equals(mapped)
    assert published()


def test_bad_code_map_leaving_codes_unknown_is_refused(lake, published, tmp_path):
    path = shifted_labels(tmp_path, 100)
    with pytest.raises(InputError, match="the one given leaves them unknown"):
        check_label_codes(path, DEFAULT_LEGEND, {111: 11})
    assert published()


# -- error classes -----------------------------------------------------------------------------------
def test_bad_input_is_not_retried_and_transient_faults_are():
    for permanent in (
        InputError("x"),
        NotFoundError("x"),
        IntegrityError("x"),
        LakeBoundaryError("/etc", "outside"),
        ProductConflictError("x"),
    ):
        assert not is_retryable(permanent), permanent
    for transient in (PublishBusyError("x"), TransientError("x"), TimeoutError("x"), ConnectionResetError("x")):
        assert is_retryable(transient) and is_transient(transient), transient
    assert is_retryable(RuntimeError("a bug")) and not is_transient(RuntimeError("a bug"))
    assert is_transient(RuntimeError("Job aborted: ExecutorLostFailure (executor 1 exited)"))
