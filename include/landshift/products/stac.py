"""A STAC catalog of the lake's products: catalog -> a collection per region -> an item per vintage.

::

    published/catalog.json                       root catalog (child link per region)
    published/<region>/collection.json           collection: extent grown by each vintage, summaries
    published/<region>/<vintage>/item.json       item, published inside the product (atomically)

Links are relative (root, parent, collection, child, item) plus an absolute ``self``, so the tree
can be browsed from the lake or from a copy. The collection and the catalog are rebuilt from the
published items after each publication (never edited in place), so the order in which vintages
are published, or republished, does not change their bytes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from landshift.core.errors import CorruptFileError
from landshift.core.legend import rgba_to_hex
from landshift.lake.base import Lake, read_json, write_json
from landshift.lake.publishing import repair_under
from landshift.products.symbology import ClassEntry

if TYPE_CHECKING:
    from landshift.products.layout import RasterLayout

log = logging.getLogger(__name__)

STAC_VERSION = "1.1.0"
CLASSIFICATION_SCHEMA = "https://stac-extensions.github.io/classification/v2.0.0/schema.json"
PROJECTION_SCHEMA = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
JSON_TYPE = "application/json"
GEOJSON_TYPE = "application/geo+json"
# The products are derived from public-domain NAIP imagery; the project has not chosen a licence
# for them, so STAC's "other" is the honest value (see the README).
LICENSE = "Apache-2.0"  # the project's LICENSE; the NAIP imagery itself is public domain
PROVIDERS = [
    {
        "name": "USDA Farm Service Agency, National Agriculture Imagery Program (NAIP)",
        "roles": ["producer", "licensor"],
        "url": "https://naip-usdaonline.hub.arcgis.com/",
    },
    {"name": "LandShift", "roles": ["processor"], "description": "Tile classification and change detection"},
]
CATALOG_ID = "landshift"


def href_of(uri: str) -> str:
    """An absolute href for a lake URI: ``file://`` for a local path, the URI itself otherwise."""
    return Path(uri).as_uri() if uri.startswith("/") else uri


