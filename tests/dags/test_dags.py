"""DAG integrity: every DAG file imports cleanly, fast, without heavy libraries, with sane defaults."""

from __future__ import annotations

import itertools
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


def test_dag_tasks_follow_the_library_pipelines_and_pass_state(dagbag):
    from landshift.run.region_run import REGION_RUN
    from landshift.run.training import TRAINING_RUN

    for dag_id, pipeline, prefix, first in (
        ("landshift_region_nd-pothole", REGION_RUN, "vintage.", "find_pending_vintages"),
        ("landshift_manual_region", REGION_RUN, "", None),
        ("landshift_train", TRAINING_RUN, "", None),
    ):
        dag = dagbag.dags[dag_id]
        names = [prefix + stage.name for stage in pipeline.stages]
        assert {t.task_id for t in dag.tasks} == set(names) | ({first} if first else set()), dag_id
        for before, after in itertools.pairwise([first, *names] if first else names):
            assert before in dag.get_task(after).upstream_task_ids, f"{dag_id}: {before} -> {after}"
        # Task stages read the state the task before them returned, not just their order.
        for index, stage in enumerate(pipeline.stages[1:], start=1):
            if stage.on_spark or pipeline.stages[index - 1].on_spark:
                continue
            assert dag.get_task(names[index]).op_args[0].operator.task_id == names[index - 1], dag_id


def test_region_dags_reconcile_daily_on_an_explicit_timetable(dagbag):
    from airflow.timetables.trigger import CronTriggerTimetable

    dag = dagbag.dags["landshift_region_nd-pothole"]
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.summary == "0 6 * * *"
    assert dag.catchup is False
    mapped = dag.get_task("vintage.validate_inputs")
    assert mapped.max_active_tis_per_dagrun == 1  # one vintage at a time per stage, in vintage order


def test_spark_stage_operators_know_their_pipeline_stage(dagbag):
    from landshift.run.pipelines import PIPELINES

    for dag in dagbag.dags.values():
        for task in dag.tasks:
            if hasattr(task, "stage_name"):
                stage = PIPELINES[task.pipeline_name].stage(task.stage_name)
                assert stage.on_spark and task.application.endswith(f"jobs/{stage.spark_job}.py")


def test_model_device_args_follow_the_profile_and_reject_bad_values():
    from landshift.scoring.spark import device_args

    assert device_args({}) == ["--batch-size", "64", "--precision", "float32"]
    gpu = {"LANDSHIFT_SPARK_PROFILE": "gpu", "LANDSHIFT_PRECISION": "mixed_float16", "LANDSHIFT_XLA": "1"}
    assert device_args(gpu) == ["--batch-size", "512", "--precision", "mixed_float16", "--xla"]
    with pytest.raises(ValueError, match="LANDSHIFT_PRECISION"):
        device_args({"LANDSHIFT_PRECISION": "float8"})
    with pytest.raises(ValueError, match="LANDSHIFT_BATCH_SIZE"):
        device_args({"LANDSHIFT_BATCH_SIZE": "-4"})
    with pytest.raises(ValueError, match="LANDSHIFT_SPARK_PROFILE"):
        device_args({"LANDSHIFT_SPARK_PROFILE": "tpu"})


def test_submitted_jobs_compile_with_c1_and_keep_the_deployments_java_options():
    import json

    from landshift.scoring.spark import submit_conf

    plain = submit_conf({}, "python3", "/jobs")
    for key in ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions"):
        assert plain[key] == "-XX:TieredStopAtLevel=1"
    own = {"spark.executor.extraJavaOptions": "-Dlog4j.configuration=x", "spark.driver.extraJavaOptions": "-XX:+UseZGC"}
    conf = submit_conf({"LANDSHIFT_SPARK_CONF": json.dumps(own)}, "python3", "/jobs")
    assert conf["spark.executor.extraJavaOptions"] == "-Dlog4j.configuration=x -XX:TieredStopAtLevel=1"
    assert conf["spark.driver.extraJavaOptions"] == "-XX:+UseZGC -XX:TieredStopAtLevel=1"
    tiered = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=4"}  # a deployment's own choice wins
    conf = submit_conf({"LANDSHIFT_SPARK_CONF": json.dumps(tiered)}, "python3", "/jobs")
    assert conf["spark.driver.extraJavaOptions"] == "-XX:TieredStopAtLevel=4"


def test_scoring_job_arguments_parse_into_the_worker_config():
    from landshift.scoring.spark import JobUsageError, scoring_config

    required = ["--lake-root", "/lake", "--tiles", "t", "--out", "o", "--crs", "EPSG:26914", "--tile-size-m", "224"]
    config, tiles, out = scoring_config([*required, "--model-name", "m", "--model-version", "1", "--xla"])
    assert (config.model_version, config.xla, config.batch_size, tiles, out) == ("1", True, 64, "t", "o")
    with pytest.raises(JobUsageError, match="--model-name"):
        scoring_config(required)
