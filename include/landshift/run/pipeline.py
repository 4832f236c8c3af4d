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
    from landshift.scoring.spark import run_job

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
