"""Errors LandShift raises on purpose, split into permanent and transient faults.

*Permanent* errors (bad input, a bad model, a name conflict) fail a task once with their message:
retrying cannot help. *Transient* errors (a lost executor, a storage timeout, another publish in
progress) are worth retrying. :func:`is_retryable` is the one place that tells them apart; the
Airflow side turns a non-retryable error into a failure without retries.
"""

from __future__ import annotations

import errno


class LandShiftError(Exception):
    """Base class of every error LandShift raises on purpose."""

    retryable = False


class InputError(LandShiftError, ValueError):
    """An input (raster, parameter, file) is malformed or does not fit the request."""


class NotFoundError(LandShiftError, LookupError):
    """A named thing (region, model version, alias, lake path) does not exist."""


class IntegrityError(LandShiftError):
    """Stored content does not match its recorded checksum or is immutable."""


class NoImageryError(NotFoundError):
    """A vintage has no imagery in the lake yet: nothing to do, not a failure."""


class LakeBoundaryError(InputError):
    """A URI points outside the lake (or its allow-listed roots): refused, never opened."""

    def __init__(self, uri: str, reason: str) -> None:
        super().__init__(f"{uri!r} is refused: {reason}")
        self.uri = uri
        self.reason = reason


class ProductConflictError(InputError):
    """A run would replace a product it does not own, or one made from other inputs, unasked."""


class TransientError(LandShiftError):
    """A fault that may pass (storage timeout, lost executor, busy lock): retry."""

    retryable = True


class PublishBusyError(TransientError):
    """Another publish of the same product is in progress."""


# Exception type names (module-independent) of faults outside LandShift that are worth a retry.
TRANSIENT_NAMES = frozenset(
    {
        "TimeoutError",
        "ConnectionError",
        "ConnectionResetError",
        "ConnectionAbortedError",
        "BrokenPipeError",
        "ServiceRequestError",  # azure.core: the request never reached the service
        "ServiceResponseError",  # azure.core: no answer
        "ServiceRequestTimeoutError",
        "ServiceResponseTimeoutError",
        "Py4JNetworkError",  # the Spark driver's JVM went away
        "ExecutorLostFailure",
    }
)
TRANSIENT_MESSAGES = (
    "ExecutorLostFailure",
    "Connection reset",
    "timed out",
    "Lost executor",
    "SparkConnectGrpcException",
    "HTTP response code: 5",  # GDAL's /vsi* readers on a 5xx answer
    "Temporary failure in name resolution",
)


# Exception type names of raster and projection libraries (rasterio, GDAL's CPLE_* classes, PROJ
# via pyproj): raised on a bad input file or CRS, so a retry reads the same bad bytes again.
RASTER_ERROR_NAMES = frozenset(
    {
        "RasterioError",
        "RasterioIOError",
        "CRSError",
        "DriverRegistrationError",
        "WindowError",
        "CPLE_BaseError",
        "ProjError",
        "GEOSException",
    }
)
# OSError numbers that no retry can fix: the path or the file system is wrong, not busy.
PERMANENT_ERRNOS = {
    errno.ENAMETOOLONG: "a file name is too long for the file system; use shorter region ids or paths",
    errno.EROFS: "the file system is read-only; point the lake at a writable root",
    errno.ELOOP: "a path loops through symbolic links; remove the link",
    errno.EACCES: "permission denied; grant the worker access to the lake path",
    errno.EPERM: "operation not permitted; grant the worker access to the lake path",
    errno.ENOTDIR: "a path runs through a file as if it were a folder; fix the lake layout",
    errno.EISDIR: "a folder is where a file was expected; fix the lake layout",
}


def permanent_reason(exc: BaseException) -> str | None:
    """Why ``exc`` (an error from outside LandShift) is permanent, in words that say what to do;
    None when it is not known to be permanent. Transient markers in the message win."""
    if isinstance(exc, LandShiftError) or _looks_transient(exc):
        return None
    if isinstance(exc, MemoryError):
        return "out of memory: the run is larger than the worker; lower LANDSHIFT_MAX_TILES_PER_RUN or use more memory"
    names = {kind.__name__ for kind in type(exc).__mro__}
    if names & RASTER_ERROR_NAMES or any(name.startswith("CPLE_") for name in names):
        return "GDAL/PROJ refused an input (a corrupt or unsupported raster, or an unknown CRS); fix the input file"
    if isinstance(exc, OSError) and exc.errno in PERMANENT_ERRNOS:
        return PERMANENT_ERRNOS[exc.errno]
    return None


def describe_permanent(exc: BaseException) -> str:
    """One line for a task that fails without retries: the error, then what to do."""
    reason = permanent_reason(exc)
    text = f"{type(exc).__name__}: {exc}"
    return f"{text} ({reason})" if reason else text


def _looks_transient(exc: BaseException) -> bool:
    if any(kind.__name__ in TRANSIENT_NAMES for kind in type(exc).__mro__):
        return True
    text = str(exc)
    return any(marker in text for marker in TRANSIENT_MESSAGES)


def is_retryable(exc: BaseException) -> bool:
    """Whether a retry may help: False for LandShift's permanent errors and for known permanent
    faults from outside (raw GDAL/PROJ errors on input, memory errors, OSErrors such as a file
    name too long or a read-only file system, see :func:`permanent_reason`), True otherwise.

    An unknown exception (a bug, an unexpected library error) counts as retryable, which is
    Airflow's default behaviour; bad input and bad models never are.
    """
    if isinstance(exc, LandShiftError):
        return exc.retryable
    return permanent_reason(exc) is None


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a known transient fault (not merely an unknown error)."""
    if isinstance(exc, LandShiftError):
        return exc.retryable
    return _looks_transient(exc)


class ModelIntegrityError(IntegrityError):
    """A model version fails verification: a file's digest, a missing digest, or a backbone/head
    mismatch. The message names the model reference and the reason."""


class CorruptFileError(IntegrityError, ValueError):
    """A stored file (JSON journal, alias, summary) cannot be parsed; the message names its path."""

    def __init__(self, uri: str, reason: str) -> None:
        super().__init__(f"{uri}: {reason}")
        self.uri = uri
