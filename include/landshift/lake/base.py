"""The data lake: one interface over a local directory (embedded default) and ADLS Gen2.

Every path in LandShift is a lake URI: an absolute local path, or
``abfss://<filesystem>@<account>.dfs.core.windows.net/<path>`` for ADLS Gen2. Code asks
:func:`open_lake` for the backend of a root URI and never branches on the scheme itself.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from landshift.core.errors import CorruptFileError, LakeBoundaryError, NotFoundError

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


ENV_ALLOWED_LAKE_ROOTS = "LANDSHIFT_ALLOWED_LAKE_ROOTS"


def _inside_path(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class LocalLake:
    """A lake in a local directory: the embedded default.

    Every path in the lake is confined at use: resolved through symbolic links
    (``os.path.realpath``), it must still lie under the lake root or a local root of
    ``LANDSHIFT_ALLOWED_LAKE_ROOTS``, else a LakeBoundaryError names the path and where it leads.
    A link inside the lake therefore never takes a run (or a write) to files outside it.
    """

    def __init__(self, root: str) -> None:
        self.root = str(Path(root).expanduser().resolve())

    def _roots(self) -> list[str]:
        extra = os.environ.get(ENV_ALLOWED_LAKE_ROOTS, "").replace(",", " ").split()
        local = [r for r in extra if r.startswith("/")]
        return [self.root, *(os.path.normpath(r) for r in local), *(os.path.realpath(r) for r in local)]

    def confine(self, uri: str) -> str:
        """``uri`` unless it lies in the lake but resolves (links followed) outside the lake's roots:
        then LakeBoundaryError. Paths outside the lake as written are the door's to refuse
        (``confine_uri``, which resolves links too); here they pass unchanged."""
        roots = self._roots()
        if not any(_inside_path(os.path.normpath(uri), root) for root in roots):
            return str(uri)
        real = os.path.realpath(uri)
        if not any(_inside_path(real, root) for root in roots):
            raise LakeBoundaryError(
                str(uri),
                f"resolves to {real}, outside the lake {self.root}: a symbolic link or path leaves the lake; "
                "copy the data into the lake (or list its root in LANDSHIFT_ALLOWED_LAKE_ROOTS)",
            )
        return str(uri)

    def uri(self, *parts: str) -> str:
        return str(Path(self.root, *parts))

    def exists(self, uri: str) -> bool:
        return Path(self.confine(uri)).exists()

    def list_files(self, prefix_uri: str, suffix: str = "") -> list[str]:
        prefix = Path(self.confine(prefix_uri))
        if not prefix.is_dir():
            return []
        return sorted(self.confine(str(p)) for p in prefix.rglob(f"*{suffix}") if p.is_file())

    def read_bytes(self, uri: str) -> bytes:
        try:
            return Path(self.confine(uri)).read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError(f"no file in the lake at {uri}") from exc

    def write_bytes(self, uri: str, data: bytes) -> None:
        target = Path(self.confine(uri))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp files are private (0600); lake files are not
        os.replace(tmp, target)

    def upload_dir(self, local_dir: str, uri: str) -> None:
        self.confine(uri)
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(local_dir, uri)
        # Private temporary folders are 0700: give the lake copy the usual umask-based mode.
        for folder in [Path(uri), *(p for p in Path(uri).rglob("*") if p.is_dir())]:
            folder.chmod(0o777 & ~_umask())

    def download(self, uri: str, local_path: str) -> None:
        if not Path(self.confine(uri)).is_file():
            raise NotFoundError(f"no file in the lake at {uri}")
        shutil.copyfile(uri, local_path)

    def move(self, src_uri: str, dst_uri: str) -> None:
        self.confine(src_uri)
        if Path(self.confine(dst_uri)).exists():
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
        path = Path(self.confine(uri))
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()

    def gdal_path(self, uri: str) -> str:
        return self.confine(uri)

    def spark_path(self, uri: str) -> str:
        return self.confine(uri)

    def file_info(self, uri: str) -> FileInfo:
        path = Path(self.confine(uri))
        if not path.is_file():
            raise NotFoundError(f"no file in the lake at {uri}")
        return FileInfo.of_local(path)

    def list_file_info(self, prefix_uri: str, suffix: str = "") -> list[FileInfo]:
        return [FileInfo.of_local(Path(uri)) for uri in self.list_files(prefix_uri, suffix)]


def read_json(lake: Lake, uri: str) -> Any:
    """Parse the JSON file at ``uri``; CorruptFileError naming the file when it is not JSON."""
    data = lake.read_bytes(uri)
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptFileError(uri, f"not valid JSON ({len(data)} bytes; {exc}): truncated or corrupt") from exc


def write_json(lake: Lake, uri: str, value: Any) -> None:
    """Write ``value`` as stable, indented JSON."""
    lake.write_bytes(uri, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


@contextmanager
def local_copy(lake: Lake, uri: str) -> Iterator[str]:
    """A local file path holding the content of ``uri`` (the file itself on a local lake)."""
    if isinstance(lake, LocalLake):
        if not Path(lake.confine(uri)).is_file():
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
