"""The compose deployment on this machine: the region DAG on Postgres, Airflow 3 and a Spark cluster.

The region DAG is triggered through the REST API and its score_tiles task runs on a Spark standalone
master with two workers (client mode, executors in the workers); the lake is the loopback ADLS
server, its credentials only in the ``landshift_lake`` connection. Every run must give the same
class and change on every tile as the embedded path (local Spark) gave on the same lake. Faults:
one Spark worker killed while scoring runs, the scheduler killed and restarted mid-run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from support.harness import TIMINGS, AirflowApi, Timer, session_members, wait_for

from cluster.harness import REGION_DAG, Deployment
from landshift.regions.layout import RunLayout

pytestmark = pytest.mark.cluster
CONF = {"vintage": "2020"}
FIRST_TASK, SCORE_TASK = "vintage.validate_inputs", "vintage.score_tiles"  # the mapped per-vintage group
PRODUCT_RASTERS = ("landuse.tif", "change.tif", "confidence.tif")  # class, change value, probability


def raster(lake, lake_root: str, name: str) -> np.ndarray:
    import rasterio

    data = lake.read_bytes(f"{RunLayout(lake_root, 'nd-pothole', '2020').published}/{name}")
    with rasterio.MemoryFile(io.BytesIO(data)) as memory, memory.open() as dataset:
        return dataset.read()


def assert_same_product_as_the_embedded_path(deployment: Deployment, lake, lake_root: str) -> None:
    """Same tiles (none lost, none twice) with the same class, change value and probability: the
    published rasters hold one pixel per tile, and the run's own work tables are gone with it."""
    summary = json.loads(lake.read_bytes(f"{RunLayout(lake_root, 'nd-pothole', '2020').published}/summary.json"))
    assert summary["tiles"] == deployment.reference_summary["tiles"] and summary["tiles"]["tiles_scored"] > 100
    assert summary["change"] == deployment.reference_summary["change"]
    for name in PRODUCT_RASTERS:
        assert deployment.reference_digests[name]  # the embedded product was published
        assert np.array_equal(raster(lake, lake_root, name), deployment.reference_rasters[name]), name


@pytest.fixture(scope="session")
def reference_rasters(deployment: Deployment, lake, lake_root: str) -> dict[str, np.ndarray]:
    """The embedded path's published rasters, read before any cluster run republishes them."""
    deployment.reference_rasters = {name: raster(lake, lake_root, name) for name in PRODUCT_RASTERS}
    published = RunLayout(lake_root, "nd-pothole", "2020").published
    deployment.reference_summary = json.loads(lake.read_bytes(f"{published}/summary.json"))
    return deployment.reference_rasters


def run_to_end(api: AirflowApi, run_id: str, timeout_s: float = 1200) -> dict:
    run = api.wait_run(REGION_DAG, run_id, timeout_s=timeout_s)
    if run["state"] != "success":
        instances = api.task_instances(REGION_DAG, run_id)
        states = {t: ti["state"] for t, ti in instances.items()}
        logs = {
            t: api.task_log(REGION_DAG, run_id, t, ti["try_number"])[-4000:]
            for t, ti in instances.items()
            if ti["state"] == "failed" and ti["try_number"]
        }
        pytest.fail(f"run {run_id} ended {run['state']}: {states}\n{logs}")
    return run


def completed_spark_apps(deployment: Deployment) -> list[dict]:
    state = requests.get(f"http://127.0.0.1:{deployment.ports['master_ui']}/json/", timeout=10).json()
    return state.get("completedapps", [])


