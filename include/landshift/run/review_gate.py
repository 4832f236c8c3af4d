"""The optional review gate of a region run (``review_required``): what the analyst is asked, and
what runs once they approve. The Airflow side (a human-in-the-loop task) is in the plugin.

The model's product is published first (the review queue is computed from it); after the
analyst's approval :func:`publish_reviewed` republishes it with their decisions applied.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from landshift.run.pipeline import State


def _request(state: State) -> Any:
    from landshift.regions.requests import RunRequest

    return RunRequest.from_dict(state["request"])


def gate_subject(state: State) -> str:
    """The one-line question of the gate."""
    request = _request(state)
    return f"Review {request.region.id} {request.vintage}, then publish the reviewed product"


def review_page_link(page_url: str, dag_id: str, run_id: str, vintage: str) -> str:
    """The review page of this run's vintage (the page reads ``dag_id``, ``run_id`` and ``vintage``)."""
    return f"{page_url.rstrip('/')}/?{urlencode({'dag_id': dag_id, 'run_id': run_id, 'vintage': vintage})}"


def gate_body(state: State, page_url: str, dag_id: str, run_id: str) -> str:
    """Markdown for the analyst: the link to the review page, what the product holds, what each answer does."""
    from landshift.review.decisions import latest_decisions
    from landshift.review.queue import review_queue

    request = _request(state)
    region, vintage = request.region.id, request.vintage
    queued = review_queue(request.lake, region, vintage)
    changes = sum(1 for item in queued if item.reason == "change")
    decided = len(latest_decisions(request.lake, region, vintage))
    link = review_page_link(page_url, dag_id, run_id, vintage)
    return (
        f"The model's product of **{region} {vintage}** is published and waits for review: "
        f"{len(queued)} tiles in the queue ({changes} reported changes), {decided} decided so far.\n\n"
        f"[Open the review page]({link})\n\n"
        "**Approve** publishes the reviewed product (the latest decisions applied, the model's product "
        "kept as the previous version). **Reject** leaves the model's product as published, unreviewed."
    )


def publish_reviewed(state: State) -> State:
    """After the analyst's approval: republish the vintage with the latest decisions (state + review block)."""
    from landshift.review.apply import apply_reviews

    request = _request(state)
    summary = apply_reviews(request.lake, request.region.id, request.vintage)
    return {**state, "review": summary["review"]}
