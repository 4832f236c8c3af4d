"""LandShift: land-use classification and change detection of aerial imagery."""

__version__ = "0.1.0"
