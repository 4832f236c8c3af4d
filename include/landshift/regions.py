"""Regions as data: the registry of JSON files, validation, and the lake layout of a run."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from landshift.errors import InputError, NotFoundError
from landshift.grid import DEFAULT_TILE_SIZE_M, Bounds

REGION_ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,48}[a-z0-9]$")
REGIONS_DIR = Path(__file__).resolve().parents[1] / "regions"
DEFAULT_MODEL_NAME = "landshift-mobilenetv2"
DEFAULT_MODEL_REF = "production"


@dataclass(frozen=True)
class LabelSource:
    """A prior label raster: a name for it, its year, and its lake path (relative or absolute)."""

    source: str
    year: int
    path: str


@dataclass(frozen=True)
class Region:
    """One region: where its imagery and labels live in the lake and how it is processed."""

    id: str
    crs: str
    imagery: str
    prior_labels: LabelSource
    title: str = ""
    tile_size_m: float = DEFAULT_TILE_SIZE_M
    aoi: Bounds | None = None
    model_name: str = DEFAULT_MODEL_NAME
    model_ref: str = DEFAULT_MODEL_REF
    schedule: str | None = "0 6 * * *"  # cron, UTC; None: manual only
    start_year: int = 2009
    training_labels: tuple[LabelSource, ...] = field(default_factory=tuple)
    # Scheduled runs republish vintages made with another model version than the alias's current one.
    republish_on_model_change: bool = True

    def imagery_prefix(self, vintage: str) -> str:
        """Lake path of one vintage's imagery (``{vintage}`` filled in)."""
        return self.imagery.format(region=self.id, vintage=vintage)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the registry file format)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Region:
        """The region back from :meth:`to_dict` (already validated when it was first built)."""
        return cls(
            **{
                **raw,
                "prior_labels": LabelSource(**raw["prior_labels"]),
                "training_labels": tuple(LabelSource(**t) for t in raw.get("training_labels") or ()),
                "aoi": tuple(raw["aoi"]) if raw.get("aoi") else None,
            }
        )


def validate_region_id(region_id: str) -> str:
    """Return ``region_id`` if it is a slug (lowercase letters, digits, dashes), else InputError."""
    if not isinstance(region_id, str) or not REGION_ID_PATTERN.match(region_id):
        raise InputError(
            f"region id {region_id!r} must be a slug: 3-50 lowercase letters, digits and dashes, starting with a letter"
        )
    return region_id


def parse_bounds(value: Any, what: str = "AOI") -> Bounds | None:
    """A (minx, miny, maxx, maxy) box from a list/tuple, a GeoJSON geometry/feature, or None."""
    if value in (None, "", []):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InputError(f"{what} is not valid JSON: {exc}") from exc
    if isinstance(value, dict):
        return _geojson_bounds(value, what)
    try:
        minx, miny, maxx, maxy = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be [minx, miny, maxx, maxy] or GeoJSON, got {value!r}") from exc
    if not (minx < maxx and miny < maxy):
        raise InputError(f"{what} {value!r} encloses no area (need minx < maxx and miny < maxy)")
    return minx, miny, maxx, maxy


