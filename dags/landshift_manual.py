"""
### LandShift: map a new region by hand

Trigger with the form: a region id, where its imagery and prior labels are in the lake, an
optional AOI, the model and the tile size. Everything is validated before any work starts
(unknown model, AOI outside the imagery, missing labels, malformed GeoJSON each fail the first
task with a specific message). The run then scores, compares and publishes like a scheduled one,
under `published/<region_id>/<vintage>/`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Asset, Param, dag

from landshift.regions.registry import DEFAULT_MODEL_NAME, REGION_ID_PATTERN
from landshift.regions.requests import manual_region_request
from landshift_airflow import tasks


@dag(
    dag_id="landshift_manual_region",
    description="Land-use and change maps for a region given in the trigger form",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=2,
    default_args=tasks.DEFAULT_ARGS,
    tags=["landshift", "manual"],
    params={
        "region_id": Param(
            "my-region",
            type="string",
            pattern=REGION_ID_PATTERN.pattern,
            title="Region id",
            description="A slug: lowercase letters, digits and dashes.",
        ),
        "vintage": Param("2020", type="string", pattern=r"^(\d{4}|\d{8})$", title="Imagery vintage (YYYY)"),
        "imagery_uri": Param(
            "raw/imagery/nd-pothole/2020/",
            type="string",
            minLength=1,
            title="Imagery URI or prefix",
            description="Lake path (relative to the lake root, or abfss://...) of the GeoTIFFs.",
        ),
        "prior_labels_uri": Param(
            "raw/labels/nd-pothole/2009/labels_2009_5m.tif",
            type="string",
            minLength=1,
            title="Prior labels URI",
            description="A single-band NLCD-coded raster.",
        ),
        "prior_year": Param(2009, type="integer", minimum=1985, maximum=2100, title="Prior labels year"),
        "aoi": Param(
            "",
            type=["null", "string"],
            title="AOI (optional)",
            description="[min_lon, min_lat, max_lon, max_lat] or GeoJSON in WGS84. Empty: all imagery.",
        ),
        "crs": Param(
            "",
            type=["null", "string"],
            title="Grid CRS (optional)",
            description="Projected CRS of the tile grid, e.g. EPSG:26914. Empty: the imagery's CRS.",
        ),
        "tile_size_m": Param(224, type="number", minimum=30, maximum=5000, title="Tile size (m)"),
        "model_name": Param(DEFAULT_MODEL_NAME, type="string", minLength=1, title="Model name"),
        "code_map": Param(
            "",
            type=["null", "string"],
            title="Label code map (optional)",
            description='JSON {"source code": NLCD code} for prior labels in another legend, e.g. {"1": 11, "5": 82}.',
        ),
        "replace_existing": Param(
            False,
            type="boolean",
            title="Replace a product made from other inputs",
            description="Off: a rerun of this region id with other imagery, labels, AOI or model is refused.",
        ),
        **tasks.change_params(),
    },
    on_failure_callback=tasks.log_failure,
)
def landshift_manual_region():
    tasks.pipeline_graph(
        "region",
        build_request=manual_region_request,
        outlets=[Asset("landshift://published/manual", group="landshift")],
    )


landshift_manual_region()
