"""The ``landshift`` command: run, train, evaluate, and look at regions and products.

Every command calls the same library objects the Airflow tasks call (the pipelines of
:mod:`landshift.run.pipelines`); the command line holds no logic of its own. Exit codes: 0 ok,
2 bad input (the library's one-line error, no traceback), 1 any other failure.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from landshift.cli import review
from landshift.cli.common import EXIT_FAILURE, JsonOption, LakeOption, call, emit, fail, lake_root, progress

app = typer.Typer(
    name="landshift",
    help="LandShift: land-use classification and change detection of aerial imagery, from the command line.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
regions_app = typer.Typer(help="The region registry: list, show and validate region files.", no_args_is_help=True)
products_app = typer.Typer(help="Published products in the lake.", no_args_is_help=True)
app.add_typer(regions_app, name="regions")
app.add_typer(products_app, name="products")


def _manual_trigger(params: dict[str, Any]) -> dict[str, Any]:
    return {"params": params, "run_id": "", "run_type": "manual", "logical_date": None, "logical_year": None}


@app.command("run")
def run_command(
    region: Annotated[str, typer.Argument(help="A registered region id (landshift regions list).")],
    vintage: Annotated[str, typer.Argument(help="Imagery vintage, YYYY or YYYYMMDD.")],
    lake: LakeOption = "",
    model_ref: Annotated[str, typer.Option(help="Model version or alias; empty: the region's.")] = "",
    spark: Annotated[
        str, typer.Option(help="Score on Spark with this master (e.g. local[*]); empty: in process.")
    ] = "",
    as_json: JsonOption = False,
) -> None:
    """Run the region pipeline for one vintage and publish its product (same stages as the Airflow DAG)."""
    from landshift.regions.requests import registered_region_request
    from landshift.run.pipeline import run_pipeline
    from landshift.run.region_run import REGION_RUN

    root = lake_root(lake)
    params = {"vintage": vintage, "model_ref": model_ref or None}
    request = call(lambda: registered_region_request(region, _manual_trigger(params), root))
    session = None
    if spark:
        from landshift.scoring.session import local_session

        session = local_session(spark, app=f"landshift-run-{region}")
    try:
        with progress(f"LandShift {region} {vintage}"):
            state = call(lambda: run_pipeline(REGION_RUN, request, spark=session))
    finally:
        if session is not None:
            session.stop()
    keys = (
        "published_uri",
        "model_version",
        "tiles_scored",
        "tiles_skipped_nodata",
        "tiles_changed",
        "changed_area_km2",
    )
    result = {"region": region, "vintage": vintage, **{key: state.get(key) for key in keys}}
    emit(
        result,
        as_json,
        lambda r: (
            f"Published {r['region']} {r['vintage']} (model version {r['model_version']}, "
            f"{r['tiles_scored']} tiles scored, {r['tiles_changed']} changed) at {r['published_uri']}"
        ),
    )


@app.command("train")
def train_command(
    region: Annotated[str, typer.Argument(help="A registered region id.")],
    lake: LakeOption = "",
    label_years: Annotated[list[int] | None, typer.Option("--year", help="Label year to train on (repeat).")] = None,
    promote_alias: Annotated[str, typer.Option(help="Alias moved to the new version.")] = "production",
    use_reviews: Annotated[
        bool, typer.Option("--reviews/--no-reviews", help="Train on the analysts' review decisions (weighted).")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Train, evaluate and register a model for a region (the landshift_train DAG's stages, in process)."""
    from landshift.run.training import TrainingRequest, run_training

    root = lake_root(lake)
    params: dict[str, Any] = {"region": region, "promote_alias": promote_alias, "use_reviews": use_reviews}
    if label_years:
        params["label_years"] = label_years
    request = call(lambda: TrainingRequest.from_params(params, root))
    with progress(f"LandShift training {region}"):
        state = call(lambda: run_training(request))
    registered = {key: state.get(key) for key in ("model_name", "model_version", "uri", "alias", "metrics")}
    emit(
        registered,
        as_json,
        lambda r: f"Registered {r.get('model_name')} version {r.get('model_version')} (alias {r.get('alias')})",
    )