def _geojson_bounds(geojson: dict, what: str) -> Bounds:
    kind = geojson.get("type")
    if kind == "FeatureCollection":
        boxes = [_geojson_bounds(f, what) for f in geojson.get("features") or []]
        if not boxes:
            raise InputError(f"{what}: GeoJSON FeatureCollection has no features")
        return (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
    if kind == "Feature":
        geometry = geojson.get("geometry")
        if not isinstance(geometry, dict):
            raise InputError(f"{what}: GeoJSON Feature has no geometry")
        return _geojson_bounds(geometry, what)
    if kind not in ("Polygon", "MultiPolygon"):
        raise InputError(
            f"{what}: GeoJSON type must be Polygon, MultiPolygon, Feature or FeatureCollection, got {kind!r}"
        )
    points = list(_coordinates(geojson.get("coordinates"), what))
    if len(points) < 3:
        raise InputError(f"{what}: GeoJSON polygon needs at least 3 positions")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return parse_bounds([min(xs), min(ys), max(xs), max(ys)], what)  # type: ignore[return-value]


def _coordinates(value: Any, what: str):
    if isinstance(value, list | tuple) and len(value) >= 2 and all(isinstance(v, int | float) for v in value[:2]):
        yield float(value[0]), float(value[1])
        return
    if not isinstance(value, list | tuple) or not value:
        raise InputError(f"{what}: malformed GeoJSON coordinates")
    for item in value:
        yield from _coordinates(item, what)


def region_from_dict(raw: dict[str, Any]) -> Region:
    """Build and validate a region from registry JSON."""
    known = {f for f in Region.__dataclass_fields__}
    unknown = set(raw) - known
    if unknown:
        raise InputError(f"region {raw.get('id')!r}: unknown fields {sorted(unknown)}")
    try:
        prior = LabelSource(**raw["prior_labels"])
        training = tuple(LabelSource(**t) for t in raw.get("training_labels", ()))
        region = Region(
            **{
                **raw,
                "prior_labels": prior,
                "training_labels": training,
                "aoi": parse_bounds(raw.get("aoi")),
                "tile_size_m": float(raw.get("tile_size_m", DEFAULT_TILE_SIZE_M)),
            }
        )
    except (KeyError, TypeError) as exc:
        raise InputError(f"region {raw.get('id')!r}: malformed entry: {exc}") from exc
    validate_region_id(region.id)
    if "{vintage}" not in region.imagery:
        raise InputError(f"region {region.id}: imagery path must contain {{vintage}}: {region.imagery!r}")
    if not region.tile_size_m > 0:
        raise InputError(f"region {region.id}: tile_size_m must be positive")
    if not isinstance(region.republish_on_model_change, bool):
        raise InputError(f"region {region.id}: republish_on_model_change must be true or false")
    return region


def regions_dir() -> Path:
    """Folder of the region registry (``LANDSHIFT_REGIONS_DIR`` overrides the repo's)."""
    return Path(os.environ.get("LANDSHIFT_REGIONS_DIR", REGIONS_DIR))


def load_regions(folder: Path | None = None) -> dict[str, Region]:
    """Every region of the registry, by id."""
    folder = folder or regions_dir()
    regions: dict[str, Region] = {}
    for path in sorted(folder.glob("*.json")):
        region = region_from_dict(json.loads(path.read_text()))
        if path.stem != region.id:
            raise InputError(f"{path}: file name must be the region id {region.id!r}")
        regions[region.id] = region
    return regions


def get_region(region_id: str, folder: Path | None = None) -> Region:
    """One region by id; NotFoundError naming the known ones."""
    validate_region_id(region_id)
    regions = load_regions(folder)
    if region_id not in regions:
        raise NotFoundError(f"unknown region {region_id!r}; registered: {sorted(regions)}")
    return regions[region_id]


@dataclass(frozen=True)
class RunLayout:
    """Where one region-vintage run keeps its tables and its product in the lake."""

    lake_root: str
    region_id: str
    vintage: str
    run_key: str = ""

    def _join(self, *parts: str) -> str:
        return "/".join([self.lake_root.rstrip("/"), *parts])

    @property
    def work(self) -> str:
        """Intermediate tables of this run (its own folder when it has a run key)."""
        return self._join("work", self.region_id, self.vintage, *([self.run_key] if self.run_key else []))

    @property
    def tiles(self) -> str:
        """The tiles table."""
        return f"{self.work}/tiles.parquet"

    @property
    def priors(self) -> str:
        """Prior labels aggregated to the tiles."""
        return f"{self.work}/priors.parquet"

    @property
    def predictions(self) -> str:
        """The scoring job's output table (a directory of parts)."""
        return f"{self.work}/predictions"

    @property
    def changes(self) -> str:
        """The change table."""
        return f"{self.work}/changes.parquet"

    @property
    def published(self) -> str:
        """The published product directory."""
        return self._join("published", self.region_id, self.vintage)


def resolve_path(lake_root: str, path: str) -> str:
    """A lake URI for ``path``: absolute URIs unchanged, relative paths under the lake root."""
    if path.startswith(("/", "abfss://")):
        return path
    return "/".join([lake_root.rstrip("/"), path.lstrip("/")])


def manual_region(params: dict[str, Any], lake_root: str) -> Region:
    """A Region built from the manual trigger form, validated before any work starts."""
    region_id = validate_region_id(str(params.get("region_id", "")).strip())
    imagery = str(params.get("imagery_uri", "")).strip()
    prior_path = str(params.get("prior_labels_uri", "")).strip()
    if not imagery:
        raise InputError("imagery_uri is required (a lake path or prefix holding the GeoTIFF scenes)")
    if not prior_path:
        raise InputError("prior_labels_uri is required (a single-band NLCD-coded raster)")
    try:
        prior_year = int(params.get("prior_year"))
        tile_size_m = float(params.get("tile_size_m", DEFAULT_TILE_SIZE_M))
    except (TypeError, ValueError) as exc:
        raise InputError(f"prior_year and tile_size_m must be numbers: {exc}") from exc
    crs = str(params.get("crs") or "").strip()
    if not crs:
        from landshift.imagery import first_scene_crs
        from landshift.lake import open_lake

        crs = first_scene_crs(open_lake(lake_root), resolve_path(lake_root, imagery))
    return Region(
        id=region_id,
        title=f"{region_id} (manual)",
        crs=crs,
        imagery=imagery,
        prior_labels=LabelSource(source=f"manual-{prior_year}", year=prior_year, path=prior_path),
        tile_size_m=tile_size_m,
        aoi=parse_bounds(params.get("aoi")),
        model_name=str(params.get("model_name") or DEFAULT_MODEL_NAME).strip(),
        model_ref=str(params.get("model_ref") or DEFAULT_MODEL_REF).strip(),
        schedule=None,
    )
