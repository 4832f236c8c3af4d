"""The analyst review page inside the Airflow UI: a FastAPI app mounted under the API server.

Airflow 3.1+ plugin: ``fastapi_apps`` mounts :data:`app` at ``/landshift-review``;
``external_views`` link it from every DAG run (the page opens the run's region) and from the
navigation. Plugin endpoints are not protected by Airflow by default, so every route here
depends on Airflow's auth manager (``airflow.api_fastapi.core_api.security``): an authenticated
user (JWT bearer token or the UI's session cookie; 401 without one, 403 for an invalid one),
read access to the region's DAG (``landshift_region_<region>``) to read, edit access to decide
and apply. The routes only call :mod:`landshift.review`; the page is static
(``review_static/``, its script bundled from ``review_web/`` with esbuild and shipped built).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

log = logging.getLogger(__name__)

URL_PREFIX = "/landshift-review"
DAG_PREFIX = "landshift_region_"
STATIC_DIR = Path(__file__).resolve().parent / "review_static"
STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".txt": "text/plain"}
PRODUCT_FILES = ("landuse.tif", "change.tif", "confidence.tif")


def dag_id_of(region: str) -> str:
    """The DAG of a registered region."""
    return f"{DAG_PREFIX}{region}"


def _check_dag_access(method: str, region: str, request: Request, user: BaseUser) -> BaseUser:
    """Raise 403 unless ``user`` may ``method`` the region's DAG (400 for a malformed region id)."""
    from landshift.core.errors import InputError
    from landshift.regions.registry import validate_region_id

    try:
        validate_region_id(region)
    except InputError as exc:
        raise HTTPException(400, str(exc)) from exc
    requires_access_dag(method, param_dag_id=dag_id_of(region))(request, user)  # type: ignore[arg-type]
    return user


def require_read(region: str, request: Request, user: GetUserDep) -> BaseUser:
    """An authenticated user with read access to the region's DAG."""
    return _check_dag_access("GET", region, request, user)


def require_edit(region: str, request: Request, user: GetUserDep) -> BaseUser:
    """An authenticated user with edit access to the region's DAG."""
    return _check_dag_access("PUT", region, request, user)


def require_user(user: GetUserDep) -> BaseUser:
    """Any authenticated Airflow user (the static page itself)."""
    return user


Reader = Annotated[BaseUser, Depends(require_read)]
Editor = Annotated[BaseUser, Depends(require_edit)]
User = Annotated[BaseUser, Depends(require_user)]


def open_review_lake() -> Any:
    """The lake the tasks use (the ``landshift_lake`` connection, else LANDSHIFT_LAKE_ROOT)."""
    from landshift.lake.factory import open_lake
    from landshift_airflow.lake_hook import LandShiftLakeHook

    return open_lake(LandShiftLakeHook().export_to_environment())


LakeDep = Annotated[Any, Depends(open_review_lake)]


def _library(function):
    """Call the library; its bad-input errors become 400, missing things 404."""
    from landshift.core.errors import InputError, NotFoundError

    try:
        return function()
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    except InputError as exc:
        raise HTTPException(400, str(exc)) from exc


class DecisionBody(BaseModel):
    """A decision posted by the page."""

    tile_id: str = Field(max_length=40)
    decision: str = Field(max_length=10)
    label: int | None = None


app = FastAPI(title="LandShift review", description="Analyst review of LandShift products.")


@app.get("/", include_in_schema=False)
def page(user: User) -> FileResponse:
    """The review page (it reads ``dag_id``/``region`` and ``vintage`` from its query string)."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@app.get("/static/{name}", include_in_schema=False)
def static(name: str, user: User) -> FileResponse:
    """A file of the page (only the files shipped in review_static/)."""
    shipped = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()}
    if name not in shipped:
        raise HTTPException(404, f"no static file {name!r}")
    return FileResponse(shipped[name], media_type=STATIC_TYPES.get(shipped[name].suffix, "application/octet-stream"))


@app.get("/api/regions/{region}/vintages")
def vintages(region: str, user: Reader, lake: LakeDep) -> dict:
    """The published vintages of a region, newest first."""
    root = lake.uri("published", region)
    found = {u[len(root) :].strip("/").split("/")[0] for u in lake.list_files(root, "summary.json")}
    return {"region": region, "vintages": sorted((v for v in found if v.isdigit()), reverse=True)}


@app.get("/api/regions/{region}/runs/{run_id}")
def run_vintage(region: str, run_id: str, user: Reader) -> dict:
    """The vintage a run of the region's DAG was asked for (its ``vintage`` param; None: every pending one)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id_of(region), DagRun.run_id == run_id))
        if run is None:
            raise HTTPException(404, f"no run {run_id!r} of {dag_id_of(region)}")
        conf = dict(run.conf or {})
    vintage = str(conf.get("vintage") or "").strip() or None
    return {"region": region, "run_id": run_id, "vintage": vintage}


