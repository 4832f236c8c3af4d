"""Trust suite (issue 26): errors from outside LandShift are classified. Raw GDAL/PROJ errors on
input, memory errors and OSErrors no retry can fix fail at once with a message that says what to
do; only real transient faults are retried. The errors are raised by the real libraries."""

from __future__ import annotations

import errno
import os

import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.errors import CRSError, RasterioIOError

from landshift.core.errors import describe_permanent, is_retryable, is_transient, permanent_reason


def raised(action) -> BaseException:
    try:
        action()
    except BaseException as exc:
        return exc
    raise AssertionError("nothing raised")


def test_bad_raw_gdal_and_proj_errors_are_permanent(tmp_path):
    garbage = tmp_path / "scene.tif"
    garbage.write_bytes(b"II*\x00 not a tiff")
    gdal_error = raised(lambda: rasterio.open(garbage))
    proj_error = raised(lambda: CRS.from_user_input("EPSG:999999"))
    assert isinstance(gdal_error, RasterioIOError) and isinstance(proj_error, CRSError)
    for exc in (gdal_error, proj_error):
        assert not is_retryable(exc) and not is_transient(exc)
        assert "GDAL/PROJ refused an input" in describe_permanent(exc)


def test_bad_oserrors_no_retry_can_fix_are_permanent(tmp_path):
    too_long = raised(lambda: open(tmp_path / ("x" * 300), "w"))  # noqa: SIM115
    assert too_long.errno == errno.ENAMETOOLONG
    assert not is_retryable(too_long)
    assert "file name is too long" in describe_permanent(too_long)
    read_only = OSError(errno.EROFS, os.strerror(errno.EROFS), "/lake/published")
    assert not is_retryable(read_only) and "read-only; point the lake at a writable root" in permanent_reason(read_only)
    memory = raised(lambda: bytearray(1 << 62))
    assert isinstance(memory, MemoryError) and not is_retryable(memory)
    assert "LANDSHIFT_MAX_TILES_PER_RUN" in describe_permanent(memory)


def test_transient_faults_still_retry_even_from_gdal():
    timeout = RasterioIOError("CURL error: Connection timed out after 30000 milliseconds")
    server = RasterioIOError("HTTP response code: 503")
    for exc in (timeout, server, TimeoutError("x"), ConnectionResetError("x")):
        assert is_retryable(exc) and is_transient(exc), exc
    missing = FileNotFoundError(errno.ENOENT, "gone")  # may appear once a delivery lands: not classified
    assert is_retryable(missing) and permanent_reason(missing) is None


@pytest.mark.parametrize("number", [errno.ELOOP, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR])
def test_bad_paths_no_retry_can_fix_are_permanent(number):
    exc = OSError(number, os.strerror(number), "/lake/raw/imagery/x.tif")
    assert not is_retryable(exc) and permanent_reason(exc)


def test_bad_raw_proj_error_from_pyproj_is_permanent():
    import pyproj

    exc = raised(lambda: pyproj.CRS("EPSG:999999"))
    assert any(kind.__name__ == "ProjError" for kind in type(exc).__mro__)
    assert not is_retryable(exc) and "GDAL/PROJ refused an input" in describe_permanent(exc)
