"""Pipeline stages of a region run, as plain functions of lake URIs that return small summaries.

Airflow tasks call these (XCom carries what they return: URIs and counts, never pixels); tests
call them directly. Every stage overwrites only its own run's paths, so a retry is safe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from landshift.change import ChangeRule, change_summary, compare
from landshift.errors import InputError, NotFoundError
from landshift.grid import Bounds, TileGrid
from landshift.lake import Lake, open_lake, read_table, write_table
from landshift.legend import DEFAULT_LEGEND
from landshift.planning import DEFAULT_TILES_PER_TASK
from landshift.regions import Region, RunLayout, resolve_path

log = logging.getLogger(__name__)

VINTAGE_LENGTHS = (4, 8)


@dataclass(frozen=True)
class RunRequest:
    """One region and vintage to process against a lake."""

    lake_root: str
    region: Region
    vintage: str
    model_ref: str | None = None

    def __post_init__(self) -> None:
        if not (self.vintage.isdigit() and len(self.vintage) in VINTAGE_LENGTHS):
            raise InputError(f"vintage must be a year (YYYY) or a date (YYYYMMDD), got {self.vintage!r}")

    @property
    def lake(self) -> Lake:
        """The lake backend."""
        return open_lake(self.lake_root)

    @property
    def layout(self) -> RunLayout:
        """Where this run's tables and product live."""
        return RunLayout(self.lake_root, self.region.id, self.vintage)

    @property
    def grid(self) -> TileGrid:
        """The region's tile grid."""
        return TileGrid(self.region.crs, self.region.tile_size_m)

    @property
    def imagery_uri(self) -> str:
        """Lake URI of this vintage's imagery prefix."""
        return resolve_path(self.lake_root, self.region.imagery_prefix(self.vintage))

    @property
    def prior_uri(self) -> str:
        """Lake URI of the prior label raster."""
        return resolve_path(self.lake_root, self.region.prior_labels.path)

    @property
    def aoi_in_grid(self) -> Bounds | None:
        """The region's AOI (WGS84 lon/lat) as a box in the grid CRS, or None for everything."""
        if self.region.aoi is None:
            return None
        from rasterio.warp import transform_bounds

        from landshift.imagery import parse_crs

        return tuple(transform_bounds("EPSG:4326", parse_crs(self.region.crs), *self.region.aoi, densify_pts=21))

    @property
    def model_reference(self) -> str:
        """The model version or alias to score with."""
        return self.model_ref or self.region.model_ref


def find_imagery(request: RunRequest) -> list[str]:
    """The vintage's scenes, or an empty list when none has arrived yet."""
    from landshift.planning import discover_scenes

    try:
        return discover_scenes(request.lake, request.imagery_uri)
    except NotFoundError:
        return []


def imagery_crs(imagery_uri: str) -> str:
    """The CRS of the first scene under a prefix (the default grid CRS of a new region)."""
    import rasterio

    from landshift.imagery import crs_name, parse_crs
    from landshift.planning import discover_scenes

    lake = open_lake(imagery_uri if imagery_uri.startswith("abfss://") else "/")
    scenes = discover_scenes(lake, imagery_uri)
    with rasterio.open(lake.gdal_path(scenes[0])) as src:
        if src.crs is None:
            raise InputError(f"{scenes[0]}: not georeferenced")
        name = crs_name(src.crs)
    parse_crs(name)
    return name


