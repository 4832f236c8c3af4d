"""Adapter of the training DAG: params -> TrainingRequest -> a stage of TRAINING_STAGES -> XCom."""

from __future__ import annotations

import logging
from typing import Any

from landshift_airflow.errors import fail_fast_on_bad_input
from landshift_airflow.settings import lake_root

log = logging.getLogger(__name__)


def request_from(params: dict[str, Any]):
    """The validated TrainingRequest of the DAG's params."""
    from landshift.training_run import TrainingRequest

    return TrainingRequest.from_params(params, lake_root())


@fail_fast_on_bad_input
def run_stage(name: str, previous: dict | None) -> dict:
    """Run the library stage ``name`` on this run's request and the previous stage's result."""
    from airflow.sdk import get_current_context

    from landshift.training_run import run_stage as run_library_stage

    result = run_library_stage(name, request_from(get_current_context()["params"]), previous)
    if "model_version" in result:
        log.info(
            "LandShift model %s version %s registered at %s; metrics %s",
            result["model_name"],
            result["model_version"],
            result["uri"],
            result["metrics"],
        )
    return result


def feature_args(source_task: str) -> list[str]:
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