@app.command("evaluate")
def evaluate_command(
    out: Annotated[Path, typer.Option(help="Where to write the evaluation JSON.")] = Path("bench/evaluation.json"),
    lake: Annotated[
        Path, typer.Option(help="The evaluation's own lake (seeded from the shared data; embeddings cached there).")
    ] = Path("bench/out/evaluation-lake"),
    shared_data: Annotated[Path, typer.Option(envvar="LANDSHIFT_SHARED_DATA", help="The shared data folder.")] = Path(
        "../shared/data"
    ),
    only: Annotated[list[str] | None, typer.Option(help="Re-measure only this lever into --out (repeat).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Leave-one-vintage-out evaluation of the default model recipe and each lever (docs/model.md)."""
    from landshift.run import evaluation

    if not (shared_data / "labels-nd").is_dir():
        fail(f"{shared_data}: no labels-nd folder; pass --shared-data or set LANDSHIFT_SHARED_DATA")
    with progress("LandShift evaluation"):
        document = call(lambda: evaluation.evaluate(str(out), str(lake), str(shared_data), tuple(only or ())))
    emit(document, as_json, evaluation.summary_text)


@regions_app.command("list")
def regions_list(as_json: JsonOption = False) -> None:
    """The registered regions (include/regions/*.json, or LANDSHIFT_REGIONS_DIR)."""
    from landshift.regions.registry import load_regions_report

    report = call(load_regions_report)
    rows = [{"id": r.id, "title": r.title, "schedule": r.schedule, "crs": r.crs} for r in report.regions.values()]
    errors = [{"path": str(e.path), "error": str(e)} for e in report.errors]
    emit(
        {"regions": rows, "errors": errors},
        as_json,
        lambda v: "\n".join(
            [f"{r['id']:<20} {r['title'] or ''}" for r in v["regions"]]
            + [f"INVALID {e['path']}: {e['error']}" for e in v["errors"]]
        ),
    )
    if errors:
        raise typer.Exit(EXIT_FAILURE)


@regions_app.command("show")
def regions_show(
    region: Annotated[str, typer.Argument(help="A registered region id.")], as_json: JsonOption = False
) -> None:
    """One region's settings, as validated."""
    from dataclasses import asdict

    from landshift.regions.registry import get_region

    found = asdict(call(lambda: get_region(region)))
    emit(found, as_json, lambda v: "\n".join(f"{k}: {json.dumps(val, default=str)}" for k, val in v.items()))


@regions_app.command("validate")
def regions_validate(
    path: Annotated[Path, typer.Argument(help="A region JSON file.")], as_json: JsonOption = False
) -> None:
    """Validate a region file without registering it; exit 2 naming the file and field when it is invalid."""
    from landshift.regions.registry import region_from_dict

    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        fail(f"{path}: not JSON: {exc}")
    region = call(lambda: region_from_dict(raw))
    emit({"path": str(path), "valid": True, "id": region.id}, as_json, lambda v: f"{v['path']}: valid region {v['id']}")


@products_app.command("list")
def products_list(
    region: Annotated[str, typer.Argument(help="A region id.")], lake: LakeOption = "", as_json: JsonOption = False
) -> None:
    """The vintages published for a region, with their model version and changed tiles."""
    from landshift.run.report import published_products

    rows = call(lambda: published_products(lake_root(lake), region))
    emit(
        rows,
        as_json,
        lambda v: (
            "\n".join(
                f"{r['vintage']:<10} model {r['model_version']:<22} changed {r['tiles_changed']:>4}  {r['uri']}"
                for r in v
            )
            or f"no products published for {region}"
        ),
    )


@products_app.command("show")
def products_show(
    region: Annotated[str, typer.Argument(help="A region id.")],
    vintage: Annotated[str, typer.Argument(help="A published vintage.")],
    lake: LakeOption = "",
    as_json: JsonOption = False,
) -> None:
    """Where a product is and what it says (its summary.json with --json)."""
    from landshift.run.report import product_report, product_summary

    root = lake_root(lake)
    if as_json:
        emit(call(lambda: product_summary(root, region, vintage)), True, str)
    else:
        typer.echo(call(lambda: product_report(root, region, vintage)))


@app.command("ingest")
def ingest_command(
    region: Annotated[str, typer.Argument(help="A registered region id (landshift regions list).")],
    vintage: Annotated[str, typer.Argument(help="Imagery vintage, YYYY or YYYYMMDD.")],
    lake: LakeOption = "",
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="Lake path template of the COGs, with {vintage} (and {region}). "
            "Default: cog/imagery/{region}/{vintage}",
        ),
    ] = "",
    overview_compression: Annotated[
        str,
        typer.Option(
            "--overview-compression",
            help="How the overviews that scoring reads are stored: none (default; reads skip the "
            "decompression, the file grows by a fifth to a third) or zstd (like the full resolution).",
        ),
    ] = "none",
    as_json: JsonOption = False,
) -> None:
    """Rewrite a vintage's delivered scenes as COGs with overviews, once; then point the region's
    imagery at the printed template (0.6 m tiles read about 3x faster; same pixels)."""
    from landshift.run.ingest import ingest_vintage

    report = call(lambda: ingest_vintage(lake_root(lake), region, vintage, to, overview_compression))
    emit(
        report,
        as_json,
        lambda r: (
            f"{r['region']} {r['vintage']}: {r['scenes']} scene(s), {r['written']} written as COGs under "
            f"{r['cog_prefix']}\nUse them: set imagery: {r['imagery_template']!r} in the region's file."
        ),
    )


@app.command("seed-demo")
def seed_demo(
    shared_data: Annotated[Path, typer.Argument(help="The shared data folder (../shared/data).")],
    lake: LakeOption = "",
) -> None:
    """Seed a lake with the nd-pothole demo data: imagery, prior labels and backbone weights."""
    from landshift.lake.factory import open_lake
    from landshift.run.demo import seed_lake

    count = call(lambda: seed_lake(shared_data, open_lake(lake_root(lake))))
    typer.echo(f"Seeded {count} files into {lake}")


app.add_typer(review.app, name="review")


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app()


if __name__ == "__main__":
    main()
