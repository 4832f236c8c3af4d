"""Spark job: score every planned tile of a region-vintage with a registered model version.

Usage: spark-submit jobs/score_tiles.py --lake-root ROOT --tiles TILES_URI --out OUT_URI \
    --model-name NAME --model-version VERSION --crs EPSG:n --tile-size-m 224 [--batch-size 64]
    [--precision float32|mixed_float16|mixed_bfloat16] [--xla]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from landshift.adls import carry_credentials
from landshift.model import PRECISIONS
from landshift.scoring import DEFAULT_BATCH_SIZE, ScoringConfig, run_scoring


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line arguments of the scoring and feature jobs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--tiles", required=True, help="lake URI of the tiles table (Parquet)")
    parser.add_argument("--out", required=True, help="lake URI of the output table directory")
    parser.add_argument("--model-name", default="", help="registered model name")
    parser.add_argument("--model-version", default="", help="version id or alias")
    parser.add_argument("--spec", default="", help="lake URI of a model spec.json (featurize without a head)")
    parser.add_argument("--crs", required=True)
    parser.add_argument("--tile-size-m", type=float, required=True)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="tiles per model call")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32", help="backbone dtype policy")
    parser.add_argument("--xla", action="store_true", help="compile the model graph with XLA (for GPUs)")
    parser.add_argument("--min-valid-fraction", type=float, default=0.5)
    parser.add_argument("--features", action="store_true", help="emit embeddings instead of classes")
    parser.add_argument("--augment", action="store_true", help="with --features: 8 flips/rotations")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> ScoringConfig:
    """The worker configuration for the parsed arguments."""
    return ScoringConfig(
        lake_root=carry_credentials(args.lake_root),  # executors get the driver's lake credentials
        model_name=args.model_name,
        model_version=args.model_version,
        crs=args.crs,
        tile_size_m=args.tile_size_m,
        batch_size=args.batch_size,
        min_valid_fraction=args.min_valid_fraction,
        emit_features=args.features or args.augment,
        augment=args.augment,
        spec_uri=args.spec,
        precision=args.precision,
        xla=args.xla,
    )


def main(argv: list[str]) -> int:
    """Run the job; returns the process exit code."""
    from pyspark.sql import SparkSession

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # its connection chatter
    args = parse_args(argv)
    if not args.spec and not (args.model_name and args.model_version):
        print("error: give --model-name and --model-version, or --spec", file=sys.stderr)
        return 2
    if args.spec and not (args.features or args.augment):
        print("error: --spec featurizes only; add --features or use a registered model", file=sys.stderr)
        return 2
    spark = SparkSession.builder.appName(f"landshift-score-{args.model_name}").getOrCreate()
    try:
        summary = run_scoring(spark, config_from(args), args.tiles, args.out)
    finally:
        spark.stop()
    print(json.dumps({"landshift_job_summary": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
