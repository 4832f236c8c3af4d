"""The model registry in the lake: immutable numbered versions and movable aliases.

``models/<name>/<version>/`` holds head.npz, spec.json, legend.json, metrics.json,
training.json and model_card.md. Registering content identical to an existing version (same
fingerprint) returns that version; nothing is ever overwritten. ``models/<name>/aliases/<a>.json``
points an alias (e.g. ``production``) at a version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from landshift.core.errors import InputError, IntegrityError, ModelIntegrityError, NotFoundError
from landshift.core.legend import Legend
from landshift.lake.base import Lake, read_json, write_json
from landshift.model.spec import Head, ModelSpec

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9._-]{1,62}$")
VERSION_FILES = ("head.npz", "spec.json", "legend.json", "metrics.json", "training.json", "model_card.md")
# sha256 of every file above, written with the version and checked by verify_version.
MANIFEST = "manifest.json"
# Width of each backbone's pooled embedding (the head's input, before the spectral features).
EMBEDDING_WIDTH = {"mobilenet_v2": 1280, "resnet50": 2048, "efficientnet_b0": 1280}


@dataclass(frozen=True)
class ModelVersion:
    """One registered version, loaded."""

    name: str
    version: str
    uri: str
    spec: ModelSpec
    head: Head
    legend: Legend
    metrics: dict
    fingerprint: str


def _check_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise InputError(f"model name {name!r} must be lowercase letters, digits, '.', '_' or '-'")
    return name


def model_root(lake: Lake, name: str) -> str:
    """Folder of a model's versions and aliases."""
    return lake.uri("models", _check_name(name))


def list_versions(lake: Lake, name: str) -> list[str]:
    """Registered version ids, oldest first."""
    root = model_root(lake, name)
    ids = {uri[len(root) :].strip("/").split("/")[0] for uri in lake.list_files(root, "spec.json")}
    return sorted((v for v in ids if v.isdigit()), key=int)


def list_aliases(lake: Lake, name: str) -> dict[str, str]:
    """Alias -> version."""
    root = f"{model_root(lake, name)}/aliases"
    return {Path(uri).stem: read_json(lake, uri)["version"] for uri in lake.list_files(root, ".json")}


def fingerprint_of(spec: ModelSpec, head: Head, legend: Legend) -> str:
    """Content hash of what decides a version's predictions."""
    digest = hashlib.sha256()
    digest.update(json.dumps(spec.to_dict(), sort_keys=True).encode())
    digest.update(head.to_bytes())
    digest.update(json.dumps(legend.to_dict(), sort_keys=True).encode())
    return digest.hexdigest()


def model_card(name: str, version: str, spec: ModelSpec, legend: Legend, metrics: dict, training: dict) -> str:
    """A short Markdown model card."""
    cross = metrics.get("cross_year") or {}
    mean = cross.get("mean") or {}
    directions = "; ".join(
        f"{d['train_year']} -> {d['test_years']}: {d['accuracy']}" for d in cross.get("directions", [])
    )
    blocked = metrics.get("spatial_blocks") or {}
    change = (metrics.get("change") or {}).get("at_rule", {}).get("bitemporal") or {}
    return "\n".join(
        [
            f"# {name} version {version}",
            "",
            f"Frozen ImageNet {spec.backbone} backbone ({spec.input_size} px, {spec.composite} composite, "
            f"{spec.normalization} normalisation, spectral features {'on' if spec.spectral_features else 'off'}) "
            "with a softmax head trained on prior land-cover labels, probabilities temperature-scaled "
            f"(T = {(metrics.get('calibration') or {}).get('temperature')}).",
            "",
            f"- Classes: {', '.join(f'{c.code} {c.name}' for c in legend.classes)}",
            f"- Training data: region {training.get('region')}, label years {training.get('label_years')}",
            f"- Cross-year accuracy, mean of both directions: {mean.get('accuracy')} (water F1 "
            f"{mean.get('water_f1')}, herbaceous F1 {mean.get('herbaceous_f1')}); {directions}",
            f"- Change vs the first year's labels (bitemporal, at the default rule): precision "
            f"{change.get('precision')}, recall {change.get('recall')}",
            f"- Spatially blocked validation accuracy: {blocked.get('accuracy')} (kappa {blocked.get('kappa')})",
            f"- Backbone weights: {spec.weights_uri} (sha256 {spec.weights_sha256})",
            f"- Files: sha256 of each in {MANIFEST}, checked before every run (registry.verify_version)",
            "",
            "Limits: labels from one annotator on 224 m cells; crop vs grassland is the weakest call.",
            "",
        ]
    )


