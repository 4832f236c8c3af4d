"""Offline STAC validation: pystac's bundled core schemas plus the extension schemas in tests/schemas.

No schema is ever fetched: every ``$ref`` resolves from files on disk, and an extension whose
schema is not vendored is an error (so an item cannot pass by naming an unknown extension).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match
from jsonschema_specifications import REGISTRY as METASCHEMAS
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
STAC_SCHEMAS = "https://schemas.stacspec.org/v1.1.0"
CORE_SCHEMA = {
    "Feature": f"{STAC_SCHEMAS}/item-spec/json-schema/item.json",
    "Collection": f"{STAC_SCHEMAS}/collection-spec/json-schema/collection.json",
    "Catalog": f"{STAC_SCHEMAS}/catalog-spec/json-schema/catalog.json",
}
SPEC_OF_FILE = {"collection.json": "collection-spec", "catalog.json": "catalog-spec"}


@cache
def registry() -> Registry:
    """Every schema, keyed by the URI that references to it use."""
    resources_by_uri = {}
    bundled = resources.files("pystac.validation.jsonschemas")
    for path in bundled.joinpath("stac-spec", "v1.1.0").iterdir():
        if path.name.endswith(".json"):
            spec = SPEC_OF_FILE.get(path.name, "item-spec")
            resources_by_uri[f"{STAC_SCHEMAS}/{spec}/json-schema/{path.name}"] = json.loads(path.read_text())
    for path in bundled.joinpath("geojson").iterdir():
        if path.name.endswith(".json"):
            resources_by_uri[f"https://geojson.org/schema/{path.name}"] = json.loads(path.read_text())
    for path in SCHEMA_DIR.glob("*.json"):
        schema = json.loads(path.read_text())
        resources_by_uri[schema["$id"]] = schema
    return METASCHEMAS.with_resources(
        (uri, Resource.from_contents(contents, default_specification=DRAFT7))
        for uri, contents in resources_by_uri.items()
    )


def stac_errors(document: dict) -> list[str]:
    """Every schema violation of a STAC item, collection or catalog (empty when valid)."""
    kind = document.get("type")
    if kind not in CORE_SCHEMA:
        return [f"not a STAC document: type {kind!r}"]
    errors = []
    for uri in [CORE_SCHEMA[kind], *document.get("stac_extensions", [])]:
        try:
            schema = registry().contents(uri)
        except LookupError:
            errors.append(f"{uri}: schema not available offline")
            continue
        validator = Draft7Validator(schema, registry=registry())
        for error in validator.iter_errors(document):
            leaf = best_match(error.context) if error.context else error
            where = "/".join(map(str, leaf.absolute_path))
            errors.append(f"{uri}: {where}: {leaf.message[:300]}")
    return errors
