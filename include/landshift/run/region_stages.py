"""Pipeline stages of a region run, as plain functions of lake URIs that return small summaries.

Airflow tasks call these (XCom carries what they return: URIs and counts, never pixels); tests
call them directly. Every stage overwrites only its own run's paths, so a retry is safe.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd

from landshift.change.policy import ChangeRule
from landshift.change.rules import change_summary, compare
from landshift.core.errors import InputError, NoImageryError, NotFoundError
from landshift.core.grid import tile_ids
from landshift.core.legend import DEFAULT_LEGEND
from landshift.imagery.planning import DEFAULT_TILES_PER_TASK
from landshift.lake.base import Lake, read_table, write_table
from landshift.regions.requests import RunRequest

if TYPE_CHECKING:
    from landshift.products.report_html import ChipSources

log = logging.getLogger(__name__)


def find_imagery(request: RunRequest) -> list[str]:
    """The vintage's scenes, or an empty list when none has arrived yet."""
    from landshift.imagery.planning import discover_scenes

    try:
        return discover_scenes(request.lake, request.imagery_uri)
    except NotFoundError:
        return []


def validate_inputs(request: RunRequest) -> dict:
    """Check every input before any output is written; raise with the specific problem."""
    from landshift.imagery.planning import (
        check_single_vintage,
        check_work_limits,
        inspect_scenes,
        intersect,
        write_scene_infos,
    )
    from landshift.imagery.scenes import check_raster_file
    from landshift.labels.prior import check_label_codes
    from landshift.model.registry import verify_version, version_digests
    from landshift.regions.registry import check_replacement

    lake = request.lake
    scenes = find_imagery(request)
    if not scenes:
        raise NoImageryError(f"no imagery for {request.region.id} {request.vintage} under {request.imagery_uri}")
    if request.region.is_manual:  # a region's root given as the prefix mixes vintages
        check_single_vintage(scenes, request.imagery_uri, request.vintage)
    headers = inspect_scenes(lake, scenes, request.grid, deep=False)  # headers only: geometry, CRS
    check_work_limits(headers, request.grid, request.aoi_in_grid)  # before any pixel is read
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
    check_label_codes(lake.gdal_path(request.prior_uri), DEFAULT_LEGEND, request.region.prior_labels.code_map)
    if request.region.is_manual:
        check_replacement(
            lake, request.layout.published, request.region, scenes, request.prior_uri, request.replace_existing
        )
    version = verify_version(lake, request.region.model_name, request.model_reference)  # digests, fit
    check_work_limits(infos, request.grid, request.aoi_in_grid, input_size_px=version.spec.input_size)
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
        "fingerprint": {
            **input_fingerprint(request, version.version),
            "digests": made_from(infos, version_digests(lake, version)),
        },
    }


def made_from(infos: list, model_digests: dict[str, str]) -> dict:
    """The digests a product records of what it was made from: each model file's sha256 (and the
    backbone's), each scene's ``size:revision`` as validation inspected it."""
    return {"model": dict(model_digests), "scenes": {info.uri: info.revision for info in infos}}


def input_fingerprint(request: RunRequest, model_version: str) -> dict:
    """What the product is made from (scene manifest, prior labels, model version), taken before any
    work so that a scene replaced mid-run leaves the product stale for the next scheduled run."""
    from landshift.regions.vintages import product_fingerprint

    return product_fingerprint(request.lake, request.region, request.vintage, model_version).to_dict()


def scene_infos_uri(request: RunRequest) -> str:
    """Where validation keeps the scenes it inspected, for plan to reuse."""
    return f"{request.layout.work}/scenes.json"


def plan(request: RunRequest, scenes: list[str], tiles_per_task: int = DEFAULT_TILES_PER_TASK) -> dict:
    """Plan tiles on the grid and aggregate the prior labels to them; write both tables.

    The scenes validation inspected are reused (read from the run's work folder); they are
    inspected again only when that record is missing or lists other scenes.
    """
    from landshift.imagery.planning import plan_tiles, read_scene_infos
    from landshift.labels.prior import aggregate_labels

    lake = request.lake
    infos = read_scene_infos(lake, scene_infos_uri(request)) if lake.exists(scene_infos_uri(request)) else None
    if infos is not None and [info.uri for info in infos] != list(scenes):
        infos = None
    tile_plan = plan_tiles(lake, scenes, request.grid, request.aoi_in_grid, tiles_per_task, scenes=infos)
    write_table(lake, request.layout.tiles, tile_plan.tiles)
    priors = aggregate_labels(
        lake.gdal_path(request.prior_uri),
        request.grid,
        DEFAULT_LEGEND,
        tile_plan.bounds,
        code_map=request.region.prior_labels.code_map,
        check_codes=False,  # validate_inputs checked them
    )
    write_table(lake, request.layout.priors, priors)
    return {
        **tile_plan.summary(),
        "tiles_uri": request.layout.tiles,
        "priors_uri": request.layout.priors,
        "prior_tiles": len(priors),
    }


