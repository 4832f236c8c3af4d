"""Trust suite (issue 26) at the Airflow glue: a task whose library call raises a permanent error
from outside LandShift (raw GDAL, an OSError no retry fixes) fails at once, saying what to do;
transient faults and unknown errors are re-raised for Airflow's retries."""

from __future__ import annotations

import errno
import os

import pytest
import rasterio
from airflow.sdk.exceptions import AirflowFailException
from rasterio.errors import RasterioIOError

from landshift.core.errors import InputError
from landshift_airflow.tasks import run_library


def fail_with(exc: BaseException):
    def call():
        raise exc

    return call


def test_bad_raw_gdal_error_fails_the_task_without_retries(tmp_path):
    garbage = tmp_path / "scene.tif"
    garbage.write_bytes(b"not a tiff")
    with pytest.raises(AirflowFailException, match=r"RasterioIOError: .*\(GDAL/PROJ refused an input"):
        run_library(lambda: rasterio.open(garbage))


def test_bad_read_only_lake_and_library_input_errors_fail_without_retries():
    with pytest.raises(AirflowFailException, match=r"the file system is read-only; point the lake at a writable root"):
        run_library(fail_with(OSError(errno.EROFS, os.strerror(errno.EROFS), "/lake")))
    with pytest.raises(AirflowFailException, match=r"^InputError: bad tile size$"):
        run_library(fail_with(InputError("bad tile size")))


def test_transient_and_unknown_errors_are_left_to_airflow_retries():
    for exc in (RasterioIOError("HTTP response code: 503"), TimeoutError("slow"), RuntimeError("a bug")):
        with pytest.raises(type(exc)):
            run_library(fail_with(exc))
