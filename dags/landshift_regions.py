"""
### LandShift: scheduled land-use and change maps, one DAG per registered region

Each region in `include/regions/*.json` gets a DAG `landshift_region_<id>`. A run processes the
imagery vintage of its data interval (the year of the logical date, or the `vintage` param):
validate inputs -> plan tiles -> score tiles on Spark -> compare with prior labels -> publish
`published/<region>/<vintage>/` (COGs, PNGs, summary, STAC item) and emit the region's Asset.
A run whose vintage has no imagery in the lake ends as *skipped*, not failed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Asset, Param, dag, task
from landshift_airflow import runs
from landshift_airflow.spark import job_kwargs

from landshift.regions import Region, load_regions

DEFAULT_ARGS = {
    "owner": "landshift",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "execution_timeout": timedelta(hours=2),
}


def region_dag(region: Region):
    """The scheduled DAG of one region."""

    @dag(
        dag_id=f"landshift_region_{region.id}",
        description=f"Land-use and change maps of {region.title or region.id}",
        doc_md=__doc__,
        schedule=region.schedule,
        start_date=datetime(region.start_year, 1, 1),
        catchup=False,
        max_active_runs=2,
        default_args=DEFAULT_ARGS,
        tags=["landshift", "region", region.id],
        params={
            "vintage": Param("", type="string", pattern=r"^(\d{4}|\d{8})?$", title="Vintage",
                             description="Imagery vintage (YYYY). Empty: the year of the data interval."),
            "model_ref": Param("", type="string", title="Model version or alias",
                               description=f"Empty: the region's default ({region.model_ref})."),
            "min_probability": Param(0.7, type="number", minimum=0, maximum=1, title="Change: min model probability"),
            "min_prior_agreement": Param(0.6, type="number", minimum=0, maximum=1,
                                         title="Change: min prior label agreement"),
        },
        on_failure_callback=runs.log_failure,
    )
    def region_run():
        @task
        def validate_inputs() -> dict:
            return runs.validate_scheduled(region.id)

        @task
        def plan_tiles(run: dict) -> dict:
            return runs.plan(run)

        score = SparkSubmitOperator(
            task_id="score_tiles",
            **job_kwargs("score_tiles", runs.score_args("validate_inputs")),
        )

        @task
        def detect_change(run: dict) -> dict:
            return runs.detect_change(run)

        @task(outlets=[Asset(f"landshift://published/{region.id}", group="landshift")])
        def publish(run: dict) -> dict:
            return runs.publish(run)

        run = validate_inputs()
        planned = plan_tiles(run)
        planned >> score
        changed = detect_change(run)
        score >> changed
        changed >> publish(run)

    return region_run()


for _region in load_regions().values():
    region_dag(_region)
