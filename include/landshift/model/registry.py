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

from landshift.core.errors import (
    CorruptFileError,
    InputError,
    IntegrityError,
    LakeBoundaryError,
    ModelIntegrityError,
    NotFoundError,
)
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


def alias_uri(lake: Lake, name: str, alias: str) -> str:
    """The file of one alias."""
    return f"{model_root(lake, name)}/aliases/{alias}.json"


def read_alias(lake: Lake, name: str, alias: str) -> str:
    """The version an alias file points at, checked: a registered version id, never a path.

    A malformed file is a CorruptFileError and a target that is not a version id (``../../..``)
    a LakeBoundaryError, each naming the alias file; other aliases are not read.
    """
    uri = alias_uri(lake, name, alias)
    raw = read_json(lake, uri)
    version = raw.get("version") if isinstance(raw, dict) else None
    if not isinstance(version, str | int) or isinstance(version, bool):
        raise CorruptFileError(uri, f'alias must be {{"version": "<id>"}}, holds {raw!r}; point it again (set_alias)')
    version = str(version)
    if not version.isdigit():
        raise LakeBoundaryError(
            version, f"model alias {uri}: the target must be a version id of {name} (digits), not a path; set it again"
        )
    return version


def list_aliases(lake: Lake, name: str) -> dict[str, str]:
    """Alias -> version, for every readable alias (a malformed one is logged and left out: it
    fails only runs that use it, through :func:`read_alias`)."""
    root = f"{model_root(lake, name)}/aliases"
    aliases = {}
    for uri in lake.list_files(root, ".json"):
        try:
            aliases[Path(uri).stem] = read_alias(lake, name, Path(uri).stem)
        except (CorruptFileError, LakeBoundaryError) as exc:
            log.error("Model alias left out: %s", exc)
    return aliases


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
            *review_card_lines(training.get("review_labels")),
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


def review_card_lines(source: dict | None) -> list[str]:
    """The model card's line on analysts' review labels (none when the head was not trained on any)."""
    if not source:
        return []
    vintages = ", ".join(f"{vintage} ({tiles})" for vintage, tiles in source.get("vintages", {}).items())
    return [
        f"- Review labels: {source.get('tiles')} tile(s) decided by analysts (vintages {vintages}; "
        f"decisions {source.get('decisions')}), weight {source.get('weight')} against 1.0 for annotated labels"
    ]


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
    write_json(lake, alias_uri(lake, name, alias), {"version": version})


def version_of(lake: Lake, name: str, ref: str) -> str:
    """The version id ``ref`` (a version id or an alias) names; NotFoundError naming what exists.

    Only the alias ``ref`` names is read, so another alias's bad file does not stop this one.
    """
    ref = str(ref)
    versions = list_versions(lake, name)
    if ref in versions:
        return ref
    if NAME_PATTERN.match(ref) and lake.exists(alias_uri(lake, name, ref)):
        version = read_alias(lake, name, ref)
        if version not in versions:
            raise NotFoundError(f"model alias {alias_uri(lake, name, ref)} points at version {version}, not registered")
        return version
    raise NotFoundError(
        f"model {name!r} has no version or alias {ref!r}; versions: {versions}, "
        f"aliases: {sorted(list_aliases(lake, name))}"
    )


def _version_files(lake: Lake, uri: str) -> dict[str, bytes]:
    """The bytes of a version's files (and its manifest, when there is one), read once: what is
    checked is what is loaded."""
    files = {file_name: lake.read_bytes(f"{uri}/{file_name}") for file_name in VERSION_FILES[:4]}
    files["training.json"] = lake.read_bytes(f"{uri}/training.json")
    for optional in ("model_card.md", MANIFEST):
        if lake.exists(f"{uri}/{optional}"):
            files[optional] = lake.read_bytes(f"{uri}/{optional}")
    return files


def _parse_json(uri: str, data: bytes):
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptFileError(uri, f"not valid JSON ({exc})") from exc


def _loaded(lake: Lake, name: str, version: str, files: dict[str, bytes]) -> ModelVersion:
    uri = f"{model_root(lake, name)}/{version}"
    training = _parse_json(f"{uri}/training.json", files["training.json"])
    return ModelVersion(
        name=name,
        version=version,
        uri=uri,
        spec=ModelSpec.from_dict(_parse_json(f"{uri}/spec.json", files["spec.json"])),
        head=Head.from_bytes(files["head.npz"]),
        legend=Legend.from_dict(_parse_json(f"{uri}/legend.json", files["legend.json"])),
        metrics=_parse_json(f"{uri}/metrics.json", files["metrics.json"]),
        fingerprint=training.get("fingerprint", ""),
    )


def resolve_version(lake: Lake, name: str, ref: str) -> ModelVersion:
    """Load a version by id or alias; NotFoundError naming what exists."""
    version = version_of(lake, name, ref)
    return _loaded(lake, name, version, _version_files(lake, f"{model_root(lake, name)}/{version}"))


def verify_version(lake: Lake, name: str, ref: str) -> ModelVersion:
    """Load a version and check it before any Spark job uses it: every file against the digest in
    its manifest, the backbone weights against the spec's sha256, and the head's input width
    against the backbone's. Raises ModelIntegrityError naming the model reference and the reason."""
    number = version_of(lake, name, ref)
    uri = f"{model_root(lake, name)}/{number}"
    label = f"model {name}:{ref} (version {number})"

    def fail(reason: str) -> ModelIntegrityError:
        return ModelIntegrityError(f"{label}: {reason}")

    files = _version_files(lake, uri)
    if MANIFEST not in files:
        raise fail(f"no {MANIFEST}: its files carry no digests")
    digests = _parse_json(f"{uri}/{MANIFEST}", files[MANIFEST])
    for file_name in VERSION_FILES:
        expected = digests.get(file_name)
        if not expected:
            raise fail(f"{MANIFEST} has no digest for {file_name}")
        if file_name not in files:
            raise fail(f"{file_name} is missing")
        actual = hashlib.sha256(files[file_name]).hexdigest()
        if actual != expected:
            raise fail(f"{file_name} has sha256 {actual}, the manifest records {expected}")
    version = _loaded(lake, name, number, files)
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


def version_digests(lake: Lake, version: ModelVersion) -> dict[str, str]:
    """What a product records of the model it was made from: the sha256 of each version file (its
    manifest) and of the backbone weights (the spec's)."""
    digests = read_json(lake, f"{version.uri}/{MANIFEST}")
    files = {name: digests[name] for name in VERSION_FILES if name in digests}
    return {**files, "backbone": version.spec.weights_sha256}


def load_verified(lake: Lake, name: str, ref: str, expected: dict[str, str] | None = None) -> ModelVersion:
    """The version a consumer (the scoring job) uses, verified again at load time: every file
    against its manifest, the backbone weights against the spec, and, when given, the digests
    recorded when the run was validated (a manifest replaced since is refused too)."""
    version = verify_version(lake, name, ref)
    if expected:
        now = version_digests(lake, version)
        changed = sorted(key for key, value in expected.items() if now.get(key) != value)
        if changed:
            raise ModelIntegrityError(
                f"model {name}:{ref} (version {version.version}): {', '.join(changed)} changed since the run was "
                "validated; a registered version is immutable: restore it, or register a new version and rerun"
            )
    return version
