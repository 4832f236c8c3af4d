"""The review gate of a region with ``review_required``: after ``publish``, a human-in-the-loop
task (``review_gate``, Airflow's ApprovalOperator) waits for the analyst, its body linking the
review page of the run's vintage; on *Approve*, ``publish_reviewed`` republishes the product with
the decisions applied; on *Reject* it is skipped and the model's product stays as published.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

GATE_TASK_ID = "review_gate"
APPLY_TASK_ID = "publish_reviewed"
# How long the gate waits for the analyst; then it fails (no default answer: nothing is published unasked).
RESPONSE_TIMEOUT = timedelta(days=7)


def review_page_url() -> str:
    """The review page's address: absolute under ``[api] base_url`` when set, else relative to the UI."""
    from airflow.configuration import conf

    from landshift_airflow.review_app import URL_PREFIX

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return f"{base}{URL_PREFIX}"


class ReviewGateOperator(ApprovalOperator):
    """ApprovalOperator whose subject and body (the link to the review page) come from the run's state."""

    template_fields = (*ApprovalOperator.template_fields, "state")

    def __init__(self, *, state: Any, **kwargs) -> None:
        kwargs.setdefault("subject", "Review the published product")
        super().__init__(**kwargs)
        self.state = state

    def execute(self, context: Any) -> Any:
        from landshift.run.review_gate import gate_body, gate_subject
        from landshift_airflow.tasks import run_library

        ti = context["ti"]
        self.subject = run_library(lambda: gate_subject(self.state))
        self.body = run_library(lambda: gate_body(self.state, review_page_url(), ti.dag_id, ti.run_id))
        return super().execute(context)


def review_gate_graph(published: Any, outlets: list | None = None) -> Any:
    """``review_gate`` then ``publish_reviewed``, after the task whose output is ``published``."""
    from airflow.sdk import task

    gate = ReviewGateOperator(task_id=GATE_TASK_ID, state=published, response_timeout=RESPONSE_TIMEOUT)

    @task(task_id=APPLY_TASK_ID, outlets=outlets or [])
    def publish_reviewed(state: dict) -> dict:
        from landshift.run.review_gate import publish_reviewed as publish
        from landshift_airflow.tasks import lake_root, run_library

        lake_root()  # the lake connection's credentials, in this task's process
        return run_library(lambda: publish(state))

    applied = publish_reviewed(published)
    gate >> applied
    return applied
