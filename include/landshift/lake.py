"""The data lake: one interface over a local directory (embedded default) and ADLS Gen2.

Every path in LandShift is a lake URI: an absolute local path, or
``abfss://<filesystem>@<account>.dfs.core.windows.net/<path>`` for ADLS Gen2. Code asks
:func:`open_lake` for the backend of a root URI and never branches on the scheme itself.
"""

from __future__ import annotations

import calendar
import errno
import hashlib
import io
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from landshift.errors import InputError, IntegrityError, LakeBoundaryError, NotFoundError, PublishBusyError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

ABFSS_SCHEME = "abfss://"


class Lake(Protocol):
    """Operations every lake backend offers. URIs are absolute (see :meth:`uri`)."""

    root: str

    def uri(self, *parts: str) -> str:
        """The URI of ``parts`` joined under the lake root."""
        ...

    def exists(self, uri: str) -> bool:
        """Whether a file or directory exists at ``uri``."""
        ...

    def list_files(self, prefix_uri: str, suffix: str = "") -> list[str]:
        """URIs of files under ``prefix_uri`` (recursive, sorted), ending with ``suffix``."""
        ...

    def read_bytes(self, uri: str) -> bytes:
        """Content of the file at ``uri``; NotFoundError when missing."""
        ...

    def write_bytes(self, uri: str, data: bytes) -> None:
        """Write a file in one step (readers see the old or the new content, never a part)."""
        ...

    def upload_dir(self, local_dir: str, uri: str) -> None:
        """Copy every file under ``local_dir`` to ``uri`` (which must not exist)."""
        ...

    def download(self, uri: str, local_path: str) -> None:
        """Copy one file from the lake to a local path."""
        ...

    def move(self, src_uri: str, dst_uri: str) -> None:
        """Rename a file or directory; ``dst_uri`` must not exist. Atomic on both backends."""
        ...

    def delete(self, uri: str) -> None:
        """Delete a file or directory tree; nothing happens if it does not exist."""
        ...

    def gdal_path(self, uri: str) -> str:
        """A path GDAL/rasterio can open for ``uri`` without copying the file."""
        ...

    def spark_path(self, uri: str) -> str:
        """A path Spark's readers and writers take for ``uri``."""
        ...

    def file_info(self, uri: str) -> FileInfo:
        """Size and revision of the file at ``uri``; NotFoundError when missing."""
        ...

    def list_file_info(self, prefix_uri: str, suffix: str = "") -> list[FileInfo]:
        """:meth:`file_info` of every file under ``prefix_uri`` (recursive, sorted by URI), from one listing."""
        ...


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


