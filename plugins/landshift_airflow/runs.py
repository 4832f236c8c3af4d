"""Task bodies of the region DAGs: turn Airflow context into library calls and small XCom dicts.

Heavy libraries are imported inside the functions, so DAG parsing stays cheap.
"""

from __future__ import annotations

import logging
from typing import Any

from landshift_airflow.errors import fail_fast_on_bad_input
from landshift_airflow.settings import lake_root

log = logging.getLogger(__name__)


def _context() -> dict[str, Any]:
    from airflow.sdk import get_current_context

    return get_current_context()


def vintage_of(context: dict[str, Any]) -> str:
    """The vintage a run processes: the ``vintage`` param, else the year of its data interval."""
    vintage = str(context["params"].get("vintage") or "").strip()
    if vintage:
        return vintage
    for key in ("data_interval_start", "logical_date", "run_after"):
        moment = context.get(key)
        if moment is not None:
            return str(moment.year)
    raise ValueError("cannot tell the vintage: no vintage param and no data interval")


def _region(raw: dict):
    """The run's Region back from its XCom dict, as validated by the first task.

    Not ``region_from_dict``: that checks registry entries, and a manual region's imagery is a
    concrete prefix without ``{vintage}``.
    """
    from landshift.regions import LabelSource, Region

    return Region(
        **{
            **raw,
            "prior_labels": LabelSource(**raw["prior_labels"]),
            "training_labels": tuple(LabelSource(**t) for t in raw.get("training_labels") or ()),
            "aoi": tuple(raw["aoi"]) if raw.get("aoi") else None,
        }
    )


def _request(run: dict):
    from landshift.stages import RunRequest

    lake_root()  # every task is its own process: export the lake connection's credentials here too
    return RunRequest(run["lake_root"], _region(run["region"]), run["vintage"], run["model_ref"])


def _rule(run: dict):
    from landshift.change import ChangeRule

    return ChangeRule(run["min_probability"], run["min_prior_agreement"])


def start_run(region, context: dict[str, Any]) -> dict:
    """Validate a run's inputs; skip the run cleanly when its vintage has no imagery yet."""
    from airflow.sdk.exceptions import AirflowSkipException

    from landshift.change import ChangeRule
    from landshift.stages import RunRequest, find_imagery, validate_inputs

    params = context["params"]
    rule = ChangeRule(float(params.get("min_probability", 0.7)), float(params.get("min_prior_agreement", 0.6)))
    request = RunRequest(lake_root(), region, vintage_of(context), params.get("model_ref") or None)
    if not find_imagery(request):
        message = (
            f"No imagery for region {region.id} vintage {request.vintage} under {request.imagery_uri}: nothing to do"
        )
        log.info(message)
        raise AirflowSkipException(message)
    checked = validate_inputs(request)
    run = {
        "lake_root": request.lake_root,
        "region": region.to_dict(),
        "region_id": region.id,
        "vintage": request.vintage,
        "model_ref": request.model_reference,
        "model_name": checked["model_name"],
        "model_version": checked["model_version"],
        "scenes": checked["scenes"],
        "crs": region.crs,
        "tile_size_m": region.tile_size_m,
        "tiles_uri": request.layout.tiles,
        "predictions_uri": request.layout.predictions,
        "min_probability": rule.min_probability,
        "min_prior_agreement": rule.min_prior_agreement,
    }
    log.info(
        "Run %s %s with model %s version %s on %d scene(s)",
        region.id,
        request.vintage,
        run["model_name"],
        run["model_version"],
        len(run["scenes"]),
    )
    return run


@fail_fast_on_bad_input
def validate_scheduled(region_id: str) -> dict:
    """First task of a registered region's DAG."""
    from landshift.regions import get_region

    return start_run(get_region(region_id), _context())


@fail_fast_on_bad_input
def plan(run: dict) -> dict:
    """Plan tiles and aggregate priors for the run."""
    from landshift.stages import plan as plan_stage

    return plan_stage(_request(run), run["scenes"])


def score_args(source_task: str = "validate_inputs") -> list[str]:
    """Templated arguments of the scoring job, filled from ``source_task``'s XCom run dict."""
    from landshift_airflow.spark import xcom_args

    return xcom_args(
        source_task,
        {
            "--lake-root": "lake_root",
            "--tiles": "tiles_uri",
            "--out": "predictions_uri",
            "--model-name": "model_name",
            "--model-version": "model_version",
            "--crs": "crs",
            "--tile-size-m": "tile_size_m",
        },
    )


@fail_fast_on_bad_input
def detect_change(run: dict) -> dict:
    """Compare the scored tiles with the prior labels."""
    from landshift.stages import detect_change as change_stage

    return change_stage(_request(run), _rule(run))


@fail_fast_on_bad_input
def publish(run: dict) -> dict:
    """Publish the product and log where it is."""
    from landshift.stages import publish as publish_stage

    published = publish_stage(_request(run), _rule(run), run["model_version"], run["scenes"])
    log.info(
        "Published %s: %d tiles scored, %d changed (%.3f km²)",
        published["published_uri"],
        published["tiles_scored"],
        published["tiles_changed"],
        published["changed_area_km2"],
    )
    return published


def log_failure(context: dict[str, Any]) -> None:
    """DAG failure callback: one clear line naming the run and the failed task."""
    task_instance = context.get("task_instance") or context.get("ti")
    log.error(
        "LandShift run %s failed in task %s: %s",
        context.get("run_id"),
        getattr(task_instance, "task_id", "?"),
        context.get("exception"),
    )


def manual_region(params: dict[str, Any]):
    """A Region built from the manual trigger form, validated before any work starts."""
    from landshift.errors import InputError
    from landshift.regions import LabelSource, Region, parse_bounds, resolve_path, validate_region_id
    from landshift.stages import imagery_crs

    region_id = validate_region_id(str(params.get("region_id", "")).strip())
    imagery = str(params.get("imagery_uri", "")).strip()
    prior_path = str(params.get("prior_labels_uri", "")).strip()
    if not imagery:
        raise InputError("imagery_uri is required (a lake path or prefix holding the GeoTIFF scenes)")
    if not prior_path:
        raise InputError("prior_labels_uri is required (a single-band NLCD-coded raster)")
    crs = str(params.get("crs") or "").strip() or imagery_crs(resolve_path(lake_root(), imagery))
    return Region(
        id=region_id,
        title=f"{region_id} (manual)",
        crs=crs,
        imagery=imagery,
        prior_labels=LabelSource(
            source=f"manual-{params.get('prior_year')}", year=int(params.get("prior_year")), path=prior_path
        ),
        tile_size_m=float(params.get("tile_size_m", 224)),
        aoi=parse_bounds(params.get("aoi")),
        model_name=str(params.get("model_name", "")).strip(),
        model_ref=str(params.get("model_ref") or "production").strip(),
        schedule=None,
    )


@fail_fast_on_bad_input
def validate_manual() -> dict:
    """First task of the manual-trigger DAG."""
    context = _context()
    return start_run(manual_region(context["params"]), context)
