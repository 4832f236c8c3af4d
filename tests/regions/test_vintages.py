"""Which vintages a scheduled run publishes: real GeoTIFF copies in temporary lakes, local and ADLS."""

from __future__ import annotations

import dataclasses
import os
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from conftest import LABELS_DIR, SHARED_DATA
from landshift.core.errors import InputError, NotFoundError
from landshift.core.legend import DEFAULT_LEGEND
from landshift.lake.base import FileInfo, Lake, LocalLake, read_json, write_json
from landshift.model.registry import register_version, set_alias
from landshift.model.spec import Head, ModelSpec
from landshift.regions.registry import LabelSource, Region, region_from_dict
from landshift.regions.vintages import (
    FINGERPRINT_KEY,
    REASON_IMAGERY,
    REASON_LABELS,
    REASON_MISSING,
    REASON_MODEL,
    REASON_UNRECORDED,
    Fingerprint,
    current_model_version,
    describe,
    imagery_manifests,
    is_vintage,
    pending_vintages,
    plan_reconcile,
    product_fingerprint,
    recorded_fingerprint,
    scene_manifest,
    vintage_date,
    vintage_statuses,
    vintages_in_window,
)

pytestmark = pytest.mark.data

NAIP = SHARED_DATA / "naip-nd"
MODEL = "landshift-mobilenetv2"
LABELS_PATH = "raw/labels/nd-pothole/2009/labels_2009_5m.tif"
# vintage folder -> shared NAIP scene copied into it
SCENES = {
    "2009": "m_4709963_se_14_1_20090818.tif",
    "2016": "m_4709963_se_14_1_20160816.tif",
    "20190904": "m_4709963_se_14_1_20190904.tif",
    "2020": "m_4709963_se_14_1_20200831.tif",
}
REGION = Region(
    id="nd-pothole",
    crs="EPSG:26914",
    imagery="raw/imagery/{region}/{vintage}/",
    prior_labels=LabelSource("annotated-2009", 2009, LABELS_PATH),
    model_name=MODEL,
    model_ref="production",
)


def register_model(lake: Lake, seed: int) -> str:
    """Register a real (tiny) model version; returns its id."""
    rng = np.random.default_rng(seed)
    head = Head(
        offset=np.zeros(4),
        projection=np.eye(4),
        mean=np.zeros(4),
        scale=np.ones(4),
        weights=rng.normal(size=(4, 2)),
        bias=np.zeros(2),
        class_codes=(11, 82),
    )
    spec = ModelSpec(weights_uri=lake.uri("models", "backbones", "w.h5"), weights_sha256="ab" * 32)
    legend = DEFAULT_LEGEND.subset([11, 82])
    return register_version(lake, MODEL, spec, head, legend, {"accuracy": 0.9}, {"region": "nd-pothole"}).version


def seed_local(root: Path) -> LocalLake:
    """A lake with four vintages of real scenes, the prior labels, folders that are not vintages."""
    for folder, scene in SCENES.items():
        target = root / "raw" / "imagery" / "nd-pothole" / folder
        target.mkdir(parents=True)
        shutil.copy2(NAIP / scene, target / scene)
    noise = root / "raw" / "imagery" / "nd-pothole"
    for folder in ("latest", "2016-old", "201613", "20161340", "2005"):  # not vintages, or before start_year
        (noise / folder).mkdir()
        shutil.copy2(NAIP / SCENES["2016"], noise / folder / SCENES["2016"])
    (noise / "2012").mkdir()
    (noise / "2012" / "README.txt").write_text("delivery notes, no scene yet\n")
    (root / LABELS_PATH).parent.mkdir(parents=True)
    shutil.copy2(LABELS_DIR / "labels_2009_5m.tif", root / LABELS_PATH)
    return LocalLake(str(root))


def publish_record(lake: Lake, region: Region, vintage: str, model_version: str) -> str:
    """Write the summary.json a publish stage writes, with the fingerprint at FINGERPRINT_KEY."""
    uri = lake.uri("published", region.id, vintage, "summary.json")
    fingerprint = product_fingerprint(lake, region, vintage, model_version).to_dict()
    write_json(
        lake,
        uri,
        {"region": region.id, "vintage": vintage, "inputs": {"imagery": [], "fingerprint": fingerprint}},
    )
    return uri


def pending_reasons(lake: Lake, region: Region = REGION, version: str | None = None, **kwargs) -> dict[str, tuple]:
    version = version or current_model_version(lake, region)
    return {s.vintage: s.reasons for s in pending_vintages(lake, region, version, **kwargs)}