def register_version(
    lake: Lake, name: str, spec: ModelSpec, head: Head, legend: Legend, metrics: dict, training: dict
) -> ModelVersion:
    """Register a new immutable version, or return the existing one with identical content."""
    fingerprint = fingerprint_of(spec, head, legend)
    existing = list_versions(lake, name)
    for version in existing:
        stored = read_json(lake, f"{model_root(lake, name)}/{version}/training.json")
        if stored.get("fingerprint") == fingerprint:
            log.info("Model %s: identical to version %s, nothing registered", name, version)
            return resolve_version(lake, name, version)
    version = str(int(existing[-1]) + 1 if existing else 1)
    uri = f"{model_root(lake, name)}/{version}"
    if lake.exists(uri):
        raise IntegrityError(f"model version {uri} exists already and is never overwritten")
    with tempfile.TemporaryDirectory(prefix="landshift-model-") as tmp:
        files = {
            "head.npz": head.to_bytes(),
            "spec.json": json.dumps(spec.to_dict(), indent=2, sort_keys=True).encode(),
            "legend.json": legend.to_json().encode(),
            "metrics.json": json.dumps(metrics, indent=2, sort_keys=True).encode(),
            "training.json": json.dumps({**training, "fingerprint": fingerprint}, indent=2, sort_keys=True).encode(),
            "model_card.md": model_card(name, version, spec, legend, metrics, training).encode(),
        }
        files[MANIFEST] = json.dumps(
            {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}, indent=2, sort_keys=True
        ).encode()
        for file_name, content in files.items():
            Path(tmp, file_name).write_bytes(content)
        staging = lake.uri("staging", f"model-{name}-{version}-{fingerprint[:8]}")
        lake.delete(staging)
        lake.upload_dir(tmp, staging)
        lake.move(staging, uri)
    log.info("Registered model %s version %s at %s", name, version, uri)
    return resolve_version(lake, name, version)


def set_alias(lake: Lake, name: str, alias: str, version: str) -> None:
    """Point ``alias`` at an existing version."""
    if not NAME_PATTERN.match(alias or ""):
        raise InputError(f"alias {alias!r} must be lowercase letters, digits, '.', '_' or '-'")
    if version not in list_versions(lake, name):
        raise NotFoundError(f"model {name} has no version {version!r}; versions: {list_versions(lake, name)}")
    write_json(lake, f"{model_root(lake, name)}/aliases/{alias}.json", {"version": version})


def resolve_version(lake: Lake, name: str, ref: str) -> ModelVersion:
    """Load a version by id or alias; NotFoundError naming what exists."""
    ref = str(ref)
    versions = list_versions(lake, name)
    version = ref
    if ref not in versions:
        aliases = list_aliases(lake, name)
        if ref not in aliases:
            raise NotFoundError(
                f"model {name!r} has no version or alias {ref!r}; versions: {versions}, aliases: {sorted(aliases)}"
            )
        version = aliases[ref]
    uri = f"{model_root(lake, name)}/{version}"
    training = read_json(lake, f"{uri}/training.json")
    return ModelVersion(
        name=name,
        version=version,
        uri=uri,
        spec=ModelSpec.from_dict(read_json(lake, f"{uri}/spec.json")),
        head=Head.from_bytes(lake.read_bytes(f"{uri}/head.npz")),
        legend=Legend.from_dict(read_json(lake, f"{uri}/legend.json")),
        metrics=read_json(lake, f"{uri}/metrics.json"),
        fingerprint=training.get("fingerprint", ""),
    )


def verify_version(lake: Lake, name: str, ref: str) -> ModelVersion:
    """Load a version and check it before any Spark job uses it: every file against the digest in
    its manifest, the backbone weights against the spec's sha256, and the head's input width
    against the backbone's. Raises ModelIntegrityError naming the model reference and the reason."""
    version = resolve_version(lake, name, ref)
    label = f"model {name}:{ref} (version {version.version})"

    def fail(reason: str) -> ModelIntegrityError:
        return ModelIntegrityError(f"{label}: {reason}")

    manifest_uri = f"{version.uri}/{MANIFEST}"
    if not lake.exists(manifest_uri):
        raise fail(f"no {MANIFEST}: its files carry no digests")
    digests = read_json(lake, manifest_uri)
    for file_name in VERSION_FILES:
        expected = digests.get(file_name)
        if not expected:
            raise fail(f"{MANIFEST} has no digest for {file_name}")
        actual = hashlib.sha256(lake.read_bytes(f"{version.uri}/{file_name}")).hexdigest()
        if actual != expected:
            raise fail(f"{file_name} has sha256 {actual}, the manifest records {expected}")
    spec = version.spec
    if not spec.weights_sha256:
        raise fail("the spec records no sha256 for the backbone weights")
    if not lake.exists(spec.weights_uri):
        raise fail(f"backbone weights {spec.weights_uri} not in the lake")
    actual = hashlib.sha256(lake.read_bytes(spec.weights_uri)).hexdigest()
    if actual != spec.weights_sha256:
        raise fail(f"backbone weights {spec.weights_uri} have sha256 {actual}, the spec records {spec.weights_sha256}")
    expected_width = EMBEDDING_WIDTH[spec.backbone] + spec.spectral_count
    if version.head.offset.shape[0] != expected_width:
        raise fail(
            f"the head takes {version.head.offset.shape[0]} features, the {spec.backbone} backbone with "
            f"{spec.spectral_count} spectral features gives {expected_width}"
        )
    return version
