"""Errors LandShift raises for bad input, so callers can tell them from bugs."""


class LandShiftError(Exception):
    """Base class of every error LandShift raises on purpose."""


class InputError(LandShiftError, ValueError):
    """An input (raster, parameter, file) is malformed or does not fit the request."""


class NotFoundError(LandShiftError, LookupError):
    """A named thing (region, model version, alias, lake path) does not exist."""


class IntegrityError(LandShiftError):
    """Stored content does not match its recorded checksum or is immutable."""


class ModelIntegrityError(IntegrityError):
    """A model version fails verification: a file's digest, a missing digest, or a backbone/head
    mismatch. The message names the model reference and the reason."""