def score_job_args(request: RunRequest, model_version: str) -> list[str]:
    """Arguments of ``jobs/score_tiles.py`` for this run (device settings are added by the submitter)."""
    return [
        "--lake-root",
        request.lake_root,
        "--tiles",
        request.layout.tiles,
        "--out",
        request.layout.predictions,
        "--model-name",
        request.region.model_name,
        "--model-version",
        model_version,
        "--crs",
        request.region.crs,
        "--tile-size-m",
        str(request.region.tile_size_m),
    ]


def scored_predictions(lake: Lake, predictions_uri: str) -> tuple[pd.DataFrame, dict]:
    """The scored rows of a predictions table, and counts of scored and skipped tiles."""
    from landshift.scoring.batch import STATUS_SCORED

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
    region_root = request.layout.published.rsplit("/", 1)[0]
    vintages = {
        uri[len(region_root) :].strip("/").split("/")[0] for uri in lake.list_files(region_root, "summary.json")
    }
    earlier = sorted(v for v in vintages if v.isdigit() and v < request.vintage)
    return earlier[-1] if earlier else None


def published_classes(lake: Lake, published_uri: str) -> pd.DataFrame:
    """Per-tile classes of a published ``landuse.tif`` (prior_agreement 1: a map, not a mix)."""
    import numpy as np
    import rasterio

    from landshift.lake.base import local_copy

    with local_copy(lake, f"{published_uri}/landuse.tif") as path, rasterio.open(path) as src:
        classes = src.read(1)
        size = src.transform.a
        col0, row_top = round(src.transform.c / size), round(src.transform.f / size)
    rows, cols = np.nonzero(classes)
    return pd.DataFrame(
        {
            "tile_id": tile_ids(col0 + cols, row_top - 1 - rows),
            "prior_class": classes[rows, cols].astype(int),
            "prior_agreement": 1.0,
        }
    )


def change_since_previous(request: RunRequest, scored: pd.DataFrame, rule: ChangeRule) -> dict | None:
    """Change between this vintage's predictions and the previous published vintage's map."""
    previous = previous_vintage(request)
    if previous is None:
        return None
    earlier = published_classes(request.lake, request.with_vintage(previous).layout.published)
    changes = compare(scored, earlier, ChangeRule(rule.min_probability, 0.0))
    return {
        "previous_vintage": previous,
        **change_summary(changes, DEFAULT_LEGEND.codes, request.grid.tile_size_m, rule),
    }


def chip_sources(request: RunRequest, scenes: list[str]) -> ChipSources:
    """Imagery for the report's chips: this vintage after; before, the prior labels' year (what the
    change is measured against), else the previous published vintage, else none."""
    from landshift.products.report_html import ChipSources

    lake = request.lake
    before: list[str] = []
    caption = "no earlier imagery in the lake"
    prior_year = str(request.region.prior_labels.year)
    candidates = [(prior_year, f"{prior_year} imagery (the year of the prior labels)")]
    previous = previous_vintage(request)
    if previous is not None:
        candidates.append((previous, f"{previous} imagery (the previous published vintage)"))
    for vintage, label in candidates:
        if vintage == request.vintage:
            continue
        found = find_imagery(RunRequest(request.lake_root, request.region, vintage))
        if found:
            before, caption = [lake.gdal_path(s) for s in found], label
            break
    return ChipSources(
        after_scenes=[lake.gdal_path(s) for s in scenes],
        after_caption=f"{request.vintage} imagery (this vintage)",
        before_scenes=before,
        before_caption=caption,
    )


def publish(
    request: RunRequest, rule: ChangeRule, model_version: str, scenes: list[str], fingerprint: dict | None = None
) -> dict:
    """Build the product files and move them into ``published/<region>/<vintage>/``; refresh the STAC catalog."""
    from landshift.products.publish import publish_product

    lake = request.lake
    scored, counts = scored_predictions(lake, request.layout.predictions)
    changes = read_table(lake, request.layout.changes)
    tile_km2 = (request.grid.tile_size_m / 1000.0) ** 2
    class_tiles = scored["class_code"].value_counts()
    summary = {
        "region": request.region.id,
        "vintage": request.vintage,
        "aoi": list(request.region.aoi) if request.region.aoi else None,
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
            "fingerprint": fingerprint or input_fingerprint(request, model_version),
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
        chips=chip_sources(request, scenes),
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
