"""Operating LandShift in a real `airflow standalone`: REST API v2 triggers, a scheduler-managed
backfill, the UI trigger form in headless Chromium, and byte-identical republishing.

Run with `make e2e`. Tests run in file order and share one standalone and one lake.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from urllib.parse import unquote

import pytest
from selenium.webdriver.common.by import By
from support.harness import (
    AirflowApi,
    AirflowStandalone,
    Browser,
    chromedriver_binary,
    chromium_binary,
    sha256_of,
    wait_for,
)

from landshift.products import layout
from landshift.run.region_run import REGION_RUN

from .conftest import LIVE_REGION, SCREENSHOTS, TIMINGS, Timer

MANUAL_DAG = "landshift_manual_region"
REGION_DAG = "landshift_region_nd-pothole"
PRODUCT_FILES = set(layout.PRODUCT_FILES)
NEW_REGION = {
    "region_id": "pothole-copy",
    "vintage": "2020",
    "imagery_uri": "raw/imagery/nd-pothole/2020/",
    "prior_labels_uri": "raw/labels/nd-pothole/2009/labels_2009_5m.tif",
}
# Vintages of the backfill: imagery exists for 2014-2020; 2013 has none and must end skipped.
BACKFILL_YEARS = range(2013, 2021)
IMAGERY_YEARS = {2009, 2010, 2012, 2014, 2015, 2016, 2017, 2018, 2019, 2020}
REGION_RUN_TIMEOUT_S = 900
BACKFILL_TIMEOUT_S = 2400

# Bad trigger params: (region id, conf overrides, message the first task must log).
BAD_PARAMS = {
    "malformed-geojson": (
        "bad-geojson",
        {"aoi": '{"type": "Polygon", "coordinates": "not-a-ring"}'},
        "malformed GeoJSON coordinates",
    ),
    "unknown-model": (
        "bad-model",
        {"model_name": "no-such-model"},
        "NotFoundError: model 'no-such-model' has no version or alias 'production'",
    ),
    "aoi-outside-imagery": (
        "bad-aoi",
        {"aoi": "[10.0, 45.0, 10.5, 45.5]"},
        "InputError: AOI [10.0, 45.0, 10.5, 45.5] (lon/lat) lies outside the area where EPSG:26914 is defined",
    ),
}


def product_dir(lake: Path, region_id: str, vintage: int | str) -> Path:
    """Where a product lands: registered regions at the top, manual ones in their own namespace."""
    registered = region_id in ("nd-pothole", LIVE_REGION)
    return lake / "published" / ("" if registered else "manual") / region_id / str(vintage)


def assert_published(lake: Path, region_id: str, vintage: int | str) -> dict:
    """The product files exist; return summary.json."""
    folder = product_dir(lake, region_id, vintage)
    assert folder.is_dir(), f"nothing published at {folder}"
    assert {p.name for p in folder.iterdir()} >= PRODUCT_FILES, sorted(p.name for p in folder.iterdir())
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["region"] == region_id and summary["vintage"] == str(vintage)
    assert summary["tiles"]["tiles_scored"] > 0
    return summary


def task_states(api: AirflowApi, dag_id: str, run_id: str) -> dict[str, str]:
    return {task_id: ti["state"] for task_id, ti in api.task_instances(dag_id, run_id).items()}


def test_standalone_serves_the_landshift_dags(airflow: AirflowStandalone, api: AirflowApi):
    health = airflow.health()
    assert all(health[part]["status"] == "healthy" for part in ("metadatabase", "scheduler", "dag_processor"))
    assert {"landshift_train", MANUAL_DAG, REGION_DAG} <= api.dag_ids()
    assert api.import_errors() == []
    pool = api.get("pools/landshift_spark")
    assert pool["slots"] == 2
    dag = api.get(f"dags/{MANUAL_DAG}")
    assert dag["is_paused"] is False and "manual" in {t["name"] for t in dag["tags"]}
    assert api.get(f"dags/{REGION_DAG}")["timetable_summary"] == "0 0 1 1 *"  # the e2e registry's schedule


@pytest.fixture(scope="module")
def bad_runs(api: AirflowApi, training_run) -> dict[str, str]:
    """One manual run per bad parameter set, all triggered at once (none needs the model)."""
    return {
        case: api.trigger(MANUAL_DAG, {**NEW_REGION, "region_id": region_id, **overrides})
        for case, (region_id, overrides, _) in BAD_PARAMS.items()
    }


@pytest.mark.parametrize("case", sorted(BAD_PARAMS))
def test_manual_region_bad_params_fail_first_task_and_write_nothing(
    api: AirflowApi, lake: Path, bad_runs: dict[str, str], case: str
):
    region_id, _, message = BAD_PARAMS[case]
    run_id = bad_runs[case]
    run = api.wait_run(MANUAL_DAG, run_id, timeout_s=300)
    assert run["state"] == "failed"
    instances = api.task_instances(MANUAL_DAG, run_id)
    first = instances["validate_inputs"]
    assert first["state"] == "failed"
    assert first["try_number"] == 1, "bad input must fail at once, not be retried"
    later_stages = [stage.name for stage in REGION_RUN.stages[1:]]
    assert {t: ti["state"] for t, ti in instances.items() if t != "validate_inputs"} == dict.fromkeys(
        later_stages, "upstream_failed"
    )
    log = api.task_log(MANUAL_DAG, run_id, "validate_inputs", 1)
    assert message in log, f"{message!r} not in the validate_inputs log:\n{log[-3000:]}"
    assert not product_dir(lake, region_id, 2020).parent.exists()
    assert not (lake / "work" / region_id).exists()


def test_manual_region_new_region_through_rest_publishes(api: AirflowApi, lake: Path, trained_model: str):
    assert NEW_REGION["region_id"] not in api.dag_ids("region_")  # not in the registry
    started = time.monotonic()
    run_id = api.trigger(MANUAL_DAG, NEW_REGION)
    run = api.wait_run(MANUAL_DAG, run_id, timeout_s=REGION_RUN_TIMEOUT_S)
    TIMINGS["manual region run (REST, pothole-copy 2020)"] = time.monotonic() - started
    assert run["state"] == "success", task_states(api, MANUAL_DAG, run_id)
    assert set(task_states(api, MANUAL_DAG, run_id).values()) == {"success"}
    summary = assert_published(lake, "pothole-copy", 2020)
    assert summary["model"] == {"name": "landshift-mobilenetv2", "version": trained_model, "ref": "production"}
    assert summary["inputs"]["prior_labels"].endswith(NEW_REGION["prior_labels_uri"])


@pytest.fixture(scope="module")
def browser(e2e_root: Path):
    """Headless Chromium under chromedriver, fresh profile; both installed by tests/e2e/install_browser.sh."""
    binary, driver = chromium_binary(), chromedriver_binary()
    if binary is None or driver is None:
        pytest.fail("chromium or chromedriver is not installed: run tests/e2e/install_browser.sh (make e2e does)")
    profile = e2e_root / "chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    chromium = Browser(binary, driver, profile, e2e_root / "chromedriver.log")
    yield chromium
    assert chromium.close() == [], "chromium processes survived"


def test_ui_trigger_form_runs_a_new_region(
    airflow: AirflowStandalone, api: AirflowApi, browser: Browser, lake: Path, trained_model: str
):
    base = airflow.base_url
    started = time.monotonic()
    browser.navigate(f"{base}/")
    browser.wait_text("Sign in")
    browser.type_into("input[name=username]", "admin")
    browser.type_into("input[name=password]", airflow.admin_password())
    browser.click("button[type=submit]")
    browser.wait(lambda d: "/auth/login" not in d.current_url, "login to finish")

    browser.navigate(f"{base}/dags/{MANUAL_DAG}")
    browser.wait_text("Trigger")
    browser.click('button[aria-label="Trigger Dag"]')
    browser.wait_text("Run Parameters")
    region_field = "#element_region_id"
    browser.element(region_field)
    browser.type_into(region_field, "ui-pothole")
    submit = "[data-testid=trigger-dag-submit]"
    # Optional params left empty must not block the form (they allow null).
    browser.wait(lambda d: d.find_element(By.CSS_SELECTOR, submit).is_enabled(), "the Trigger button to be enabled")
    browser.driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", browser.element(region_field))
    form_png = browser.screenshot(SCREENSHOTS / "trigger_form.png")

    browser.click(submit)
    run_url = browser.wait(lambda d: "/runs/" in d.current_url and d.current_url, "the new run's page")
    run_id = unquote(run_url.split("/runs/", 1)[1].split("/")[0].split("?")[0])
    run = api.run(MANUAL_DAG, run_id)
    assert run["conf"]["region_id"] == "ui-pothole"
    assert run["conf"]["aoi"] in ("", None)
    run = api.wait_run(MANUAL_DAG, run_id, timeout_s=REGION_RUN_TIMEOUT_S)
    assert run["state"] == "success", task_states(api, MANUAL_DAG, run_id)

    browser.navigate(run_url)
    browser.wait_text("publish")
    browser.wait(
        lambda d: "Success" in browser.text() and "Running" not in browser.text(),
        "the run page to show Success",
        poll_s=1,
    )
    done_png = browser.screenshot(SCREENSHOTS / "run_success.png")
    TIMINGS["UI login + trigger form + run to success"] = time.monotonic() - started
    assert form_png.stat().st_size > 10_000 and done_png.stat().st_size > 10_000
    assert_published(lake, "ui-pothole", 2020)


def test_backfill_vintages_publish_each_and_skip_missing_imagery(api: AirflowApi, lake: Path, trained_model: str):
    first, last = min(BACKFILL_YEARS), max(BACKFILL_YEARS)
    body = {
        "dag_id": REGION_DAG,
        "from_date": f"{first}-01-01T00:00:00Z",
        "to_date": f"{last}-01-01T00:00:00Z",
        "max_active_runs": 1,
        "reprocess_behavior": "none",
        "run_backwards": False,
    }
    planned = api.post("backfills/dry_run", body)["backfills"]
    assert sorted(int(b["logical_date"][:4]) for b in planned) == list(BACKFILL_YEARS)

    api.unpause(REGION_DAG)  # backfill runs are only scheduled for unpaused DAGs
    with Timer(f"backfill {first}-{last} ({len(BACKFILL_YEARS)} vintages)"):
        backfill = api.post("backfills", body)

        def backfill_done():
            state = api.get(f"backfills/{backfill['id']}")
            runs = [r for r in api.runs(REGION_DAG) if r["run_type"] == "backfill"]
            finished = [r for r in runs if r["state"] in ("success", "failed")]
            return runs if state["completed_at"] and len(finished) == len(BACKFILL_YEARS) else None

        runs = wait_for(backfill_done, BACKFILL_TIMEOUT_S, 10, f"backfill {backfill['id']}")

    by_year = {int(r["logical_date"][:4]): r for r in runs}
    assert sorted(by_year) == list(BACKFILL_YEARS)
    for year, run in sorted(by_year.items()):
        states = task_states(api, REGION_DAG, run["dag_run_id"])
        assert run["state"] == "success", f"{year}: {run['state']} {states}"
        assert states.pop("find_pending_vintages") == "success", f"{year}: {states}"
        log = api.task_log(REGION_DAG, run["dag_run_id"], "find_pending_vintages", 1)
        if year in IMAGERY_YEARS:  # one vintage dated in the run's window: one mapped group
            assert set(states.values()) == {"success"}, f"{year}: {states}"
            assert f"vintages {year}" in log, log[-2000:]
            summary = assert_published(lake, "nd-pothole", year)
            assert all(f"/raw/imagery/nd-pothole/{year}/" in scene for scene in summary["inputs"]["imagery"])
        else:  # none: the group expands to nothing
            assert set(states.values()) <= {"skipped"}, f"{year}: {states}"
            assert "vintages none" in log, log[-2000:]
            assert not product_dir(lake, "nd-pothole", year).exists()


def test_republishing_a_vintage_is_byte_identical(api: AirflowApi, lake: Path, trained_model: str):
    folder = product_dir(lake, "nd-pothole", 2020)
    before = {name: sha256_of(folder / name) for name in ("landuse.tif", "change.tif")}
    stamp = (folder / "landuse.tif").stat().st_mtime_ns
    with Timer("republish nd-pothole 2020 (REST trigger)"):
        run_id = api.trigger(REGION_DAG, {"vintage": "2020"})
        run = api.wait_run(REGION_DAG, run_id, timeout_s=REGION_RUN_TIMEOUT_S)
    assert run["state"] == "success", task_states(api, REGION_DAG, run_id)
    assert (folder / "landuse.tif").stat().st_mtime_ns != stamp, "the vintage was not republished"
    after = {name: sha256_of(folder / name) for name in before}
    assert after == before


def test_a_new_vintage_is_published_by_the_schedule_without_any_trigger(
    api: AirflowApi, lake: Path, trained_model: str
):
    """nd-live is checked every minute: nothing there yet, then a scene lands and the schedule publishes it."""
    dag_id = f"landshift_region_{LIVE_REGION}"
    api.unpause(dag_id)
    started = time.monotonic()

    def finished_scheduled_runs() -> list[dict]:
        return [r for r in api.runs(dag_id) if r["run_type"] == "scheduled" and r["state"] in ("success", "failed")]

    first = wait_for(finished_scheduled_runs, 300, 5, f"a scheduled run of {dag_id}")[0]
    assert first["state"] == "success"
    assert "no imagery" in api.task_log(dag_id, first["dag_run_id"], "find_pending_vintages", 1)

    delivery = lake / "raw" / "imagery" / LIVE_REGION / "2020"
    delivery.mkdir(parents=True)
    for scene in (lake / "raw" / "imagery" / "nd-pothole" / "2020").glob("*.tif"):
        shutil.copy(scene, delivery / scene.name)
    with Timer("new vintage delivered -> published by the schedule"):
        wait_for(lambda: product_dir(lake, LIVE_REGION, 2020).joinpath("summary.json").exists(), 1200, 5, "publish")
    summary = assert_published(lake, LIVE_REGION, 2020)
    assert summary["inputs"]["fingerprint"]["model"]["version"] == trained_model
    # summary.json lands inside the publish task; its run is marked a success a moment later.
    wait_for(
        lambda: [r for r in finished_scheduled_runs() if r["state"] == "success"][1:],
        120,
        2,
        "the scheduled run that published to succeed (the product must come from the schedule)",
    )
    assert not [r for r in api.runs(dag_id) if r["run_type"] != "scheduled"]
    api.pause(dag_id)
    TIMINGS["schedule: delivery to product"] = time.monotonic() - started
