"""The Airflow lake hook: connection fields to a lake root and masked credentials."""

from __future__ import annotations

import json
import os

import pytest

from landshift_airflow.lake_hook import LandShiftLakeHook


def test_without_a_connection_the_local_lake_is_used(monkeypatch, tmp_path):
    monkeypatch.delenv("AIRFLOW_CONN_LANDSHIFT_LAKE", raising=False)
    monkeypatch.setenv("LANDSHIFT_LAKE_ROOT", str(tmp_path))
    hook = LandShiftLakeHook()
    assert hook.lake_root() == str(tmp_path)
    assert hook.lake_environment() == {}


@pytest.mark.parametrize(
    ("connection", "expected"),
    [
        (
            {"conn_type": "generic", "host": "acct", "schema": "fs", "password": "k3y"},
            {"AZURE_STORAGE_ACCOUNT_NAME": "acct", "AZURE_STORAGE_ACCOUNT_KEY": "k3y"},
        ),
        (
            {"conn_type": "generic", "host": "acct", "schema": "fs", "extra": {"sas_token": "sv=1&sig=x"}},
            {"AZURE_STORAGE_ACCOUNT_NAME": "acct", "AZURE_STORAGE_SAS_TOKEN": "sv=1&sig=x"},
        ),
        (
            {
                "conn_type": "generic",
                "host": "acct",
                "schema": "fs",
                "login": "app",
                "password": "s3cret",
                "extra": {"tenant_id": "t1", "prefix": "prod/lake"},
            },
            {
                "AZURE_STORAGE_ACCOUNT_NAME": "acct",
                "AZURE_TENANT_ID": "t1",
                "AZURE_CLIENT_ID": "app",
                "AZURE_CLIENT_SECRET": "s3cret",
            },
        ),
        ({"conn_type": "generic", "host": "acct", "schema": "fs"}, {"AZURE_STORAGE_ACCOUNT_NAME": "acct"}),
    ],
)
def test_connection_fields_become_a_root_and_an_environment(monkeypatch, connection, expected):
    monkeypatch.setenv("AIRFLOW_CONN_LANDSHIFT_LAKE", json.dumps(connection))
    hook = LandShiftLakeHook()
    prefix = connection.get("extra", {}).get("prefix", "lake")
    assert hook.lake_root() == f"abfss://fs@acct.dfs.core.windows.net/{prefix}"
    assert hook.lake_environment() == expected


@pytest.mark.parametrize(
    "spark_connection",
    [
        {"conn_type": "spark", "host": "yarn", "extra": {"deploy-mode": "cluster"}},
        {"conn_type": "spark", "host": "yarn", "extra": {"deploy-mode": "client"}},
        {"conn_type": "spark", "host": "spark://127.0.0.1", "port": 7077},
    ],
)
def test_hostile_secrets_never_reach_the_spark_submit_command_line(monkeypatch, spark_connection):
    """Lake credentials reach spark-submit through its environment, whatever the Spark connection."""
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    from landshift.regions.registry import get_region
    from landshift.regions.requests import RunRequest
    from landshift_airflow.spark import stage_operator

    secret = "k3y-that-must-stay-private"
    monkeypatch.setenv(
        "AIRFLOW_CONN_LANDSHIFT_LAKE",
        json.dumps({"conn_type": "generic", "host": "acct", "schema": "fs", "password": secret}),
    )
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps(spark_connection))
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_KEY", raising=False)
    operator = stage_operator("region", "score_tiles", "score_tiles", "plan_tiles")
    request = RunRequest("abfss://fs@acct.dfs.core.windows.net/lake", get_region("nd-pothole"), "2020")
    operator.prepare_submission({"request": request.to_dict(), "model_version": "1"})
    hook = SparkSubmitHook(
        conn_id="spark_default",
        application_args=operator.application_args,
        env_vars=operator.env_vars,
        conf=operator.conf,
    )
    command = hook._build_spark_submit_command(operator.application)
    assert all(secret not in part for part in command), command
    assert "--model-version" in command and "--lake-root" in command
    assert secret not in json.dumps(operator.env_vars)
    assert os.environ["AZURE_STORAGE_ACCOUNT_KEY"] == secret  # inherited by the spark-submit process
