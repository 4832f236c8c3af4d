"""
### LandShift: land-use and change maps that follow the imagery, one DAG per registered region

Each region in `include/regions/*.json` gets a DAG `landshift_region_<id>`, run daily by default.
A run **reconciles the lake**: `find_pending_vintages` lists the vintages with imagery and picks
those whose product is missing or was made from other scenes, prior labels or model version;
each is then validated, tiled, scored on Spark, compared with the prior labels and published to
`published/<region>/<vintage>/` (one mapped `vintage` group per vintage, in vintage order). When
everything is current the run ends after that first task, with one log line saying so.

* `vintage` param: that vintage only, always republished.
* A backfill run: the vintages dated between its logical date and the schedule's next fire.
* A region with `"review_required": true`: after `publish`, the human-in-the-loop task
  `review_gate` waits for the analyst (its body links the review page); *Approve* runs
  `publish_reviewed`, which republishes the product with the decisions applied (docs/review.md).

A region file that does not validate gets a DAG of one failing task, `region_file_error`, whose
message names the file and the field; the other regions load as usual.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Asset, Param, dag
from airflow.timetables.trigger import CronTriggerTimetable

from landshift.regions.registry import DEFAULT_SCHEDULE, Region, RegionFileError, load_regions_report
from landshift_airflow import tasks

VINTAGE_PARAM = Param(
    "",
    type=["null", "string"],
    pattern=r"^(\d{4}|\d{8})?$",
    title="Vintage",
    description="Imagery vintage (YYYY or YYYYMMDD) to (re)publish. Empty: every vintage that is not current.",
)


def region_dag(region: Region) -> None:
    """The DAG of one registered region."""

    @dag(
        dag_id=f"landshift_region_{region.id}",
        description=f"Land-use and change maps of {region.title or region.id}",
        doc_md=__doc__,
        # Explicit: behaviour must not hang on [scheduler] create_cron_data_intervals.
        schedule=CronTriggerTimetable(region.schedule or DEFAULT_SCHEDULE, timezone="UTC"),
        start_date=datetime(region.start_year, 1, 1),
        catchup=False,
        max_active_runs=1,
        default_args=tasks.DEFAULT_ARGS,
        tags=["landshift", "region", region.id],
        params={"vintage": VINTAGE_PARAM, **tasks.change_params()},
        on_failure_callback=tasks.log_failure,
    )
    def region_run():
        tasks.region_graph(
            region.id,
            outlets=[Asset(f"landshift://published/{region.id}", group="landshift")],
            review_required=region.review_required,
        )

    region_run()


def invalid_region_dag(error: RegionFileError) -> None:
    """A stand-in DAG for a region file that does not validate: its one task says why."""

    @dag(
        dag_id=f"landshift_region_{error.region_id}",
        description=f"INVALID region file {error.path}",
        doc_md=f"### Invalid region file\n\n`{error.path}`: {error}",
        schedule=None,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        default_args=tasks.DEFAULT_ARGS,
        tags=["landshift", "region", "invalid-region"],
    )
    def invalid_region():
        tasks.invalid_region_graph(error)

    invalid_region()


_report = load_regions_report()
for _region in _report.regions.values():
    region_dag(_region)
for _error in _report.errors:
    invalid_region_dag(_error)
