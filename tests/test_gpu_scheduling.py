"""GPU scheduling without a GPU: a local cluster whose discovery script reports fake GPUs."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.integration]
DISCOVERY = str(REPO_ROOT / "jobs" / "gpu_discovery.sh")


def _pinned_task(_rows):
    """Runs on the executor: what Spark gave the task and where scoring would place it."""
    from pyspark import TaskContext

    from landshift.scoring import configure_worker_devices, task_device

    gpus = configure_worker_devices()
    time.sleep(1.5)  # keep both tasks running at once
    context = TaskContext.get()
    yield (context.partitionId(), ",".join(gpus), task_device(), os.getpid(), time.time())


@pytest.fixture(scope="module")
def gpu_cluster(monkeypatch_module):
    """A one-worker local cluster with two fake GPUs, one per concurrent task."""
    from pyspark.sql import SparkSession

    monkeypatch_module.setenv("LANDSHIFT_FAKE_GPUS", "0,1")
    monkeypatch_module.setenv("PYSPARK_PYTHON", sys.executable)
    monkeypatch_module.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    session = (
        SparkSession.builder.master("local-cluster[1,2,1024]")
        .appName("landshift-fake-gpu")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.worker.resource.gpu.amount", "2")
        .config("spark.worker.resource.gpu.discoveryScript", DISCOVERY)
        .config("spark.executor.resource.gpu.amount", "2")
        .config("spark.task.resource.gpu.amount", "1")
        .config("spark.executorEnv.LANDSHIFT_FAKE_GPUS", "0,1")
        .getOrCreate()
    )
    yield session
    session.stop()
    import pyspark

    shutil.rmtree(Path(pyspark.__file__).parent / "work", ignore_errors=True)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_discovery_script_reports_fake_and_no_gpus(monkeypatch):
    import json
    import subprocess

    monkeypatch.setenv("LANDSHIFT_FAKE_GPUS", "0,1")
    fake = json.loads(subprocess.run([DISCOVERY], capture_output=True, text=True, check=True).stdout)
    assert fake == {"name": "gpu", "addresses": ["0", "1"]}
    monkeypatch.delenv("LANDSHIFT_FAKE_GPUS")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    none = json.loads(subprocess.run([DISCOVERY], capture_output=True, text=True, check=True).stdout)
    assert none == {"name": "gpu", "addresses": []}


def test_concurrent_tasks_get_distinct_gpus_and_are_pinned_to_them(gpu_cluster):
    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # executors cannot import test modules
    executors = gpu_cluster.sparkContext.getConf().get("spark.executor.resource.gpu.amount")
    assert executors == "2"
    rows = gpu_cluster.sparkContext.parallelize(range(4), 4).mapPartitions(_pinned_task).collect()
    assert len(rows) == 4
    for _, gpus, device, _, _ in rows:
        assert gpus in ("0", "1")
        assert device == f"/GPU:{gpus}"
    first_wave = sorted(rows, key=lambda r: r[4])[:2]
    assert {r[1] for r in first_wave} == {"0", "1"}, "two tasks running at once must hold different GPUs"