def _parent(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[0]


@dataclass(frozen=True)
class StacContext:
    """Where the item will live, and the ``created`` time it keeps across republications."""

    self_href: str | None = None
    created: str | None = None

    @classmethod
    def for_product(cls, lake: Lake, dest_uri: str) -> StacContext:
        """The context of a product about to be published at ``dest_uri``.

        ``created`` is carried over from the item already published there, so republishing the
        same product writes the same bytes; a first publication stamps the current time.
        """
        item_uri = f"{dest_uri.rstrip('/')}/item.json"
        created = None
        if lake.exists(item_uri):
            created = read_json(lake, item_uri).get("properties", {}).get("created")
        return cls(self_href=href_of(item_uri), created=created or _now())


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def stac_classes(entries: list[ClassEntry], nodata: int) -> list[dict]:
    """Classification v2 class objects: machine ``name``, human ``title``, colour, nodata flag."""
    classes = []
    for entry in sorted(entries, key=lambda e: e.value):
        item = {
            "value": entry.value,
            "name": "-".join(entry.name.lower().split()),
            "title": entry.name,
            "count": entry.count,
        }
        if entry.value == nodata:
            item["nodata"] = True
        else:
            item["color_hint"] = rgba_to_hex(entry.rgba).lstrip("#").upper()
        classes.append(item)
    return classes


def _raster_asset(
    href: str,
    title: str,
    description: str,
    layout: RasterLayout,
    data_type: str,
    nodata: int,
    classes: list[dict] | None,
) -> dict:
    asset = {
        "href": href,
        "type": COG_TYPE,
        "roles": ["data"],
        "title": title,
        "description": description,
        "data_type": data_type,
        "nodata": nodata,
        "gsd": layout.grid.tile_size_m,
        "proj:code": layout.grid.crs,
        "proj:shape": list(layout.shape),
        "proj:transform": list(layout.grid.raster_transform(layout.cols, layout.rows))[:6],
        "proj:bbox": list(layout.native_bounds),
    }
    if classes is not None:
        asset["classification:classes"] = classes
    return asset


def stac_item(
    summary: dict,
    layout: RasterLayout,
    landuse_entries: list[ClassEntry],
    change_entries: list[ClassEntry],
    context: StacContext,
) -> dict:
    """The product's STAC item: one asset per file, projection fields on the rasters only."""
    from rasterio.warp import transform_bounds

    from landshift.imagery.scenes import parse_crs
    from landshift.products.layout import CHANGE_CODING, CONFIDENCE_NODATA

    west, south, east, north = (
        round(v, 7) for v in transform_bounds(parse_crs(layout.grid.crs), "EPSG:4326", *layout.native_bounds)
    )
    vintage = str(summary["vintage"])
    region = summary["region"]
    properties = {
        "title": f"LandShift {region} {vintage}",
        "description": f"Land use per {layout.grid.tile_size_m:g} m tile and change against "
        f"{summary['prior']['source']}, model version {summary['model']['version']}",
        "datetime": None,
        "license": LICENSE,
        "start_datetime": f"{vintage[:4]}-01-01T00:00:00Z",
        "end_datetime": f"{vintage[:4]}-12-31T23:59:59Z",
        "gsd": layout.grid.tile_size_m,
        "landshift:region": region,
        "landshift:vintage": vintage,
        "landshift:model_version": summary["model"]["version"],
        "landshift:prior_source": summary["prior"]["source"],
    }
    if context.created:
        properties["created"] = context.created
    links = [
        {"rel": "root", "href": "../../catalog.json", "type": JSON_TYPE, "title": "LandShift products"},
        {"rel": "parent", "href": "../collection.json", "type": JSON_TYPE},
        {"rel": "collection", "href": "../collection.json", "type": JSON_TYPE},
    ]
    if context.self_href:
        links.append({"rel": "self", "href": context.self_href, "type": GEOJSON_TYPE})
    assets = {
        "landuse": _raster_asset(
            "./landuse.tif",
            "Land use",
            "NLCD code of the predicted class per tile; 0 = no tile",
            layout,
            "uint8",
            0,
            stac_classes(landuse_entries, 0),
        ),
        "change": _raster_asset(
            "./change.tif",
            "Change against the prior labels",
            CHANGE_CODING,
            layout,
            "uint16",
            0,
            stac_classes(change_entries, 0),
        ),
        "confidence": {
            **_raster_asset(
                "./confidence.tif",
                "Confidence",
                "Probability of the predicted class in percent (0-100); 255 = no tile",
                layout,
                "uint8",
                CONFIDENCE_NODATA,
                None,
            ),
            "unit": "%",
        },
        "thumbnail": {
            "href": "./landuse.png",
            "type": "image/png",
            "roles": ["thumbnail", "overview"],
            "title": "Land use quicklook",
        },
        "change_overview": {
            "href": "./change.png",
            "type": "image/png",
            "roles": ["overview"],
            "title": "Change quicklook",
        },
        "report": {
            "href": "./report.html",
            "type": "text/html",
            "roles": ["overview", "metadata"],
            "title": "Change report with before/after image chips",
        },
        "summary": {"href": "./summary.json", "type": JSON_TYPE, "roles": ["metadata"], "title": "Product summary"},
    }
    for stem in ("landuse", "change"):
        assets[f"{stem}_pam"] = {
            "href": f"./{stem}.tif.aux.xml",
            "type": "application/xml",
            "roles": ["metadata"],
            "title": f"GDAL PAM sidecar of {stem}.tif: category names, attribute table",
        }
    for stem in ("landuse", "change", "confidence"):
        assets[f"{stem}_style"] = {
            "href": f"./{stem}.qml",
            "type": "application/xml",
            "roles": ["style", "metadata"],
            "title": f"QGIS layer style of {stem}.tif",
        }
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [CLASSIFICATION_SCHEMA, PROJECTION_SCHEMA],
        "id": f"landshift-{region}-{vintage}",
        "collection": collection_id(region),
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
        },
        "bbox": [west, south, east, north],
        "properties": properties,
        "links": links,
        "assets": assets,
    }


def collection_id(region_id: str) -> str:
    """The STAC collection id of a region's products."""
    return f"landshift-{region_id}"


