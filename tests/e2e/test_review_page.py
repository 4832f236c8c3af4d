"""The analyst review page in a real `airflow standalone`: the plugin's endpoints refuse requests
without a valid token (401/403) and accept the admin's; in headless Chromium the page opens from a
region DAG run, 10 tiles are reviewed by keyboard, the decisions survive a reload, and applying
publishes the reviewed product (screenshot: e2e/screenshots/review.png; docs/screenshots/review.png is its copy).

Run with `make e2e` (or `pytest -m e2e tests/e2e/test_review_page.py`).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from support.harness import AirflowApi, AirflowStandalone, Browser, chromedriver_binary, chromium_binary

from .conftest import SCREENSHOTS, Timer

REGION = "nd-pothole"
REGION_DAG = f"landshift_region_{REGION}"
VINTAGE = "2012"  # outside the backfill years of test_standalone.py, which republishes 2013-2020
REVIEW = "/landshift-review"
KEYS = ["a", "r", "1", "a", "a", "r", "3", "a", "j", "k", "a", "r"]  # 10 decisions; j/k move on and back
# Unpausing the region DAG may start a catch-up scheduled run that publishes every vintage not yet
# current (about 40 minutes here, and test_standalone's subject, not this one's): the fixture fails
# such runs while it waits, so its 2012 run is not queued behind them (max_active_runs=1).
RUN_TIMEOUT_S = 1200


def wait_alone(api: AirflowApi, run_id: str, timeout_s: float) -> dict:
    """Wait for ``run_id`` to finish, failing the region DAG's other scheduled runs as they appear."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for other in api.runs(REGION_DAG):
            if (
                other["dag_run_id"] != run_id
                and other["run_type"] == "scheduled"
                and other["state"]
                in (
                    "queued",
                    "running",
                )
            ):
                api.patch(f"dags/{REGION_DAG}/dagRuns/{other['dag_run_id']}", {"state": "failed"})
        run = api.run(REGION_DAG, run_id)
        if run["state"] in ("success", "failed"):
            return run
        time.sleep(5)
    raise TimeoutError(f"run {run_id} of {REGION_DAG} did not finish in {timeout_s:.0f} s")


@pytest.fixture(scope="module")
def region_run(api: AirflowApi, trained_model: str, lake: Path) -> str:
    """A run of the region DAG that published nd-pothole 2012 (the DAG is paused again after it)."""
    api.unpause(REGION_DAG)
    try:
        with Timer(f"review: region run {REGION} {VINTAGE}"):
            run_id = api.trigger(REGION_DAG, {"vintage": VINTAGE})
            run = wait_alone(api, run_id, RUN_TIMEOUT_S)
    finally:
        api.pause(REGION_DAG)
    assert run["state"] == "success"
    assert (lake / "published" / REGION / VINTAGE / "summary.json").is_file()
    return run_id


@pytest.fixture(scope="module")
def review_browser(e2e_root: Path):
    binary, driver = chromium_binary(), chromedriver_binary()
    if binary is None or driver is None:
        pytest.fail("chromium or chromedriver is not installed: run tests/e2e/install_browser.sh (make e2e does)")
    profile = e2e_root / "review-profile"
    shutil.rmtree(profile, ignore_errors=True)
    chromium = Browser(binary, driver, profile, e2e_root / "review-chromedriver.log")
    yield chromium
    assert chromium.close() == [], "chromium processes survived"


