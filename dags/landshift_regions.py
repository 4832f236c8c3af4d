"""
### LandShift: scheduled land-use and change maps, one DAG per registered region

Each region in `include/regions/*.json` gets a DAG `landshift_region_<id>`. A run processes the
imagery vintage of its data interval (the year of the logical date, or the `vintage` param):
validate inputs -> plan tiles -> score tiles on Spark -> compare with prior labels -> publish
`published/<region>/<vintage>/` (COGs, PNGs, summary, STAC item) and emit the region's Asset.
A run whose vintage has no imagery in the lake ends as *skipped*, not failed.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from airflow.sdk import Asset, Param, dag

from landshift.regions import Region, load_regions
from landshift.requests import registered_region_request
from landshift_airflow import tasks


def region_dag(region: Region) -> None:
    """The scheduled DAG of one registered region."""

    @dag(
        dag_id=f"landshift_region_{region.id}",
        description=f"Land-use and change maps of {region.title or region.id}",
        doc_md=__doc__,
        schedule=region.schedule,
        start_date=datetime(region.start_year, 1, 1),
        catchup=False,
        max_active_runs=3,
        default_args=tasks.DEFAULT_ARGS,
        tags=["landshift", "region", region.id],
        params={
            "vintage": Param(
                "",
                type=["null", "string"],
                pattern=r"^(\d{4}|\d{8})?$",
                title="Vintage",
                description="Imagery vintage (YYYY). Empty: the year of the data interval.",
            ),
            **tasks.change_params(),
        },
        on_failure_callback=tasks.log_failure,
    )
    def region_run():
        tasks.pipeline_graph(
            "region",
            build_request=partial(registered_region_request, region.id),
            outlets=[Asset(f"landshift://published/{region.id}", group="landshift")],
        )

    region_run()


for _region in load_regions().values():
    region_dag(_region)