def region_collection(region_id: str, items: dict[str, dict], self_href: str | None) -> dict:
    """The region's collection from its published items (``{vintage: item}``)."""
    if not items:
        raise ValueError(f"no published items for region {region_id}")
    ordered = [items[v] for v in sorted(items)]
    bboxes = [item["bbox"] for item in ordered]
    bbox = [
        min(b[0] for b in bboxes),
        min(b[1] for b in bboxes),
        max(b[2] for b in bboxes),
        max(b[3] for b in bboxes),
    ]
    starts = [item["properties"]["start_datetime"] for item in ordered]
    ends = [item["properties"]["end_datetime"] for item in ordered]
    latest = ordered[-1]
    landuse_classes = [
        {k: v for k, v in c.items() if k != "count"} for c in latest["assets"]["landuse"]["classification:classes"]
    ]
    links = [
        {"rel": "root", "href": "../catalog.json", "type": JSON_TYPE, "title": "LandShift products"},
        {"rel": "parent", "href": "../catalog.json", "type": JSON_TYPE},
    ]
    if self_href:
        links.append({"rel": "self", "href": self_href, "type": JSON_TYPE})
    links += [
        {"rel": "item", "href": f"./{vintage}/item.json", "type": GEOJSON_TYPE, "title": items[vintage]["id"]}
        for vintage in sorted(items)
    ]
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [CLASSIFICATION_SCHEMA, PROJECTION_SCHEMA],
        "id": collection_id(region_id),
        "title": f"LandShift land use and change, {region_id}",
        "description": f"Land use per tile, change against prior labels and model confidence for region "
        f"{region_id}, one item per imagery vintage.",
        "license": LICENSE,
        "providers": PROVIDERS,
        "keywords": ["land use", "land cover", "change detection", "NAIP", "NLCD"],
        "extent": {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [[min(starts), max(ends)]]}},
        "summaries": {
            "landshift:vintage": sorted(items),
            "gsd": sorted({item["properties"]["gsd"] for item in ordered}),
            "proj:code": sorted({item["assets"]["landuse"]["proj:code"] for item in ordered}),
            "landshift:model_version": sorted({str(item["properties"]["landshift:model_version"]) for item in ordered}),
            "classification:classes": landuse_classes,
        },
        "links": links,
    }


def lake_catalog(region_ids: list[str], self_href: str | None) -> dict:
    """The root catalog: one child link per region collection."""
    links = [{"rel": "root", "href": "./catalog.json", "type": JSON_TYPE, "title": "LandShift products"}]
    if self_href:
        links.append({"rel": "self", "href": self_href, "type": JSON_TYPE})
    links += [
        {"rel": "child", "href": f"./{region}/collection.json", "type": JSON_TYPE, "title": collection_id(region)}
        for region in sorted(region_ids)
    ]
    return {
        "type": "Catalog",
        "stac_version": STAC_VERSION,
        "id": CATALOG_ID,
        "title": "LandShift products",
        "description": "Land use and change products published by LandShift, one collection per region.",
        "links": links,
    }


def _published_items(lake: Lake, region_uri: str) -> dict[str, dict]:
    """The items of a region's published vintages; an unreadable item leaves out only its vintage."""
    items = {}
    for uri in lake.list_files(region_uri, "item.json"):
        relative = uri[len(region_uri) :].strip("/").split("/")
        if len(relative) == 2 and relative[1] == "item.json":
            try:
                items[relative[0]] = read_json(lake, uri)
            except CorruptFileError as exc:
                log.error("STAC: item left out of the collection: %s", exc)
    return items


def update_catalog(lake: Lake, product_uri: str) -> dict:
    """Rebuild the collection of the product's region and the lake's root catalog from what is
    published; each file is replaced with one atomic write. Returns both documents.

    Interrupted publishes of any of the region's vintages are repaired first, so a product a
    killed publish had moved aside is back on disk, and in the collection, before it is rebuilt.
    """
    region_uri = _parent(product_uri)
    repair_under(lake, region_uri)
    published_uri = _parent(region_uri)
    region_id = region_uri.rstrip("/").rsplit("/", 1)[1]
    collection_uri = f"{region_uri}/collection.json"
    collection = region_collection(region_id, _published_items(lake, region_uri), href_of(collection_uri))
    write_json(lake, collection_uri, collection)
    regions = sorted(
        uri[len(published_uri) :].strip("/").split("/")[0]
        for uri in lake.list_files(published_uri, "collection.json")
        if uri[len(published_uri) :].strip("/").count("/") == 1
    )
    catalog_uri = f"{published_uri}/catalog.json"
    catalog = lake_catalog(regions, href_of(catalog_uri))
    write_json(lake, catalog_uri, catalog)
    items = sum(link["rel"] == "item" for link in collection["links"])
    log.info("STAC: %s now holds %d item(s); catalog lists %d region(s)", collection_uri, items, len(regions))
    return {"collection": collection, "catalog": catalog}


def catalog_documents(lake: Lake, published_uri: str) -> dict[str, dict]:
    """Every catalog, collection and item JSON under ``published_uri``, by URI (for validation)."""
    documents = {}
    for suffix in ("catalog.json", "collection.json", "item.json"):
        for uri in lake.list_files(published_uri, suffix):
            documents[uri] = read_json(lake, uri)
    return documents
