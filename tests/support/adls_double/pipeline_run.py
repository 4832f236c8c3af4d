"""Run the demo pipeline's stages (train, score 2020, compare, publish) on one lake root.

Usage: python tests/support/adls_double/pipeline_run.py SHARED_DATA LAKE_ROOT [LAKE_ROOT ...]
Prints one JSON line: {lake_root: {file: sha256}} of each published product. Runs in its own
process so Spark's Python workers inherit the lake credentials from the environment.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from landshift.lake.factory import open_lake
from landshift.products.layout import PRODUCT_FILES
from landshift.regions.registry import get_region
from landshift.regions.requests import RunRequest
from landshift.run.demo import seed_lake
from landshift.run.pipeline import run_pipeline
from landshift.run.region_run import REGION_RUN
from landshift.run.training import TRAINING_RUN, TrainingRequest
from landshift.scoring.session import local_session

MODEL = "landshift-mobilenetv2"


def seed_and_publish(spark, shared_data: Path, lake_root: str) -> dict[str, str]:
    """Seed, train, score, compare and publish on ``lake_root``; return the product's digests."""
    lake = open_lake(lake_root)
    seed_lake(shared_data, lake)
    region = get_region("nd-pothole")
    run_pipeline(TRAINING_RUN, TrainingRequest(lake.root, region, (2009, 2014), MODEL), spark)
    published = run_pipeline(REGION_RUN, RunRequest(lake.root, region, "2020"), spark)["published_uri"]
    return {name: hashlib.sha256(lake.read_bytes(f"{published}/{name}")).hexdigest() for name in PRODUCT_FILES}


def main(argv: list[str]) -> int:
    """Run the pipeline on every lake root given."""
    spark = local_session("local[2]", app="landshift-lake-pipeline")
    try:
        digests = {root: seed_and_publish(spark, Path(argv[0]), root) for root in argv[1:]}
    finally:
        spark.stop()
    print(json.dumps(digests))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
