"""Task bodies of the training DAG."""

from __future__ import annotations

import logging
from typing import Any

from landshift_airflow.errors import fail_fast_on_bad_input
from landshift_airflow.settings import lake_root

log = logging.getLogger(__name__)

SPEC_PARAMS = ("backbone", "input_size", "composite")


def request_from(params: dict[str, Any]):
    """A validated TrainingRequest from the DAG's params."""
    from landshift.regions import get_region
    from landshift.train_run import TrainingRequest

    overrides = {key: params[key] for key in SPEC_PARAMS if params.get(key) not in (None, "", 0)}
    return TrainingRequest(
        lake_root=lake_root(),
        region=get_region(str(params["region"])),
        label_years=tuple(int(y) for y in params["label_years"]),
        model_name=str(params["model_name"]),
        spec_overrides=overrides,
        seed=int(params["seed"]),
        augment=bool(params["augment"]),
        min_agreement=float(params["min_agreement"]),
        promote_alias=str(params.get("promote_alias") or ""),
        labels_uri=str(params.get("labels_uri") or ""),
        split_block_tiles=int(params.get("split_block_tiles", 4)),
        validation_share=float(params.get("validation_share", 0.25)),
    )


@fail_fast_on_bad_input
def prepare() -> dict:
    """Plan labelled tiles and write the spec; returns URIs for the feature job."""
    from airflow.sdk import get_current_context

    from landshift.train_run import prepare as prepare_stage

    return prepare_stage(request_from(get_current_context()["params"]))


def feature_args(source_task: str = "prepare_training") -> list[str]:
    """Templated arguments of the feature job, filled from ``source_task``'s XCom."""
    from landshift_airflow.spark import xcom_args

    augment = "{{ '--augment' if ti.xcom_pull(task_ids='" + source_task + "')['augment'] else '--features' }}"
    return [
        *xcom_args(
            source_task,
            {
                "--lake-root": "lake_root",
                "--tiles": "tiles_uri",
                "--out": "features_uri",
                "--spec": "spec_uri",
                "--crs": "crs",
                "--tile-size-m": "tile_size_m",
            },
        ),
        augment,
    ]


@fail_fast_on_bad_input
def train_and_register(prepared: dict) -> dict:
    """Train, evaluate, register; log the headline metrics."""
    from airflow.sdk import get_current_context

    from landshift.train_run import train_and_register as train_stage

    result = train_stage(request_from(get_current_context()["params"]), prepared)
    log.info(
        "LandShift model %s version %s registered at %s; metrics %s",
        result["model_name"],
        result["model_version"],
        result["uri"],
        result["metrics"],
    )
    return result
