"""The optional review gate (region parameter ``review_required``): the region DAG gets a
human-in-the-loop task after ``publish`` only when the region asks for it, and the task after the
gate republishes the product with the analyst's decisions (run for real on a published product)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO_ROOT

REGION_DAG = "landshift_region_nd-pothole"
REGION_FILE = REPO_ROOT / "include" / "regions" / "nd-pothole.json"


def _region_dag(monkeypatch, tmp_path: Path, **overrides):
    """The nd-pothole DAG parsed from dags/ with a registry holding the region file plus ``overrides``."""
    from airflow.dag_processing.dagbag import DagBag

    folder = tmp_path / "regions"
    folder.mkdir(parents=True)
    (folder / "nd-pothole.json").write_text(json.dumps({**json.loads(REGION_FILE.read_text()), **overrides}))
    monkeypatch.setenv("LANDSHIFT_REGIONS_DIR", str(folder))
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "landshift_regions.py"))
    assert bag.import_errors == {}
    return bag.dags[REGION_DAG]


def test_without_review_required_the_region_dag_has_no_gate(monkeypatch, tmp_path):
    dag = _region_dag(monkeypatch, tmp_path)
    ids = {t.task_id for t in dag.tasks}
    assert "vintage.publish" in ids
    assert not {"vintage.review_gate", "vintage.publish_reviewed"} & ids
    assert dag.get_task("vintage.publish").downstream_task_ids == set()


def test_review_required_adds_an_approval_task_after_publish(monkeypatch, tmp_path):
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    plain = {t.task_id for t in _region_dag(monkeypatch, tmp_path / "plain").tasks}
    dag = _region_dag(monkeypatch, tmp_path / "gated", review_required=True)
    gate, apply = dag.get_task("vintage.review_gate"), dag.get_task("vintage.publish_reviewed")
    assert {t.task_id for t in dag.tasks} == plain | {gate.task_id, apply.task_id}
    assert isinstance(gate, ApprovalOperator)
    assert gate.upstream_task_ids == {"vintage.publish"}
    assert apply.upstream_task_ids == {"vintage.publish", "vintage.review_gate"}
    assert gate.state.operator.task_id == "vintage.publish"  # the gate reads the published state
    assert apply.op_args[0].operator.task_id == "vintage.publish"
    assert gate.response_timeout.days == 7 and gate.retries >= 1 and gate.execution_timeout is not None
    assert apply.retries >= 1 and apply.execution_timeout is not None
    assert [o.uri for o in apply.outlets] == ["landshift://published/nd-pothole"]


def test_review_required_must_be_a_boolean(monkeypatch, tmp_path):
    from landshift.core.errors import InputError
    from landshift.regions.registry import Region

    raw = json.loads(REGION_FILE.read_text())
    with pytest.raises(InputError, match="review_required"):
        Region.from_dict({**raw, "review_required": "yes"})
    gated = Region.from_dict({**raw, "review_required": True})
    assert gated.review_required and Region.from_dict(gated.to_dict()) == gated
    assert "review_required" not in Region.from_dict(raw).to_dict()  # the default leaves requests as they were