class LocalLake:
    """A lake in a local directory: the embedded default."""

    def __init__(self, root: str) -> None:
        self.root = str(Path(root).expanduser().resolve())

    def uri(self, *parts: str) -> str:
        return str(Path(self.root, *parts))

    def exists(self, uri: str) -> bool:
        return Path(uri).exists()

    def list_files(self, prefix_uri: str, suffix: str = "") -> list[str]:
        prefix = Path(prefix_uri)
        if not prefix.is_dir():
            return []
        return sorted(str(p) for p in prefix.rglob(f"*{suffix}") if p.is_file())

    def read_bytes(self, uri: str) -> bytes:
        try:
            return Path(uri).read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError(f"no file in the lake at {uri}") from exc

    def write_bytes(self, uri: str, data: bytes) -> None:
        target = Path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp files are private (0600); lake files are not
        os.replace(tmp, target)

    def upload_dir(self, local_dir: str, uri: str) -> None:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(local_dir, uri)
        # Private temporary folders are 0700: give the lake copy the usual umask-based mode.
        for folder in [Path(uri), *(p for p in Path(uri).rglob("*") if p.is_dir())]:
            folder.chmod(0o777 & ~_umask())

    def download(self, uri: str, local_path: str) -> None:
        if not Path(uri).is_file():
            raise NotFoundError(f"no file in the lake at {uri}")
        shutil.copyfile(uri, local_path)

    def move(self, src_uri: str, dst_uri: str) -> None:
        if Path(dst_uri).exists():
            raise FileExistsError(f"cannot move onto existing {dst_uri}")
        Path(dst_uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(src_uri, dst_uri)
        except OSError as exc:
            # A directory renamed onto a non-empty one that appeared since the check above.
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise FileExistsError(f"cannot move onto existing {dst_uri}") from exc
            raise

    def delete(self, uri: str) -> None:
        path = Path(uri)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()

    def gdal_path(self, uri: str) -> str:
        return uri

    def spark_path(self, uri: str) -> str:
        return uri

    def file_info(self, uri: str) -> FileInfo:
        path = Path(uri)
        if not path.is_file():
            raise NotFoundError(f"no file in the lake at {uri}")
        return FileInfo.of_local(path)

    def list_file_info(self, prefix_uri: str, suffix: str = "") -> list[FileInfo]:
        return [FileInfo.of_local(Path(uri)) for uri in self.list_files(prefix_uri, suffix)]


def open_lake(root: str) -> Lake:
    """The lake backend for ``root``: ADLS Gen2 for ``abfss://`` URIs, else a local directory."""
    if root.startswith(ABFSS_SCHEME):
        from landshift.adls import AdlsLake

        check_lake_account(root)

        return AdlsLake(root)
    return LocalLake(root)


def read_json(lake: Lake, uri: str) -> Any:
    """Parse the JSON file at ``uri``."""
    return json.loads(lake.read_bytes(uri))


def write_json(lake: Lake, uri: str, value: Any) -> None:
    """Write ``value`` as stable, indented JSON."""
    lake.write_bytes(uri, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


@contextmanager
def local_copy(lake: Lake, uri: str) -> Iterator[str]:
    """A local file path holding the content of ``uri`` (the file itself on a local lake)."""
    if isinstance(lake, LocalLake):
        if not Path(uri).is_file():
            raise NotFoundError(f"no file in the lake at {uri}")
        yield uri
        return
    with tempfile.TemporaryDirectory(prefix="landshift-") as tmp:
        target = str(Path(tmp, Path(uri).name))
        lake.download(uri, target)
        yield target


def write_table(lake: Lake, uri: str, table: pd.DataFrame) -> None:
    """Write a DataFrame as one Parquet file at ``uri``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), buffer)
    lake.write_bytes(uri, buffer.getvalue())


def read_table(lake: Lake, uri: str) -> pd.DataFrame:
    """Read a Parquet file, or every ``*.parquet`` file of a directory, into one DataFrame."""
    import pandas as pd

    if uri.endswith(".parquet"):
        return pd.read_parquet(io.BytesIO(lake.read_bytes(uri)))
    parts = lake.list_files(uri, ".parquet")
    if not parts:
        raise NotFoundError(f"no Parquet table at {uri}")
    return pd.concat([pd.read_parquet(io.BytesIO(lake.read_bytes(p))) for p in parts], ignore_index=True)


# -- one lake, one boundary --------------------------------------------------------------------------
ENV_LAKE_ROOT = "LANDSHIFT_LAKE_ROOT"
ENV_ALLOWED_LAKE_ROOTS = "LANDSHIFT_ALLOWED_LAKE_ROOTS"
REFUSED_PREFIXES = ("/vsi", "~", "\\\\")


def _uri_syntax_problem(uri: str) -> str | None:
    """Why ``uri`` can never be a lake path, whatever the lake; None when it may be one."""
    if not uri:
        return "empty path"
    if any(ord(c) < 32 for c in uri):
        return "control characters in the path"
    if "://" in uri and not uri.startswith(ABFSS_SCHEME):
        return f"scheme {uri.split('://', 1)[0]!r} is not a lake (only lake paths and abfss:// URIs of the lake)"
    if "?" in uri or "#" in uri:
        return "query strings and fragments (SAS tokens) are not part of lake paths; credentials come from settings"
    if uri.startswith(REFUSED_PREFIXES) or uri.startswith("file:"):
        return "GDAL virtual file systems, home-relative and UNC paths are not lake paths"
    body = uri[len(ABFSS_SCHEME) :].split("/", 1)[-1] if uri.startswith(ABFSS_SCHEME) else uri
    if any(part == ".." for part in body.replace("\\", "/").split("/")):
        return "'..' segments would escape the lake"
    return None


def check_lake_path_syntax(uri: str, what: str = "path") -> str:
    """Return ``uri`` if it may be a lake path (no other scheme, no ``..``); else LakeBoundaryError."""
    problem = _uri_syntax_problem(str(uri).strip())
    if problem:
        raise LakeBoundaryError(str(uri), f"{what}: {problem}")
    return str(uri).strip()


def _same_account(a: str, b: str) -> bool:
    from landshift.adls import AbfssUri

    first, second = AbfssUri.parse(a), AbfssUri.parse(b)
    return (first.account, first.suffix) == (second.account, second.suffix)


def allowed_lake_roots(lake_root: str, env: dict[str, str] | None = None) -> list[str]:
    """The lake root plus ``LANDSHIFT_ALLOWED_LAKE_ROOTS`` (comma or whitespace separated).

    An extra ``abfss://`` root must be on the lake's own storage account, so the lake's
    credentials are never sent to another account; anything else is a LakeBoundaryError.
    """
    env = os.environ if env is None else env
    roots = [lake_root]
    for extra in env.get(ENV_ALLOWED_LAKE_ROOTS, "").replace(",", " ").split():
        check_lake_path_syntax(extra, ENV_ALLOWED_LAKE_ROOTS)
        if extra.startswith(ABFSS_SCHEME) and not (
            lake_root.startswith(ABFSS_SCHEME) and _same_account(extra, lake_root)
        ):
            raise LakeBoundaryError(extra, f"{ENV_ALLOWED_LAKE_ROOTS}: not on the lake's own storage account")
        if not extra.startswith(ABFSS_SCHEME) and not extra.startswith("/"):
            raise LakeBoundaryError(extra, f"{ENV_ALLOWED_LAKE_ROOTS}: roots must be absolute")
        roots.append(extra)
    return roots


def _inside(candidate: str, root: str) -> bool:
    if root.startswith(ABFSS_SCHEME) != candidate.startswith(ABFSS_SCHEME):
        return False
    if root.startswith(ABFSS_SCHEME):
        from landshift.adls import AbfssUri

        inner, outer = AbfssUri.parse(candidate.rstrip("/")), AbfssUri.parse(root.rstrip("/"))
        same_fs = (inner.filesystem, inner.account, inner.suffix) == (outer.filesystem, outer.account, outer.suffix)
        return same_fs and (not outer.path or inner.path == outer.path or inner.path.startswith(outer.path + "/"))
    normal = os.path.normpath(candidate)
    for form in {os.path.normpath(root), str(Path(root).expanduser().resolve())}:
        if normal == form or normal.startswith(form.rstrip("/") + "/"):
            return True
    return False


def confine_uri(lake_root: str, uri: str, allowed_roots: list[str] | None = None, what: str = "path") -> str:
    """The lake URI of ``uri`` (relative paths under ``lake_root``), refused if it leaves the lake.

    Refused with a LakeBoundaryError naming the URI and the reason: another scheme, a GDAL
    virtual path, ``..`` segments, an absolute local path outside the lake, an ``abfss://`` URI of
    another filesystem, account or prefix. ``allowed_roots`` defaults to
    :func:`allowed_lake_roots` (the lake plus ``LANDSHIFT_ALLOWED_LAKE_ROOTS``).
    """
    text = check_lake_path_syntax(uri, what)
    roots = allowed_lake_roots(lake_root) if allowed_roots is None else allowed_roots
    if text.startswith(ABFSS_SCHEME):
        from landshift.adls import AbfssUri

        try:
            AbfssUri.parse(text)
        except Exception as exc:
            raise LakeBoundaryError(text, f"{what}: malformed abfss:// URI") from exc
        candidate = text
    elif text.startswith("/"):
        candidate = os.path.normpath(text)
    else:
        candidate = "/".join([lake_root.rstrip("/"), text.lstrip("/")])
    if not any(_inside(candidate, root) for root in roots):
        raise LakeBoundaryError(text, f"{what}: outside the lake {lake_root} (allowed roots: {roots})")
    return candidate


def check_lake_account(root: str, env: dict[str, str] | None = None) -> None:
    """Refuse to open an ``abfss://`` root on another account than the configured lake's."""
    env = os.environ if env is None else env
    configured = env.get(ENV_LAKE_ROOT, "")
    if root.startswith(ABFSS_SCHEME) and configured.startswith(ABFSS_SCHEME) and not _same_account(root, configured):
        raise LakeBoundaryError(root, f"not on the lake's storage account ({configured}): credentials stay home")


# -- crash-safe publish ----------------------------------------------------------------------------
ENV_KEEP_PREVIOUS = "LANDSHIFT_KEEP_PREVIOUS_PRODUCTS"
ENV_PUBLISH_WAIT_S = "LANDSHIFT_PUBLISH_WAIT_S"
ENV_PUBLISH_STALE_S = "LANDSHIFT_PUBLISH_STALE_S"
ENV_PUBLISH_PAUSE_AT = "LANDSHIFT_PUBLISH_PAUSE_AT"  # test hook: announce a step on stdout, then sleep
PUBLISH_STEPS = ("staged", "journaled", "retired", "moved_in", "released")
INTENT_FILE = "intent.json"
STAMP_FORMAT = "%Y%m%dT%H%M%S"


def _stamp() -> str:
    """A sortable, unique name: UTC time to the nanosecond, then a random suffix."""
    now = time.time_ns()
    seconds, nanos = divmod(now, 1_000_000_000)
    return f"{time.strftime(STAMP_FORMAT, time.gmtime(seconds))}.{nanos:09d}Z-{uuid.uuid4().hex[:8]}"


def _stamp_age_s(name: str) -> float | None:
    try:
        moment = time.strptime(name[:15], STAMP_FORMAT)
    except ValueError:
        return None
    return time.time() - calendar.timegm(moment)


def _relative(lake: Lake, uri: str) -> str:
    root = lake.root.rstrip("/")
    return uri[len(root) :].strip("/") if uri.startswith(root) else uri


def publish_key(lake: Lake, dest_uri: str) -> str:
    """A flat name for a destination: readable tail plus a hash of the full path."""
    relative = _relative(lake, dest_uri.rstrip("/"))
    readable = re.sub(r"[^A-Za-z0-9.-]+", "_", relative)[-80:].strip("_.") or "root"
    return f"{readable}-{hashlib.sha1(relative.encode()).hexdigest()[:12]}"


def new_staging_uri(lake: Lake) -> str:
    """A fresh staging folder URI, its name stamped so :func:`sweep_lake` can tell its age."""
    return lake.uri("staging", _stamp())


def journal_uri(lake: Lake, dest_uri: str) -> str:
    """Where the journal (lock and intent) of a publish onto ``dest_uri`` lives."""
    return lake.uri("journal", publish_key(lake, dest_uri))


def trash_uri(lake: Lake, dest_uri: str) -> str:
    """Where previous products of ``dest_uri`` are kept (one stamped folder each)."""
    return lake.uri("trash", publish_key(lake, dest_uri))


@dataclass(frozen=True)
class PublishIntent:
    """What a publish is about to do, written before it touches the destination."""

    dest: str
    staging: str
    retired: str
    pid: int
    host: str
    started_at: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, data: bytes) -> PublishIntent:
        return cls(**json.loads(data))


def _pause_at(step: str) -> None:
    """Test hook: ``LANDSHIFT_PUBLISH_PAUSE_AT=<step>[:<seconds>]`` prints ``PAUSED <step>`` and sleeps.

    Without seconds it sleeps an hour (to be killed there); fault tests use it to stop a real
    publish process at a named step.
    """
    wanted, _, seconds = os.environ.get(ENV_PUBLISH_PAUSE_AT, "").partition(":")
    if wanted == step:
        print(f"PAUSED {step}", flush=True)
        time.sleep(float(seconds) if seconds else 3600.0)


def _env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    try:
        return float(value) if value else default
    except ValueError as exc:
        raise InputError(f"{name} must be a number, got {value!r}") from exc


def keep_previous_default() -> int:
    """How many previous products a publish keeps in trash/ (``LANDSHIFT_KEEP_PREVIOUS_PRODUCTS``, 0)."""
    keep = int(_env_number(ENV_KEEP_PREVIOUS, 0))
    if keep < 0:
        raise InputError(f"{ENV_KEEP_PREVIOUS} must be >= 0, got {keep}")
    return keep


def _holder_alive(intent: PublishIntent, stale_after_s: float) -> bool:
    """Whether the process that wrote ``intent`` may still be publishing."""
    if time.time() - intent.started_at > stale_after_s:
        return False
    if intent.host != socket.gethostname():
        return True  # cannot look at another host's processes: trust it until it is stale
    try:
        os.kill(intent.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _settle(lake: Lake, intent: PublishIntent) -> str:
    """Finish or undo an interrupted swap so ``dest`` holds a whole product again."""
    dest_there, staged, retired = (lake.exists(u) for u in (intent.dest, intent.staging, intent.retired))
    if staged:  # the staged product is complete (the journal is written after the upload)
        if dest_there and not retired:
            lake.move(intent.dest, intent.retired)
        elif dest_there:
            lake.move(intent.dest, f"{intent.retired}.b")
        lake.move(intent.staging, intent.dest)
        return "rolled-forward"
    if dest_there:
        return "completed"
    if retired:
        lake.move(intent.retired, intent.dest)
        return "rolled-back"
    return "nothing-to-restore"


def repair_publish(lake: Lake, dest_uri: str, stale_after_s: float | None = None) -> str:
    """Repair an interrupted publish onto ``dest_uri``; returns what was done.

    ``clean``: no journal. ``busy``: a live process holds it (left alone). Otherwise the swap is
    rolled forward (the complete staged product moved in), found completed, or rolled back (the
    previous product moved back), and the journal removed: the destination holds the old or
    the new product, whole. Safe to call at any time, by any run or a startup sweep.
    """
    stale = _env_number(ENV_PUBLISH_STALE_S, 3600.0) if stale_after_s is None else stale_after_s
    journal = journal_uri(lake, dest_uri)
    if not lake.exists(journal):
        return "clean"
    try:
        intent = PublishIntent.from_json(lake.read_bytes(f"{journal}/{INTENT_FILE}"))
    except NotFoundError:
        lake.delete(journal)  # cannot hold an intent: journals appear whole, by one rename
        return "clean"
    except (ValueError, TypeError) as exc:
        raise IntegrityError(f"publish journal {journal} is unreadable ({exc}); inspect it, then delete it") from exc
    if _holder_alive(intent, stale):
        return "busy"
    outcome = _settle(lake, intent)
    lake.delete(journal)
    log.warning("Repaired an interrupted publish of %s (pid %s): %s", dest_uri, intent.pid, outcome)
    return outcome


def _acquire(lake: Lake, intent: PublishIntent, wait_s: float) -> str:
    """Write the journal in one rename (it is the lock); wait while a live publish holds it."""
    journal = journal_uri(lake, intent.dest)
    pending = lake.uri("staging", f"{_stamp()}.journal")
    with tempfile.TemporaryDirectory(prefix="landshift-journal-") as tmp:
        Path(tmp, INTENT_FILE).write_text(intent.to_json())
        lake.upload_dir(tmp, pending)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                lake.move(pending, journal)
                return journal
            except FileExistsError:
                if repair_publish(lake, intent.dest) == "busy":
                    if time.monotonic() > deadline:
                        raise PublishBusyError(
                            f"another publish of {intent.dest} is in progress (journal {journal}); retry later"
                        ) from None
                    time.sleep(0.2)
    finally:
        lake.delete(pending)


def replace_dir(
    lake: Lake,
    staging_uri: str,
    dest_uri: str,
    keep_previous: int | None = None,
    wait_s: float | None = None,
) -> None:
    """Move a finished directory from ``staging_uri`` onto ``dest_uri``, replacing any old one.

    Crash-safe: a journal naming the staged, destination and retired paths is written (in one
    rename, which also locks the destination) before the destination is touched, and removed
    after the swap. A process killed at any moment leaves a journal that :func:`repair_publish`
    settles to the old or the new product. Concurrent publishes of one destination serialise
    (waiting up to ``wait_s``, then PublishBusyError, a transient error). The replaced product is
    kept in ``trash/<key>/`` with the ``keep_previous`` latest ones; older ones are deleted.
    """
    keep = keep_previous_default() if keep_previous is None else keep_previous
    wait = _env_number(ENV_PUBLISH_WAIT_S, 300.0) if wait_s is None else wait_s
    retired = f"{trash_uri(lake, dest_uri)}/{_stamp()}"
    intent = PublishIntent(dest_uri, staging_uri, retired, os.getpid(), socket.gethostname(), time.time())
    journal = _acquire(lake, intent, wait)
    _pause_at("journaled")
    try:
        if lake.exists(dest_uri):
            lake.move(dest_uri, retired)
            _pause_at("retired")
        lake.move(staging_uri, dest_uri)
        _pause_at("moved_in")
    except Exception:
        if not lake.exists(dest_uri) and lake.exists(retired):
            lake.move(retired, dest_uri)
        lake.delete(journal)
        raise
    lake.delete(journal)
    _pause_at("released")
    prune_previous(lake, dest_uri, keep)


def _children(lake: Lake, prefix_uri: str) -> list[str]:
    """Names of the folders and files directly under ``prefix_uri`` that hold files."""
    prefix = prefix_uri.rstrip("/") + "/"
    return sorted(
        {uri[len(prefix) :].split("/", 1)[0] for uri in lake.list_files(prefix_uri) if uri.startswith(prefix)}
    )


def prune_previous(lake: Lake, dest_uri: str, keep_previous: int) -> list[str]:
    """Delete all but the ``keep_previous`` latest retired products of ``dest_uri``; return the deleted."""
    folder = trash_uri(lake, dest_uri)
    names = _children(lake, folder)
    doomed = names[: max(0, len(names) - keep_previous)]
    for name in doomed:
        lake.delete(f"{folder}/{name}")
    if len(doomed) == len(names):
        lake.delete(folder)  # nothing kept: no empty folder left behind
    return [f"{folder}/{name}" for name in doomed]


def previous_products(lake: Lake, dest_uri: str) -> list[str]:
    """URIs of the kept previous products of ``dest_uri``, oldest first."""
    folder = trash_uri(lake, dest_uri)
    return [f"{folder}/{name}" for name in _children(lake, folder)]


def publish_dir(lake: Lake, local_dir: str, dest_uri: str, keep_previous: int | None = None) -> None:
    """Put a finished local directory at ``dest_uri`` so readers never see a partial product.

    An interrupted earlier publish of the same destination is repaired first; the files go to a
    unique staging directory, then :func:`replace_dir` swaps them in under a journal.
    """
    repair_publish(lake, dest_uri)
    staging_uri = new_staging_uri(lake)
    lake.upload_dir(local_dir, staging_uri)
    _pause_at("staged")
    try:
        replace_dir(lake, staging_uri, dest_uri, keep_previous)
    except Exception:
        lake.delete(staging_uri)
        raise
    log.info("Published %s", dest_uri)


def sweep_lake(lake: Lake, stale_after_s: float | None = None, keep_previous: int | None = None) -> dict:
    """Startup sweep: repair every interrupted publish, drop stale staging, prune kept products.

    Staging entries are removed when their stamped name is older than ``stale_after_s`` (default
    ``LANDSHIFT_PUBLISH_STALE_S``, 1 h) and no journal refers to them; unstamped ones are left.
    """
    stale = _env_number(ENV_PUBLISH_STALE_S, 3600.0) if stale_after_s is None else stale_after_s
    keep = keep_previous_default() if keep_previous is None else keep_previous
    report: dict[str, Any] = {"repaired": {}, "staging_removed": [], "trash_removed": []}
    referenced: set[str] = set()
    for intent_uri in lake.list_files(lake.uri("journal"), INTENT_FILE):
        intent = PublishIntent.from_json(lake.read_bytes(intent_uri))
        outcome = repair_publish(lake, intent.dest, stale)
        report["repaired"][intent.dest] = outcome
        if outcome == "busy":
            referenced.add(intent.staging.rstrip("/"))
    for name in _children(lake, lake.uri("staging")):
        age = _stamp_age_s(name)
        uri = lake.uri("staging", name)
        if age is not None and age > stale and uri not in referenced:
            lake.delete(uri)
            report["staging_removed"].append(uri)
    for key in _children(lake, lake.uri("trash")):
        folder = lake.uri("trash", key)
        names = _children(lake, folder)
        doomed = names[: max(0, len(names) - keep)]
        for name in doomed:
            lake.delete(f"{folder}/{name}")
            report["trash_removed"].append(f"{folder}/{name}")
        if len(doomed) == len(names):
            lake.delete(folder)
    return report


@dataclass(frozen=True)
class FileInfo:
    """What identifies one version of a lake file without reading it.

    ``revision`` changes whenever the file is rewritten, even with the same bytes: the ETag on
    ADLS, the modification time in nanoseconds on a local lake.
    """

    uri: str
    size: int
    revision: str

    @classmethod
    def of_local(cls, path: Path) -> FileInfo:
        """The info of a local file (size and ``st_mtime_ns``)."""
        stat = path.stat()
        return cls(str(path), stat.st_size, str(stat.st_mtime_ns))
