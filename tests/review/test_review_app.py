"""The review app's routes (FastAPI, in process): every one refuses a request without a valid
Airflow token; with the access checks satisfied they serve the queue, chips, the COG, decisions
and apply from a real lake. The 401/403 of a running API server are tested in tests/e2e."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from landshift_airflow import review_app

from .conftest import REGION, VINTAGE

pytestmark = pytest.mark.data
BASE = f"/api/regions/{REGION}/{VINTAGE}"
ROUTES = [
    ("get", "/"),
    ("get", "/static/review.js"),
    ("get", f"/api/regions/{REGION}/vintages"),
    ("get", f"{BASE}/queue"),
    ("get", f"{BASE}/tiles/E2184_N23240"),
    ("get", f"{BASE}/tiles/E2184_N23240/chip/after.png"),
    ("get", f"{BASE}/product/landuse.tif"),
    ("post", f"{BASE}/decisions"),
    ("post", f"{BASE}/apply"),
]


class Analyst:
    """Stands in for the Airflow user the access checks return."""

    def get_name(self) -> str:
        return "ann"


@pytest.fixture
def client(lake):
    """The app with the access checks satisfied (they are tested below without them) and the test lake."""
    app = review_app.app
    for check in (review_app.require_read, review_app.require_edit, review_app.require_user):
        app.dependency_overrides[check] = Analyst
    app.dependency_overrides[review_app.open_review_lake] = lambda: lake
    yield TestClient(app)
    app.dependency_overrides.clear()


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_a_request_without_a_token(method, path):
    response = getattr(TestClient(review_app.app), method)(path)
    assert response.status_code == 401, response.text
    assert Path(review_app.STATIC_DIR, "review.js").is_file()


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_an_invalid_token(method, path):
    from airflow.api_fastapi.app import create_auth_manager

    create_auth_manager()  # the configured auth manager (SimpleAuthManager here) checks the token
    client = TestClient(review_app.app)
    assert getattr(client, method)(path, headers={"Authorization": "Bearer forged.jwt.token"}).status_code == 403
    assert getattr(client, method)(path, cookies={"_token": "forged"}).status_code == 403


def test_the_page_and_its_bundle_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and 'src="static/review.js"' in page.text
    assert client.get("/static/review.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/..%2Freview_app.py").status_code == 404


def test_queue_tile_chip_and_cog(client, lake):
    queue = client.get(f"{BASE}/queue").json()
    assert len(queue["items"]) == 73 and queue["user"] == "ann"
    assert [c["number"] for c in queue["classes"]] == list(range(1, 8))
    first = queue["items"][0]["tile_id"]
    details = client.get(f"{BASE}/tiles/{first}").json()
    assert set(details["water_share"]) == {"before", "after"}
    chip = client.get(f"{BASE}/tiles/{first}/chip/before.png?composite=true")
    assert chip.headers["content-type"] == "image/png" and Image.open(io.BytesIO(chip.content)).size[0] >= 60
    cog = client.get(f"{BASE}/product/landuse.tif")
    assert cog.content == Path(lake.root, "published", REGION, VINTAGE, "landuse.tif").read_bytes()
    assert client.get(f"{BASE}/product/summary.json").status_code == 404
    assert client.get(f"{BASE}/tiles/E1_N1").status_code == 400
    assert client.get(f"/api/regions/{REGION}/2016/queue").status_code == 404


def test_decide_then_apply_publishes_the_reviewed_product(client, lake):
    tiles = [i["tile_id"] for i in client.get(f"{BASE}/queue").json()["items"][:3]]
    assert (
        client.post(f"{BASE}/decisions", json={"tile_id": tiles[0], "decision": "reject"}).json()["reviewer"] == "ann"
    )
    client.post(f"{BASE}/decisions", json={"tile_id": tiles[1], "decision": "relabel", "label": 11})
    bad = client.post(f"{BASE}/decisions", json={"tile_id": tiles[2], "decision": "relabel"})
    assert bad.status_code == 400 and "needs a class" in bad.json()["detail"]
    assert set(client.get(f"{BASE}/queue").json()["decisions"]) == set(tiles[:2])
    applied = client.post(f"{BASE}/apply").json()
    assert (applied["review"]["reviewed"], applied["review"]["rejected"], applied["review"]["relabelled"]) == (2, 1, 1)
    summary = json.loads(Path(lake.root, "published", REGION, VINTAGE, "summary.json").read_text())
    assert summary["review"]["reviewers"] == ["ann"]


def test_the_plugin_links_the_page_from_dag_runs_and_the_navigation():
    plugin = review_app.LandShiftReviewPlugin
    assert plugin.fastapi_apps[0]["url_prefix"] == "/landshift-review"
    views = {v["destination"]: v for v in plugin.external_views}
    assert views["dag_run"]["href"] == "/landshift-review/?dag_id={DAG_ID}&run_id={RUN_ID}"
    assert views["nav"]["href"] == "/landshift-review/"
