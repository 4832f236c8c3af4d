"""Which vintages of a region need publishing: the imagery in the lake against the products in it.

A vintage is a folder named ``YYYY`` or ``YYYYMMDD`` where the region's imagery template
(``Region.imagery``, e.g. ``raw/imagery/{region}/{vintage}/``) puts it, holding at least one
GeoTIFF scene, in a year from ``Region.start_year`` on. Its published product
(``published/<region>/<vintage>/summary.json``) is *current* when the product's recorded
:class:`Fingerprint` (``summary["inputs"]["fingerprint"]``, see :data:`FINGERPRINT_KEY`) equals
the fingerprint of the inputs a run would use now:

* the vintage's scene manifest: every scene's name (relative to the vintage prefix), size and
  revision (the ETag on ADLS, the modification time in ns on a local lake), so a re-delivered or
  touched scene makes the vintage stale;
* the prior-labels file, by the same manifest entry;
* the model name and the version the region's model alias resolves to now.

Everything comes from one listing of the region's imagery, one look at the labels file and one
read of each product's summary.json: no raster is opened, so a run with nothing to do is quick.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from landshift.core.errors import InputError, NotFoundError
from landshift.lake.base import FileInfo, Lake, read_json
from landshift.regions.layout import RunLayout, resolve_path
from landshift.regions.registry import DEFAULT_SCHEDULE, Region

log = logging.getLogger(__name__)

FINGERPRINT_SCHEMA = 1
# Where summary.json records the fingerprint of the inputs a product was made from.
FINGERPRINT_KEY = ("inputs", "fingerprint")
VINTAGE_PATTERN = re.compile(r"\d{4}(?:\d{4})?")
REASON_MISSING = "missing"
REASON_UNRECORDED = "no fingerprint recorded"
REASON_UNREADABLE = "summary unreadable"
REASON_IMAGERY = "imagery changed"
REASON_LABELS = "labels changed"
REASON_MODEL = "model changed"


def is_vintage(name: str) -> bool:
    """Whether a folder name is a vintage: a year ``YYYY`` or a real date ``YYYYMMDD``."""
    if not VINTAGE_PATTERN.fullmatch(name):
        return False
    if len(name) == 8:
        try:
            datetime.strptime(name, "%Y%m%d")
        except ValueError:
            return False
    return True


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _entry(name: str, info: FileInfo) -> dict[str, Any]:
    return {"name": name, "size": info.size, "revision": info.revision}


@dataclass(frozen=True)
class SceneManifest:
    """The scenes of one vintage: name relative to the vintage prefix, size and revision of each."""

    vintage: str
    prefix_uri: str
    scenes: tuple[FileInfo, ...]

    def entries(self) -> list[dict[str, Any]]:
        """One ``{name, size, revision}`` per scene, sorted by name."""
        base = self.prefix_uri.rstrip("/") + "/"
        return sorted((_entry(s.uri.removeprefix(base), s) for s in self.scenes), key=lambda e: e["name"])

    @property
    def digest(self) -> str:
        """sha256 of the entries: changes when a scene is added, removed, resized or rewritten."""
        return _digest(self.entries())


@dataclass(frozen=True)
class Fingerprint:
    """What a product is made from: scene manifest digest, prior-labels entry digest, model."""

    imagery: str
    scenes: int
    prior_labels: str
    model_name: str
    model_version: str

    @property
    def digest(self) -> str:
        """One sha256 over every part (equal digests mean the same inputs)."""
        return _digest([self.imagery, self.prior_labels, self.model_name, self.model_version])

    def to_dict(self) -> dict[str, Any]:
        """The JSON the publish stage records at ``summary["inputs"]["fingerprint"]``."""
        return {
            "schema": FINGERPRINT_SCHEMA,
            "digest": self.digest,
            "imagery": self.imagery,
            "scenes": self.scenes,
            "prior_labels": self.prior_labels,
            "model": {"name": self.model_name, "version": self.model_version},
        }

    @classmethod
    def from_dict(cls, raw: Any) -> Fingerprint | None:
        """The fingerprint a summary recorded, or None when absent or of another schema."""
        if not isinstance(raw, dict) or raw.get("schema") != FINGERPRINT_SCHEMA:
            return None
        try:
            return cls(
                imagery=str(raw["imagery"]),
                scenes=int(raw["scenes"]),
                prior_labels=str(raw["prior_labels"]),
                model_name=str(raw["model"]["name"]),
                model_version=str(raw["model"]["version"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def differences(self, recorded: Fingerprint) -> tuple[str, ...]:
        """Why a product recorded as ``recorded`` is not made from these inputs (empty: it is)."""
        reasons = []
        if recorded.imagery != self.imagery:
            reasons.append(REASON_IMAGERY)
        if recorded.prior_labels != self.prior_labels:
            reasons.append(REASON_LABELS)
        if (recorded.model_name, recorded.model_version) != (self.model_name, self.model_version):
            reasons.append(REASON_MODEL)
        return tuple(reasons)


@dataclass(frozen=True)
class VintageStatus:
    """One vintage with imagery: the fingerprint of its inputs now, and why it is pending (if it is)."""

    vintage: str
    fingerprint: Fingerprint
    reasons: tuple[str, ...]

    @property
    def pending(self) -> bool:
        """True when the vintage needs (re)publishing."""
        return bool(self.reasons)

    @property
    def reason(self) -> str:
        """The reasons as one phrase, or ``current``."""
        return ", ".join(self.reasons) or "current"


# -- inputs -----------------------------------------------------------------------------------------
def _vintage_regex(region: Region) -> tuple[str, re.Pattern[str]]:
    """The folder to list for every vintage of ``region``, and a pattern of the paths under it."""
    template = region.imagery
    if template.count("{vintage}") != 1:
        raise InputError(f"region {region.id}: imagery path must contain {{vintage}} once: {template!r}")
    head, tail = (part.replace("{region}", region.id) for part in template.split("{vintage}"))
    folder, _, stem = head.rpartition("/")
    tail = tail if tail.startswith("/") else f"{tail}/"
    pattern = re.compile(
        rf"^{re.escape(stem)}(?P<vintage>\d{{4}}(?:\d{{4}})?){re.escape(tail.rstrip('/'))}/(?P<scene>.+)$"
    )
    return folder, pattern


def _is_scene(uri: str) -> bool:
    from landshift.imagery.planning import SCENE_SUFFIXES

    return uri.lower().endswith(SCENE_SUFFIXES)


def imagery_manifests(lake: Lake, region: Region) -> dict[str, SceneManifest]:
    """The scene manifest of every vintage with imagery, by vintage, in vintage order (one listing)."""
    folder, pattern = _vintage_regex(region)
    folder_uri = resolve_path(lake.root, folder).rstrip("/")
    scenes: dict[str, list[FileInfo]] = {}
    for info in lake.list_file_info(folder_uri):
        match = pattern.match(info.uri.removeprefix(folder_uri + "/"))
        if match is None or not _is_scene(info.uri) or not is_vintage(match["vintage"]):
            continue
        if int(match["vintage"][:4]) < region.start_year:
            continue
        scenes.setdefault(match["vintage"], []).append(info)
    return {
        vintage: SceneManifest(vintage, resolve_path(lake.root, region.imagery_prefix(vintage)), tuple(found))
        for vintage, found in sorted(scenes.items())
    }


def scene_manifest(lake: Lake, region: Region, vintage: str) -> SceneManifest:
    """The scene manifest of one vintage; NotFoundError when it has no scene."""
    prefix = resolve_path(lake.root, region.imagery_prefix(vintage))
    found = tuple(info for info in lake.list_file_info(prefix) if _is_scene(info.uri))
    if not found:
        raise NotFoundError(f"no imagery (*.tif) for region {region.id} vintage {vintage} under {prefix}")
    return SceneManifest(vintage, prefix, found)


def labels_digest(lake: Lake, region: Region) -> str:
    """Digest of the prior-labels file's manifest entry (its path as the region names it, size, revision)."""
    info = lake.file_info(resolve_path(lake.root, region.prior_labels.path))
    return _digest(_entry(region.prior_labels.path, info))


