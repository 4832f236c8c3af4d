"""Roles on a real `airflow standalone` (SimpleAuthManager users ann:admin, uma:user, vic:viewer)
and a lake holding a published product (the 2014 label product of tests/review):

* a viewer reads the review queue but gets 403 on deciding and applying, and nothing is written;
  a user (edit access to DAGs) decides;
* the review gate of a ``review_required`` region (plugin ``review_gate_graph``, in a mapped task
  group as in the region DAG) waits in ``awaiting_input`` with the link to the review page; the
  viewer may not answer it, the admin approves it through ``/api/v2/.../hitlDetails``, and the
  task after it publishes the reviewed product.

This module starts its own standalone (its own users, a DAG folder with the gate only: no model
training needed), so it runs alone in a few minutes: `pytest -m e2e tests/e2e/test_review_access.py`.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
import time
from pathlib import Path

import pytest
import requests
from support.harness import AirflowApi, AirflowStandalone, Timer, running, wait_for

REGION, VINTAGE = "nd-pothole", "2014"  # the label product of tests/review/conftest.py
REVIEW = "/landshift-review"
USERS = "ann:admin,uma:user,vic:viewer"
GATE_DAG = "landshift_review_gate_probe"
ANSWER_AFTER_S = 15
GATE_DAG_FILE = f'''
"""The review gate of a review_required region after a stand-in for `publish` (test DAG)."""
import os
from datetime import datetime

from airflow.sdk import dag, task, task_group

from landshift_airflow.review_gate import review_gate_graph


@dag(dag_id="{GATE_DAG}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["landshift"])
def probe():
    @task
    def find_pending_vintages() -> list[dict]:
        from landshift.regions.registry import get_region
        from landshift.regions.requests import RunRequest

        request = RunRequest(os.environ["LANDSHIFT_LAKE_ROOT"], get_region("{REGION}"), "{VINTAGE}")
        return [{{"request": request.to_dict()}}]

    @task_group(group_id="vintage")
    def vintage(state: dict) -> None:
        @task(task_id="publish")
        def publish(state: dict) -> dict:
            return state  # the product is published already

        review_gate_graph(publish(state))

    vintage.expand(state=find_pending_vintages())


probe()
'''


def _files(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def roles_lake(tmp_path_factory) -> Path:
    from review.conftest import publish_label_product

    root = tmp_path_factory.mktemp("roles-lake")
    with Timer("roles: publish the label product"):
        publish_label_product(root)
    return root


@pytest.fixture(scope="module")
def roles_airflow(tmp_path_factory, roles_lake: Path):
    """A standalone with three users of three roles, whose DAG folder holds the gate's test DAG only."""
    root = tmp_path_factory.mktemp("roles-airflow")
    dags = root / "dags"
    dags.mkdir()
    (dags / "review_gate_probe.py").write_text(textwrap.dedent(GATE_DAG_FILE))
    standalone = AirflowStandalone(root / "home", roles_lake)
    standalone.env.update({"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": USERS, "AIRFLOW__CORE__DAGS_FOLDER": str(dags)})
    with running(standalone, "roles"):
        yield standalone


def _login(airflow: AirflowStandalone, user: str) -> AirflowApi:
    path = airflow.home / "simple_auth_manager_passwords.json.generated"
    password = wait_for(lambda: json.loads(path.read_text()).get(user), 120, 1, f"{user}'s password in {path}")
    return AirflowApi(airflow.base_url, user, password)


def _bearer(api: AirflowApi) -> dict[str, str]:
    return {"Authorization": api.session.headers["Authorization"]}