def python_workers_of(deployment: Deployment, worker: str) -> list[int]:
    """Pids of PySpark Python workers running under a Spark worker's session."""
    found = []
    for pid in session_members(deployment.processes[worker].sid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"pyspark.daemon" in command or b"pyspark.worker" in command:
            found.append(pid)
    return found


def processes_showing(secret: str) -> list[int]:
    """Pids of live processes whose command line holds ``secret``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if secret.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def kill_session(deployment: Deployment, name: str) -> None:
    """SIGKILL every process of a service, as a crashed container would lose them."""
    process = deployment.processes[name]
    for pid in session_members(process.sid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.stop()  # reaps the leader and closes its log
    del deployment.processes[name]


def test_the_region_dag_runs_on_the_cluster_and_matches_the_embedded_path(
    deployment: Deployment, api: AirflowApi, lake, lake_root: str, reference_rasters, account_key: str
):
    with Timer("region run on the cluster (REST trigger -> success)"):
        run_id = api.trigger(REGION_DAG, CONF, run_id="cluster-clean")
        run_to_end(api, run_id)
    assert_same_product_as_the_embedded_path(deployment, lake, lake_root)
    # The scoring job ran on the standalone cluster, not in local mode.
    assert any(app["name"].startswith("landshift-score") for app in completed_spark_apps(deployment))
    # The lake key reached the executors without showing in rendered fields, XCom or logs.
    instance = api.get(f"dags/{REGION_DAG}/dagRuns/{run_id}/taskInstances/{SCORE_TASK}/0")
    assert account_key not in str(instance.get("rendered_fields"))
    run_xcom = api.get(
        f"dags/{REGION_DAG}/dagRuns/{run_id}/taskInstances/{FIRST_TASK}/xcomEntries/return_value",
        params={"map_index": 0},
    )
    assert "lake_root" in str(run_xcom) and account_key not in str(run_xcom)
    for task_id, ti in api.task_instances(REGION_DAG, run_id).items():
        assert account_key not in api.task_log(REGION_DAG, run_id, task_id, map_index=ti["map_index"])
    for log_file in deployment.logs.glob("*.log"):
        assert account_key not in log_file.read_text(errors="replace"), log_file.name


def test_a_killed_spark_worker_and_a_restarted_scheduler_do_not_break_a_run(
    deployment: Deployment, api: AirflowApi, lake, lake_root: str, reference_rasters, account_key: str, lake_server
):
    run_id = api.trigger(REGION_DAG, CONF, run_id="cluster-faults")
    started = time.monotonic()

    def scoring_worker() -> str | None:
        state = api.task_instances(REGION_DAG, run_id).get(SCORE_TASK, {}).get("state")
        if state != "running":
            return None
        return next((w for w in ("spark-worker-0", "spark-worker-1") if python_workers_of(deployment, w)), None)

    victim = wait_for(scoring_worker, 900, 1, "a Spark worker scoring tiles")
    # (the storage server itself is started with its key on its command line: not ours to check)
    assert set(processes_showing(account_key)) <= {lake_server.process.pid}, "the lake key is on a command line"
    kill_session(deployment, victim)
    TIMINGS["worker killed after (s from trigger)"] = time.monotonic() - started
    wait_for(
        lambda: api.task_instances(REGION_DAG, run_id)[SCORE_TASK]["state"] in ("success", "failed", "up_for_retry"),
        900,
        3,
        "score_tiles to finish",
    )
    score = api.task_instances(REGION_DAG, run_id)[SCORE_TASK]
    assert (score["state"], score["try_number"]) == ("success", 1), "Spark itself must recover the lost executor"
    # Now the scheduler: kill it (and the task processes it runs) and start it again.
    kill_session(deployment, "airflow-scheduler")
    TIMINGS["scheduler killed after (s from trigger)"] = time.monotonic() - started
    deployment.start_airflow("airflow-scheduler")
    with Timer("run finished after the scheduler restart"):
        run_to_end(api, run_id)
    TIMINGS["fault run (REST trigger -> success)"] = time.monotonic() - started
    assert_same_product_as_the_embedded_path(deployment, lake, lake_root)
    deployment.start_worker(0 if victim == "spark-worker-0" else 1)  # the cluster back to full size


def test_the_compose_healthchecks_pass_on_the_running_services(deployment: Deployment, api: AirflowApi):
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        result = deployment.healthcheck(name)
        assert result.returncode == 0, f"{name}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
