"""Areas of interest: bounding boxes and GeoJSON, validated and reprojected to the grid CRS."""

from __future__ import annotations

import itertools
import json
import logging
import math
from typing import Any

from landshift.core.errors import InputError
from landshift.core.grid import Bounds

log = logging.getLogger(__name__)


# -- AOIs -----------------------------------------------------------------------------------------------
def parse_aoi(value: Any, what: str = "AOI") -> Bounds | None:
    """A WGS84 (lon, lat) box from a bbox list, a GeoJSON geometry/Feature/FeatureCollection, or None.

    Validated with shapely: longitudes in -180..180 and latitudes in -90..90 (a (lat, lon) AOI is
    named as such), rings closed and simple (any winding accepted), some area. An AOI crossing
    the antimeridian (a bbox with minx > maxx, a ring jumping across 180 degrees, or a
    MultiPolygon split at it) is refused: one box cannot hold it without becoming the whole world.
    """
    if value in (None, "", []):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InputError(f"{what} is not valid JSON: {exc}") from exc
    if isinstance(value, dict):
        return _geojson_bounds(value, what)
    return _bbox(value, what)


def _check_lon_lat(lon: float, lat: float, what: str) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InputError(f"{what}: coordinates must be finite numbers, got ({lon}, {lat})")
    if not -90 <= lat <= 90:
        hint = " (it looks like (lat, lon): GeoJSON and bbox order is lon, lat)" if -90 <= lon <= 90 else ""
        raise InputError(f"{what}: latitude {lat} is out of range -90..90{hint}")
    if not -180 <= lon <= 180:
        raise InputError(f"{what}: longitude {lon} is out of range -180..180 (WGS84 degrees expected)")


def _bbox(value: Any, what: str) -> Bounds:
    try:
        minx, miny, maxx, maxy = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be [minx, miny, maxx, maxy] or GeoJSON, got {value!r}") from exc
    for lon, lat in ((minx, miny), (maxx, maxy)):
        _check_lon_lat(lon, lat, what)
    if minx > 0 > maxx and minx - maxx > 180:
        raise InputError(
            f"{what} {list(value)} crosses the antimeridian (minx > maxx): split it into one region on each side"
        )
    if not (minx < maxx and miny < maxy):
        raise InputError(f"{what} {value!r} encloses no area (need minx < maxx and miny < maxy)")
    return minx, miny, maxx, maxy


def _geojson_geometries(geojson: dict, what: str) -> list[dict]:
    kind = geojson.get("type")
    if kind == "FeatureCollection":
        features = geojson.get("features") or []
        if not features:
            raise InputError(f"{what}: GeoJSON FeatureCollection has no features")
        return [g for f in features for g in _geojson_geometries(f, what)]
    if kind == "Feature":
        geometry = geojson.get("geometry")
        if not isinstance(geometry, dict):
            raise InputError(f"{what}: GeoJSON Feature has no geometry")
        return _geojson_geometries(geometry, what)
    if kind not in ("Polygon", "MultiPolygon"):
        raise InputError(
            f"{what}: GeoJSON type must be Polygon, MultiPolygon, Feature or FeatureCollection, got {kind!r}"
        )
    return [geojson]


def _positions(value: Any, what: str):
    if isinstance(value, list | tuple) and len(value) >= 2 and all(isinstance(v, int | float) for v in value[:2]):
        yield float(value[0]), float(value[1])
        return
    if not isinstance(value, list | tuple) or not value:
        raise InputError(f"{what}: malformed GeoJSON coordinates")
    for item in value:
        yield from _positions(item, what)


def _rings(geometry: dict) -> list[list]:
    coordinates = geometry.get("coordinates")
    polygons = coordinates if geometry["type"] == "MultiPolygon" else [coordinates]
    return [ring for polygon in polygons for ring in polygon]


def _geojson_bounds(geojson: dict, what: str) -> Bounds:
    from shapely.geometry import shape
    from shapely.validation import explain_validity

    geometries = _geojson_geometries(geojson, what)
    shapes = []
    for geometry in geometries:
        points = list(_positions(geometry.get("coordinates"), what))
        if len(points) < 3:
            raise InputError(f"{what}: GeoJSON polygon needs at least 3 positions")
        for lon, lat in points:
            _check_lon_lat(lon, lat, what)
        for ring in _rings(geometry):
            lons = [float(p[0]) for p in ring]
            if any(abs(b - a) > 180 for a, b in itertools.pairwise(lons)):
                raise InputError(
                    f"{what} crosses the antimeridian (an edge jumps across 180 degrees): "
                    "split it into one region on each side"
                )
        try:
            polygon = shape({"type": geometry["type"], "coordinates": geometry["coordinates"]})
        except (ValueError, TypeError, IndexError, AttributeError) as exc:
            raise InputError(f"{what}: malformed GeoJSON coordinates: {exc}") from exc
        if not polygon.is_valid:
            raise InputError(f"{what}: not a valid polygon: {explain_validity(polygon)}")
        if polygon.area <= 0:
            raise InputError(f"{what}: the polygon encloses no area")
        shapes.extend(getattr(polygon, "geoms", [polygon]))  # the parts of a MultiPolygon
    minx = min(s.bounds[0] for s in shapes)
    maxx = max(s.bounds[2] for s in shapes)
    touches_east = any(s.bounds[2] >= 180 for s in shapes)
    touches_west = any(s.bounds[0] <= -180 for s in shapes)
    if touches_east and touches_west and not any(s.bounds[0] <= -180 and s.bounds[2] >= 180 for s in shapes):
        raise InputError(
            f"{what} is split at the antimeridian (parts touch both 180 and -180): "
            "one box would cover the whole world; make one region on each side"
        )
    miny = min(s.bounds[1] for s in shapes)
    maxy = max(s.bounds[3] for s in shapes)
    return _bbox([minx, miny, maxx, maxy], what)


def aoi_in_crs(aoi: Bounds | None, crs: str) -> Bounds | None:
    """The AOI as a box in ``crs``, clipped to the CRS's area of use first.

    A world-sized AOI (or any AOI larger than a UTM zone) cannot be projected whole; clipping
    it to where the CRS is defined keeps the box finite, so a scene anywhere in that area,
    east or west of Greenwich, intersects it. None stays None (everything).
    """
    if aoi is None:
        return None
    from pyproj import CRS, Transformer

    target = CRS.from_user_input(crs)
    area = target.area_of_use
    minx, miny, maxx, maxy = aoi
    if area is not None:
        minx, miny = max(minx, area.west), max(miny, area.south)
        maxx, maxy = min(maxx, area.east), min(maxy, area.north)
        if minx >= maxx or miny >= maxy:
            raise InputError(
                f"AOI {list(aoi)} (lon/lat) lies outside the area where {crs} is defined "
                f"({area.west}, {area.south}, {area.east}, {area.north})"
            )
    transformer = Transformer.from_crs("EPSG:4326", target, always_xy=True)
    box = transformer.transform_bounds(minx, miny, maxx, maxy, densify_pts=21)
    if not all(math.isfinite(v) for v in box):
        raise InputError(f"AOI {list(aoi)} cannot be expressed in {crs}")
    return tuple(float(v) for v in box)  # type: ignore[return-value]
