"""Print where a published product is and what it says.

Usage: python -m landshift.run.report LAKE_ROOT REGION VINTAGE
"""

from __future__ import annotations

import sys

from landshift.core.errors import NotFoundError
from landshift.core.legend import Legend
from landshift.lake.base import read_json
from landshift.lake.factory import open_lake
from landshift.products.layout import PRODUCT_FILES
from landshift.regions.layout import RunLayout


def product_report(lake_root: str, region_id: str, vintage: str) -> str:
    """A short human-readable report of a published product."""
    lake = open_lake(lake_root)
    published = RunLayout(lake.root, region_id, vintage).published
    summary = product_summary(lake_root, region_id, vintage)
    legend = Legend.from_dict(summary["legend"])
    change = summary["change"]
    lines = [
        f"LandShift product {region_id} / {vintage} (model {summary['model']['name']} "
        f"version {summary['model']['version']}, prior {summary['prior']['source']})",
        f"  published at {published}/",
        *[f"    {name}" for name in PRODUCT_FILES if lake.exists(f"{published}/{name}")],
        f"  tiles scored {summary['tiles']['tiles_scored']}, "
        f"skipped as nodata {summary['tiles']['tiles_skipped_nodata']}",
        "  classes: "
        + ", ".join(
            f"{legend.by_code(int(code)).name} {tiles} tiles ({summary['class_area_km2'][code]:.2f} km²)"
            for code, tiles in summary["class_tiles"].items()
        ),
        f"  change vs prior: {change['tiles_changed']} tiles changed ({change['changed_area_km2']:.2f} km²), "
        f"{change['tiles_uncertain']} uncertain, {change.get('tiles_stable', '?')} stable, "
        f"{change['tiles_without_prior']} without prior label, {change['tiles_compared']} compared",
    ]
    for code, area in sorted(change["changed_area_km2_by_transition"].items(), key=lambda kv: -kv[1]):
        source, target = divmod(int(code), 100)
        lines.append(f"    {legend.by_code(source).name} -> {legend.by_code(target).name}: {area:.2f} km²")
    if lake.exists(f"{published}/report.html"):
        lines.append(f"  change report with before/after chips: {published}/report.html")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Command-line entry point."""
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    print(product_report(*argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def product_summary(lake_root: str, region_id: str, vintage: str) -> dict:
    """The ``summary.json`` of a published product; NotFoundError naming the path when there is none."""
    lake = open_lake(lake_root)
    published = RunLayout(lake.root, region_id, vintage).published
    uri = f"{published}/summary.json"
    if not lake.exists(uri):
        raise NotFoundError(f"no product published for {region_id} {vintage}: {uri} does not exist")
    return read_json(lake, uri)


def published_products(lake_root: str, region_id: str) -> list[dict]:
    """One row per published vintage of a region: vintage, uri, model version, changed tiles."""
    lake = open_lake(lake_root)
    region_uri = RunLayout(lake.root, region_id, "").published
    summaries = sorted(
        uri for uri in lake.list_files(region_uri, "summary.json") if uri.count("/") == region_uri.count("/") + 2
    )
    rows = []
    for uri in summaries:
        summary = read_json(lake, uri)
        vintage = uri.rsplit("/", 2)[-2]
        rows.append(
            {
                "vintage": vintage,
                "uri": uri.rsplit("/", 1)[0],
                "model_version": str(summary.get("model", {}).get("version", "")),
                "tiles_changed": int(summary.get("change", {}).get("tiles_changed", 0)),
            }
        )
    return rows