@pytest.fixture
def lake(tmp_path) -> LocalLake:
    lake = seed_local(tmp_path / "lake")
    set_alias(lake, MODEL, "production", register_model(lake, 1))
    return lake


@pytest.fixture
def published(lake: LocalLake) -> LocalLake:
    """Every vintage published with the production model."""
    for vintage in SCENES:
        publish_record(lake, REGION, vintage, current_model_version(lake, REGION))
    return lake


def test_vintage_names():
    names = ("2016", "20160816", "201608", "20161340", "2016-08-16", "latest", "02016", "2016 ", "2016\n")
    assert [n for n in names if is_vintage(n)] == ["2016", "20160816"]


def test_vintages_with_imagery_in_vintage_order(lake: LocalLake):
    manifests = imagery_manifests(lake, REGION)
    assert list(manifests) == ["2009", "2016", "20190904", "2020"]
    entry = manifests["2016"].entries()
    assert entry == [
        {
            "name": SCENES["2016"],
            "size": (NAIP / SCENES["2016"]).stat().st_size,
            "revision": str((lake.file_info(manifests["2016"].scenes[0].uri)).revision),
        }
    ]
    # The one-listing manifests agree with the per-vintage manifest the publish stage records.
    for vintage, manifest in manifests.items():
        assert scene_manifest(lake, REGION, vintage).digest == manifest.digest
    later = dataclasses.replace(REGION, start_year=2017)
    assert list(imagery_manifests(lake, later)) == ["20190904", "2020"]


def test_other_templates_place_the_vintage_anywhere(tmp_path):
    root = tmp_path / "lake"
    for folder in ("naip_2014", "naip_2018", "naip_latest"):
        (root / "deliveries" / folder / "nd-pothole" / "tiles").mkdir(parents=True)
        shutil.copy2(NAIP / SCENES["2016"], root / "deliveries" / folder / "nd-pothole" / "tiles" / "scene.TIF")
    (root / "deliveries" / "naip_2015" / "other-region").mkdir(parents=True)
    shutil.copy2(NAIP / SCENES["2016"], root / "deliveries" / "naip_2015" / "other-region" / "scene.tif")
    region = dataclasses.replace(REGION, imagery="deliveries/naip_{vintage}/{region}")
    lake = LocalLake(str(root))
    assert list(imagery_manifests(lake, region)) == ["2014", "2018"]
    assert imagery_manifests(lake, region)["2014"].entries()[0]["name"] == "tiles/scene.TIF"
    with pytest.raises(InputError, match="must contain"):
        imagery_manifests(lake, dataclasses.replace(REGION, imagery="raw/{vintage}/{vintage}/"))


def test_nothing_published_every_vintage_is_missing(lake: LocalLake):
    assert pending_reasons(lake) == {v: (REASON_MISSING,) for v in SCENES}
    line = describe(REGION, vintage_statuses(lake, REGION, "1"), "1")
    assert line == (
        "Region nd-pothole: 4 of 4 vintages with imagery to publish with model landshift-mobilenetv2 version 1: "
        "2009 (missing); 2016 (missing); 20190904 (missing); 2020 (missing)"
    )


def test_nothing_changed_nothing_pending(published: LocalLake):
    assert pending_reasons(published) == {}
    statuses = vintage_statuses(published, REGION, "1")
    assert [s.reason for s in statuses] == ["current"] * 4
    assert describe(REGION, statuses, "1") == (
        "Region nd-pothole: all 4 vintages with imagery are current (model landshift-mobilenetv2 version 1); "
        "nothing to publish"
    )
    summary = read_json(published, published.uri("published", "nd-pothole", "2016", "summary.json"))
    recorded = summary[FINGERPRINT_KEY[0]][FINGERPRINT_KEY[1]]
    assert recorded["model"] == {"name": MODEL, "version": "1"} and recorded["scenes"] == 1
    assert recorded_fingerprint(summary) == statuses[1].fingerprint
    assert recorded["digest"] == statuses[1].fingerprint.digest and len(recorded["digest"]) == 64


