"""The lake on Azure Data Lake Storage Gen2: ``abfss://<filesystem>@<account>.dfs.core.windows.net/<path>``.

Credentials are resolved in one place (:func:`credential_from_env`) from the environment, which
an Airflow connection fills (see ``plugins/landshift_airflow/lake_hook.py``):

* ``AZURE_STORAGE_ACCOUNT_KEY``: shared key;
* ``AZURE_STORAGE_SAS_TOKEN``: a SAS token;
* ``AZURE_TENANT_ID`` + ``AZURE_CLIENT_ID`` + ``AZURE_CLIENT_SECRET``: a service principal;
* otherwise ``DefaultAzureCredential`` (managed identity, workload identity, Azure CLI).

``LANDSHIFT_ADLS_ENDPOINT`` overrides the account URL (path-style, e.g. a loopback test server).
Raster reads go through GDAL's ``/vsiaz/`` driver with windowed range requests; its options are
exported to the process environment once, so Airflow tasks and Spark executors share them.
Secrets never appear in logs, reprs, XCom or outputs.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from landshift.errors import InputError, NotFoundError

log = logging.getLogger(__name__)

ABFSS_PATTERN = re.compile(
    r"^abfss://(?P<filesystem>[a-z0-9-]{3,63})@(?P<account>[a-z0-9]{3,24})\.dfs\.(?P<suffix>[^/]+)(?P<path>/.*)?$"
)
SECRET_VARIABLES = ("AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_CLIENT_SECRET")
ABFS_CLIENT_CREDS = "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider"
ABFS_MSI = "org.apache.hadoop.fs.azurebfs.oauth2.MsiTokenProvider"
GDAL_DEFAULTS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.vrt,.json",
    "GDAL_HTTP_MAX_RETRY": "5",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GDAL_CACHEMAX": "512",
    "VSI_CACHE": "TRUE",
    "GDAL_HTTP_MULTIRANGE": "YES",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
}


@dataclass(frozen=True)
class AbfssUri:
    """The parts of an ``abfss://`` URI."""

    filesystem: str
    account: str
    suffix: str
    path: str

    @classmethod
    def parse(cls, uri: str) -> AbfssUri:
        """Split an ``abfss://`` URI; InputError for anything else."""
        match = ABFSS_PATTERN.match(uri)
        if match is None:
            raise InputError(
                f"not an ADLS Gen2 URI (abfss://<filesystem>@<account>.dfs.core.windows.net/<path>): {uri!r}"
            )
        return cls(match["filesystem"], match["account"], match["suffix"], (match["path"] or "").strip("/"))

    @property
    def root(self) -> str:
        """The URI of the filesystem root."""
        return f"abfss://{self.filesystem}@{self.account}.dfs.{self.suffix}"


def account_url(account: str, suffix: str = "core.windows.net") -> str:
    """The dfs endpoint of an account (``LANDSHIFT_ADLS_ENDPOINT`` wins)."""
    return os.environ.get("LANDSHIFT_ADLS_ENDPOINT") or f"https://{account}.dfs.{suffix}"


