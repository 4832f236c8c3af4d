"""The lake on Azure Data Lake Storage Gen2: ``abfss://<filesystem>@<account>.dfs.core.windows.net/<path>``.

Credentials are resolved in one place, :class:`AdlsSettings`, from the environment (or from a
mapping an Airflow connection supplies, see ``plugins/landshift_airflow/lake_hook.py``); the
first that is set wins:

* ``AZURE_STORAGE_ACCOUNT_KEY``: shared key;
* ``AZURE_STORAGE_SAS_TOKEN``: a SAS token;
* ``AZURE_TENANT_ID`` + ``AZURE_CLIENT_ID`` + ``AZURE_CLIENT_SECRET``: a service principal;
* otherwise ``DefaultAzureCredential`` (managed identity, workload identity, Azure CLI).

``LANDSHIFT_ADLS_DFS_ENDPOINT`` (alias ``LANDSHIFT_ADLS_ENDPOINT``) overrides the account URL the
SDK talks to (private endpoints, loopback test servers; path-style ``http://host:port/<account>``
works); the SDK derives its blob endpoint from it. ``LANDSHIFT_ADLS_BLOB_ENDPOINT`` is where
GDAL reads rasters from (default: the dfs override, else Azure's own endpoint).

Raster reads go through GDAL (``/vsiadls/``, or ``/vsiaz/`` when a blob endpoint override is
set) with windowed range requests. :func:`gdal_options` is the single place those options are
built; :class:`AdlsLake` exports them to the process environment (so Airflow tasks and Spark
executors that call ``rasterio.open(lake.gdal_path(uri))`` need nothing else) and
:func:`gdal_env` applies them as a ``rasterio.Env``. Secrets never appear in logs or reprs.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from landshift.core.errors import InputError, LakeBoundaryError, NotFoundError

if TYPE_CHECKING:
    from landshift.lake.base import FileInfo

log = logging.getLogger(__name__)

ABFSS_PATTERN = re.compile(
    r"^abfss://(?P<filesystem>[a-z0-9-]{3,63})@(?P<account>[a-z0-9]{3,24})\.dfs\.(?P<suffix>[^/]+)(?P<path>/.*)?$"
)
ENV_DFS_ENDPOINT = "LANDSHIFT_ADLS_DFS_ENDPOINT"
ENV_DFS_ENDPOINT_ALIAS = "LANDSHIFT_ADLS_ENDPOINT"
ENV_BLOB_ENDPOINT = "LANDSHIFT_ADLS_BLOB_ENDPOINT"
# Settings field -> environment variable.
ENV_VARIABLES = {
    "account_name": "AZURE_STORAGE_ACCOUNT_NAME",
    "account_key": "AZURE_STORAGE_ACCOUNT_KEY",
    "sas_token": "AZURE_STORAGE_SAS_TOKEN",
    "tenant_id": "AZURE_TENANT_ID",
    "client_id": "AZURE_CLIENT_ID",
    "client_secret": "AZURE_CLIENT_SECRET",
    "dfs_endpoint": ENV_DFS_ENDPOINT,
    "blob_endpoint": ENV_BLOB_ENDPOINT,
}
SECRET_FIELDS = ("account_key", "sas_token", "client_secret")
SECRET_VARIABLES = tuple(ENV_VARIABLES[name] for name in SECRET_FIELDS)
REDACTED = "***"
ABFS_CLIENT_CREDS = "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider"
ABFS_MSI = "org.apache.hadoop.fs.azurebfs.oauth2.MsiTokenProvider"
ABFS_FIXED_SAS = "org.apache.hadoop.fs.azurebfs.sas.FixedSASTokenProvider"
STORAGE_SCOPE = "https://storage.azure.com/.default"
GDAL_DEFAULTS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.vrt,.json,.ovr,.msk",
    "GDAL_HTTP_MAX_RETRY": "5",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GDAL_CACHEMAX": "512",
    "VSI_CACHE": "TRUE",
    "GDAL_HTTP_MULTIRANGE": "YES",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
}
UPLOAD_THREADS = 8


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


@dataclass(frozen=True, repr=False)
class AdlsSettings:
    """Account, credentials and endpoints of the lake; ``repr``/``str`` redact the secrets."""

    account_name: str = ""
    account_key: str = ""
    sas_token: str = ""
    tenant_id: str = ""
    client_id: str = ""
    client_secret: str = ""
    dfs_endpoint: str = ""
    blob_endpoint: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AdlsSettings:
        """Settings from environment variables (``os.environ`` by default)."""
        env = os.environ if env is None else env
        values = {name: env.get(variable, "") for name, variable in ENV_VARIABLES.items()}
        values["dfs_endpoint"] = values["dfs_endpoint"] or env.get(ENV_DFS_ENDPOINT_ALIAS, "")
        return cls(**values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> AdlsSettings:
        """Settings from a mapping keyed by field name (e.g. built from an Airflow connection)."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise InputError(f"unknown ADLS settings {sorted(unknown)}; expected some of {sorted(known)}")
        return cls(**{name: str(value or "") for name, value in values.items()})

    @classmethod
    def from_connection(
        cls, account: str, login: str = "", password: str = "", extra: Mapping[str, Any] | None = None
    ) -> AdlsSettings:
        """Settings from an Airflow connection's fields, first match wins: extra ``account_key`` or a
        password without login (account key); extra ``sas_token``; a service principal (extra
        ``tenant_id`` with login/password or extras ``client_id``/``client_secret``); else the
        managed identity. Extras ``endpoint``/``dfs_endpoint`` and ``blob_endpoint`` override URLs."""
        extra = extra or {}
        values: dict[str, Any] = {"account_name": account}
        tenant = extra.get("tenant_id")
        client_id = extra.get("client_id") or (login if tenant else "")
        client_secret = extra.get("client_secret") or (password if tenant else "")
        if extra.get("account_key") or (password and not tenant and not login):
            values["account_key"] = extra.get("account_key") or password
        elif extra.get("sas_token"):
            values["sas_token"] = extra["sas_token"]
        elif tenant and client_id and client_secret:
            values.update(tenant_id=tenant, client_id=client_id, client_secret=client_secret)
        values["dfs_endpoint"] = extra.get("dfs_endpoint") or extra.get("endpoint") or ""
        values["blob_endpoint"] = extra.get("blob_endpoint") or ""
        return cls.from_mapping(values)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sas_token", self.sas_token.lstrip("?"))
        object.__setattr__(self, "dfs_endpoint", self.dfs_endpoint.rstrip("/"))
        object.__setattr__(self, "blob_endpoint", self.blob_endpoint.rstrip("/"))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={REDACTED if f.name in SECRET_FIELDS else getattr(self, f.name)!r}"
            for f in fields(self)
            if getattr(self, f.name)
        )
        return f"AdlsSettings({shown})"

    __str__ = __repr__

    @property
    def kind(self) -> str:
        """Which credential is used: account-key, sas, service-principal or default-azure-credential."""
        if self.account_key:
            return "account-key"
        if self.sas_token:
            return "sas"
        if self.tenant_id and self.client_id and self.client_secret:
            return "service-principal"
        return "default-azure-credential"

    def secrets(self) -> list[str]:
        """The secret values held (for log maskers)."""
        return [value for value in (getattr(self, name) for name in SECRET_FIELDS) if value]

    def to_env(self) -> dict[str, str]:
        """Environment variables that reproduce these settings (holds secrets: mask them)."""
        return {ENV_VARIABLES[f.name]: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    def credential(self, account: str = "") -> Any:
        """The Azure SDK credential for these settings."""
        kind = self.kind
        if kind == "account-key":
            return {"account_name": account or self.account_name, "account_key": self.account_key}
        if kind == "sas":
            return self.sas_token
        from azure.identity import ClientSecretCredential, DefaultAzureCredential

        if kind == "service-principal":
            return ClientSecretCredential(self.tenant_id, self.client_id, self.client_secret)
        return DefaultAzureCredential()

    def dfs_url(self, account: str, suffix: str = "core.windows.net") -> str:
        """The account URL for the Data Lake SDK."""
        return self.dfs_endpoint or f"https://{account}.dfs.{suffix}"

    def blob_url(self, account: str, suffix: str = "core.windows.net") -> str:
        """The blob endpoint GDAL reads from."""
        return self.blob_endpoint or self.dfs_endpoint or f"https://{account}.blob.{suffix}"


# -- GDAL -------------------------------------------------------------------------------------------
_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def _access_token(settings: AdlsSettings) -> str:
    """A storage access token for a service principal, cached until 5 minutes before expiry."""
    key = (settings.tenant_id, settings.client_id)
    with _tokens_lock:
        cached = _tokens.get(key)
        if cached and cached[1] - 300 > time.time():
            return cached[0]
        token = settings.credential().get_token(STORAGE_SCOPE)
        _tokens[key] = (token.token, float(token.expires_on))
        return token.token


def gdal_prefix(settings: AdlsSettings | None = None) -> str:
    """``/vsiaz/`` when GDAL must use an overridden blob endpoint, else ``/vsiadls/``."""
    settings = AdlsSettings.from_env() if settings is None else settings
    return "/vsiaz/" if settings.blob_endpoint else "/vsiadls/"


def gdal_options(root: str, settings: AdlsSettings | None = None) -> dict[str, str]:
    """GDAL configuration for reading the lake at ``root`` (the values may hold secrets)."""
    uri = AbfssUri.parse(root)
    settings = AdlsSettings.from_env() if settings is None else settings
    options = dict(GDAL_DEFAULTS)
    if settings.blob_endpoint or settings.dfs_endpoint:
        # Custom endpoints are only expressible through a connection string.
        endpoint = settings.blob_url(uri.account, uri.suffix)
        protocol = "http" if endpoint.startswith("http://") else "https"
        parts = [f"DefaultEndpointsProtocol={protocol}", f"AccountName={uri.account}"]
        if settings.kind == "account-key":
            parts.append(f"AccountKey={settings.account_key}")
        elif settings.kind == "sas":
            parts.append(f"SharedAccessSignature={settings.sas_token}")
        parts.append(f"BlobEndpoint={endpoint}")
        options["AZURE_STORAGE_CONNECTION_STRING"] = ";".join(parts) + ";"
        if settings.kind in ("account-key", "sas"):
            return options
    options["AZURE_STORAGE_ACCOUNT"] = uri.account
    if settings.kind == "account-key":
        options["AZURE_STORAGE_ACCESS_KEY"] = settings.account_key
    elif settings.kind == "sas":
        options["AZURE_STORAGE_SAS_TOKEN"] = settings.sas_token
    elif settings.kind == "service-principal":
        options["AZURE_STORAGE_ACCESS_TOKEN"] = _access_token(settings)
    # Otherwise GDAL asks the VM's or pod's managed identity (IMDS) by itself.
    return options


@contextmanager
def gdal_env(root: str, settings: AdlsSettings | None = None) -> Iterator[Any]:
    """A ``rasterio.Env`` with the lake's GDAL options (for code that prefers a scoped setting)."""
    import rasterio

    options: dict[str, Any] = gdal_options(root, settings)
    cache = int(options["GDAL_CACHEMAX"])  # rasterio.Env wants bytes, GDAL's config takes MB below 100000
    options["GDAL_CACHEMAX"] = cache * 1024 * 1024 if cache < 100_000 else cache
    with rasterio.Env(**options) as env:
        yield env


_gdal_exported: dict[str, str] = {}


def configure_gdal(root: str, settings: AdlsSettings | None = None) -> None:
    """Export the GDAL options to this process's environment, where GDAL reads them."""
    options = gdal_options(root, settings)
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCESS_KEY", "AZURE_STORAGE_SAS_TOKEN"):
        if name not in options and _gdal_exported.get(name) == os.environ.get(name):
            os.environ.pop(name, None)  # a stale value this module set for another credential
    for name, value in options.items():
        os.environ[name] = value
        _gdal_exported[name] = value


# -- Spark ------------------------------------------------------------------------------------------
def spark_conf(root: str, settings: AdlsSettings | None = None, with_secrets: bool = False) -> dict[str, str]:
    """ABFS connector settings a production Spark cluster needs for this lake.

    Secrets are placeholders naming their environment variable unless ``with_secrets`` (then
    mask the result before it reaches any log). LandShift's jobs do their table I/O through
    :class:`AdlsLake`, so these only matter for other Spark code reading the same lake.
    """
    uri = AbfssUri.parse(root)
    settings = AdlsSettings.from_env() if settings is None else settings
    host = f"{uri.account}.dfs.{uri.suffix}"

    def secret(name: str) -> str:
        return getattr(settings, name) if with_secrets else f"<secret {ENV_VARIABLES[name]}>"

    prefix = "spark.hadoop.fs.azure"
    kind = settings.kind
    if kind == "account-key":
        return {
            f"{prefix}.account.auth.type.{host}": "SharedKey",
            f"{prefix}.account.key.{host}": secret("account_key"),
        }
    if kind == "sas":
        return {
            f"{prefix}.account.auth.type.{host}": "SAS",
            f"{prefix}.sas.token.provider.type.{host}": ABFS_FIXED_SAS,
            f"{prefix}.sas.fixed.token.{host}": secret("sas_token"),
        }
    if kind == "service-principal":
        return {
            f"{prefix}.account.auth.type.{host}": "OAuth",
            f"{prefix}.account.oauth.provider.type.{host}": ABFS_CLIENT_CREDS,
            f"{prefix}.account.oauth2.client.id.{host}": settings.client_id,
            f"{prefix}.account.oauth2.client.secret.{host}": secret("client_secret"),
            f"{prefix}.account.oauth2.client.endpoint.{host}": (
                f"https://login.microsoftonline.com/{settings.tenant_id}/oauth2/token"
            ),
        }
    return {f"{prefix}.account.auth.type.{host}": "OAuth", f"{prefix}.account.oauth.provider.type.{host}": ABFS_MSI}


# -- executors -------------------------------------------------------------------------------------
class _CarriedRoot(str):
    """A lake root that, unpickled in a Spark executor's Python worker, brings the driver's credentials.

    It pickles to ``(_restore_root, (root, environment))``: the credentials travel inside the task
    closure (Spark ships closures to executors itself), never on a command line, in the Spark conf,
    in rendered fields, XCom or logs; ``repr`` and ``str`` show the root only.
    """

    _environment: dict[str, str]

    def __reduce__(self):
        return (_restore_root, (str(self), self._environment))


def _restore_root(root: str, environment: dict[str, str]) -> str:
    """Unpickling side of :class:`_CarriedRoot`: export the lake credentials to this process."""
    for name, value in environment.items():
        os.environ.setdefault(name, value)  # a worker's own settings win over the driver's
    return root


def carry_credentials(root: str, env: Mapping[str, str] | None = None) -> str:
    """``root``, carrying this process's lake settings to the Spark executors its closures reach.

    Call it on the driver (which got the credentials from the Airflow connection, see
    ``LakeAwareSparkSubmitOperator``) for the root the executors open. Local lakes and drivers with
    no lake settings in their environment get the plain root back.
    """
    if not root.startswith("abfss://"):
        return root
    environment = AdlsSettings.from_env(env).to_env()
    if not environment:
        return root
    carried = _CarriedRoot(root)
    carried._environment = environment
    return carried


# -- the lake ---------------------------------------------------------------------------------------
_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()


def _file_system_client(uri: AbfssUri, settings: AdlsSettings) -> Any:
    """One FileSystemClient per account, filesystem and settings in a process (shared connections)."""
    key = (uri.account, uri.suffix, uri.filesystem, tuple(getattr(settings, f.name) for f in fields(settings)))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            from azure.storage.filedatalake import DataLakeServiceClient

            service = DataLakeServiceClient(
                settings.dfs_url(uri.account, uri.suffix), credential=settings.credential(uri.account)
            )
            client = _clients[key] = service.get_file_system_client(uri.filesystem)
        return client


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "error_code", "") or "")


