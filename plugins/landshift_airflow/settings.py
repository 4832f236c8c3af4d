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
