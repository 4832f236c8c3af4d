"""Ingest one region-vintage's delivered imagery as Cloud-Optimized GeoTIFFs, once.

Delivered NAIP is plain GeoTIFF without overviews: scoring a 0.6 m scene from it decodes and
resamples every native pixel, about 0.7 ms a tile against 0.2 from its COG (docs/performance.md).
:func:`ingest_vintage` rewrites the vintage's scenes as COGs (``landshift.imagery.ingest``: ZSTD,
overviews, stored uncompressed unless asked otherwise) under another lake prefix,
``cog/imagery/{region}/{vintage}`` by default; point the region's ``imagery`` template at it and
runs read the overview the model needs. The COGs hold the same pixels at full resolution.
Idempotent: scenes already ingested are not rewritten.
"""

from __future__ import annotations

from landshift.core.errors import InputError
from landshift.imagery.ingest import DEFAULT_OVERVIEW_COMPRESSION, ingest_scenes
from landshift.imagery.planning import discover_scenes
from landshift.lake.factory import open_lake
from landshift.regions.layout import resolve_path
from landshift.regions.registry import get_region, path_template_fields, validate_vintage

DEFAULT_COG_TEMPLATE = "cog/imagery/{region}/{vintage}"


def cog_prefix(template: str, region: str, vintage: str) -> str:
    """The lake path ``template`` names for one region-vintage; InputError for a template that
    is not a lake path or uses other fields than {region} and {vintage} (which it must hold)."""
    if "vintage" not in path_template_fields(template, "COG prefix"):
        raise InputError(f"COG prefix must use {{vintage}} (and may use {{region}}), got {template!r}")
    return template.format(region=region, vintage=vintage)


def ingest_vintage(
    lake_root: str,
    region_id: str,
    vintage: str,
    template: str = "",
    overview_compression: str = DEFAULT_OVERVIEW_COMPRESSION,
) -> dict:
    """Write every scene of a registered region's vintage as a COG under ``template`` (empty:
    ``DEFAULT_COG_TEMPLATE``), its overviews stored as ``overview_compression`` ("none" or
    "zstd"); returns what was found and written, and the imagery template to give the region."""
    template = template or DEFAULT_COG_TEMPLATE
    region, vintage = get_region(region_id), validate_vintage(vintage)
    lake = open_lake(lake_root)
    source = resolve_path(lake_root, region.imagery_prefix(vintage))
    destination = resolve_path(lake_root, cog_prefix(template, region.id, vintage))
    if destination.rstrip("/") == source.rstrip("/"):
        raise InputError(f"the COG prefix {destination} is the imagery prefix itself: name another")
    scenes = discover_scenes(lake, source)
    cogs = ingest_scenes(lake, scenes, destination, overview_compression=overview_compression)
    return {
        "region": region.id,
        "vintage": vintage,
        "scenes": len(scenes),
        "written": sum(cogs.values()),
        "cog_prefix": destination,
        "cogs": list(cogs),
        "imagery_template": template,
        "overview_compression": overview_compression,
    }
