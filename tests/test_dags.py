"""DAG integrity: every DAG file imports cleanly, fast, without heavy libraries, with sane defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

HEAVY_MODULES = ("tensorflow", "keras", "rasterio", "pyspark", "pandas", "numpy", "pyarrow")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO_ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"landshift_train", "landshift_region_nd-pothole", "landshift_manual_region"} <= set(dagbag.dag_ids)


def test_every_dag_has_tags_retries_docs_and_a_deliberate_catchup(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert "landshift" in dag.tags, dag_id
        assert dag.doc_md, dag_id
        assert dag.catchup is False, dag_id
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"
            assert task.execution_timeout is not None, f"{dag_id}.{task.task_id} has no timeout"


def test_spark_tasks_use_the_pool_and_submit_job_files(dagbag):
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    spark_tasks = [t for d in dagbag.dags.values() for t in d.tasks if isinstance(t, SparkSubmitOperator)]
    assert spark_tasks
    for task in spark_tasks:
        assert task.pool == "landshift_spark"
        assert task.application.startswith(str(REPO_ROOT / "jobs"))


def test_dag_files_import_no_heavy_library_and_parse_fast():
    probe = (
        "import sys, time, json, importlib.util, pathlib\n"
        f"sys.path.insert(0, {str(REPO_ROOT / 'plugins')!r})\n"
        "started = time.perf_counter()\n"
        f"for path in sorted(pathlib.Path({str(REPO_ROOT / 'dags')!r}).glob('*.py')):\n"
        "    spec = importlib.util.spec_from_file_location(path.stem, path)\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "elapsed = time.perf_counter() - started\n"
        f"print(json.dumps({{'elapsed': elapsed, 'heavy': [m for m in {HEAVY_MODULES!r} if m in sys.modules]}}))\n"
    )
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    # Import airflow.sdk first so only the DAG files' own cost is timed.
    result = subprocess.run(
        [sys.executable, "-c", "import airflow.sdk, airflow.providers.apache.spark.operators.spark_submit\n" + probe],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["heavy"] == [], f"DAG files pulled heavy modules at parse time: {report['heavy']}"
    assert report["elapsed"] < 2.0, f"parsing the DAG files took {report['elapsed']:.2f} s"


def test_manual_dag_params_render_a_typed_form(dagbag):
    dag = dagbag.dags["landshift_manual_region"]
    schema = {name: param.schema for name, param in dag.params.items()}
    assert schema["region_id"]["pattern"].startswith("^[a-z]")
    assert schema["tile_size_m"]["minimum"] == 30
    assert schema["prior_year"]["type"] == "integer"
    assert all("title" in s for s in schema.values())
    json.dumps(schema)


def test_model_device_args_follow_the_profile_and_reject_bad_values(monkeypatch):
    from landshift.model import PRECISIONS
    from landshift_airflow import settings

    assert settings.PRECISIONS == PRECISIONS
    for name in ("LANDSHIFT_SPARK_PROFILE", "LANDSHIFT_BATCH_SIZE", "LANDSHIFT_PRECISION", "LANDSHIFT_XLA"):
        monkeypatch.delenv(name, raising=False)
    assert settings.model_device_args() == ["--batch-size", "64", "--precision", "float32"]
    monkeypatch.setenv("LANDSHIFT_SPARK_PROFILE", "gpu")
    monkeypatch.setenv("LANDSHIFT_PRECISION", "mixed_float16")
    monkeypatch.setenv("LANDSHIFT_XLA", "1")
    assert settings.model_device_args() == ["--batch-size", "512", "--precision", "mixed_float16", "--xla"]
    monkeypatch.setenv("LANDSHIFT_PRECISION", "float8")
    with pytest.raises(ValueError, match="LANDSHIFT_PRECISION"):
        settings.model_device_args()
    monkeypatch.setenv("LANDSHIFT_PRECISION", "float32")
    monkeypatch.setenv("LANDSHIFT_BATCH_SIZE", "-4")
    with pytest.raises(ValueError, match="LANDSHIFT_BATCH_SIZE"):
        settings.model_device_args()


def test_scoring_jobs_receive_the_device_args(dagbag):
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    sys.path.insert(0, str(REPO_ROOT / "jobs"))
    from score_tiles import config_from, parse_args

    for dag in dagbag.dags.values():
        for task in dag.tasks:
            if isinstance(task, SparkSubmitOperator):
                assert task.application_args[-4:] == ["--batch-size", "64", "--precision", "float32"]
    required = ["--lake-root", "/lake", "--tiles", "t", "--out", "o", "--crs", "EPSG:26914", "--tile-size-m", "224"]
    config = config_from(parse_args([*required, "--precision", "mixed_bfloat16", "--xla", "--batch-size", "256"]))
    assert (config.precision, config.xla, config.batch_size) == ("mixed_bfloat16", True, 256)