def current_model_version(lake: Lake, region: Region) -> str:
    """The version ``region.model_ref`` (an alias or a version id) points to now; only that alias is
    read, so another alias's bad file cannot stop this region, and its own names the file."""
    from landshift.model.registry import version_of

    return version_of(lake, region.model_name, str(region.model_ref))


def product_fingerprint(lake: Lake, region: Region, vintage: str, model_version: str) -> Fingerprint:
    """The fingerprint of a run of ``vintage`` with ``model_version``: record its ``to_dict()`` on publish."""
    manifest = scene_manifest(lake, region, vintage)
    return Fingerprint(
        imagery=manifest.digest,
        scenes=len(manifest.scenes),
        prior_labels=labels_digest(lake, region),
        model_name=region.model_name,
        model_version=str(model_version),
    )


def recorded_fingerprint(summary: dict[str, Any]) -> Fingerprint | None:
    """The fingerprint a product's summary.json recorded at :data:`FINGERPRINT_KEY`, if any."""
    value: Any = summary
    for key in FINGERPRINT_KEY:
        value = value.get(key) if isinstance(value, dict) else None
    return Fingerprint.from_dict(value)


# -- reconciliation ---------------------------------------------------------------------------------
def _product_reasons(lake: Lake, region: Region, vintage: str, now: Fingerprint, republish_on_model: bool):
    summary_uri = f"{RunLayout(lake.root, region.id, vintage).published}/summary.json"
    try:
        summary = read_json(lake, summary_uri)
    except NotFoundError:
        return (REASON_MISSING,)
    except ValueError:
        return (REASON_UNREADABLE,)
    recorded = recorded_fingerprint(summary) if isinstance(summary, dict) else None
    if recorded is None:
        return (REASON_UNRECORDED,)
    reasons = now.differences(recorded)
    if not republish_on_model:
        reasons = tuple(r for r in reasons if r != REASON_MODEL)
    return reasons


