"""Regions as data: the registry of JSON files, validation, and the lake layout of a run.

Every region file is validated on its own against a pydantic schema (unknown fields refused);
:func:`load_regions_report` returns the good regions and one :class:`RegionFileError` per bad
file, naming the file and the field, so one bad file never hides the others. Manual runs build
their Region with :func:`manual_region`: a separate namespace (``published/manual/<id>/``) whose
ids may not shadow a registered region.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
import string
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator, model_validator

from landshift.core.errors import InputError, LakeBoundaryError, NotFoundError, ProductConflictError
from landshift.core.grid import DEFAULT_TILE_SIZE_M, Bounds
from landshift.lake.uris import check_lake_path_syntax, confine_uri
from landshift.regions.aoi import parse_aoi

log = logging.getLogger(__name__)

REGION_ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,48}[a-z0-9]$")
MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
MODEL_REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
CRS_PATTERN = r"^(EPSG|ESRI|IAU_2015|OGC):[0-9A-Za-z]{1,12}$"
REGIONS_DIR = Path(__file__).resolve().parents[2] / "regions"
DEFAULT_MODEL_NAME = "landshift-mobilenetv2"
DEFAULT_MODEL_REF = "production"
DEFAULT_SCHEDULE = "0 6 * * *"  # daily at 06:00 UTC: a region notices new imagery within a day
MANUAL_NAMESPACE = "manual"
RESERVED_IDS = frozenset({MANUAL_NAMESPACE})  # a folder name of the layout
NAMESPACES = ("", MANUAL_NAMESPACE)
MIN_YEAR = 1950  # aerial survey archives; nothing LandShift reads is older
MAX_TILE_SIZE_M = 100_000.0
MIN_TILE_SIZE_M = 1.0
TEMPLATE_FIELDS = frozenset({"region", "vintage"})


def max_year() -> int:
    """The latest plausible year of a vintage or label: next year (acquisitions are dated UTC)."""
    return dt.datetime.now(dt.UTC).year + 1


# -- vintages and years -------------------------------------------------------------------------------
def validate_year(value: Any, what: str = "year") -> int:
    """An integer year in ``MIN_YEAR..next year``; InputError naming ``what`` otherwise."""
    if isinstance(value, bool):
        raise InputError(f"{what} must be a year, got {value!r}")
    try:
        year = int(str(value).strip())
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be a year (YYYY), got {value!r}") from exc
    if not MIN_YEAR <= year <= max_year():
        raise InputError(f"{what} {year} is not a plausible year ({MIN_YEAR}..{max_year()})")
    return year


def validate_vintage(value: Any) -> str:
    """A vintage: a plausible year ``YYYY`` or a real date ``YYYYMMDD`` (not in the future)."""
    text = str(value).strip() if value is not None else ""
    if not (text.isdigit() and text.isascii() and len(text) in (4, 8)):
        raise InputError(f"vintage must be a year (YYYY) or a date (YYYYMMDD), got {value!r}")
    validate_year(text[:4], "vintage year")
    if len(text) == 8:
        try:
            day = dt.datetime.strptime(text, "%Y%m%d").date()
        except ValueError as exc:
            raise InputError(f"vintage {text} is not a real date (YYYYMMDD)") from exc
        if day > dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1):
            raise InputError(f"vintage {text} is in the future")
    return text


# -- schedules ---------------------------------------------------------------------------------------
CRON_PRESETS = frozenset({"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight"})


def validate_schedule(value: str) -> str:
    """A five-field cron expression (minute hour day month weekday, UTC) or a preset that fires.

    Refused with ValueError saying what to write instead: anything croniter cannot parse;
    six- or seven-field (Quartz/seconds) strings, which Airflow would read differently (one with a
    seconds field fires every second on its day); and expressions that never fire (31 February).
    """
    from croniter import CroniterBadDateError, croniter

    text = value.strip()
    example = "e.g. '0 6 * * *': minute hour day-of-month month day-of-week, UTC"
    if text in CRON_PRESETS:
        return text
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"schedule {value!r} has {len(fields)} fields; a cron expression has 5 ({example}); "
            "Quartz-style strings with a seconds or year field are not cron"
        )
    if not croniter.is_valid(text):
        raise ValueError(f"schedule {value!r} is not a cron expression ({example})")
    try:
        croniter(text, dt.datetime(2000, 1, 1, tzinfo=dt.UTC)).get_next(dt.datetime)
    except CroniterBadDateError as exc:
        raise ValueError(
            f"schedule {value!r} never fires (no day {fields[2]} in month {fields[3]}); "
            "pick a day that month has (days 1..28 exist in every month)"
        ) from exc
    return text


# -- regions ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LabelSource:
    """A prior label raster: a name for it, its year, its lake path, and an optional code map.

    ``code_map`` maps the raster's own codes to NLCD codes (for label rasters in another
    legend); codes it does not name are kept as they are.
    """

    source: str
    year: int
    path: str
    code_map: dict[int, int] | None = None


@dataclass(frozen=True)
class Region:
    """One region: where its imagery and labels live in the lake and how it is processed.

    ``namespace`` is ``""`` for a registered region and ``"manual"`` for a manual run's region
    (published under ``published/manual/<id>/``).
    """

    id: str
    crs: str
    imagery: str
    prior_labels: LabelSource
    title: str = ""
    tile_size_m: float = DEFAULT_TILE_SIZE_M
    aoi: Bounds | None = None
    model_name: str = DEFAULT_MODEL_NAME
    model_ref: str = DEFAULT_MODEL_REF
    schedule: str | None = DEFAULT_SCHEDULE  # cron, UTC; None: manual runs only
    start_year: int = 2009
    training_labels: tuple[LabelSource, ...] = field(default_factory=tuple)
    namespace: str = ""
    # Scheduled runs republish vintages made with another model version than the alias's current one.
    republish_on_model_change: bool = True
    # A human-in-the-loop task waits for the analyst before the reviewed product is published (docs/review.md).
    review_required: bool = False

    def imagery_prefix(self, vintage: str) -> str:
        """Lake path of one vintage's imagery (``{vintage}`` filled in)."""
        return self.imagery.format(region=self.id, vintage=vintage)

    @property
    def is_manual(self) -> bool:
        """Whether this region comes from the manual trigger form."""
        return self.namespace == MANUAL_NAMESPACE

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the registry file format, plus ``namespace`` for manual regions)."""
        raw = asdict(self)
        raw["aoi"] = list(self.aoi) if self.aoi is not None else None
        raw["training_labels"] = [asdict(t) for t in self.training_labels]
        for source in [raw["prior_labels"], *raw["training_labels"]]:
            if source["code_map"] is None:
                del source["code_map"]
            else:
                source["code_map"] = {str(k): v for k, v in sorted(source["code_map"].items())}
        if not self.namespace:
            del raw["namespace"]
        if not self.review_required:  # the default: region files and requests stay as they were
            del raw["review_required"]
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Region:
        """The Region of :meth:`to_dict` (e.g. back from XCom), validated again.

        Registered regions need ``{vintage}`` in their imagery path; manual ones name a prefix.
        """
        if not isinstance(raw, dict):
            raise InputError(f"a region must be a JSON object, got {type(raw).__name__}")
        namespace = raw.get("namespace", "")
        if namespace not in NAMESPACES:
            raise InputError(f"region namespace must be one of {list(NAMESPACES)}, got {namespace!r}")
        return _region_from_model(_validated(raw, manual=namespace == MANUAL_NAMESPACE))


class _LabelSourceModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=100)
    year: int
    path: str = Field(min_length=1, max_length=1000)
    code_map: dict[int, int] | None = None

    @field_validator("year")
    @classmethod
    def _year(cls, value: int) -> int:
        return validate_year(value, "year")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_lake_path_syntax(value, "label path")

    @field_validator("code_map")
    @classmethod
    def _code_map(cls, value: dict[int, int] | None) -> dict[int, int] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("code_map is empty: leave it out instead")
        for source, target in value.items():
            if not (0 <= source <= 65535 and 0 <= target <= 255):
                raise ValueError(f"code_map {source} -> {target}: source codes 0..65535, NLCD codes 0..255")
        return value


class _RegionModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=REGION_ID_PATTERN.pattern)
    crs: str = Field(pattern=CRS_PATTERN)
    imagery: str = Field(min_length=1, max_length=1000)
    prior_labels: _LabelSourceModel
    title: str = Field(default="", max_length=200)
    tile_size_m: float = DEFAULT_TILE_SIZE_M
    aoi: Any = None
    model_name: str = Field(default=DEFAULT_MODEL_NAME, pattern=MODEL_NAME_PATTERN)
    model_ref: str = Field(default=DEFAULT_MODEL_REF, pattern=MODEL_REF_PATTERN)
    schedule: str | None = Field(default=DEFAULT_SCHEDULE, max_length=100)
    start_year: int = 2009
    training_labels: list[_LabelSourceModel] = Field(default_factory=list)
    namespace: str = ""
    republish_on_model_change: StrictBool = True
    review_required: StrictBool = False
    manual: bool = Field(default=False, exclude=True)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        return None if value is None else validate_schedule(value)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if value in RESERVED_IDS:
            raise ValueError(f"region id {value!r} is reserved (a folder of the lake layout)")
        return value

    @field_validator("tile_size_m")
    @classmethod
    def _tile_size(cls, value: float) -> float:
        if not (math.isfinite(value) and MIN_TILE_SIZE_M <= value <= MAX_TILE_SIZE_M):
            raise ValueError(f"tile_size_m must be a finite size in {MIN_TILE_SIZE_M:g}..{MAX_TILE_SIZE_M:g} m")
        return value

    @field_validator("start_year")
    @classmethod
    def _start_year(cls, value: int) -> int:
        return validate_year(value, "start_year")

    @field_validator("aoi")
    @classmethod
    def _aoi(cls, value: Any) -> Bounds | None:
        return parse_aoi(value)

    @field_validator("imagery")
    @classmethod
    def _imagery(cls, value: str) -> str:
        path_template_fields(value, "imagery path")
        return value

    @model_validator(mode="after")
    def _vintage_template(self) -> _RegionModel:
        if not self.manual and "{vintage}" not in self.imagery:
            raise ValueError(f"imagery path must contain {{vintage}}: {self.imagery!r}")
        return self


def path_template_fields(template: str, what: str) -> set[str]:
    """The fields a lake path template uses, of {region} and {vintage}; InputError (a
    ValueError) for a template that is not a lake path, does not parse or uses other fields."""
    check_lake_path_syntax(template, what)
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise InputError(f"{what} is not a valid template: {exc}") from exc
    if names - TEMPLATE_FIELDS:
        raise InputError(f"{what} may only use {{region}} and {{vintage}}, not {sorted(names - TEMPLATE_FIELDS)}")
    return names


def _field_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, message) pairs of a pydantic error, in words a region author understands."""
    out = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(file)"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown field {where!r}"
        elif error["type"] == "missing":
            message = f"missing field {where!r}"
        out.append((where, message))
    return out


