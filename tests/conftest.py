"""Shared fixtures: the real shared data, a seeded lake, a local Spark session."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LANDSHIFT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(REPO_ROOT / "plugins"))
# The same embedded Airflow set-up as the Makefile, for running pytest by hand.
os.environ.setdefault("AIRFLOW_HOME", str(REPO_ROOT / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO_ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # Spark binds to loopback only
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

NAIP_2009 = SHARED_DATA / "naip-nd" / "m_4709963_se_14_1_20090818.tif"
NAIP_2020 = SHARED_DATA / "naip-nd" / "m_4709963_se_14_1_20200831.tif"
LABELS_DIR = SHARED_DATA / "labels-nd"
ND_CRS = "EPSG:26914"


def pytest_configure(config: pytest.Config) -> None:
    """Quiet TensorFlow and py4j for the test session."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # py4j logs at INFO from __del__ at interpreter exit, after pytest closed the captured streams.
    logging.getLogger("py4j").setLevel(logging.WARNING)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the shared data, tests marked ``data`` are skipped, saying where it was looked for;
    the pure tests (grid, legend, change, registry, regions, requests, DAG integrity) still run."""
    if (SHARED_DATA / "naip-nd").is_dir():
        return
    reason = f"needs the shared data, not found at {SHARED_DATA} (set LANDSHIFT_SHARED_DATA)"
    for item in items:
        if item.get_closest_marker("data"):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only shared data folder."""
    return SHARED_DATA


@pytest.fixture(scope="session")
def spark():
    """A local[2] Spark session for the whole test session."""
    from landshift.scoring.session import local_session

    session = local_session("local[2]", app="landshift-tests")
    yield session
    session.stop()
