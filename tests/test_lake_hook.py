"""The Airflow lake hook: connection fields to a lake root and masked credentials."""

from __future__ import annotations

import json

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
