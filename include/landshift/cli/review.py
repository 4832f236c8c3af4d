"""``landshift review``: the analyst review queue, decisions and the reviewed product.

The commands call :mod:`landshift.review`; bad input (unknown tile, unknown class code, a relabel
without a label, an invalid region, vintage or tile id) exits 2 with one line and writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from landshift.cli.common import JsonOption, LakeOption, call, emit, lake_root, progress

app = typer.Typer(help="Analyst review of published products: queue, decide, import, apply.", no_args_is_help=True)

RegionArg = Annotated[str, typer.Argument(help="A region id.")]
VintageArg = Annotated[str, typer.Argument(help="A published vintage, YYYY or YYYYMMDD.")]


def _lake(lake: str):
    """The lake backend of the ``--lake`` root (the embedded ./lake by default; exit 2 when there is none)."""
    from landshift.lake.factory import open_lake

    root = lake_root(lake)
    return call(lambda: open_lake(root))


@app.command("queue")
def queue_command(
    region: RegionArg,
    vintage: VintageArg,
    limit: Annotated[int | None, typer.Option("--limit", help="Show the first N tiles only.")] = None,
    uncertain: Annotated[int, typer.Option(help="Unchanged tiles added, least confident first.")] = 30,
    lake: LakeOption = "",
    as_json: JsonOption = False,
) -> None:
    """The review queue of a product: reported changes and least confident unchanged tiles, least confident first."""
    from landshift.review.queue import review_queue

    store = _lake(lake)
    items = [i.to_dict() for i in call(lambda: review_queue(store, region, vintage, limit, uncertain))]
    emit(
        items,
        as_json,
        lambda rows: (
            "\n".join(
                f"{r['position'] + 1:>4} {r['tile_id']:<14} {r['reason']:<9} prior {r['prior']:>2} -> "
                f"predicted {r['predicted']:>2}  confidence {r['confidence']:.2f}"
                for r in rows
            )
            or "nothing to review"
        ),
    )


@app.command("decide")
def decide_command(
    region: RegionArg,
    vintage: VintageArg,
    tile_id: Annotated[str, typer.Argument(help="The tile, e.g. E2170_N23240.")],
    decision: Annotated[str, typer.Argument(help="accept, reject or relabel.")],
    label: Annotated[int | None, typer.Option("--label", help="The right NLCD class code (relabel).")] = None,
    reviewer: Annotated[str, typer.Option("--reviewer", help="Who decides.")] = "cli",
    lake: LakeOption = "",
    as_json: JsonOption = False,
) -> None:
    """Record a decision on one tile (accept the model's class, reject it, or relabel the tile)."""
    from landshift.review.decisions import record_decision

    store = _lake(lake)
    made = call(lambda: record_decision(store, region, vintage, tile_id, decision, label, reviewer))
    emit(
        made.to_dict(),
        as_json,
        lambda d: (
            f"{d['region']} {d['vintage']} {d['tile_id']}: {d['decision']}"
            + (f" {d['label']}" if d["label"] is not None else "")
            + f" by {d['reviewer']}"
        ),
    )


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV with region,vintage,tile_id,decision,label,reviewer.")],
    reviewer: Annotated[str, typer.Option("--reviewer", help="Reviewer of rows that name none.")] = "import",
    lake: LakeOption = "",
    as_json: JsonOption = False,
) -> None:
    """Record decisions in bulk from a CSV file; every row is checked first, one bad row writes nothing."""
    from landshift.review.decisions import import_decisions

    store = _lake(lake)
    made = call(lambda: import_decisions(store, str(file), reviewer))
    emit([d.to_dict() for d in made], as_json, lambda rows: f"Recorded {len(rows)} decision(s) from {file}")


@app.command("apply")
def apply_command(region: RegionArg, vintage: VintageArg, lake: LakeOption = "", as_json: JsonOption = False) -> None:
    """Republish the product with the latest decisions applied (the previous version is kept)."""
    from landshift.review.apply import apply_reviews

    store = _lake(lake)
    with progress(f"Applying reviews to {region} {vintage}"):
        summary = call(lambda: apply_reviews(store, region, vintage))
    review = summary["review"]
    emit(
        {
            "region": region,
            "vintage": vintage,
            "review": review,
            "change": {"tiles_changed": summary["change"]["tiles_changed"]},
        },
        as_json,
        lambda v: (
            f"Published the reviewed {region} {vintage}: {review['reviewed']} reviewed "
            f"({review['accepted']} accepted, {review['rejected']} rejected, {review['relabelled']} relabelled), "
            f"{v['change']['tiles_changed']} changed tiles"
        ),
    )
