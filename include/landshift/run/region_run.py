"""The region run as data: validate -> plan -> score (Spark) -> compare with the prior -> publish.

Importing this module is cheap (DAG files build their task graph from it); each stage imports its
work from :mod:`landshift.run.region_stages` when it runs.
"""

from __future__ import annotations

from typing import Any

from landshift.run.pipeline import Pipeline, Stage, State


def _run_request(raw: dict) -> Any:
    from landshift.regions.requests import RunRequest

    return RunRequest.from_dict(raw)


def _validate(request: Any, state: State) -> State:
    from landshift.run.region_stages import validate_inputs

    return validate_inputs(request)


def _plan(request: Any, state: State) -> State:
    from landshift.run.region_stages import plan

    return plan(request, state["scenes"])


def _score_args(request: Any, state: State) -> list[str]:
    from landshift.run.region_stages import score_job_args

    return score_job_args(request, state["model_version"])


def _score_here(request: Any, state: State) -> State:
    """The scoring job's work in this process (no Spark session given), same arguments, same table."""
    from landshift.scoring.batch import run_scoring_in_process
    from landshift.scoring.spark import scoring_config

    config, tiles_uri, out_uri = scoring_config(_score_args(request, state))
    return {"score_tiles": run_scoring_in_process(config, tiles_uri, out_uri)}


def _detect_change(request: Any, state: State) -> State:
    from landshift.run.region_stages import detect_change

    return detect_change(request, request.rule)


def _publish(request: Any, state: State) -> State:
    from landshift.run.region_stages import publish

    published = publish(request, request.rule, state["model_version"], state["scenes"], state.get("fingerprint"))
    if request.run_key:  # the run's own work folder: the product now holds what it made
        request.lake.delete(request.layout.work)
    if not request.region.namespace:  # the analysts' decisions outlive a model run (docs/review.md)
        from landshift.review.apply import reapply_reviews

        published = {**published, **reapply_reviews(request.lake, request.region.id, request.vintage)}
    return published


REGION_RUN = Pipeline(
    "region",
    (
        Stage("validate_inputs", _validate),
        Stage("plan_tiles", _plan),
        Stage("score_tiles", _score_here, spark_job="score_tiles", job_args=_score_args),
        Stage("detect_change", _detect_change),
        Stage("publish", _publish),
    ),
    _run_request,
)
