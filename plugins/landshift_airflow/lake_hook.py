"""The lake from an Airflow connection (conn id ``landshift_lake``), for tasks and Spark jobs.

Connection fields (any connection type, e.g. ``generic``):

* account: ``host``, or extra ``account_name``;
* filesystem (container): extra ``filesystem``, or ``schema``;
* extra ``prefix``: folder of the lake inside the filesystem (default ``lake``);
* one credential, first match wins: extra ``account_key``, or ``password`` with no ``login``
  (account key); extra ``sas_token``; a service principal from extra ``tenant_id`` with
  ``login``/``password`` or extras ``client_id``/``client_secret``; none of them for the managed
  identity (``DefaultAzureCredential``);
* extras ``endpoint`` (alias ``dfs_endpoint``) and ``blob_endpoint``: endpoint overrides
  (private endpoints, loopback test servers).

Without the connection the lake is ``LANDSHIFT_LAKE_ROOT`` (default ``<repo>/lake``) and the
credentials, if any, come from the worker's environment (:class:`landshift.adls.AdlsSettings`).
Secret values are registered with Airflow's secrets masker and never logged.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from airflow.sdk import BaseHook  # the Task SDK's BaseHook (airflow.sdk.bases.hook) in Airflow 3

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "landshift_lake"
DEFAULT_PREFIX = "lake"


class LandShiftLakeHook(BaseHook):
    """Resolves the lake root URI, its :class:`~landshift.adls.AdlsSettings` and client environment."""

    conn_name_attr = "landshift_lake_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "landshift_lake"
    hook_name = "LandShift lake (ADLS Gen2)"

    def __init__(self, landshift_lake_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = landshift_lake_conn_id
        self._resolved = False
        self._conn: Any = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Labels for the connection form."""
        return {
            "hidden_fields": ["port"],
            "relabeling": {
                "host": "Storage account name",
                "schema": "Filesystem (container)",
                "login": "Client ID (service principal)",
                "password": "Account key, or client secret with a client ID",
            },
        }

    def _connection(self) -> Any:
        """The Airflow connection, or None when it is not defined (the local default)."""
        if not self._resolved:
            from airflow.sdk.exceptions import AirflowNotFoundException

            try:
                self._conn = self.get_connection(self.conn_id)
            except AirflowNotFoundException:
                log.debug("No connection %s: the lake is LANDSHIFT_LAKE_ROOT", self.conn_id)
                self._conn = None
            self._resolved = True
        return self._conn

    def _account_and_filesystem(self) -> tuple[str, str, dict[str, Any]] | None:
        connection = self._connection()
        if connection is None:
            return None
        extra = connection.extra_dejson or {}
        account = str(extra.get("account_name") or connection.host or "")
        filesystem = str(extra.get("filesystem") or connection.schema or "")
        if not account:
            return None
        if not filesystem:
            raise ValueError(f"connection {self.conn_id} names no filesystem (extra 'filesystem' or schema)")
        return account, filesystem, extra

    def lake_root(self) -> str:
        """``abfss://<filesystem>@<account>.dfs.core.windows.net/<prefix>``, or the local default."""
        resolved = self._account_and_filesystem()
        if resolved is None:
            from landshift_airflow.settings import DEFAULT_LAKE_ROOT

            return os.environ.get("LANDSHIFT_LAKE_ROOT", str(DEFAULT_LAKE_ROOT))
        account, filesystem, extra = resolved
        prefix = str(extra.get("prefix", DEFAULT_PREFIX)).strip("/")
        return f"abfss://{filesystem}@{account}.dfs.core.windows.net/{prefix}".rstrip("/")

    def lake_settings(self) -> Any:
        """The connection's :class:`~landshift.adls.AdlsSettings`, or None without a connection."""
        from landshift.adls import AdlsSettings

        resolved = self._account_and_filesystem()
        if resolved is None:
            return None
        account, _, extra = resolved
        connection = self._connection()
        values: dict[str, str] = {"account_name": account}
        tenant = extra.get("tenant_id")
        client_id = extra.get("client_id") or (connection.login if tenant else "")
        client_secret = extra.get("client_secret") or (connection.password if tenant else "")
        if extra.get("account_key") or (connection.password and not tenant and not connection.login):
            values["account_key"] = str(extra.get("account_key") or connection.password)
        elif extra.get("sas_token"):
            values["sas_token"] = str(extra["sas_token"])
        elif tenant and client_id and client_secret:
            values.update(tenant_id=str(tenant), client_id=str(client_id), client_secret=str(client_secret))
        dfs_endpoint = extra.get("dfs_endpoint") or extra.get("endpoint")
        if dfs_endpoint:
            values["dfs_endpoint"] = str(dfs_endpoint)
        if extra.get("blob_endpoint"):
            values["blob_endpoint"] = str(extra["blob_endpoint"])
        settings = AdlsSettings.from_mapping(values)
        self._mask(settings.secrets())
        return settings

    @staticmethod
    def _mask(secrets: list[str]) -> None:
        from airflow.sdk.log import mask_secret

        for secret in secrets:
            mask_secret(secret)

    def lake_environment(self) -> dict[str, str]:
        """Environment variables for the lake clients (landshift.adls and GDAL); secrets are masked."""
        settings = self.lake_settings()
        return {} if settings is None else settings.to_env()

    def get_conn(self) -> Any:
        """The lake itself: an AdlsLake from the connection, else the local default lake."""
        from landshift.lake import open_lake

        settings = self.lake_settings()
        root = self.lake_root()
        if settings is None:
            return open_lake(root)
        from landshift.adls import AdlsLake

        return AdlsLake(root, settings)

    def apply(self) -> str:
        """Export the lake environment to this task process (Spark local workers inherit it); the root."""
        os.environ.update(self.lake_environment())
        return self.lake_root()