def validate_inputs(request: RunRequest) -> dict:
    """Check every input before any output is written; raise with the specific problem."""
    from landshift.imagery import check_raster_file
    from landshift.planning import inspect_scenes, intersect, write_scene_infos
    from landshift.registry import resolve_version

    lake = request.lake
    scenes = find_imagery(request)
    if not scenes:
        raise NotFoundError(f"no imagery for {request.region.id} {request.vintage} under {request.imagery_uri}")
    infos = inspect_scenes(lake, scenes, request.grid)  # deep: blocks checked, radiometry kept for plan
    aoi = request.aoi_in_grid
    if aoi is not None and not any(intersect(aoi, info.footprint) for info in infos):
        raise InputError(
            f"AOI {list(request.region.aoi)} (lon/lat) does not intersect the imagery of "
            f"{request.region.id} {request.vintage}: {[list(i.footprint) for i in infos]} in {request.region.crs}"
        )
    if not lake.exists(request.prior_uri):
        raise NotFoundError(f"prior labels missing: {request.prior_uri}")
    check_raster_file(lake.gdal_path(request.prior_uri))  # truncation, corrupt blocks
    version = resolve_version(lake, request.region.model_name, request.model_reference)
    write_scene_infos(lake, scene_infos_uri(request), infos)
    log.info(
        "Inputs of %s %s: %d scene(s), prior %s, model %s version %s",
        request.region.id,
        request.vintage,
        len(infos),
        request.prior_uri,
        request.region.model_name,
        version.version,
    )
    return {
        "scenes": scenes,
        "model_name": request.region.model_name,
        "model_version": version.version,
        "prior_uri": request.prior_uri,
    }


def scene_infos_uri(request: RunRequest) -> str:
    """Where validation keeps the scenes it inspected, for plan to reuse."""
    return f"{request.layout.work}/scenes.json"


def plan(request: RunRequest, scenes: list[str], tiles_per_task: int = DEFAULT_TILES_PER_TASK) -> dict:
    """Plan tiles on the grid and aggregate the prior labels to them; write both tables.

    The scenes validation inspected are reused (read from the run's work folder); they are
    inspected again only when that record is missing or lists other scenes.
    """
    from landshift.labels import aggregate_labels
    from landshift.planning import plan_tiles, read_scene_infos

    lake = request.lake
    infos = read_scene_infos(lake, scene_infos_uri(request)) if lake.exists(scene_infos_uri(request)) else None
    if infos is not None and [info.uri for info in infos] != list(scenes):
        infos = None
    tile_plan = plan_tiles(lake, scenes, request.grid, request.aoi_in_grid, tiles_per_task, scenes=infos)
    write_table(lake, request.layout.tiles, tile_plan.tiles)
    priors = aggregate_labels(lake.gdal_path(request.prior_uri), request.grid, DEFAULT_LEGEND, tile_plan.bounds)
    write_table(lake, request.layout.priors, priors)
    return {
        **tile_plan.summary(),
        "tiles_uri": request.layout.tiles,
        "priors_uri": request.layout.priors,
        "prior_tiles": len(priors),
    }


def scored_predictions(lake: Lake, predictions_uri: str) -> tuple[pd.DataFrame, dict]:
    """The scored rows of a predictions table, and counts of scored and skipped tiles."""
    from landshift.scoring import STATUS_SCORED

    table = read_table(lake, predictions_uri)
    scored = table[table["status"] == STATUS_SCORED].reset_index(drop=True)
    counts = {
        "tiles_total": len(table),
        "tiles_scored": len(scored),
        "tiles_skipped_nodata": int(len(table) - len(scored)),
    }
    return scored, counts


def detect_change(request: RunRequest, rule: ChangeRule) -> dict:
    """Compare the scored tiles with the priors and write the change table."""
    lake = request.lake
    scored, counts = scored_predictions(lake, request.layout.predictions)
    priors = read_table(lake, request.layout.priors)
    changes = compare(scored, priors, rule)
    write_table(lake, request.layout.changes, changes)
    summary = change_summary(changes, DEFAULT_LEGEND.codes, request.grid.tile_size_m, rule)
    log.info(
        "Change %s %s: %d tiles changed (%.3f km²) of %d compared",
        request.region.id,
        request.vintage,
        summary["tiles_changed"],
        summary["changed_area_km2"],
        summary["tiles_compared"],
    )
    return {
        **counts,
        "changes_uri": request.layout.changes,
        "tiles_changed": summary["tiles_changed"],
        "changed_area_km2": summary["changed_area_km2"],
    }


