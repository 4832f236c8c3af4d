"""The Spark jobs' command lines and bodies, shared by ``jobs/*.py`` and in-process pipeline runs.

``jobs/score_tiles.py`` builds a session and calls :func:`run_job`; tests and the benchmark call
:func:`run_job` with their own session and the very argument list Airflow submits.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy, pandas and rasterio stay out of DAG parsing, which reads the profiles
    from landshift.scoring.batch import ScoringConfig

SPARK_PROFILES = ("cpu", "gpu")
GPU_BATCH_SIZE = 512  # a GPU wants larger batches than the CPU default to fill the device


class JobUsageError(ValueError):
    """The job's arguments do not make a runnable job."""


def score_parser() -> argparse.ArgumentParser:
    """Command-line arguments of the scoring and feature jobs."""
    from landshift.model.spec import PRECISIONS
    from landshift.scoring.batch import DEFAULT_BATCH_SIZE

    parser = argparse.ArgumentParser(description="Score (or featurize) the planned tiles of a tiles table.")
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--tiles", required=True, help="lake URI of the tiles table (Parquet)")
    parser.add_argument("--out", required=True, help="lake URI of the output table directory")
    parser.add_argument("--model-name", default="", help="registered model name")
    parser.add_argument("--model-version", default="", help="version id or alias")
    parser.add_argument("--spec", default="", help="lake URI of a model spec.json (featurize without a head)")
    parser.add_argument("--crs", required=True)
    parser.add_argument("--tile-size-m", type=float, required=True)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="tiles per model call")
    parser.add_argument("--readers", type=int, default=0, help="reader threads per task (0: one per task core)")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32", help="backbone dtype policy")
    parser.add_argument("--xla", action="store_true", help="compile the model graph with XLA (for GPUs)")
    parser.add_argument("--min-valid-fraction", type=float, default=0.5)
    parser.add_argument("--features", action="store_true", help="emit embeddings instead of classes")
    parser.add_argument("--augment", action="store_true", help="with --features: 8 flips/rotations")
    return parser


def scoring_config(argv: list[str]) -> tuple[ScoringConfig, str, str]:
    """The worker configuration, tiles URI and output URI of a scoring job's arguments."""
    from landshift.scoring.batch import ScoringConfig

    args = score_parser().parse_args(argv)
    if not args.spec and not (args.model_name and args.model_version):
        raise JobUsageError("give --model-name and --model-version, or --spec")
    if args.readers < 0:
        raise JobUsageError(f"--readers must be 0 (one per task core) or more, got {args.readers}")
    if args.spec and not (args.features or args.augment):
        raise JobUsageError("--spec featurizes only; add --features or use a registered model")
    from landshift.lake.adls import carry_credentials

    config = ScoringConfig(
        lake_root=carry_credentials(args.lake_root),  # executors get the driver's lake credentials
        model_name=args.model_name,
        model_version=args.model_version,
        crs=args.crs,
        tile_size_m=args.tile_size_m,
        batch_size=args.batch_size,
        readers=args.readers,
        min_valid_fraction=args.min_valid_fraction,
        emit_features=args.features or args.augment,
        augment=args.augment,
        spec_uri=args.spec,
        precision=args.precision,
        xla=args.xla,
    )
    return config, args.tiles, args.out


def score_tiles(spark, argv: list[str]) -> dict:
    """Body of ``jobs/score_tiles.py``: score the tiles table into the output table."""
    from landshift.scoring.batch import run_scoring

    config, tiles_uri, out_uri = scoring_config(argv)
    return run_scoring(spark, config, tiles_uri, out_uri)


def extract_features(spark, argv: list[str]) -> dict:
    """Body of ``jobs/extract_features.py``: the scoring job that always emits embeddings."""
    return score_tiles(spark, [*argv, "--features"])


JOBS = {"score_tiles": score_tiles, "extract_features": extract_features}


def main(job: str, argv: list[str]) -> int:
    """A ``jobs/<job>.py`` entry point: build the session, run the job, print its summary; exit code."""
    from pyspark.sql import SparkSession

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # its connection chatter
    spark = SparkSession.builder.appName(f"landshift-{job}").getOrCreate()
    try:
        summary = run_job(spark, job, argv)
    except JobUsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    print(json.dumps({"landshift_job_summary": summary}))
    return 0


# The JVMs compile with C1 only (``with_jit_options``): a job's JVMs start afresh and pass only
# tile ids and results, so C2's compiles of code that barely runs took the model's cores: JVM CPU
# 0.012-0.056 ms a tile with C2, 0.008-0.014 with C1 alone (5 m job, local[2]).
JIT_OPTIONS = "-XX:TieredStopAtLevel=1"