def test_review_endpoints_need_a_valid_airflow_token(airflow: AirflowStandalone, api: AirflowApi, region_run: str):
    base = f"{airflow.base_url}{REVIEW}"
    urls = [
        ("get", f"{base}/"),
        ("get", f"{base}/api/regions/{REGION}/runs/{region_run}"),
        ("get", f"{base}/api/regions/{REGION}/vintages"),
        ("get", f"{base}/api/regions/{REGION}/{VINTAGE}/queue"),
        ("post", f"{base}/api/regions/{REGION}/{VINTAGE}/decisions"),
        ("post", f"{base}/api/regions/{REGION}/{VINTAGE}/apply"),
    ]
    for method, url in urls:
        assert requests.request(method, url, timeout=30).status_code == 401, url
        forged = {"Authorization": "Bearer eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJhZG1pbiJ9.forged"}
        assert requests.request(method, url, headers=forged, timeout=30).status_code == 403, url
    admin = {"Authorization": api.session.headers["Authorization"]}
    queue = requests.get(f"{base}/api/regions/{REGION}/{VINTAGE}/queue", headers=admin, timeout=60)
    assert queue.status_code == 200 and queue.json()["items"]
    run = requests.get(f"{base}/api/regions/{REGION}/runs/{region_run}", headers=admin, timeout=60)
    assert run.json()["vintage"] == VINTAGE
    bad = requests.post(
        f"{base}/api/regions/{REGION}/{VINTAGE}/decisions",
        json={"tile_id": "E1_N1", "decision": "accept"},
        headers=admin,
        timeout=60,
    )
    assert bad.status_code == 400 and "unknown tile" in bad.json()["detail"]


def _progress(browser: Browser) -> str:
    return browser.driver.find_element(By.ID, "progress").text


def _enter_review_frame(browser: Browser) -> None:
    """Switch into the iframe the Airflow UI shows the external view in, once the page is ready."""
    browser.driver.switch_to.default_content()
    frame = browser.wait(lambda d: d.find_element(By.CSS_SELECTOR, f"iframe[src*='{REVIEW}']"), "the review iframe")
    browser.driver.switch_to.frame(frame)
    browser.wait(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true", "review page")


def test_review_ten_tiles_by_keyboard_reload_and_apply(
    airflow: AirflowStandalone, review_browser: Browser, region_run: str, lake: Path
):
    browser, base = review_browser, airflow.base_url
    browser.navigate(f"{base}/")
    browser.wait_text("Sign in")
    browser.type_into("input[name=username]", "admin")
    browser.type_into("input[name=password]", airflow.admin_password())
    browser.click("button[type=submit]")
    browser.wait(lambda d: "/auth/login" not in d.current_url, "login to finish")

    browser.navigate(f"{base}/dags/{REGION_DAG}/runs/{region_run}")
    tab = browser.wait(lambda d: d.find_element(By.XPATH, "//*[normalize-space(text())='Review changes']"), "tab")
    browser.driver.execute_script("arguments[0].click()", tab)
    _enter_review_frame(browser)
    total = int(_progress(browser).split(" of ")[1].split()[0])
    assert total >= 10 and _progress(browser).startswith("0 of ")

    decided = 0
    for key in KEYS:
        browser.driver.find_element(By.TAG_NAME, "body").send_keys(key)
        if key in "jk":
            continue
        decided += 1
        browser.wait(lambda d, n=decided: _progress(browser).startswith(f"{n} of "), f"{decided} decisions")
    decisions = sorted((lake / "reviews" / REGION / VINTAGE / "decisions").rglob("*.json"))
    assert len(decisions) == 10
    assert {json.loads(p.read_text())["reviewer"] for p in decisions} == {"admin"}

    browser.driver.refresh()
    _enter_review_frame(browser)
    assert _progress(browser).startswith("10 of "), _progress(browser)
    browser.wait(lambda d: d.find_element(By.ID, "map").get_attribute("data-loaded") == "true", "the map")

    browser.driver.find_element(By.ID, "apply").click()
    browser.wait(lambda d: "Reviewed product published: 10 reviewed" in browser.text(), "the reviewed product")
    summary = json.loads((lake / "published" / REGION / VINTAGE / "summary.json").read_text())
    assert summary["review"]["reviewed"] == 10 and summary["review"]["reviewers"] == ["admin"]
    item = json.loads((lake / "published" / REGION / VINTAGE / "item.json").read_text())
    assert item["properties"]["landshift:review"]["reviewed"] == 10
    assert list((lake / "trash").glob(f"*{REGION}_{VINTAGE}*/*/summary.json")), "the previous product is kept"

    browser.driver.switch_to.default_content()
    shot = browser.screenshot(SCREENSHOTS / "review.png")  # docs/screenshots/review.png is a copy made by hand
    assert shot.stat().st_size > 20_000
