"""Errors LandShift raises for bad input, so callers can tell them from bugs."""


class LandShiftError(Exception):
    """Base class of every error LandShift raises on purpose."""


class InputError(LandShiftError, ValueError):
    """An input (raster, parameter, file) is malformed or does not fit the request."""


class NotFoundError(LandShiftError, LookupError):
    """A named thing (region, model version, alias, lake path) does not exist."""


class IntegrityError(LandShiftError):
    """Stored content does not match its recorded checksum or is immutable."""


class NoImageryError(NotFoundError):
    """A vintage has no imagery in the lake yet: nothing to do, not a failure."""
