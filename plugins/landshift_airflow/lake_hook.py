"""The lake from an Airflow connection (conn id ``landshift_lake``), for tasks and Spark jobs.

Connection fields (any connection type, e.g. ``generic``): the account in ``host`` (or extra
``account_name``), the filesystem in ``schema`` (or extra ``filesystem``), extra ``prefix``
(default ``lake``), and one credential as read by
:meth:`landshift.lake.adls.AdlsSettings.from_connection`. Without the connection the lake is
``LANDSHIFT_LAKE_ROOT`` (default ``<repo>/lake``) with credentials, if any, from the worker's
environment. Secret values are registered with Airflow's secrets masker and never logged.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook  # the Task SDK's BaseHook (airflow.sdk.bases.hook) in Airflow 3

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "landshift_lake"
DEFAULT_PREFIX = "lake"
DEFAULT_LAKE_ROOT = Path(__file__).resolve().parents[2] / "lake"


class LandShiftLakeHook(BaseHook):
    """Resolves the lake root URI, its :class:`~landshift.lake.adls.AdlsSettings` and client environment."""

    conn_name_attr = "landshift_lake_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "landshift_lake"
    hook_name = "LandShift lake (ADLS Gen2)"

    def __init__(self, landshift_lake_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = landshift_lake_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Labels for the connection form."""
        relabeling = {"host": "Storage account name", "schema": "Filesystem (container)"}
        relabeling |= {"login": "Client ID (service principal)", "password": "Account key, or client secret"}
        return {"hidden_fields": ["port"], "relabeling": relabeling}

    def _lake_connection(self) -> tuple[Any, str, str, dict[str, Any]] | None:
        """(connection, account, filesystem, extra), or None without a connection (the local default)."""
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            connection = self.get_connection(self.conn_id)
        except AirflowNotFoundException:
            return None
        extra = connection.extra_dejson or {}
        account = str(extra.get("account_name") or connection.host or "")
        filesystem = str(extra.get("filesystem") or connection.schema or "")
        if not account:
            return None
        if not filesystem:
            raise ValueError(f"connection {self.conn_id} names no filesystem (extra 'filesystem' or schema)")
        return connection, account, filesystem, extra

    def lake_root(self) -> str:
        """``abfss://<filesystem>@<account>.dfs.core.windows.net/<prefix>``, or the local default."""
        resolved = self._lake_connection()
        if resolved is None:
            return os.environ.get("LANDSHIFT_LAKE_ROOT", str(DEFAULT_LAKE_ROOT))
        _, account, filesystem, extra = resolved
        prefix = str(extra.get("prefix", DEFAULT_PREFIX)).strip("/")
        return f"abfss://{filesystem}@{account}.dfs.core.windows.net/{prefix}".rstrip("/")

    def lake_settings(self) -> Any:
        """The connection's :class:`~landshift.lake.adls.AdlsSettings` (secrets masked), or None."""
        from airflow.sdk.log import mask_secret

        from landshift.lake.adls import AdlsSettings

        resolved = self._lake_connection()
        if resolved is None:
            return None
        connection, account, _, extra = resolved
        settings = AdlsSettings.from_connection(account, connection.login or "", connection.password or "", extra)
        for secret in settings.secrets():
            mask_secret(secret)
        return settings

    def lake_environment(self) -> dict[str, str]:
        """Environment variables for the lake clients (landshift.lake.adls and GDAL); secrets are masked."""
        settings = self.lake_settings()
        return {} if settings is None else settings.to_env()

    def get_conn(self) -> Any:
        """The lake itself: an AdlsLake from the connection, else the local default lake."""
        from landshift.lake.factory import open_lake

        settings = self.lake_settings()
        if settings is None:
            return open_lake(self.lake_root())
        from landshift.lake.adls import AdlsLake

        return AdlsLake(self.lake_root(), settings)

    def export_to_environment(self) -> str:
        """Export the connection's lake credentials to this process's environment; the lake root."""
        environment = self.lake_environment()
        if environment:
            log.info("Lake credentials of connection %s exported to this task's environment", self.conn_id)
        os.environ.update(environment)
        return self.lake_root()