def _validated(raw: dict[str, Any], manual: bool = False) -> _RegionModel:
    if not isinstance(raw, dict):
        raise InputError(f"a region must be a JSON object, got {type(raw).__name__}")
    if "manual" in raw:
        raise InputError(f"region {raw.get('id')!r}: unknown field 'manual'")
    try:
        return _RegionModel.model_validate({**raw, "manual": manual})
    except ValidationError as exc:
        for error in exc.errors():  # a URI leaving the lake keeps its own error class
            cause = (error.get("ctx") or {}).get("error")
            if isinstance(cause, LakeBoundaryError):
                where = ".".join(str(part) for part in error["loc"])
                raise LakeBoundaryError(cause.uri, f"region {raw.get('id')!r}: {where}: {cause.reason}") from exc
        problems = "; ".join(f"{where}: {message}" for where, message in _field_errors(exc))
        raise InputError(f"region {raw.get('id')!r}: malformed entry: {problems}") from exc


def _label_source(model: _LabelSourceModel) -> LabelSource:
    return LabelSource(model.source, model.year, model.path, dict(model.code_map) if model.code_map else None)


def _region_from_model(model: _RegionModel) -> Region:
    return Region(
        id=model.id,
        crs=model.crs,
        imagery=model.imagery,
        prior_labels=_label_source(model.prior_labels),
        title=model.title,
        tile_size_m=float(model.tile_size_m),
        aoi=model.aoi,
        model_name=model.model_name,
        model_ref=model.model_ref,
        schedule=model.schedule,
        start_year=model.start_year,
        training_labels=tuple(_label_source(t) for t in model.training_labels),
        namespace=model.namespace,
        republish_on_model_change=model.republish_on_model_change,
        review_required=model.review_required,
    )