@app.get("/api/regions/{region}/{vintage}/queue")
def queue(region: str, vintage: str, user: Reader, lake: LakeDep) -> dict:
    """The review queue with the latest decision on each tile, the product's legend and summary figures."""
    from landshift.review.decisions import latest_decisions
    from landshift.review.queue import model_product, product_legend, review_queue

    items = _library(lambda: review_queue(lake, region, vintage))
    product = _library(lambda: model_product(lake, region, vintage))
    latest = _library(lambda: latest_decisions(lake, region, vintage))
    legend = product_legend(product.summary)
    published = _library(lambda: _summary(lake, region, vintage))
    return {
        "region": region,
        "vintage": vintage,
        "model": product.summary.get("model", {}),
        "classes": [
            {"number": i + 1, "code": c.code, "name": c.name, "color": c.color} for i, c in enumerate(legend.classes)
        ],
        "items": [i.to_dict() for i in items],
        "decisions": {t: d.to_dict() for t, d in latest.items()},
        "review": published.get("review"),
        "raster": product.summary.get("raster"),
        "user": user.get_name(),
    }


def _summary(lake: Any, region: str, vintage: str) -> dict:
    from landshift.review.queue import product_uri, read_summary

    return read_summary(lake, product_uri(lake, region, vintage))


@app.get("/api/regions/{region}/{vintage}/tiles/{tile_id}")
def tile(region: str, vintage: str, tile_id: str, user: Reader, lake: LakeDep) -> dict:
    """The tile's classes and confidences on both dates and its water share before and after."""
    from landshift.review.tiles import tile_details

    return _library(lambda: tile_details(lake, region, vintage, tile_id))


@app.get("/api/regions/{region}/{vintage}/tiles/{tile_id}/chip/{side}.png")
def chip(region: str, vintage: str, tile_id: str, side: str, user: Reader, lake: LakeDep, composite: str = "nir"):
    """A PNG chip of the tile before or after (404 where no imagery covers it)."""
    from landshift.review.tiles import chip_png

    png = _library(lambda: chip_png(lake, region, vintage, tile_id, side, composite))
    if png is None:
        raise HTTPException(404, f"no {side} imagery covers {tile_id}")
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@app.get("/api/regions/{region}/{vintage}/product/{name}")
def product_file(region: str, vintage: str, name: str, user: Reader, lake: LakeDep) -> Response:
    """A raster of the published product (the page's map reads the COG)."""
    from landshift.review.queue import product_uri

    if name not in PRODUCT_FILES:
        raise HTTPException(404, f"no product file {name!r}; one of {list(PRODUCT_FILES)}")
    uri = f"{_library(lambda: product_uri(lake, region, vintage))}/{name}"
    return Response(_library(lambda: lake.read_bytes(uri)), media_type="image/tiff")


@app.post("/api/regions/{region}/{vintage}/decisions")
def decide(region: str, vintage: str, body: DecisionBody, user: Editor, lake: LakeDep) -> dict:
    """Record the user's decision on a tile (the reviewer is the Airflow user)."""
    from landshift.review.decisions import record_decision

    made = _library(
        lambda: record_decision(lake, region, vintage, body.tile_id, body.decision, body.label, user.get_name())
    )
    return made.to_dict()


@app.post("/api/regions/{region}/{vintage}/apply")
def apply(region: str, vintage: str, user: Editor, lake: LakeDep) -> dict:
    """Republish the product with the latest decisions applied; the review block as published."""
    from landshift.review.apply import apply_reviews

    summary = _library(lambda: apply_reviews(lake, region, vintage))
    log.info("%s applied the reviews of %s %s", user.get_name(), region, vintage)
    return {"review": summary["review"], "change": {"tiles_changed": summary["change"]["tiles_changed"]}}


@app.exception_handler(HTTPException)
def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


class LandShiftReviewPlugin(AirflowPlugin):
    """Registers the review app and its links in the Airflow UI."""

    name = "landshift_review"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "LandShift review"}]
    external_views = [
        {
            "name": "Review changes",
            "href": f"{URL_PREFIX}/?dag_id={{DAG_ID}}&run_id={{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "landshift-review-run",
        },
        {
            "name": "LandShift review",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "landshift-review",
        },
    ]