def credential_from_env():
    """The credential to use, from the environment: key, SAS, service principal or default chain."""
    if os.environ.get("AZURE_STORAGE_ACCOUNT_KEY"):
        return {
            "account_name": os.environ.get("AZURE_STORAGE_ACCOUNT_NAME", ""),
            "account_key": os.environ["AZURE_STORAGE_ACCOUNT_KEY"],
        }
    if os.environ.get("AZURE_STORAGE_SAS_TOKEN"):
        return os.environ["AZURE_STORAGE_SAS_TOKEN"].lstrip("?")
    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    if all(os.environ.get(v) for v in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")):
        return ClientSecretCredential(
            os.environ["AZURE_TENANT_ID"], os.environ["AZURE_CLIENT_ID"], os.environ["AZURE_CLIENT_SECRET"]
        )
    return DefaultAzureCredential()


def credential_kind() -> str:
    """Which credential :func:`credential_from_env` picks, without touching any secret."""
    if os.environ.get("AZURE_STORAGE_ACCOUNT_KEY"):
        return "account-key"
    if os.environ.get("AZURE_STORAGE_SAS_TOKEN"):
        return "sas"
    if all(os.environ.get(v) for v in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")):
        return "service-principal"
    return "default-azure-credential"


def gdal_options(account: str, suffix: str = "core.windows.net") -> dict[str, str]:
    """GDAL configuration for ``/vsiaz/`` reads of this account (values may hold secrets)."""
    options = dict(GDAL_DEFAULTS)
    endpoint = os.environ.get("LANDSHIFT_ADLS_ENDPOINT")
    key = os.environ.get("AZURE_STORAGE_ACCOUNT_KEY")
    if endpoint and key:
        blob_endpoint = os.environ.get("LANDSHIFT_ADLS_BLOB_ENDPOINT", endpoint)
        protocol = "https" if blob_endpoint.startswith("https") else "http"
        options["AZURE_STORAGE_CONNECTION_STRING"] = (
            f"DefaultEndpointsProtocol={protocol};AccountName={account};AccountKey={key};BlobEndpoint={blob_endpoint};"
        )
        return options
    options["AZURE_STORAGE_ACCOUNT"] = account
    if key:
        options["AZURE_STORAGE_ACCESS_KEY"] = key
    elif os.environ.get("AZURE_STORAGE_SAS_TOKEN"):
        options["AZURE_STORAGE_SAS_TOKEN"] = os.environ["AZURE_STORAGE_SAS_TOKEN"].lstrip("?")
    elif credential_kind() == "service-principal":
        token = credential_from_env().get_token("https://storage.azure.com/.default")
        options["AZURE_STORAGE_ACCESS_TOKEN"] = token.token
    # Otherwise GDAL uses the managed identity of the VM or pod (IMDS) by itself.
    return options


def configure_gdal(account: str, suffix: str = "core.windows.net") -> None:
    """Export the GDAL options to this process's environment (GDAL reads config from it)."""
    for name, value in gdal_options(account, suffix).items():
        os.environ[name] = value


def spark_conf(root: str) -> dict[str, str]:
    """ABFS connector settings a production Spark cluster needs for this lake (secrets redacted).

    LandShift's jobs do their table I/O through this module, so these only matter for other
    Spark code reading the same lake; put the real secret in the cluster's secret store.
    """
    uri = AbfssUri.parse(root)
    host = f"{uri.account}.dfs.{uri.suffix}"
    kind = credential_kind()
    if kind == "account-key":
        return {f"spark.hadoop.fs.azure.account.key.{host}": "<from secret store>"}
    if kind == "service-principal":
        tenant = os.environ["AZURE_TENANT_ID"]
        return {
            f"spark.hadoop.fs.azure.account.auth.type.{host}": "OAuth",
            f"spark.hadoop.fs.azure.account.oauth.provider.type.{host}": ABFS_CLIENT_CREDS,
            f"spark.hadoop.fs.azure.account.oauth2.client.id.{host}": os.environ["AZURE_CLIENT_ID"],
            f"spark.hadoop.fs.azure.account.oauth2.client.secret.{host}": "<from secret store>",
            f"spark.hadoop.fs.azure.account.oauth2.client.endpoint.{host}": f"https://login.microsoftonline.com/{tenant}/oauth2/token",
        }
    if kind == "sas":
        return {
            f"spark.hadoop.fs.azure.account.auth.type.{host}": "SAS",
            f"spark.hadoop.fs.azure.sas.fixed.token.{host}": "<from secret store>",
        }
    return {
        f"spark.hadoop.fs.azure.account.auth.type.{host}": "OAuth",
        f"spark.hadoop.fs.azure.account.oauth.provider.type.{host}": ABFS_MSI,
    }


class AdlsLake:
    """A lake rooted at an ``abfss://`` URI, through the Data Lake SDK."""

    def __init__(self, root: str) -> None:
        self._root = AbfssUri.parse(root.rstrip("/"))
        self.root = root.rstrip("/")
        from azure.storage.filedatalake import DataLakeServiceClient

        self._service = DataLakeServiceClient(
            account_url(self._root.account, self._root.suffix), credential=credential_from_env()
        )
        self._fs = self._service.get_file_system_client(self._root.filesystem)
        configure_gdal(self._root.account, self._root.suffix)

    def __repr__(self) -> str:
        return f"AdlsLake({self.root!r}, credential={credential_kind()})"

    # -- URIs -------------------------------------------------------------------------------------
    def uri(self, *parts: str) -> str:
        return "/".join([self.root, *(p.strip("/") for p in parts if p)])

    def _path(self, uri: str) -> str:
        parsed = AbfssUri.parse(uri)
        if (parsed.filesystem, parsed.account) != (self._root.filesystem, self._root.account):
            raise InputError(f"{uri} is not in the lake {self.root}")
        return parsed.path

    def _uri_of(self, path: str) -> str:
        return f"{self._root.root}/{path}"

    # -- queries ------------------------------------------------------------------------------------
    def _kind(self, path: str) -> str | None:
        """'file', 'directory' or None."""
        from azure.core.exceptions import ResourceNotFoundError

        if not path:
            return "directory"
        try:
            properties = self._fs.get_file_client(path).get_file_properties()
        except ResourceNotFoundError:
            return None
        return "directory" if (properties.metadata or {}).get("hdi_isfolder") == "true" else "file"

    def exists(self, uri: str) -> bool:
        return self._kind(self._path(uri)) is not None

    def list_files(self, prefix_uri: str, suffix: str = "") -> list[str]:
        from azure.core.exceptions import ResourceNotFoundError

        path = self._path(prefix_uri)
        if self._kind(path) != "directory":
            return []
        try:
            entries = list(self._fs.get_paths(path=path or None, recursive=True))
        except ResourceNotFoundError:
            return []
        return sorted(self._uri_of(e.name) for e in entries if not e.is_directory and e.name.endswith(suffix))

    # -- files ----------------------------------------------------------------------------------
    def read_bytes(self, uri: str) -> bytes:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._fs.get_file_client(self._path(uri)).download_file().readall()
        except ResourceNotFoundError as exc:
            raise NotFoundError(f"no file in the lake at {uri}") from exc

    def write_bytes(self, uri: str, data: bytes) -> None:
        path = self._path(uri)
        parent, name = path.rsplit("/", 1) if "/" in path else ("", path)
        temporary = f"{parent}/.{name}.{uuid.uuid4().hex[:8]}" if parent else f".{name}.{uuid.uuid4().hex[:8]}"
        self._fs.get_file_client(temporary).upload_data(data, overwrite=True)
        self._fs.get_file_client(temporary).rename_file(f"{self._root.filesystem}/{path}")

    def upload_dir(self, local_dir: str, uri: str) -> None:
        base = self._path(uri)
        self._fs.get_directory_client(base).create_directory()
        for file in sorted(Path(local_dir).rglob("*")):
            if file.is_file():
                relative = file.relative_to(local_dir).as_posix()
                self._fs.get_file_client(f"{base}/{relative}").upload_data(file.read_bytes(), overwrite=True)

    def download(self, uri: str, local_path: str) -> None:
        Path(local_path).write_bytes(self.read_bytes(uri))

    def move(self, src_uri: str, dst_uri: str) -> None:
        source, target = self._path(src_uri), self._path(dst_uri)
        if self._kind(target) is not None:
            raise FileExistsError(f"cannot move onto existing {dst_uri}")
        if "/" in target:
            self._fs.get_directory_client(target.rsplit("/", 1)[0]).create_directory()
        # One rename of the path: atomic on a hierarchical-namespace account, files or folders.
        self._fs.get_directory_client(source).rename_directory(f"{self._root.filesystem}/{target}")

    def delete(self, uri: str) -> None:
        path = self._path(uri)
        kind = self._kind(path)
        if kind == "directory":
            self._fs.get_directory_client(path).delete_directory()
        elif kind == "file":
            self._fs.get_file_client(path).delete_file()

    # -- engines ----------------------------------------------------------------------------------
    def gdal_path(self, uri: str) -> str:
        return f"/vsiaz/{self._root.filesystem}/{self._path(uri)}"

    def spark_path(self, uri: str) -> str:
        return uri
