"""Seed the cluster test's ADLS lake, train the model on it, and run the embedded path as reference.

Usage: python tests/cluster/prepare_lake.py SHARED_DATA LAKE_ROOT REFERENCE_DIR
Runs in its own process (local[2] Spark, credentials from the environment, as tests/support/adls_double/
pipeline_run.py) and writes the embedded product's predictions and change tables to REFERENCE_DIR.
Prints one JSON line: {"digests": {file: sha256}}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.adls_double.pipeline_run import seed_and_publish

from landshift.lake.base import read_table
from landshift.lake.factory import open_lake
from landshift.regions.layout import RunLayout
from landshift.scoring.session import local_session


def main(argv: list[str]) -> int:
    """Seed, train, run the embedded path; save its tables."""
    shared_data, lake_root, reference = Path(argv[0]), argv[1], Path(argv[2])
    spark = local_session("local[2]", app="landshift-cluster-reference")
    try:
        digests = seed_and_publish(spark, shared_data, lake_root)
    finally:
        spark.stop()
    lake = open_lake(lake_root)
    layout = RunLayout(lake.root, "nd-pothole", "2020")
    reference.mkdir(parents=True, exist_ok=True)
    read_table(lake, layout.predictions).to_parquet(reference / "predictions.parquet")  # for a failure's reader
    read_table(lake, layout.changes).to_parquet(reference / "changes.parquet")
    print(json.dumps({"digests": digests}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
