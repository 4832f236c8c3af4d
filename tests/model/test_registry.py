"""The model registry: immutable versions, idempotent registration, aliases, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from landshift.core.errors import IntegrityError, ModelIntegrityError, NotFoundError
from landshift.core.legend import DEFAULT_LEGEND
from landshift.lake.base import LocalLake
from landshift.model.registry import (
    MANIFEST,
    VERSION_FILES,
    list_versions,
    register_version,
    resolve_version,
    set_alias,
    verify_version,
)
from landshift.model.spec import Head, ModelSpec

SPEC = ModelSpec(weights_uri="/lake/models/backbones/w.h5", weights_sha256="ab" * 32)


def head(seed: int) -> Head:
    rng = np.random.default_rng(seed)
    return Head(
        offset=np.zeros(4),
        projection=np.eye(4),
        mean=np.zeros(4),
        scale=np.ones(4),
        weights=rng.normal(size=(4, 2)),
        bias=np.zeros(2),
        class_codes=(11, 82),
    )


def register(lake, seed: int, metrics: dict | None = None):
    return register_version(
        lake,
        "demo-model",
        SPEC,
        head(seed),
        DEFAULT_LEGEND.subset([11, 82]),
        metrics or {"accuracy": 0.9},
        {"region": "nd-pothole"},
    )


def test_versions_are_numbered_and_identical_content_is_not_registered_twice(tmp_path):
    lake = LocalLake(str(tmp_path))
    first = register(lake, 1)
    again = register(lake, 1, {"accuracy": 0.1})  # same spec, head and legend: same version
    second = register(lake, 2)
    assert (first.version, again.version, second.version) == ("1", "1", "2")
    assert list_versions(lake, "demo-model") == ["1", "2"]
    assert resolve_version(lake, "demo-model", "1").metrics == {"accuracy": 0.9}  # never overwritten
    loaded = resolve_version(lake, "demo-model", "2")
    assert loaded.spec == SPEC and loaded.legend.codes == [11, 82]
    assert np.allclose(loaded.head.weights, head(2).weights, atol=1e-6)
    files = sorted(p.name for p in (tmp_path / "models" / "demo-model" / "2").iterdir())
    assert files == sorted([*VERSION_FILES, MANIFEST])


def test_aliases_move_and_resolve(tmp_path):
    lake = LocalLake(str(tmp_path))
    register(lake, 1)
    register(lake, 2)
    set_alias(lake, "demo-model", "production", "1")
    assert resolve_version(lake, "demo-model", "production").version == "1"
    set_alias(lake, "demo-model", "production", "2")
    assert resolve_version(lake, "demo-model", "production").version == "2"


def test_unknown_versions_aliases_and_models_are_clear_errors(tmp_path):
    lake = LocalLake(str(tmp_path))
    register(lake, 1)
    with pytest.raises(NotFoundError, match=r"no version or alias 'staging'; versions: \['1'\]"):
        resolve_version(lake, "demo-model", "staging")
    with pytest.raises(NotFoundError, match="no version '9'"):
        set_alias(lake, "demo-model", "production", "9")
    with pytest.raises(NotFoundError, match="no version or alias"):
        resolve_version(lake, "other-model", "production")


def test_an_existing_version_folder_is_never_overwritten(tmp_path):
    lake = LocalLake(str(tmp_path))
    (tmp_path / "models" / "demo-model" / "1").mkdir(parents=True)  # a half-written stray folder
    with pytest.raises(IntegrityError, match="never overwritten"):
        register(lake, 1)


def verified_lake(tmp_path, width: int = 1284) -> tuple[LocalLake, ModelSpec]:
    """A lake with backbone weights and one version whose spec records their digest."""
    import hashlib

    lake = LocalLake(str(tmp_path))
    weights = lake.uri("models", "backbones", "w.h5")
    lake.write_bytes(weights, b"weights")
    spec = ModelSpec(weights_uri=weights, weights_sha256=hashlib.sha256(b"weights").hexdigest())
    rng = np.random.default_rng(0)
    wide = Head(
        offset=np.zeros(width),
        projection=np.zeros((width, 4)),
        mean=np.zeros(4),
        scale=np.ones(4),
        weights=rng.normal(size=(4, 2)),
        bias=np.zeros(2),
        class_codes=(11, 82),
    )
    register_version(lake, "demo-model", spec, wide, DEFAULT_LEGEND.subset([11, 82]), {}, {})
    set_alias(lake, "demo-model", "production", "1")
    return lake, spec


def test_verify_version_accepts_an_intact_model(tmp_path):
    lake, spec = verified_lake(tmp_path)
    assert verify_version(lake, "demo-model", "production").spec == spec


def test_verify_version_refuses_a_tampered_head_naming_the_model_and_file(tmp_path):
    lake, _ = verified_lake(tmp_path)
    head_file = tmp_path / "models" / "demo-model" / "1" / "head.npz"
    head_file.write_bytes(head_file.read_bytes() + b"x")
    with pytest.raises(ModelIntegrityError, match=r"model demo-model:production \(version 1\): head.npz has sha256"):
        verify_version(lake, "demo-model", "production")


def test_verify_version_refuses_a_missing_manifest_or_digest(tmp_path):
    import json

    lake, _ = verified_lake(tmp_path)
    manifest = tmp_path / "models" / "demo-model" / "1" / MANIFEST
    digests = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({k: v for k, v in digests.items() if k != "spec.json"}))
    with pytest.raises(ModelIntegrityError, match=r"no digest for spec\.json"):
        verify_version(lake, "demo-model", "1")
    manifest.unlink()
    with pytest.raises(ModelIntegrityError, match="carry no digests"):
        verify_version(lake, "demo-model", "1")


def test_verify_version_refuses_swapped_backbone_weights(tmp_path):
    lake, spec = verified_lake(tmp_path)
    lake.write_bytes(spec.weights_uri, b"other weights")
    with pytest.raises(ModelIntegrityError, match=r"backbone weights .* have sha256"):
        verify_version(lake, "demo-model", "production")


def test_verify_version_refuses_a_head_built_for_another_backbone(tmp_path):
    lake, _ = verified_lake(tmp_path, width=2052)  # a ResNet-50 head on a MobileNetV2 spec
    with pytest.raises(ModelIntegrityError, match="head takes 2052 features, the mobilenet_v2 backbone"):
        verify_version(lake, "demo-model", "production")


def test_verify_version_refuses_a_spec_without_weights_digest(tmp_path):
    lake = LocalLake(str(tmp_path))
    spec = ModelSpec(weights_uri=lake.uri("models", "backbones", "w.h5"), weights_sha256="")
    register_version(lake, "demo-model", spec, head(1), DEFAULT_LEGEND.subset([11, 82]), {}, {})
    with pytest.raises(ModelIntegrityError, match="no sha256 for the backbone weights"):
        verify_version(lake, "demo-model", "1")
