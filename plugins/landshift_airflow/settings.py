"""Deployment settings read from the environment at task run time (never at DAG parse time)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
JOBS_DIR = REPO_ROOT / "jobs"
DEFAULT_LAKE_ROOT = REPO_ROOT / "lake"
SPARK_CONN_ID = os.environ.get("LANDSHIFT_SPARK_CONN_ID", "spark_default")
SPARK_POOL = "landshift_spark"


def lake_root() -> str:
    """The lake root URI: from the ``landshift_lake`` connection if there is one (its credentials
    exported to this task's environment), else ``LANDSHIFT_LAKE_ROOT``, else ``./lake``."""
    from landshift_airflow.lake_hook import LandShiftLakeHook

    return LandShiftLakeHook().apply()


def spark_python() -> str:
    """The Python the Spark driver and workers run (the cluster image's in production)."""
    return os.environ.get("LANDSHIFT_SPARK_PYTHON", sys.executable)


def spark_profile() -> str:
    """'cpu' (default) or 'gpu': which Spark resource settings jobs are submitted with."""
    profile = os.environ.get("LANDSHIFT_SPARK_PROFILE", "cpu")
    if profile not in ("cpu", "gpu"):
        raise ValueError(f"LANDSHIFT_SPARK_PROFILE must be cpu or gpu, got {profile!r}")
    return profile


# Tiles per model call by profile: CPU measured (see landshift.scoring.DEFAULT_BATCH_SIZE); a GPU
# wants larger batches to fill the device (override with LANDSHIFT_BATCH_SIZE).
PROFILE_BATCH_SIZES = {"cpu": 64, "gpu": 512}
# landshift.model.PRECISIONS, spelled out so DAG parsing never imports numpy (a test keeps them equal).
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def model_device_args() -> list[str]:
    """Scoring/feature job arguments for the model's device settings, from the environment:
    LANDSHIFT_BATCH_SIZE, LANDSHIFT_PRECISION (float32, mixed_float16, mixed_bfloat16) and
    LANDSHIFT_XLA (1 to compile with XLA; it pays on GPUs, not on CPUs)."""
    batch_size = os.environ.get("LANDSHIFT_BATCH_SIZE", str(PROFILE_BATCH_SIZES[spark_profile()]))
    if not batch_size.isdigit() or int(batch_size) < 1:
        raise ValueError(f"LANDSHIFT_BATCH_SIZE must be a positive integer, got {batch_size!r}")
    precision = os.environ.get("LANDSHIFT_PRECISION", "float32")
    if precision not in PRECISIONS:
        raise ValueError(f"LANDSHIFT_PRECISION must be one of {list(PRECISIONS)}, got {precision!r}")
    args = ["--batch-size", batch_size, "--precision", precision]
    return [*args, "--xla"] if os.environ.get("LANDSHIFT_XLA", "0") == "1" else args