def previous_vintage(request: RunRequest) -> str | None:
    """The latest vintage of this region published before this one, if any."""
    lake = request.lake
    region_root = RunLayout(request.lake_root, request.region.id, "").published.rstrip("/")
    vintages = {
        uri[len(region_root) :].strip("/").split("/")[0] for uri in lake.list_files(region_root, "summary.json")
    }
    earlier = sorted(v for v in vintages if v.isdigit() and v < request.vintage)
    return earlier[-1] if earlier else None


def published_classes(lake: Lake, published_uri: str) -> pd.DataFrame:
    """Per-tile classes of a published ``landuse.tif`` (prior_agreement 1: a map, not a mix)."""
    import numpy as np
    import rasterio

    from landshift.lake import local_copy

    with local_copy(lake, f"{published_uri}/landuse.tif") as path, rasterio.open(path) as src:
        classes = src.read(1)
        size = src.transform.a
        col0, row_top = round(src.transform.c / size), round(src.transform.f / size)
    rows, cols = np.nonzero(classes)
    return pd.DataFrame(
        {
            "tile_id": [f"E{col0 + c}_N{row_top - 1 - r}" for r, c in zip(rows, cols, strict=True)],
            "prior_class": classes[rows, cols].astype(int),
            "prior_agreement": 1.0,
        }
    )


def change_since_previous(request: RunRequest, scored: pd.DataFrame, rule: ChangeRule) -> dict | None:
    """Change between this vintage's predictions and the previous published vintage's map."""
    previous = previous_vintage(request)
    if previous is None:
        return None
    earlier = published_classes(request.lake, RunLayout(request.lake_root, request.region.id, previous).published)
    changes = compare(scored, earlier, ChangeRule(rule.min_probability, 0.0))
    return {
        "previous_vintage": previous,
        **change_summary(changes, DEFAULT_LEGEND.codes, request.grid.tile_size_m, rule),
    }


def publish(request: RunRequest, rule: ChangeRule, model_version: str, scenes: list[str]) -> dict:
    """Build the six product files and move them into ``published/<region>/<vintage>/``."""
    from landshift.publish import publish_product

    lake = request.lake
    scored, counts = scored_predictions(lake, request.layout.predictions)
    changes = read_table(lake, request.layout.changes)
    tile_km2 = (request.grid.tile_size_m / 1000.0) ** 2
    class_tiles = scored["class_code"].value_counts()
    summary = {
        "region": request.region.id,
        "vintage": request.vintage,
        "prior": {
            "source": request.region.prior_labels.source,
            "year": request.region.prior_labels.year,
            "uri": request.prior_uri,
        },
        "model": {
            "name": request.region.model_name,
            "version": model_version,
            "ref": request.model_reference,
        },
        "inputs": {
            "imagery": scenes,
            "prior_labels": request.prior_uri,
            "tiles": request.layout.tiles,
            "predictions": request.layout.predictions,
        },
        "tiles": counts,
        "class_tiles": {str(int(c)): int(n) for c, n in sorted(class_tiles.items())},
        "class_area_km2": {str(int(c)): round(int(n) * tile_km2, 6) for c, n in sorted(class_tiles.items())},
        "change": change_summary(changes, DEFAULT_LEGEND.codes, request.grid.tile_size_m, rule),
        "change_since_previous": change_since_previous(request, scored, rule),
    }
    published = publish_product(
        lake,
        request.layout.published,
        predictions=scored,
        changes=changes,
        legend=DEFAULT_LEGEND,
        grid=request.grid,
        summary=summary,
    )
    return {
        "published_uri": request.layout.published,
        "tiles_scored": counts["tiles_scored"],
        "tiles_skipped_nodata": counts["tiles_skipped_nodata"],
        "class_tiles": published["class_tiles"],
        "tiles_changed": published["change"]["tiles_changed"],
        "changed_area_km2": published["change"]["changed_area_km2"],
        "model_version": model_version,
    }
