"""Every pipeline by name: what Airflow, the CLI and the tests run."""

from __future__ import annotations

import logging

from landshift.run.region_run import REGION_RUN
from landshift.run.training import TRAINING_RUN

log = logging.getLogger(__name__)

PIPELINES = {pipeline.name: pipeline for pipeline in (REGION_RUN, TRAINING_RUN)}
