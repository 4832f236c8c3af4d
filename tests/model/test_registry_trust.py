"""Trust suite (issue 26) at the model registry: an alias is a version id, never a path; one
malformed alias fails only the runs that use it, naming its file; a file swapped after validation
is refused when the consumer loads the version."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from support.trust import MODEL, build_lake, checksums

from landshift.core.errors import CorruptFileError, LakeBoundaryError, ModelIntegrityError
from landshift.model.registry import (
    alias_uri,
    list_aliases,
    load_verified,
    resolve_version,
    set_alias,
    verify_version,
    version_digests,
)

pytestmark = pytest.mark.data


@pytest.fixture
def lake(tmp_path, monkeypatch):
    return build_lake(tmp_path, monkeypatch)


def test_hostile_alias_pointing_outside_the_version_folders_is_refused(lake, tmp_path):
    before = checksums(Path(lake.root))
    Path(alias_uri(lake, MODEL, "sneaky")).write_text(json.dumps({"version": "../../.."}))
    with pytest.raises(
        LakeBoundaryError,
        match=r"'\.\./\.\./\.\.' is refused: model alias .*sneaky\.json: the target must be a version id",
    ):
        resolve_version(lake, MODEL, "sneaky")
    with pytest.raises(LakeBoundaryError, match="not a path"):
        verify_version(lake, MODEL, "sneaky")
    assert resolve_version(lake, MODEL, "production").version == "1"  # the others still resolve
    Path(alias_uri(lake, MODEL, "sneaky")).unlink()
    assert checksums(Path(lake.root)) == before


def test_bad_malformed_alias_fails_only_its_runs_naming_the_file(lake):
    set_alias(lake, MODEL, "staging", "1")
    bad = Path(alias_uri(lake, MODEL, "staging"))
    bad.write_text('{"version": ')  # truncated
    with pytest.raises(CorruptFileError, match=rf"{bad}: not valid JSON \(12 bytes; .*truncated or corrupt"):
        resolve_version(lake, MODEL, "staging")
    assert list_aliases(lake, MODEL) == {"production": "1"}  # the bad one left out, logged
    assert verify_version(lake, MODEL, "production").version == "1"


def test_hostile_manifest_and_file_swapped_together_are_refused_against_the_validated_digests(lake):
    validated = version_digests(lake, verify_version(lake, MODEL, "production"))
    version_dir = Path(lake.root, "models", MODEL, "1")
    metrics = version_dir / "metrics.json"
    metrics.write_text(json.dumps({"accuracy": 0.99}))
    manifest = json.loads((version_dir / "manifest.json").read_text())
    manifest["metrics.json"] = hashlib.sha256(metrics.read_bytes()).hexdigest()
    (version_dir / "manifest.json").write_text(json.dumps(manifest))  # a consistent forgery
    assert verify_version(lake, MODEL, "production").metrics == {"accuracy": 0.99}
    with pytest.raises(ModelIntegrityError, match=r"version 1\): metrics\.json changed since the run was validated"):
        load_verified(lake, MODEL, "production", validated)


def test_bad_alias_of_a_region_names_its_file_in_the_scheduled_run(lake):
    """A scheduled run resolves only its region's alias: another's bad file does not stop it, its own is named."""
    from landshift.regions.registry import get_region
    from landshift.regions.vintages import current_model_version

    region = get_region("nd-pothole")
    set_alias(lake, region.model_name, "staging", "1")
    Path(alias_uri(lake, region.model_name, "staging")).write_text('{"version": ')
    assert current_model_version(lake, region) == "1"
    own = Path(alias_uri(lake, region.model_name, str(region.model_ref)))
    own.write_text('{"version": ')
    with pytest.raises(CorruptFileError, match=rf"{own}: not valid JSON"):
        current_model_version(lake, region)
