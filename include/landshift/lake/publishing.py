"""Atomic publishing: stage, journal, swap into place; repair interrupted publishes; keep previous versions."""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import os
import re
import socket
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from landshift.core.errors import CorruptFileError, InputError, NotFoundError, PublishBusyError
from landshift.lake.base import Lake

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

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

    @classmethod
    def read(cls, lake: Lake, uri: str) -> PublishIntent:
        """The intent in the journal file ``uri``; CorruptFileError naming the file when it is
        truncated or malformed (NotFoundError when it is missing)."""
        data = lake.read_bytes(uri)
        try:
            return cls.from_json(data)
        except (ValueError, TypeError) as exc:
            raise CorruptFileError(
                uri,
                f"publish journal of this destination is unreadable ({len(data)} bytes; {exc}); only publishes of "
                "that destination stop: check it and its staged folder, then delete this journal folder",
            ) from exc


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
        intent = PublishIntent.read(lake, f"{journal}/{INTENT_FILE}")
    except NotFoundError:
        lake.delete(journal)  # cannot hold an intent: journals appear whole, by one rename
        return "clean"
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


def _under(uri: str, folder_uri: str) -> bool:
    return uri.rstrip("/").startswith(folder_uri.rstrip("/") + "/")


def journals(lake: Lake) -> tuple[list[tuple[str, PublishIntent]], dict[str, str]]:
    """Every publish journal of the lake: (intent file, intent) pairs, and the unreadable ones
    (intent file -> error), so that one bad file stops only its own destination."""
    readable: list[tuple[str, PublishIntent]] = []
    unreadable: dict[str, str] = {}
    for intent_uri in lake.list_files(lake.uri("journal"), INTENT_FILE):
        try:
            readable.append((intent_uri, PublishIntent.read(lake, intent_uri)))
        except NotFoundError:
            continue  # settled meanwhile
        except CorruptFileError as exc:
            log.error("Publish journal skipped: %s", exc)
            unreadable[intent_uri] = str(exc)
    return readable, unreadable


def repair_under(lake: Lake, folder_uri: str, stale_after_s: float | None = None) -> dict[str, str]:
    """Repair every interrupted publish whose destination lies under ``folder_uri`` (a region's
    folder: every vintage), whatever the destination a new publish is for. Returns dest -> outcome;
    unreadable journals are logged and left to their own destination's publish."""
    readable, _ = journals(lake)
    return {
        intent.dest: repair_publish(lake, intent.dest, stale_after_s)
        for _, intent in readable
        if _under(intent.dest, folder_uri)
    }


def publish_dir(lake: Lake, local_dir: str, dest_uri: str, keep_previous: int | None = None) -> None:
    """Put a finished local directory at ``dest_uri`` so readers never see a partial product.

    Every interrupted earlier publish under the destination's parent (the region: every vintage)
    is repaired first, then the destination's own; the files go to a unique staging directory,
    then :func:`replace_dir` swaps them in under a journal.
    """
    repair_under(lake, dest_uri.rstrip("/").rsplit("/", 1)[0])
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
    ``LANDSHIFT_PUBLISH_STALE_S``, 1 h) and no journal refers to them; unstamped ones are left,
    and so is every staging entry while an unreadable journal (reported under ``unreadable``,
    file -> error) might still refer to it.
    """
    stale = _env_number(ENV_PUBLISH_STALE_S, 3600.0) if stale_after_s is None else stale_after_s
    keep = keep_previous_default() if keep_previous is None else keep_previous
    readable, unreadable = journals(lake)
    report: dict[str, Any] = {"repaired": {}, "staging_removed": [], "trash_removed": [], "unreadable": unreadable}
    referenced: set[str] = set()
    for _, intent in readable:
        outcome = repair_publish(lake, intent.dest, stale)
        report["repaired"][intent.dest] = outcome
        if outcome == "busy":
            referenced.add(intent.staging.rstrip("/"))
    for name in [] if unreadable else _children(lake, lake.uri("staging")):
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
