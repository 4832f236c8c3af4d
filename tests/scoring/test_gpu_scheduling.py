"""GPU scheduling without a GPU: a local cluster whose discovery script reports fake GPUs.

The cluster runs in its own Python process: Spark's session builder keeps its options for the
life of a process, and GPU task resources must not leak into the other tests' local session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.integration]
DISCOVERY = str(REPO_ROOT / "jobs" / "gpu_discovery.sh")

CLUSTER_PROBE = r"""
import json, os, shutil, sys, time
from pathlib import Path
import pyspark
from pyspark.sql import SparkSession

def pinned(_rows):
    from pyspark import TaskContext
    from landshift.scoring.batch import configure_worker_devices, task_device
    gpus = configure_worker_devices()
    time.sleep(1.5)  # keep two tasks running at once
    yield (TaskContext.get().partitionId(), ",".join(gpus), task_device(), time.time())

discovery = sys.argv[1]
spark = (
    SparkSession.builder.master("local-cluster[1,2,1024]")
    .appName("landshift-fake-gpu")
    .config("spark.driver.host", "127.0.0.1")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.ui.enabled", "false")
    .config("spark.pyspark.python", sys.executable)
    .config("spark.worker.resource.gpu.amount", "2")
    .config("spark.worker.resource.gpu.discoveryScript", discovery)
    .config("spark.executor.resource.gpu.amount", "2")
    .config("spark.task.resource.gpu.amount", "1")
    .config("spark.executorEnv.LANDSHIFT_FAKE_GPUS", "0,1")
    .getOrCreate()
)
try:
    executor_gpus = spark.sparkContext.getConf().get("spark.executor.resource.gpu.amount")
    rows = spark.sparkContext.parallelize(range(4), 4).mapPartitions(pinned).collect()
finally:
    spark.stop()
    shutil.rmtree(Path(pyspark.__file__).parent / "work", ignore_errors=True)
print(json.dumps({"executor_gpus": executor_gpus, "tasks": rows}))
"""


def test_discovery_script_reports_fake_and_no_gpus(monkeypatch):
    monkeypatch.setenv("LANDSHIFT_FAKE_GPUS", "0,1")
    fake = json.loads(subprocess.run([DISCOVERY], capture_output=True, text=True, check=True).stdout)
    assert fake == {"name": "gpu", "addresses": ["0", "1"]}
    monkeypatch.delenv("LANDSHIFT_FAKE_GPUS")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    none = json.loads(subprocess.run([DISCOVERY], capture_output=True, text=True, check=True).stdout)
    assert none == {"name": "gpu", "addresses": []}


def test_concurrent_tasks_get_distinct_gpus_and_are_pinned_to_them():
    env = {**os.environ, "LANDSHIFT_FAKE_GPUS": "0,1", "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    result = subprocess.run(
        [sys.executable, "-c", CLUSTER_PROBE, DISCOVERY], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["executor_gpus"] == "2"
    tasks = report["tasks"]
    assert len(tasks) == 4
    for _, gpus, device, _ in tasks:
        assert gpus in ("0", "1")
        assert device == f"/GPU:{gpus}"
    first_wave = sorted(tasks, key=lambda task: task[3])[:2]
    assert {task[1] for task in first_wave} == {"0", "1"}, "two tasks running at once must hold different GPUs"