def validate_region_id(region_id: str) -> str:
    """Return ``region_id`` if it is a slug (lowercase letters, digits, dashes), else InputError."""
    if not isinstance(region_id, str) or not REGION_ID_PATTERN.match(region_id):
        raise InputError(
            f"region id {region_id!r} must be a slug: 3-50 lowercase letters, digits and dashes, starting with a letter"
        )
    if region_id in RESERVED_IDS:
        raise InputError(f"region id {region_id!r} is reserved (a folder of the lake layout)")
    return region_id


def region_from_dict(raw: dict[str, Any]) -> Region:
    """Build and validate a registered region from registry JSON (InputError naming the field)."""
    if isinstance(raw, dict) and raw.get("namespace"):
        raise InputError(f"region {raw.get('id')!r}: unknown field 'namespace' (registry files are not manual)")
    return _region_from_model(_validated(raw))


parse_bounds = parse_aoi  # the earlier name


# -- the registry -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegionFileError:
    """One region file that could not be loaded: the file, the field, and why."""

    path: str
    field: str
    message: str

    @property
    def region_id(self) -> str:
        """The id the file's name claims (its DAG's id, so the error lands on it), made DAG-id safe."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(self.path).stem)[:200] or "unnamed"

    def __str__(self) -> str:
        return f"{self.path}: field {self.field}: {self.message}"


@dataclass(frozen=True)
class RegionsReport:
    """The good regions of a registry folder and one error per bad file."""

    regions: dict[str, Region]
    errors: list[RegionFileError]

    def error_for(self, region_id: str) -> RegionFileError | None:
        """The error of the file named ``<region_id>.json``, if it is bad."""
        return next((e for e in self.errors if e.region_id == region_id), None)


def regions_dir() -> Path:
    """Folder of the region registry (``LANDSHIFT_REGIONS_DIR`` overrides the repo's)."""
    return Path(os.environ.get("LANDSHIFT_REGIONS_DIR", REGIONS_DIR))


def _load_file(path: Path) -> Region | RegionFileError:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return RegionFileError(str(path), "(file)", f"not valid JSON: {exc}")
    except OSError as exc:
        return RegionFileError(str(path), "(file)", f"unreadable: {exc}")
    if not isinstance(raw, dict):
        return RegionFileError(str(path), "(file)", f"must hold a JSON object, holds {type(raw).__name__}")
    if "namespace" in raw or "manual" in raw:
        key = "namespace" if "namespace" in raw else "manual"
        return RegionFileError(str(path), key, f"unknown field {key!r}")
    try:
        region = _region_from_model(_RegionModel.model_validate(raw))
    except ValidationError as exc:
        where, message = _field_errors(exc)[0]
        more = len(exc.errors()) - 1
        return RegionFileError(str(path), where, message + (f" (and {more} more problem(s))" if more else ""))
    if path.stem != region.id:
        return RegionFileError(str(path), "id", f"file name must be the region id {region.id!r}")
    return region


def load_regions_report(folder: Path | None = None) -> RegionsReport:
    """Every region file of the registry, each validated on its own."""
    folder = folder or regions_dir()
    regions: dict[str, Region] = {}
    errors: list[RegionFileError] = []
    for path in sorted(folder.glob("*.json")):
        loaded = _load_file(path)
        if isinstance(loaded, RegionFileError):
            log.error("Region file skipped: %s", loaded)
            errors.append(loaded)
        else:
            regions[loaded.id] = loaded
    return RegionsReport(regions, errors)


def load_regions(folder: Path | None = None) -> dict[str, Region]:
    """Every valid region of the registry, by id (bad files are logged and left out)."""
    return load_regions_report(folder).regions


def get_region(region_id: str, folder: Path | None = None) -> Region:
    """One region by id; InputError naming the file and field if its file is bad, else NotFoundError."""
    validate_region_id(region_id)
    report = load_regions_report(folder)
    if region_id in report.regions:
        return report.regions[region_id]
    error = report.error_for(region_id)
    if error is not None:
        raise InputError(f"region file is invalid: {error}")
    raise NotFoundError(f"unknown region {region_id!r}; registered: {sorted(report.regions)}")


# -- manual regions -----------------------------------------------------------------------------------
def _text(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    return "" if value is None else str(value).strip()


def _code_map_param(value: Any) -> dict[int, int] | None:
    if value in (None, "", {}):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InputError(f"code_map is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InputError(f"code_map must be a JSON object of code -> NLCD code, got {value!r}")
    return value


def manual_region(params: dict[str, Any], lake_root: str, registered: set[str] | None = None) -> Region:
    """The Region of a manual trigger form, validated before any work starts.

    The id may not be a registered region's (``registered``, default: the registry's ids and
    bad files' names): manual runs live in their own namespace and publish under
    ``published/manual/<id>/<vintage>/``. Imagery and label URIs must resolve inside the lake.
    """
    region_id = validate_region_id(_text(params, "region_id"))
    if registered is None:
        report = load_regions_report()
        registered = set(report.regions) | {e.region_id for e in report.errors}
    if region_id in registered:
        raise ProductConflictError(
            f"region_id {region_id!r} is a registered region: a manual run cannot write into its products; "
            "choose another id"
        )
    imagery = _text(params, "imagery_uri")
    prior_path = _text(params, "prior_labels_uri")
    if not imagery:
        raise InputError("imagery_uri is required (a lake path or prefix holding the GeoTIFF scenes)")
    if not prior_path:
        raise InputError("prior_labels_uri is required (a single-band NLCD-coded raster)")
    imagery_uri = confine_uri(lake_root, imagery, what="imagery_uri")
    prior_uri = confine_uri(lake_root, prior_path, what="prior_labels_uri")
    prior_year = validate_year(params.get("prior_year"), "prior_year")
    crs = _text(params, "crs")
    if not crs:
        from landshift.imagery.planning import first_scene_crs
        from landshift.lake.factory import open_lake

        crs = first_scene_crs(open_lake(lake_root), imagery_uri)
    else:
        from landshift.imagery.scenes import check_grid_crs

        check_grid_crs(crs)  # metres on the ground: no feet, no Web Mercator
    try:
        tile_size_m = float(params.get("tile_size_m") if params.get("tile_size_m") is not None else 224)
    except (TypeError, ValueError) as exc:
        raise InputError(f"tile_size_m must be a number, got {params.get('tile_size_m')!r}") from exc
    raw = {
        "id": region_id,
        "title": f"{region_id} (manual)",
        "crs": crs,
        "imagery": imagery_uri,
        "prior_labels": {
            "source": f"manual-{prior_year}",
            "year": prior_year,
            "path": prior_uri,
            **({"code_map": code_map} if (code_map := _code_map_param(params.get("code_map"))) else {}),
        },
        "tile_size_m": tile_size_m,
        "aoi": params.get("aoi"),
        "model_name": _text(params, "model_name") or DEFAULT_MODEL_NAME,
        "model_ref": _text(params, "model_ref") or DEFAULT_MODEL_REF,
        "schedule": None,
        "namespace": MANUAL_NAMESPACE,
    }
    return Region.from_dict(raw)


def replacement_differences(summary: dict[str, Any], region: Region, scenes: list[str], prior_uri: str) -> list[str]:
    """What differs between a published product's recorded inputs and a new run's."""
    recorded = {
        "crs": (summary.get("raster") or {}).get("crs"),
        "tile_size_m": (summary.get("raster") or {}).get("tile_size_m"),
        "prior_labels": (summary.get("prior") or {}).get("uri"),
        "model_name": (summary.get("model") or {}).get("name"),
        "model_ref": (summary.get("model") or {}).get("ref"),
        "imagery": sorted((summary.get("inputs") or {}).get("imagery") or []),
    }
    new = {
        "crs": region.crs,
        "tile_size_m": float(region.tile_size_m),
        "prior_labels": prior_uri,
        "model_name": region.model_name,
        "model_ref": region.model_ref,
        "imagery": sorted(scenes),
    }
    if "aoi" in summary:
        recorded["aoi"] = summary["aoi"]
        new["aoi"] = list(region.aoi) if region.aoi else None
    differences = []
    for key, value in new.items():
        old = recorded[key]
        if key == "tile_size_m" and old is not None:
            old = float(old)
        if old != value:
            differences.append(f"{key}: published {old!r}, requested {value!r}")
    return differences


def check_replacement(
    lake: Any,
    published_uri: str,
    region: Region,
    scenes: list[str],
    prior_uri: str,
    replace_existing: bool = False,
) -> list[str]:
    """Refuse to replace a published product made from other inputs unless ``replace_existing``.

    Returns the differences (empty when nothing is published yet or the inputs are the same,
    so reruns stay idempotent); raises ProductConflictError listing them otherwise.
    """
    from landshift.lake.base import read_json

    summary_uri = f"{published_uri.rstrip('/')}/summary.json"
    if not lake.exists(summary_uri):
        return []
    differences = replacement_differences(read_json(lake, summary_uri), region, scenes, prior_uri)
    if differences and not replace_existing:
        raise ProductConflictError(
            f"{published_uri} was published from other inputs ({'; '.join(differences)}); "
            "set replace_existing to replace it, or choose another region_id"
        )
    return differences