def vintage_statuses(
    lake: Lake, region: Region, model_version: str, republish_on_model_change: bool | None = None
) -> list[VintageStatus]:
    """Every vintage with imagery, in vintage order, current or pending with its reasons.

    ``republish_on_model_change`` (default: the region's setting) False keeps products made with
    another model version current, as long as their imagery and labels are unchanged.
    """
    republish = region.republish_on_model_change if republish_on_model_change is None else republish_on_model_change
    labels = labels_digest(lake, region)
    statuses = []
    for vintage, manifest in imagery_manifests(lake, region).items():
        now = Fingerprint(manifest.digest, len(manifest.scenes), labels, region.model_name, str(model_version))
        statuses.append(VintageStatus(vintage, now, _product_reasons(lake, region, vintage, now, republish)))
    return statuses


def pending_vintages(
    lake: Lake, region: Region, model_version: str, republish_on_model_change: bool | None = None
) -> list[VintageStatus]:
    """The vintages whose product is missing or not made from the current inputs, in vintage order."""
    return [s for s in vintage_statuses(lake, region, model_version, republish_on_model_change) if s.pending]


def describe(region: Region, statuses: list[VintageStatus], model_version: str) -> str:
    """The one log line a scheduled run writes about what it found."""
    model = f"model {region.model_name} version {model_version}"
    pending = [s for s in statuses if s.pending]
    if not statuses:
        return f"Region {region.id}: no imagery under {region.imagery!r} yet; nothing to publish"
    if not pending:
        return (
            f"Region {region.id}: all {len(statuses)} vintages with imagery are current ({model}); nothing to publish"
        )
    listed = "; ".join(f"{s.vintage} ({s.reason})" for s in pending)
    return (
        f"Region {region.id}: {len(pending)} of {len(statuses)} vintages with imagery to publish with {model}: {listed}"
    )


@dataclass(frozen=True)
class ReconcilePlan:
    """What a scheduled run of a region found: the model version now, every vintage's status, the log line."""

    region_id: str
    model_version: str
    statuses: tuple[VintageStatus, ...]
    message: str

    @property
    def pending(self) -> list[str]:
        """The vintages to publish, in vintage order."""
        return [s.vintage for s in self.statuses if s.pending]


def plan_reconcile(lake: Lake, region: Region) -> ReconcilePlan:
    """Compare the lake's imagery with the published products, for the model the region's alias names now."""
    if not imagery_manifests(lake, region):  # nothing delivered yet: no model needed to say so
        return ReconcilePlan(region.id, "", (), describe(region, [], ""))
    model_version = current_model_version(lake, region)
    statuses = tuple(vintage_statuses(lake, region, model_version))
    return ReconcilePlan(region.id, model_version, statuses, describe(region, list(statuses), model_version))


def vintage_date(vintage: str) -> datetime:
    """The day a vintage stands for: 1 January of ``YYYY``, or the date ``YYYYMMDD``."""
    if not is_vintage(vintage):
        raise InputError(f"vintage must be a year (YYYY) or a date (YYYYMMDD), got {vintage!r}")
    return datetime.strptime(vintage, "%Y" if len(vintage) == 4 else "%Y%m%d")


def vintages_in_window(lake: Lake, region: Region, start: datetime, end: datetime) -> list[str]:
    """Vintages with imagery dated in ``[start, end)`` (aware datetimes, or naive ones in UTC), in vintage order.

    How a backfill run maps to vintages: its window is its data interval (or its logical date up to
    the next one), and it publishes the vintages dated inside it.
    """
    first, last = (_naive_utc(moment) for moment in (start, end))
    return [v for v in imagery_manifests(lake, region) if first <= vintage_date(v) < last]


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def backfill_window(schedule: str | None, logical_date: datetime) -> tuple[datetime, datetime]:
    """A backfill run's window: its logical date up to the schedule's next fire after it."""
    from croniter import croniter

    end = croniter(schedule or DEFAULT_SCHEDULE, logical_date).get_next(datetime)
    return logical_date, end