class AdlsLake:
    """A lake rooted at an ``abfss://`` URI, through the Data Lake SDK.

    Every method is one or two REST calls: existence is a HEAD, a move a single atomic rename
    (guarded by ``If-None-Match: *``), a delete a single recursive DELETE.
    """

    def __init__(self, root: str, settings: AdlsSettings | None = None) -> None:
        self.root = root.rstrip("/")
        self._root = AbfssUri.parse(self.root)
        self._settings = AdlsSettings.from_env() if settings is None else settings
        if not self._settings.account_name:
            self._settings = replace(self._settings, account_name=self._root.account)
        elif self._settings.account_name != self._root.account:  # credentials go to their own account only
            raise LakeBoundaryError(
                self.root,
                f"the credentials are for account {self._settings.account_name!r}, not {self._root.account!r}",
            )
        self._fs = _file_system_client(self._root, self._settings)
        configure_gdal(self.root, self._settings)

    def __repr__(self) -> str:
        return f"AdlsLake({self.root!r}, credential={self._settings.kind})"

    def __reduce__(self):
        # Pickled (e.g. into a Spark closure) by root only: executors resolve their own credentials.
        return (AdlsLake, (self.root,))

    # -- URIs ---------------------------------------------------------------------------------------
    def uri(self, *parts: str) -> str:
        return "/".join([self.root, *(p.strip("/") for p in parts if p.strip("/"))])

    def _path(self, uri: str) -> str:
        parsed = AbfssUri.parse(uri.rstrip("/"))
        if (parsed.filesystem, parsed.account) != (self._root.filesystem, self._root.account):
            raise InputError(f"{uri} is not in the lake {self.root}")
        return parsed.path

    def _uri_of(self, path: str) -> str:
        return f"{self._root.root}/{path}"

    # -- queries ------------------------------------------------------------------------------------
    def exists(self, uri: str) -> bool:
        path = self._path(uri)
        if not path:
            return self._fs.exists()
        return self._fs.get_file_client(path).exists()

    def list_files(self, prefix_uri: str, suffix: str = "") -> list[str]:
        return [info.uri for info in self.list_file_info(prefix_uri, suffix)]

    # -- files --------------------------------------------------------------------------------------
    def read_bytes(self, uri: str) -> bytes:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._fs.get_file_client(self._path(uri)).download_file(max_concurrency=4).readall()
        except ResourceNotFoundError as exc:
            raise NotFoundError(f"no file in the lake at {uri}") from exc

    def write_bytes(self, uri: str, data: bytes) -> None:
        # upload_data alone would show readers an empty file between its create and its flush:
        # write a hidden sibling, then rename it over the target in one atomic step.
        path = self._path(uri)
        parent, _, name = path.rpartition("/")
        hidden = f"{parent}/.{name}.{uuid.uuid4().hex[:12]}.tmp" if parent else f".{name}.{uuid.uuid4().hex[:12]}.tmp"
        client = self._fs.get_file_client(hidden)
        client.upload_data(data, overwrite=True)
        try:
            client.rename_file(f"{self._root.filesystem}/{path}")
        except Exception:
            self._delete_path(hidden)
            raise

    def upload_dir(self, local_dir: str, uri: str) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError

        base = self._path(uri)
        try:
            self._fs.get_directory_client(base).create_directory(match_condition=MatchConditions.IfMissing)
        except ResourceExistsError as exc:
            raise FileExistsError(f"cannot upload onto existing {uri}") from exc
        files = [f for f in sorted(Path(local_dir).rglob("*")) if f.is_file()]

        def upload(file: Path) -> None:
            with file.open("rb") as handle:
                self._fs.get_file_client(f"{base}/{file.relative_to(local_dir).as_posix()}").upload_data(
                    handle, length=file.stat().st_size, overwrite=True
                )

        with ThreadPoolExecutor(max_workers=min(UPLOAD_THREADS, max(1, len(files)))) as pool:
            list(pool.map(upload, files))

    def download(self, uri: str, local_path: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            stream = self._fs.get_file_client(self._path(uri)).download_file(max_concurrency=4)
        except ResourceNotFoundError as exc:
            raise NotFoundError(f"no file in the lake at {uri}") from exc
        with open(local_path, "wb") as handle:
            stream.readinto(handle)

    def move(self, src_uri: str, dst_uri: str) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        source, target = self._path(src_uri), self._path(dst_uri)
        client = self._fs.get_directory_client(source)  # renames files and directories alike
        for attempt in (1, 2):
            try:
                client.rename_directory(f"{self._root.filesystem}/{target}", match_condition=MatchConditions.IfMissing)
                return
            except ResourceExistsError as exc:
                raise FileExistsError(f"cannot move onto existing {dst_uri}") from exc
            except ResourceNotFoundError as exc:
                if _error_code(exc) == "RenameDestinationParentPathNotFound" and attempt == 1 and "/" in target:
                    self._fs.get_directory_client(target.rsplit("/", 1)[0]).create_directory()
                    continue
                raise NotFoundError(f"nothing to move at {src_uri}") from exc

    def delete(self, uri: str) -> None:
        path = self._path(uri)
        if not path:
            raise InputError(f"refusing to delete the whole filesystem of {uri}")
        self._delete_path(path)

    def _delete_path(self, path: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with suppress(ResourceNotFoundError):  # one recursive DELETE removes a file or a whole tree
            self._fs.get_directory_client(path).delete_directory()

    # -- engines ------------------------------------------------------------------------------------
    def gdal_path(self, uri: str) -> str:
        path = self._path(uri)
        if self._settings.kind == "service-principal":
            configure_gdal(self.root, self._settings)  # refreshes the access token when due
        return f"{gdal_prefix(self._settings)}{self._root.filesystem}/{path}"

    def spark_path(self, uri: str) -> str:
        return uri

    def file_info(self, uri: str) -> FileInfo:
        from azure.core.exceptions import ResourceNotFoundError

        from landshift.lake.base import FileInfo

        try:
            properties = self._fs.get_file_client(self._path(uri)).get_file_properties()
        except ResourceNotFoundError as exc:
            raise NotFoundError(f"no file in the lake at {uri}") from exc
        if (properties.metadata or {}).get("hdi_isfolder") == "true":
            raise NotFoundError(f"{uri} is a directory, not a file")
        return FileInfo(uri, int(properties.size), str(properties.etag).strip('"'))

    def list_file_info(self, prefix_uri: str, suffix: str = "") -> list[FileInfo]:
        from azure.core.exceptions import ResourceNotFoundError

        from landshift.lake.base import FileInfo

        path = self._path(prefix_uri)
        inside = f"{path}/" if path else ""
        try:
            entries = [e for e in self._fs.get_paths(path=path or None, recursive=True) if not e.is_directory]
        except ResourceNotFoundError:
            return []
        infos = [
            FileInfo(self._uri_of(e.name), int(e.content_length or 0), str(e.etag).strip('"'))
            for e in entries
            if e.name.startswith(inside) and e.name.endswith(suffix)
        ]
        return sorted(infos, key=lambda info: info.uri)
