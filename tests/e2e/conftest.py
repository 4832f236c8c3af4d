"""Fixtures of the e2e suite: a seeded temporary lake, a real `airflow standalone`, its REST API.

One standalone serves the whole session. It runs in its own session (process group); teardown
stops every process group of that session, also when a test fails, and asserts that no process
of this Airflow (its AIRFLOW_HOME) is left.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from support.harness import (
    REPO_ROOT,
    TIMINGS,
    AirflowApi,
    AirflowStandalone,
    Timer,
    interrupt_on_sigterm,
    mark_folder,
    report_timings,
    running,
    seed_demo_lake,
    wait_for,
)

MODEL_NAME = "landshift-mobilenetv2"
SPARK_POOL = "landshift_spark"
SCREENSHOTS = REPO_ROOT / "e2e" / "screenshots"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Treat SIGTERM like Ctrl-C, so fixture teardown still stops the servers."""
    interrupt_on_sigterm()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is an e2e test (deselected by the default `-m 'not e2e'`)."""
    mark_folder(items, __file__, pytest.mark.e2e)


def pytest_terminal_summary(terminalreporter) -> None:
    """Print how long each step took."""
    report_timings(terminalreporter, "LandShift e2e timings (s)")


@pytest.fixture(scope="session")
def e2e_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("landshift-e2e")


@pytest.fixture(scope="session")
def lake(e2e_root: Path) -> Path:
    """A temporary lake seeded from the shared data (imagery 2009-2020, labels, backbone)."""
    return seed_demo_lake(e2e_root / "lake")


LIVE_REGION = "nd-live"  # a region scheduled every minute, for the schedule-follows-the-imagery test


@pytest.fixture(scope="session")
def regions(e2e_root: Path) -> Path:
    """The registry the standalone reads: nd-pothole on a yearly schedule (one backfill run per
    vintage year) and nd-live, checked every minute, whose imagery the test delivers."""
    folder = e2e_root / "regions"
    folder.mkdir(exist_ok=True)
    pothole = json.loads((REPO_ROOT / "include" / "regions" / "nd-pothole.json").read_text())
    (folder / "nd-pothole.json").write_text(json.dumps({**pothole, "schedule": "0 0 1 1 *"}))
    live = {**pothole, "id": LIVE_REGION, "title": "nd-pothole imagery delivered during the test"}
    live.pop("training_labels")
    (folder / f"{LIVE_REGION}.json").write_text(json.dumps({**live, "schedule": "* * * * *", "start_year": 2020}))
    return folder


@pytest.fixture(scope="session")
def airflow(e2e_root: Path, lake: Path, regions: Path):
    """`airflow standalone` on 127.0.0.1 and a free port, healthy; stopped at the end."""
    with running(AirflowStandalone(e2e_root / "airflow-home", lake, regions=regions), "session") as standalone:
        yield standalone


@pytest.fixture(scope="session")
def api(airflow: AirflowStandalone) -> AirflowApi:
    """REST API v2 client logged in as the generated admin; DAGs parsed, pool created, DAGs unpaused."""
    client = AirflowApi(airflow.base_url, "admin", airflow.admin_password())
    wanted = {"landshift_train", "landshift_manual_region", "landshift_region_nd-pothole"}
    with Timer("DAGs parsed"):
        wait_for(lambda: wanted <= client.dag_ids(), 180, 2, f"DAGs {sorted(wanted)} to be parsed")
    assert client.import_errors() == []
    client.ensure_pool(SPARK_POOL, 2, "LandShift Spark jobs running at once")
    for dag_id in ("landshift_train", "landshift_manual_region"):
        client.unpause(dag_id)
    return client


@pytest.fixture(scope="session")
def training_run(api: AirflowApi) -> tuple[str, float]:
    """A landshift_train run, triggered (not awaited) so it overlaps the first checks."""
    return api.trigger("landshift_train", {"region": "nd-pothole"}), time.monotonic()


@pytest.fixture(scope="session")
def trained_model(api: AirflowApi, training_run: tuple[str, float], lake: Path) -> str:
    """The trained model version, once the training run succeeded and aliased it `production`."""
    run_id, started = training_run
    run = api.wait_run("landshift_train", run_id, timeout_s=1200)
    TIMINGS["landshift_train run (REST trigger -> success)"] = time.monotonic() - started
    assert run["state"] == "success", f"training run {run_id} ended {run['state']}"
    alias = lake / "models" / MODEL_NAME / "aliases" / "production.json"
    assert alias.is_file(), f"no production alias at {alias}"
    return json.loads(alias.read_text())["version"]
