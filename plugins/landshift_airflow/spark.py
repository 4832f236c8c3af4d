"""SparkSubmitOperator for a library pipeline's Spark stage, with the deployment's settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

JOBS_DIR = Path(__file__).resolve().parents[2] / "jobs"
SPARK_POOL = "landshift_spark"


def spark_python() -> str:
    """The Python the Spark driver and workers run (the cluster image's in production)."""
    return os.environ.get("LANDSHIFT_SPARK_PYTHON", sys.executable)


class StageSparkSubmitOperator(SparkSubmitOperator):
    """Submits a Spark stage with the arguments the library builds from the upstream task's state;
    lake credentials reach spark-submit only through its inherited environment (see execute)."""

    def __init__(self, *, pipeline_name: str, stage_name: str, state_task_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline_name, self.stage_name, self.state_task_id = pipeline_name, stage_name, state_task_id

    def execute(self, context):
        ti = context["ti"]
        self.prepare_submission(ti.xcom_pull(task_ids=self.state_task_id, map_indexes=ti.map_index))
        return super().execute(context)

    def prepare_submission(self, state: dict) -> None:
        """Job arguments from the library; the lake's credentials go to this process's environment,
        which spark-submit inherits: not ``env_vars``, which YARN and Kubernetes put on its command line."""
        from landshift.run.pipelines import PIPELINES
        from landshift.scoring.spark import device_args
        from landshift_airflow.lake_hook import LandShiftLakeHook

        pipeline = PIPELINES[self.pipeline_name]
        request = pipeline.request_from_dict(state["request"])
        self.application_args = [*pipeline.stage(self.stage_name).job_args(request, state), *device_args(os.environ)]
        self.log.info("LandShift %s: spark-submit %s %s", self.stage_name, self.application, self.application_args)
        LandShiftLakeHook().export_to_environment()


def stage_operator(pipeline_name: str, stage_name: str, job: str, state_task_id: str) -> StageSparkSubmitOperator:
    """The operator running a Spark stage's ``jobs/<job>.py`` in the ``landshift_spark`` pool."""
    from landshift.scoring.spark import submit_conf

    python = spark_python()
    return StageSparkSubmitOperator(
        task_id=stage_name,
        pipeline_name=pipeline_name,
        stage_name=stage_name,
        state_task_id=state_task_id,
        application=str(JOBS_DIR / f"{job}.py"),
        conn_id=os.environ.get("LANDSHIFT_SPARK_CONN_ID", "spark_default"),
        conf=submit_conf(os.environ, python, str(JOBS_DIR)),
        name=f"landshift-{job}",
        env_vars={"PYSPARK_PYTHON": python, "PYSPARK_DRIVER_PYTHON": python},
        pool=SPARK_POOL,
        verbose=False,
    )
