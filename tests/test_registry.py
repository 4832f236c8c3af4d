"""The model registry: immutable versions, idempotent registration, aliases, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from landshift.errors import IntegrityError, NotFoundError
from landshift.lake import LocalLake
from landshift.legend import DEFAULT_LEGEND
from landshift.model import Head, ModelSpec
from landshift.registry import list_versions, register_version, resolve_version, set_alias

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
    assert files == sorted(["head.npz", "spec.json", "legend.json", "metrics.json", "training.json", "model_card.md"])


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