def test_a_touched_scene_makes_only_its_vintage_pending(published: LocalLake):
    scene = Path(published.uri("raw", "imagery", "nd-pothole", "2016", SCENES["2016"]))
    stat = scene.stat()
    os.utime(scene, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # same bytes, re-delivered
    assert pending_reasons(published) == {"2016": (REASON_IMAGERY,)}


def test_a_replaced_or_added_scene_makes_its_vintage_pending(published: LocalLake):
    replaced = Path(published.uri("raw", "imagery", "nd-pothole", "2020", SCENES["2020"]))
    published.write_bytes(str(replaced), (NAIP / SCENES["2016"]).read_bytes())
    added = Path(published.uri("raw", "imagery", "nd-pothole", "2009", "m_extra.tif"))
    shutil.copy2(NAIP / SCENES["2009"], added)
    assert pending_reasons(published) == {"2009": (REASON_IMAGERY,), "2020": (REASON_IMAGERY,)}
    assert vintage_statuses(published, REGION, "1")[0].fingerprint.scenes == 2


def test_alias_moved_to_a_new_version_makes_old_products_pending(published: LocalLake):
    set_alias(published, MODEL, "production", register_model(published, 2))
    assert current_model_version(published, REGION) == "2"
    assert pending_reasons(published) == {v: (REASON_MODEL,) for v in SCENES}
    # A product republished with version 2 is current again; the rest still wait.
    publish_record(published, REGION, "2016", "2")
    assert list(pending_reasons(published)) == ["2009", "20190904", "2020"]


def test_the_region_setting_keeps_products_of_older_models(published: LocalLake):
    keep = region_from_dict({**REGION.to_dict(), "republish_on_model_change": False})
    assert keep.republish_on_model_change is False
    set_alias(published, MODEL, "production", register_model(published, 2))
    assert pending_reasons(published, keep) == {}
    assert pending_reasons(published, REGION, republish_on_model_change=False) == {}
    # New imagery is still published, with the reasons that apply.
    scene = Path(published.uri("raw", "imagery", "nd-pothole", "2009", SCENES["2009"]))
    os.utime(scene, ns=(0, scene.stat().st_mtime_ns + 5))
    assert pending_reasons(published, keep) == {"2009": (REASON_IMAGERY,)}
    assert pending_reasons(published)["2009"] == (REASON_IMAGERY, REASON_MODEL)
    with pytest.raises(InputError, match="republish_on_model_change"):
        region_from_dict({**REGION.to_dict(), "republish_on_model_change": "no"})


def test_replaced_labels_make_every_vintage_pending(published: LocalLake):
    published.write_bytes(published.uri(LABELS_PATH), (LABELS_DIR / "labels_2014_5m.tif").read_bytes())
    assert pending_reasons(published) == {v: (REASON_LABELS,) for v in SCENES}


def test_products_without_a_fingerprint_or_missing_are_pending(published: LocalLake):
    uri = published.uri("published", "nd-pothole", "20190904", "summary.json")
    summary = read_json(published, uri)
    del summary["inputs"]["fingerprint"]
    write_json(published, uri, summary)
    published.delete(published.uri("published", "nd-pothole", "2009"))
    assert pending_reasons(published) == {"2009": (REASON_MISSING,), "20190904": (REASON_UNRECORDED,)}
    assert Fingerprint.from_dict({"schema": 99}) is None


def test_missing_inputs_are_named(lake: LocalLake):
    with pytest.raises(NotFoundError, match="no imagery"):
        scene_manifest(lake, REGION, "2012")
    with pytest.raises(NotFoundError, match="no version or alias 'staging'"):
        current_model_version(lake, dataclasses.replace(REGION, model_ref="staging"))
    lake.delete(lake.uri(LABELS_PATH))
    with pytest.raises(NotFoundError, match=r"labels_2009_5m\.tif"):
        pending_vintages(lake, REGION, "1")


def test_local_file_info(tmp_path):
    lake = LocalLake(str(tmp_path))
    uri = lake.uri("a", "b.bin")
    lake.write_bytes(uri, b"12345")
    info = lake.file_info(uri)
    assert info == FileInfo(uri, 5, str(Path(uri).stat().st_mtime_ns))
    os.utime(uri, ns=(0, int(info.revision) + 1))
    assert lake.file_info(uri).revision == str(int(info.revision) + 1)
    assert lake.list_file_info(lake.uri("a")) == [lake.file_info(uri)]
    assert lake.list_file_info(lake.uri("nowhere")) == []
    with pytest.raises(NotFoundError):
        lake.file_info(lake.uri("a"))  # a directory is not a file
    with pytest.raises(NotFoundError):
        lake.file_info(lake.uri("missing.bin"))


# -- the same on the ADLS lake, through the real SDK against the dfs test double ---------------------
@pytest.fixture(scope="module")
def double():
    from support.adls_double.fixtures import dfs_double

    with dfs_double(page_size=5) as server:
        yield server


@pytest.fixture
def restore_environment():
    """AdlsLake exports GDAL options to os.environ: put the environment back afterwards."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def adls_lake(double, restore_environment, request):
    from azure.storage.filedatalake import DataLakeServiceClient
    from support.adls_double.dfs_server import ACCOUNT, DEV_ACCOUNT_KEY

    from landshift.lake.adls import AdlsLake, AdlsSettings

    settings = AdlsSettings(account_name=ACCOUNT, account_key=DEV_ACCOUNT_KEY, dfs_endpoint=double.endpoint)
    name = f"vintages-{request.node.name.replace('_', '-')[:40].strip('-')}"
    DataLakeServiceClient(double.endpoint, credential=settings.credential(ACCOUNT)).create_file_system(name)
    return AdlsLake(f"abfss://{name}@{ACCOUNT}.dfs.core.windows.net/lake", settings)


@pytest.mark.integration
def test_adls_file_info(adls_lake):
    uri = adls_lake.uri("a", "b.bin")
    adls_lake.write_bytes(uri, b"12345")
    info = adls_lake.file_info(uri)
    assert (info.uri, info.size) == (uri, 5) and info.revision.startswith("0x")
    assert adls_lake.list_file_info(adls_lake.uri("a")) == [info]
    adls_lake.write_bytes(uri, b"12345")  # same bytes, rewritten: a new ETag
    assert adls_lake.file_info(uri).revision != info.revision
    assert adls_lake.list_file_info(adls_lake.uri("nowhere")) == []
    with pytest.raises(NotFoundError):
        adls_lake.file_info(adls_lake.uri("missing.bin"))
    with pytest.raises(NotFoundError):
        adls_lake.file_info(adls_lake.uri("a"))


@pytest.mark.integration
def test_adls_pending_vintages(adls_lake, tmp_path):
    local = seed_local(tmp_path / "seed")
    for path in sorted(Path(local.root).rglob("*")):
        if path.is_file():
            adls_lake.write_bytes(adls_lake.uri(path.relative_to(local.root).as_posix()), path.read_bytes())
    set_alias(adls_lake, MODEL, "production", register_model(adls_lake, 1))
    assert list(imagery_manifests(adls_lake, REGION)) == list(SCENES)
    assert pending_reasons(adls_lake) == {v: (REASON_MISSING,) for v in SCENES}
    for vintage in SCENES:
        publish_record(adls_lake, REGION, vintage, "1")
    assert pending_reasons(adls_lake) == {}
    scene = adls_lake.uri("raw", "imagery", "nd-pothole", "2016", SCENES["2016"])
    adls_lake.write_bytes(scene, adls_lake.read_bytes(scene))  # re-delivered, same bytes
    assert pending_reasons(adls_lake) == {"2016": (REASON_IMAGERY,)}
    set_alias(adls_lake, MODEL, "production", register_model(adls_lake, 2))
    assert pending_reasons(adls_lake) == {
        "2009": (REASON_MODEL,),
        "2016": (REASON_IMAGERY, REASON_MODEL),
        "20190904": (REASON_MODEL,),
        "2020": (REASON_MODEL,),
    }


def test_plan_reconcile_names_the_model_and_the_pending_vintages(published: LocalLake):
    plan = plan_reconcile(published, REGION)
    assert (plan.model_version, plan.pending) == ("1", [])
    assert plan.message.endswith("are current (model landshift-mobilenetv2 version 1); nothing to publish")
    published.delete(published.uri("published", "nd-pothole", "2020"))
    set_alias(published, MODEL, "production", register_model(published, 2))
    plan = plan_reconcile(published, dataclasses.replace(REGION, republish_on_model_change=False))
    assert (plan.model_version, plan.pending) == ("2", ["2020"])
    assert plan.message == (
        "Region nd-pothole: 1 of 4 vintages with imagery to publish with model landshift-mobilenetv2 version 2: "
        "2020 (missing)"
    )


def test_a_backfill_window_maps_to_the_vintages_dated_in_it(lake: LocalLake):
    def window(start: str, end: str) -> list[str]:
        return vintages_in_window(lake, REGION, datetime.fromisoformat(start), datetime.fromisoformat(end))

    assert window("2009-01-01T00:00:00+00:00", "2010-01-01T00:00:00+00:00") == ["2009"]
    assert window("2013-01-01T00:00:00+00:00", "2021-01-01T00:00:00+00:00") == ["2016", "20190904", "2020"]
    assert window("2019-09-04", "2019-09-05") == ["20190904"]
    assert window("2019-01-01", "2019-09-04") == []
    assert window("2019-09-04T01:00:00+02:00", "2019-09-05T00:00:00+00:00") == ["20190904"]  # 23:00 UTC the day before
    assert vintage_date("20190904") == datetime(2019, 9, 4) and vintage_date("2016") == datetime(2016, 1, 1)
    with pytest.raises(InputError, match="vintage must be"):
        vintage_date("2016-09")
