"""Errors LandShift raises on purpose, split into permanent and transient faults.

*Permanent* errors (bad input, a bad model, a name conflict) fail a task once with their message:
retrying cannot help. *Transient* errors (a lost executor, a storage timeout, another publish in
progress) are worth retrying. :func:`is_retryable` is the one place that tells them apart; the
Airflow side turns a non-retryable error into a failure without retries.
"""

from __future__ import annotations


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
)


def is_retryable(exc: BaseException) -> bool:
    """Whether a retry may help: False for LandShift's permanent errors, True for transient faults.

    An unknown exception (a bug, an unexpected library error) counts as retryable, which is
    Airflow's default behaviour; bad input and bad models never are.
    """
    if isinstance(exc, LandShiftError):
        return exc.retryable
    return True


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a known transient fault (not merely an unknown error)."""
    if isinstance(exc, LandShiftError):
        return exc.retryable
    if any(kind.__name__ in TRANSIENT_NAMES for kind in type(exc).__mro__):
        return True
    text = str(exc)
    return any(marker in text for marker in TRANSIENT_MESSAGES)


class ModelIntegrityError(IntegrityError):
    """A model version fails verification: a file's digest, a missing digest, or a backbone/head
    mismatch. The message names the model reference and the reason."""
