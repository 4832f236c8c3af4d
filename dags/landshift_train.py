"""
### LandShift: train and register a land-use model

Cuts tiles that carry prior labels from the region's imagery of each label year, extracts
embeddings with a frozen ImageNet backbone on Spark (`jobs/extract_features.py`), trains a
softmax head on them, evaluates it honestly (spatially blocked split and cross-year) and
registers an immutable model version in the lake, moving `promote_alias` to it. Re-running with
the same parameters registers nothing new: it finds the identical version.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag

from landshift.regions.registry import REGION_ID_PATTERN
from landshift.run.training import request_defaults, training_request
from landshift_airflow import tasks

DEFAULTS = request_defaults()


@dag(
    dag_id="landshift_train",
    description="Train, evaluate and register a frozen-backbone land-use model",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.DEFAULT_ARGS,
    tags=["landshift", "training"],
    on_failure_callback=tasks.log_failure,
    params={
        "region": Param("nd-pothole", type="string", pattern=REGION_ID_PATTERN.pattern, title="Region"),
        "label_years": Param(
            list(DEFAULTS["label_years"]),
            type="array",
            items={"type": "integer"},
            minItems=1,
            title="Label years",
            description="Years of the region's training labels to use.",
        ),
        "labels_uri": Param(
            "",
            type=["null", "string"],
            title="Label rasters (optional)",
            description="Lake path of an NLCD-coded raster per year, with {year} (and {region}) in it, "
            "e.g. raw/labels/my-region/{year}/labels.tif. Empty: the region's registered training labels.",
        ),
        "model_name": Param(DEFAULTS["model_name"], type="string", minLength=1, title="Model name"),
        "backbone": Param(
            "",
            type="string",
            enum=["", "mobilenet_v2", "resnet50", "efficientnet_b0"],
            title="Backbone",
            description="Empty: the measured default.",
        ),
        "input_size": Param(
            0, type="integer", minimum=0, maximum=512, title="Input size (px)", description="0: the measured default."
        ),
        "composite": Param(
            "",
            type="string",
            enum=["", "rgb", "nir-r-g"],
            title="Band composite",
            description="Empty: the measured default.",
        ),
        "seed": Param(DEFAULTS["seed"], type="integer", title="Random seed"),
        "augment": Param(DEFAULTS["augment"], type="boolean", title="Flip/rotate augmentation"),
        "use_reviews": Param(
            DEFAULTS["use_reviews"],
            type="boolean",
            title="Train on analysts' reviews",
            description="Decisions under reviews/<region>/ as weighted labels (listed in the model card).",
        ),
        "min_agreement": Param(
            DEFAULTS["min_agreement"],
            type="number",
            minimum=0,
            maximum=1,
            title="Min label agreement",
            description="Tiles whose majority label covers less of the tile are not trained on.",
        ),
        "split_block_tiles": Param(
            DEFAULTS["split_block_tiles"],
            type="integer",
            minimum=1,
            maximum=64,
            title="Validation block size (tiles)",
            description="Spatially blocked validation: square blocks of this many tiles a side go whole to one side.",
        ),
        "validation_share": Param(
            DEFAULTS["validation_share"],
            type="number",
            minimum=0.05,
            maximum=0.5,
            title="Share of blocks held out for validation",
        ),
        "promote_alias": Param(
            DEFAULTS["promote_alias"],
            type="string",
            title="Alias to move to the new version",
            description="Empty: register without moving any alias.",
        ),
    },
)
def landshift_train():
    tasks.pipeline_graph("training", build_request=training_request)


landshift_train()
