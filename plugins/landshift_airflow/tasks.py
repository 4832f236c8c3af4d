"""The Airflow adapter: DAG run -> library request -> library stage -> XCom, one task per stage.

The task graph is built from a library pipeline (:data:`landshift.run.pipelines.PIPELINES`), each task
fed the state the previous one returned; a Spark stage becomes a ``spark-submit``. Heavy libraries
are imported inside the task bodies."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_ARGS = dict(
    owner="landshift", retries=2, retry_delay=timedelta(minutes=1), execution_timeout=timedelta(hours=2)
)
RequestBuilder = Callable[[dict, str], Any]  # (trigger facts, lake root) -> a library request


def lake_root() -> str:
    """The lake root from the ``landshift_lake`` connection (credentials exported, masked) or the environment."""
    from landshift_airflow.lake_hook import LandShiftLakeHook

    return LandShiftLakeHook().export_to_environment()


def change_params() -> dict:
    """Params of the model and the change rule (schemas and defaults from the library)."""
    from airflow.sdk import Param

    from landshift.change.policy import change_param_schemas

    return {name: Param(**schema) for name, schema in change_param_schemas().items()}


def run_library(function: Callable[[], Any]) -> Any:
    """Call the library: bad input or models fail the task without retries; no imagery skips it."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from landshift.core.errors import NoImageryError, describe_permanent, is_retryable

    try:
        return function()
    except NoImageryError as exc:
        log.info("LandShift: %s: nothing to do", exc)
        raise AirflowSkipException(str(exc)) from exc
    except Exception as exc:
        if is_retryable(exc):  # a transient fault (a busy publish lock, a storage timeout) or unknown: retry
            raise
        # LandShift's permanent errors, raw GDAL/PROJ errors on input, memory errors, EROFS...
        raise AirflowFailException(describe_permanent(exc)) from exc


def trigger_facts() -> dict:
    """What the library needs to know about this DAG run: params, run id and type, logical date."""
    from airflow.sdk import get_current_context

    context = get_current_context()
    logical = context.get("logical_date") or context.get("data_interval_start")
    run_type = getattr(context.get("dag_run"), "run_type", "")
    return {
        "params": dict(context["params"]),
        "run_id": context["run_id"],
        "run_type": str(getattr(run_type, "value", run_type)),
        "logical_date": logical,
        "logical_year": logical and logical.year,
    }


def first_state(build_request: RequestBuilder) -> dict:
    """The state a run starts from: its request, built by the library from this DAG run."""
    return {"request": run_library(lambda: build_request(trigger_facts(), lake_root())).to_dict()}


def region_graph(region_id: str, outlets: list, review_required: bool = False) -> None:
    """``find_pending_vintages``, then the region pipeline once per vintage it found (a mapped
    task group, one vintage at a time per stage); nothing found: the run ends there, successful.
    ``review_required`` adds the review gate after ``publish`` (:mod:`landshift_airflow.review_gate`)."""
    from airflow.sdk import task, task_group

    @task(task_id="find_pending_vintages")
    def find_pending_vintages() -> list[dict]:
        from landshift.regions.requests import reconcile_region

        reconciliation = run_library(lambda: reconcile_region(region_id, trigger_facts(), lake_root()))
        log.info("LandShift %s", reconciliation.message)
        return [{"request": request.to_dict()} for request in reconciliation.requests]

    @task_group(group_id="vintage", default_args={"max_active_tis_per_dagrun": 1})
    def vintage(state: dict) -> None:
        published = pipeline_graph("region", upstream=state, outlets=outlets)
        if review_required:
            from landshift_airflow.review_gate import review_gate_graph

            review_gate_graph(published, outlets=outlets)

    vintage.expand(state=find_pending_vintages())


def run_stage_task(pipeline_name: str, stage_name: str, state: dict) -> dict:
    """Body of a stage's task: rebuild the request, run the stage, return the extended state."""
    from landshift.run.pipeline import run_stage
    from landshift.run.pipelines import PIPELINES

    pipeline = PIPELINES[pipeline_name]
    lake_root()  # every task runs in its own process: the lake connection's credentials, again
    request = run_library(lambda: pipeline.request_from_dict(state["request"]))
    result = run_library(lambda: run_stage(pipeline.stage(stage_name), request, state))
    log.info("LandShift %s done: %s", stage_name, {k: v for k, v in result.items() if k not in state})
    return result


def _stage_body(pipeline_name: str, stage_name: str, build_request: RequestBuilder | None) -> Callable:
    if build_request is not None:

        def first_stage() -> dict:
            return run_stage_task(pipeline_name, stage_name, first_state(build_request))

        return first_stage

    def next_stage(upstream: dict) -> dict:
        return run_stage_task(pipeline_name, stage_name, upstream)

    return next_stage


def pipeline_graph(
    pipeline_name: str, build_request: RequestBuilder | None = None, upstream: Any = None, outlets: list | None = None
) -> Any:
    """One task per library stage, in the library's order, each fed the previous task's state.

    The first task builds the request with ``build_request``, or takes the ``upstream`` state
    (e.g. a mapped argument); ``outlets`` go on the last task. Returns the last task's output.
    """
    from airflow.sdk import task

    from landshift.run.pipelines import PIPELINES
    from landshift_airflow.spark import stage_operator

    stages = PIPELINES[pipeline_name].stages
    state: Any = upstream
    after_spark: Any = None
    for index, stage in enumerate(stages):
        if stage.on_spark:
            after_spark = stage_operator(pipeline_name, stage.name, stage.spark_job, state.operator.task_id)
            state >> after_spark
            continue
        body = _stage_body(pipeline_name, stage.name, build_request if state is None else None)
        decorated = task(task_id=stage.name, outlets=(outlets or []) if index == len(stages) - 1 else [])(body)
        state = decorated() if state is None else decorated(state)
        if after_spark is not None:
            after_spark >> state
            after_spark = None
    return state


def invalid_region_graph(error: Any) -> None:
    """The one task of a region whose file is invalid: it fails, naming the file and the field."""
    from airflow.sdk import task

    @task(task_id="region_file_error", retries=0)
    def region_file_error() -> None:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(error))

    region_file_error()


def log_failure(context: dict[str, Any]) -> None:
    """DAG failure callback: one clear line naming the run and the failed task."""
    task_instance = context.get("task_instance") or context.get("ti")
    log.error(
        "LandShift run %s failed in task %s: %s",
        context.get("run_id"),
        getattr(task_instance, "task_id", "?"),
        context.get("exception"),
    )
