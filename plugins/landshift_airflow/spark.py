"""Arguments for SparkSubmitOperator: one place for the jobs' Spark configuration."""

from __future__ import annotations

import os
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from landshift_airflow.settings import (
    JOBS_DIR,
    REPO_ROOT,
    SPARK_CONN_ID,
    SPARK_POOL,
    model_device_args,
    spark_profile,
    spark_python,
)

# Measured on 2 local cores: tiles carry only ids into Python, so large Arrow batches cost nothing.
CPU_CONF: dict[str, str] = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "1024",
    "spark.python.worker.reuse": "true",
    "spark.task.cpus": "1",
    "spark.executorEnv.TF_CPP_MIN_LOG_LEVEL": "2",
    "spark.ui.showConsoleProgress": "false",
}

# GPU workers: one GPU per executor, shared by its task slots; addresses come from the script.
GPU_CONF: dict[str, str] = {
    "spark.executor.resource.gpu.amount": "1",
    "spark.task.resource.gpu.amount": "1",
    "spark.executor.resource.gpu.discoveryScript": str(REPO_ROOT / "jobs" / "gpu_discovery.sh"),
    "spark.executorEnv.TF_FORCE_GPU_ALLOW_GROWTH": "true",
}


def xcom_args(source_task: str, flags: dict[str, str]) -> list[str]:
    """Job arguments ``--flag value`` whose values are templated from ``source_task``'s XCom dict."""
    args: list[str] = []
    for flag, key in flags.items():
        args += [flag, f"{{{{ ti.xcom_pull(task_ids='{source_task}')['{key}'] }}}}"]
    return args


def deployment_conf() -> dict[str, str]:
    """The deployment's own Spark settings: the JSON object in ``LANDSHIFT_SPARK_CONF`` (e.g. executor
    sizes, ``spark.task.resource.gpu.amount``, Kubernetes or YARN settings), over the profile's."""
    import json

    raw = os.environ.get("LANDSHIFT_SPARK_CONF", "").strip()
    conf = json.loads(raw) if raw else {}
    if not isinstance(conf, dict):
        raise ValueError("LANDSHIFT_SPARK_CONF must be a JSON object of Spark settings")
    return {str(key): str(value) for key, value in conf.items()}


def spark_conf(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Spark configuration for the current profile (cpu or gpu) and the deployment."""
    conf = {**CPU_CONF, "spark.pyspark.python": spark_python(), "spark.pyspark.driver.python": spark_python()}
    if spark_profile() == "gpu":
        conf.update(GPU_CONF)
    deployment = deployment_conf()
    if spark_profile() != "gpu":  # GPU shares only mean something on the gpu profile
        deployment = {k: v for k, v in deployment.items() if ".resource.gpu." not in k}
    return {**conf, **deployment, **(extra or {})}


def job_kwargs(job: str, application_args: list[Any], **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for a SparkSubmitOperator running ``jobs/<job>.py``."""
    application = JOBS_DIR / f"{job}.py"
    if not application.is_file():
        raise FileNotFoundError(f"no Spark job {application}")
    kwargs: dict[str, Any] = {
        "application": str(application),
        "application_args": [*application_args, *model_device_args()],
        "conn_id": SPARK_CONN_ID,
        "conf": spark_conf(),
        "name": f"landshift-{job}",
        "env_vars": {"PYSPARK_PYTHON": spark_python(), "PYSPARK_DRIVER_PYTHON": spark_python()},
        "pool": SPARK_POOL,
        "verbose": False,
    }
    kwargs.update(overrides)
    return kwargs


class LakeAwareSparkSubmitOperator(SparkSubmitOperator):
    """SparkSubmitOperator whose job gets the lake credentials at run time.

    They are added to the spark-submit environment inside ``execute``, after the templated
    fields were rendered, so they never show in the UI's rendered fields or in logs.
    """

    def execute(self, context):
        from landshift_airflow.lake_hook import LandShiftLakeHook

        self.env_vars = {**(self.env_vars or {}), **LandShiftLakeHook().lake_environment()}
        return super().execute(context)


def lake_aware_operator(task_id: str, job: str, application_args: list[Any]) -> LakeAwareSparkSubmitOperator:
    """The operator running ``jobs/<job>.py`` with the deployment's Spark settings."""
    return LakeAwareSparkSubmitOperator(task_id=task_id, **job_kwargs(job, application_args))