# Measured on 2 local cores: tiles carry only ids into Python, so large Arrow batches cost nothing.
CPU_CONF: dict[str, str] = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "1024",
    "spark.python.worker.reuse": "true",
    "spark.task.cpus": "1",
    "spark.executorEnv.TF_CPP_MIN_LOG_LEVEL": "2",
    "spark.ui.showConsoleProgress": "false",
}

# GPU workers: one GPU per executor, shared by its task slots; addresses come from the script.
GPU_CONF: dict[str, str] = {
    "spark.executor.resource.gpu.amount": "1",
    "spark.task.resource.gpu.amount": "1",
    "spark.executorEnv.TF_FORCE_GPU_ALLOW_GROWTH": "true",
}


def deployment_conf(env: Mapping[str, str]) -> dict[str, str]:
    """The deployment's own Spark settings: the JSON object in ``LANDSHIFT_SPARK_CONF`` (executor
    sizes, ``spark.task.resource.gpu.amount``, Kubernetes or YARN settings)."""
    raw = env.get("LANDSHIFT_SPARK_CONF", "").strip()
    try:
        conf = json.loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"LANDSHIFT_SPARK_CONF is not JSON: {exc}") from exc
    if not isinstance(conf, dict):
        raise ValueError("LANDSHIFT_SPARK_CONF must be a JSON object of Spark settings")
    return {str(key): str(value) for key, value in conf.items()}


def submit_conf(env: Mapping[str, str], python: str, jobs_dir: str) -> dict[str, str]:
    """Spark configuration of LandShift's jobs: the profile's (cpu or gpu), then the deployment's."""
    conf = {**CPU_CONF, "spark.pyspark.python": python, "spark.pyspark.driver.python": python}
    deployment = deployment_conf(env)
    if spark_profile(env) == "gpu":
        conf |= {**GPU_CONF, "spark.executor.resource.gpu.discoveryScript": f"{jobs_dir}/gpu_discovery.sh"}
    else:  # GPU shares only mean something on the gpu profile
        deployment = {key: value for key, value in deployment.items() if ".resource.gpu." not in key}
    return with_jit_options({**conf, **deployment})


def with_jit_options(conf: dict[str, str]) -> dict[str, str]:
    """``conf`` with the JVMs' JIT options appended to the deployment's own Java options, unless
    those already choose a JIT tier."""
    merged = dict(conf)
    for key in ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions"):
        options = merged.get(key, "")
        if "TieredStopAtLevel" not in options:
            merged[key] = f"{options} {JIT_OPTIONS}".strip()
    return merged


def spark_profile(env: Mapping[str, str]) -> str:
    """'cpu' (default) or 'gpu' from ``LANDSHIFT_SPARK_PROFILE``: the Spark resources jobs ask for."""
    profile = env.get("LANDSHIFT_SPARK_PROFILE", "cpu")
    if profile not in SPARK_PROFILES:
        raise ValueError(f"LANDSHIFT_SPARK_PROFILE must be cpu or gpu, got {profile!r}")
    return profile


def device_args(env: Mapping[str, str]) -> list[str]:
    """The model's device settings as job arguments, from the deployment environment:
    LANDSHIFT_BATCH_SIZE, LANDSHIFT_PRECISION (float32, mixed_float16, mixed_bfloat16) and
    LANDSHIFT_XLA (1 to compile with XLA; it pays on GPUs, not on CPUs)."""
    from landshift.model.spec import PRECISIONS
    from landshift.scoring.batch import DEFAULT_BATCH_SIZE

    default_batch = GPU_BATCH_SIZE if spark_profile(env) == "gpu" else DEFAULT_BATCH_SIZE
    batch_size = env.get("LANDSHIFT_BATCH_SIZE", str(default_batch))
    if not batch_size.isdigit() or int(batch_size) < 1:
        raise ValueError(f"LANDSHIFT_BATCH_SIZE must be a positive integer, got {batch_size!r}")
    precision = env.get("LANDSHIFT_PRECISION", "float32")
    if precision not in PRECISIONS:
        raise ValueError(f"LANDSHIFT_PRECISION must be one of {list(PRECISIONS)}, got {precision!r}")
    args = ["--batch-size", batch_size, "--precision", precision]
    return [*args, "--xla"] if env.get("LANDSHIFT_XLA", "0") == "1" else args


def run_job(spark, job: str, argv: list[str]) -> dict:
    """Run the named job's body in ``spark``; returns its small summary."""
    if job not in JOBS:
        raise JobUsageError(f"unknown Spark job {job!r}; known: {sorted(JOBS)}")
    return JOBS[job](spark, argv)
