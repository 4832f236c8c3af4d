"""Fixtures of the cluster test: the lake on a loopback ADLS server, the deployment, its REST API.

Everything under tests/cluster is marked ``cluster`` (deselected by the default ``make test``;
``make cluster-test`` runs it). Teardown stops every process the deployment started, also when a
test fails, and asserts that none survived.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.adls_double.dfs_server import ACCOUNT
from support.adls_double.fixtures import dfs_double
from support.harness import (
    SHARED_DATA,
    TIMINGS,
    AirflowApi,
    Timer,
    interrupt_on_sigterm,
    mark_folder,
    report_timings,
    wait_for,
)

from cluster.harness import AIRFLOW_SERVICES, REGION_DAG, REPO_ROOT, Deployment, base_environment

FILESYSTEM = "cluster"
PREPARE = Path(__file__).with_name("prepare_lake.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/cluster is a cluster test."""
    mark_folder(items, __file__, pytest.mark.cluster)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Treat SIGTERM like Ctrl-C, so fixture teardown still stops the processes."""
    interrupt_on_sigterm()


def pytest_terminal_summary(terminalreporter) -> None:
    """Print how long each step took."""
    report_timings(terminalreporter, "LandShift cluster-test timings (s)")


@pytest.fixture(scope="session")
def account_key() -> str:
    """A fresh account key for the lake server (so the test can look for it in logs)."""
    return base64.b64encode(os.urandom(64)).decode()


@pytest.fixture(scope="session")
def lake_server(account_key: str):
    """The ADLS Gen2 loopback server (dfs + blob), with the test's filesystem created."""
    from azure.storage.filedatalake import DataLakeServiceClient

    with dfs_double(account_key=account_key) as server:
        credential = {"account_name": ACCOUNT, "account_key": account_key}
        DataLakeServiceClient(server.endpoint, credential=credential).create_file_system(FILESYSTEM)
        yield server


@pytest.fixture(scope="session")
def lake_settings(lake_server, account_key: str) -> dict[str, str]:
    """The .env lake variables: the landshift_lake connection the init job creates."""
    return {
        "ADLS_ACCOUNT": ACCOUNT,
        "ADLS_FILESYSTEM": FILESYSTEM,
        "ADLS_PREFIX": "lake",
        "ADLS_ACCOUNT_KEY": account_key,
        "ADLS_DFS_ENDPOINT": lake_server.endpoint,
        "ADLS_BLOB_ENDPOINT": lake_server.endpoint,
    }


@pytest.fixture(scope="session")
def lake_root() -> str:
    return f"abfss://{FILESYSTEM}@{ACCOUNT}.dfs.core.windows.net/lake"


@pytest.fixture(scope="session")
def lake(lake_settings: dict[str, str], lake_root: str):
    """The test's own client of the lake (credentials passed, not exported)."""
    from landshift.lake.adls import AdlsLake, AdlsSettings

    settings = AdlsSettings(
        account_name=ACCOUNT,
        account_key=lake_settings["ADLS_ACCOUNT_KEY"],
        dfs_endpoint=lake_settings["ADLS_DFS_ENDPOINT"],
        blob_endpoint=lake_settings["ADLS_BLOB_ENDPOINT"],
    )
    return AdlsLake(lake_root, settings)


@pytest.fixture(scope="session")
def deployment(lake_settings: dict[str, str], lake_root: str, account_key: str):
    """The lake prepared (seeded, model trained, embedded reference run) and every service running."""
    root = REPO_ROOT / ".cache" / "cluster-test"  # kept after the run, for its logs (git-ignored)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    deployment = Deployment(root, lake_settings)
    atexit.register(deployment.stop)
    reference = root / "reference"
    prepare_env = {
        **base_environment(),
        "PYTHONPATH": f"{REPO_ROOT / 'plugins'}:{REPO_ROOT / 'include'}:{REPO_ROOT / 'tests'}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "AZURE_STORAGE_ACCOUNT_NAME": ACCOUNT,
        "AZURE_STORAGE_ACCOUNT_KEY": account_key,
        "LANDSHIFT_ADLS_DFS_ENDPOINT": lake_settings["ADLS_DFS_ENDPOINT"],
        "LANDSHIFT_ADLS_BLOB_ENDPOINT": lake_settings["ADLS_BLOB_ENDPOINT"],
    }
    started = time.monotonic()
    try:
        # The embedded reference runs while the services start (both take minutes on 2 cores).
        with (root / "prepare.log").open("wb") as prepare_log:
            prepare = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).with_name("prepare_lake.py")),
                    str(SHARED_DATA),
                    lake_root,
                    str(reference),
                ],
                env=prepare_env,
                stdout=subprocess.PIPE,
                stderr=prepare_log,
                start_new_session=True,
            )
        with Timer("postgres start + airflow-init (migrate, pool, connections)"):
            deployment.start_postgres()
            init = deployment.run_init()
            assert init.returncode == 0, init.stdout[-3000:] + init.stderr[-3000:]
        with Timer("spark master + 2 workers registered"):
            deployment.start_spark()
            wait_for(lambda: deployment.spark_workers_alive() == 2, 180, 2, "two ALIVE Spark workers")
        with Timer("airflow components started -> healthy"):
            for name in AIRFLOW_SERVICES:
                deployment.start_airflow(name)
            wait_for(
                lambda: _healthy(deployment),
                600,
                3,
                "Airflow health: metadatabase, scheduler, triggerer, dag processor",
            )
        with Timer("embedded reference (seed, train, score, publish) done"):
            out, _ = prepare.communicate(timeout=1500)
            assert prepare.returncode == 0, (root / "prepare.log").read_text()[-4000:]
        TIMINGS["deployment ready (all of the above, overlapped)"] = time.monotonic() - started
        deployment.reference = reference
        deployment.reference_digests = json.loads(out.decode().strip().splitlines()[-1])["digests"]
        yield deployment
    finally:
        if "prepare" in locals() and prepare.poll() is None:
            os.killpg(prepare.pid, signal.SIGKILL)
            prepare.wait()
        survivors = deployment.stop()
    assert not survivors, f"processes still running after stop: {survivors}"


def _healthy(deployment: Deployment) -> bool:
    import requests

    for name, process in deployment.processes.items():
        if not process.alive():
            raise RuntimeError(f"{name} exited:\n{process.log_tail()}")
    report = requests.get(f"{deployment.base_url}/api/v2/monitor/health", timeout=10).json()
    parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    return all((report.get(p) or {}).get("status") == "healthy" for p in parts)


@pytest.fixture(scope="session")
def api(deployment: Deployment) -> AirflowApi:
    """REST API v2 as the generated admin user; the region DAG parsed and unpaused."""
    passwords = deployment.home / "simple_auth_manager_passwords.json.generated"
    password = wait_for(lambda: json.loads(passwords.read_text()).get("admin"), 120, 1, "admin password")
    client = AirflowApi(deployment.base_url, "admin", password)
    with Timer("region DAG parsed"):
        wait_for(lambda: REGION_DAG in client.dag_ids(), 300, 3, f"{REGION_DAG} parsed")
    assert client.import_errors() == []
    client.unpause(REGION_DAG)
    return client
