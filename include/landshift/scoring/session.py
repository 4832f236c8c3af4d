"""The one Spark session builder: local mode for the CLI, tests and benchmarks, the job's own on a cluster."""

from __future__ import annotations

import os
import sys
from typing import Any

from landshift.scoring.spark import CPU_CONF, with_jit_options

LOCAL_CONF: dict[str, str] = {
    **CPU_CONF,
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.sql.shuffle.partitions": "2",
}


def local_session(master: str = "local[*]", app: str = "landshift", conf: dict[str, str] | None = None) -> Any:
    """A local Spark session with LandShift's settings (``conf`` overrides); Python workers use this interpreter."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app)
    for key, value in with_jit_options({**LOCAL_CONF, **(conf or {})}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