def test_a_viewer_reads_the_queue_but_may_not_decide_or_apply(roles_airflow: AirflowStandalone, roles_lake: Path):
    base = f"{roles_airflow.base_url}{REVIEW}/api/regions/{REGION}/{VINTAGE}"
    viewer, user = _bearer(_login(roles_airflow, "vic")), _bearer(_login(roles_airflow, "uma"))
    queue = requests.get(f"{base}/queue", headers=viewer, timeout=60)
    assert queue.status_code == 200, queue.text
    assert queue.json()["user"] == "vic" and queue.json()["items"]
    tile_id = queue.json()["items"][0]["tile_id"]
    assert requests.get(f"{base}/tiles/{tile_id}", headers=viewer, timeout=60).status_code == 200
    before = _files(roles_lake)

    decision = {"tile_id": tile_id, "decision": "accept"}
    refused = requests.post(f"{base}/decisions", json=decision, headers=viewer, timeout=60)
    assert refused.status_code == 403, refused.text
    assert requests.post(f"{base}/apply", headers=viewer, timeout=60).status_code == 403
    assert _files(roles_lake) == before, "a refused request wrote to the lake"
    assert not (roles_lake / "reviews").exists()

    made = requests.post(f"{base}/decisions", json=decision, headers=user, timeout=60)
    assert made.status_code == 200, made.text
    assert made.json()["reviewer"] == "uma"
    written = list((roles_lake / "reviews" / REGION / VINTAGE / "decisions").rglob("*.json"))
    assert [json.loads(p.read_text())["reviewer"] for p in written] == ["uma"]


def test_the_review_gate_waits_for_the_analyst_and_then_publishes_the_reviewed_product(
    roles_airflow: AirflowStandalone, roles_lake: Path
):
    admin, viewer = _login(roles_airflow, "ann"), _login(roles_airflow, "vic")
    wait_for(lambda: GATE_DAG in admin.dag_ids(GATE_DAG), 180, 2, f"DAG {GATE_DAG} to be parsed")
    assert admin.import_errors() == []
    admin.unpause(GATE_DAG)
    run_id = admin.trigger(GATE_DAG, {})
    gate = "vintage.review_gate"
    with Timer("roles: gate run -> awaiting_input"):
        wait_for(
            lambda: admin.task_instances(GATE_DAG, run_id).get(gate, {}).get("state") == "awaiting_input",
            300,
            3,
            f"{gate} to wait for input",
        )
    summary = roles_lake / "published" / REGION / VINTAGE / "summary.json"
    assert "review" not in json.loads(summary.read_text()), "published before the analyst answered"

    hitl = f"dags/{GATE_DAG}/dagRuns/{run_id}/taskInstances/{gate}/0/hitlDetails"
    detail = admin.get(hitl)
    assert detail["options"] == ["Approve", "Reject"]
    assert detail["subject"] == f"Review {REGION} {VINTAGE}, then publish the reviewed product"
    link = f"{roles_airflow.base_url}{REVIEW}/?dag_id={GATE_DAG}&run_id="
    assert link in detail["body"] and f"vintage={VINTAGE}" in detail["body"], detail["body"]
    assert "1 decided so far" in detail["body"]  # uma's decision of the test before
    viewer.request("PATCH", hitl, expect=(403,), json={"chosen_options": ["Approve"]})
    # An analyst answers minutes later. Answered within a second of parking, Airflow 3.3.2's
    # scheduler may see the parked try's process exit after the answer re-queued the task and fail
    # it ("state changed externally"): give the executor time to report that exit first.
    time.sleep(ANSWER_AFTER_S)
    admin.request("PATCH", hitl, json={"chosen_options": ["Approve"]})

    with Timer("roles: approval -> reviewed product published"):
        run = admin.wait_run(GATE_DAG, run_id, timeout_s=300)
    states = {t: ti["state"] for t, ti in admin.task_instances(GATE_DAG, run_id).items()}
    assert run["state"] == "success", states
    assert states[gate] == states["vintage.publish_reviewed"] == "success"
    review = json.loads(summary.read_text())["review"]
    assert (review["reviewed"], review["accepted"], review["reviewers"]) == (1, 1, ["uma"])
