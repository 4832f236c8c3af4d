"""The pipelines as data: the stages of a region run and of a training run, in order.

Each :class:`Stage` is a function of the run's request and its state so far (a small JSON-able
dict: what earlier stages found and wrote); it returns the entries it adds. A Spark stage names
its job under ``jobs/`` and builds the job's arguments instead. Airflow turns every stage into one
task (``plugins/landshift_airflow/tasks.py``), a Spark stage into a ``spark-submit``; tests, the
benchmark and the ADLS test pipeline call :func:`run_pipeline` with a local Spark session. The
order is written down here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

State = dict[str, Any]


@dataclass(frozen=True)
class Stage:
    """One step of a pipeline: a function of (request, state), or a Spark job and its arguments
    (a Spark stage may also have an in-process ``run``, used when no Spark session is given)."""

    name: str
    run: Callable[[Any, State], State] | None = None
    spark_job: str = ""
    job_args: Callable[[Any, State], list[str]] | None = None

    @property
    def on_spark(self) -> bool:
        """Whether the stage is a Spark job."""
        return bool(self.spark_job)


@dataclass(frozen=True)
class Pipeline:
    """A named sequence of stages and how to rebuild its request from a dict."""

    name: str
    stages: tuple[Stage, ...]
    request_from_dict: Callable[[dict], Any]

    def stage(self, name: str) -> Stage:
        """The stage called ``name``."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"pipeline {self.name} has no stage {name!r}; stages: {[s.name for s in self.stages]}")


# Region run: validate -> plan -> score (Spark) -> compare with the prior -> publish.


def _run_request(raw: dict) -> Any:
    from landshift.requests import RunRequest

    return RunRequest.from_dict(raw)


def _validate(request: Any, state: State) -> State:
    from landshift.stages import validate_inputs

    return validate_inputs(request)


def _plan(request: Any, state: State) -> State:
    from landshift.stages import plan

    return plan(request, state["scenes"])


def _score_args(request: Any, state: State) -> list[str]:
    from landshift.stages import score_job_args

    return score_job_args(request, state["model_version"])


def _score_here(request: Any, state: State) -> State:
    """The scoring job's work in this process (no Spark session given), same arguments, same table."""
    from landshift.scoring import run_scoring_in_process
    from landshift.spark_jobs import scoring_config

    config, tiles_uri, out_uri = scoring_config(_score_args(request, state))
    return {"score_tiles": run_scoring_in_process(config, tiles_uri, out_uri)}


def _detect_change(request: Any, state: State) -> State:
    from landshift.stages import detect_change

    return detect_change(request, request.rule)


def _publish(request: Any, state: State) -> State:
    from landshift.stages import publish

    published = publish(request, request.rule, state["model_version"], state["scenes"], state.get("fingerprint"))
    if request.run_key:  # the run's own work folder: the product now holds what it made
        request.lake.delete(request.layout.work)
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


# Training run: labelled tiles -> embeddings (Spark) -> head, evaluation, registry.


def _training_request(raw: dict) -> Any:
    from landshift.training_run import TrainingRequest

    return TrainingRequest.from_dict(raw)


def _prepare_training(request: Any, state: State) -> State:
    from landshift.training_run import prepare

    return prepare(request)


def _feature_args(request: Any, state: State) -> list[str]:
    from landshift.training_run import feature_job_args

    return feature_job_args(request, state)


def _extract_features_here(request: Any, state: State) -> State:
    from landshift.training_run import extract_features

    return extract_features(request, state)


def _train_and_register(request: Any, state: State) -> State:
    from landshift.training_run import train_and_register

    return train_and_register(request, state)


TRAINING_RUN = Pipeline(
    "training",
    (
        Stage("prepare_training", _prepare_training),
        Stage("extract_features", _extract_features_here, spark_job="extract_features", job_args=_feature_args),
        Stage("train_and_register", _train_and_register),
    ),
    _training_request,
)

PIPELINES = {pipeline.name: pipeline for pipeline in (REGION_RUN, TRAINING_RUN)}


def run_stage(stage: Stage, request: Any, state: State) -> State:
    """Run a stage in this process and return the state extended with its result."""
    if stage.run is None:
        raise ValueError(f"stage {stage.name} is a Spark job; submit it with its job_args")
    return {**state, **stage.run(request, state)}


def run_pipeline(
    pipeline: Pipeline,
    request: Any,
    spark: Any = None,
    job_extra_args: list[str] | None = None,
    until: str = "",
) -> State:
    """Run the stages in order in this process, Spark stages as their jobs in ``spark`` (or in-process
    without a session, where they can); stop after ``until``. The final state."""
    from landshift.spark_jobs import run_job

    state: State = {"request": request.to_dict()}
    for stage in pipeline.stages:
        log.info("LandShift %s stage %s", pipeline.name, stage.name)
        if stage.on_spark and spark is not None:
            args = [*stage.job_args(request, state), *(job_extra_args or [])]
            state = {**state, stage.name: run_job(spark, stage.spark_job, args)}
        else:
            state = run_stage(stage, request, state)
        if stage.name == until:
            break
    return state
