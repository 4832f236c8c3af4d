"""The lake from an Airflow connection (conn id ``landshift_lake``), for tasks and Spark jobs.

Connection fields (type ``generic`` or ``adls``):

* ``host``: the storage account name; ``schema``: the filesystem (container);
* extra ``prefix``: folder of the lake inside the filesystem (default ``lake``);
* one credential: ``password`` = account key; or extra ``sas_token``; or ``login`` = client id,
  ``password`` = client secret and extra ``tenant_id`` (service principal); or none of them for
  the managed identity (``DefaultAzureCredential``);
* extra ``endpoint``: an account URL override (private endpoints, test servers).

Without the connection the lake is ``LANDSHIFT_LAKE_ROOT`` (default ``./lake``), and credentials,
if any, come from the worker's environment. Secret values are registered with Airflow's secrets
masker, never logged, never returned in XCom.
"""

from __future__ import annotations

import logging
import os

from airflow.sdk import BaseHook

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "landshift_lake"


class LandShiftLakeHook(BaseHook):
    """Resolves the lake root URI and the environment its clients need."""

    conn_name_attr = "landshift_lake_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "landshift_lake"
    hook_name = "LandShift lake (ADLS Gen2)"

    def __init__(self, conn_id: str = DEFAULT_CONN_ID) -> None:
        super().__init__()
        self.conn_id = conn_id

    def _connection(self):
        from airflow.sdk.exceptions import AirflowRuntimeError

        try:
            return self.get_connection(self.conn_id)
        except (AirflowRuntimeError, Exception) as exc:  # a missing connection means the local default
            log.debug("No connection %s (%s): using LANDSHIFT_LAKE_ROOT", self.conn_id, type(exc).__name__)
            return None

    def lake_root(self) -> str:
        """``abfss://<filesystem>@<account>.dfs.core.windows.net/<prefix>``, or the local default."""
        from landshift_airflow.settings import DEFAULT_LAKE_ROOT

        connection = self._connection()
        if connection is None or not connection.host:
            return os.environ.get("LANDSHIFT_LAKE_ROOT", str(DEFAULT_LAKE_ROOT))
        extra = connection.extra_dejson
        prefix = str(extra.get("prefix", "lake")).strip("/")
        return f"abfss://{connection.schema}@{connection.host}.dfs.core.windows.net/{prefix}"

    def lake_environment(self) -> dict[str, str]:
        """Environment variables for the lake clients (landshift.adls and GDAL); secrets masked."""
        from airflow.sdk.log import mask_secret

        connection = self._connection()
        if connection is None or not connection.host:
            return {}
        extra = connection.extra_dejson
        env = {"AZURE_STORAGE_ACCOUNT_NAME": connection.host}
        if extra.get("endpoint"):
            env["LANDSHIFT_ADLS_ENDPOINT"] = str(extra["endpoint"])
        if extra.get("tenant_id") and connection.login and connection.password:
            env.update(
                AZURE_TENANT_ID=str(extra["tenant_id"]),
                AZURE_CLIENT_ID=connection.login,
                AZURE_CLIENT_SECRET=connection.password,
            )
        elif connection.password:
            env["AZURE_STORAGE_ACCOUNT_KEY"] = connection.password
        elif extra.get("sas_token"):
            env["AZURE_STORAGE_SAS_TOKEN"] = str(extra["sas_token"])
        for name in ("AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_CLIENT_SECRET"):
            if name in env:
                mask_secret(env[name])
        return env

    def apply(self) -> str:
        """Export the lake environment to this task process; returns the lake root."""
        os.environ.update(self.lake_environment())
        return self.lake_root()
