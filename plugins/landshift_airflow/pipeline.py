"""Task wiring shared by the scheduled region DAGs and the manual-trigger DAG."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from landshift_airflow import runs
from landshift_airflow.spark import lake_aware_operator

DEFAULT_ARGS = {
    "owner": "landshift",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "execution_timeout": timedelta(hours=2),
}


def change_params() -> dict:
    """Params of the change rule (shared by every region DAG)."""
    from airflow.sdk import Param

    return {
        "model_ref": Param(
            "",
            type=["null", "string"],
            title="Model version or alias",
            description="Empty: the region's default alias.",
        ),
        "min_probability": Param(
            0.7,
            type="number",
            minimum=0,
            maximum=1,
            title="Change: min model probability",
            description="A differing tile is reported as change only if the model is this sure.",
        ),
        "min_prior_agreement": Param(
            0.6,
            type="number",
            minimum=0,
            maximum=1,
            title="Change: min prior label agreement",
            description="...and its prior label covers at least this share of the tile.",
        ),
    }


def region_pipeline(start: Callable[[], dict], asset_uri: str) -> None:
    """validate_inputs -> plan_tiles -> score_tiles (Spark) -> detect_change -> publish (Asset)."""
    from airflow.sdk import Asset, task

    @task
    def validate_inputs() -> dict:
        return start()

    @task
    def plan_tiles(run: dict) -> dict:
        return runs.plan(run)

    score_tiles = lake_aware_operator("score_tiles", "score_tiles", runs.score_args("validate_inputs"))

    @task
    def detect_change(run: dict) -> dict:
        return runs.detect_change(run)

    @task(outlets=[Asset(asset_uri, group="landshift")])
    def publish(run: dict) -> dict:
        return runs.publish(run)

    run = validate_inputs()
    planned = plan_tiles(run)
    changed = detect_change(run)
    planned >> score_tiles >> changed
    changed >> publish(run)
