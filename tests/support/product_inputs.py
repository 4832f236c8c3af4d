"""Product inputs made from the real label rasters: 2014 labels standing in for predictions,
compared with the 2009 labels; optionally with tiles left out to exercise every change value."""

from __future__ import annotations

from conftest import LABELS_DIR, ND_CRS, SHARED_DATA
from landshift.change.policy import ChangeRule
from landshift.change.rules import change_summary, compare
from landshift.core.grid import TileGrid
from landshift.core.legend import DEFAULT_LEGEND
from landshift.labels.prior import aggregate_labels
from landshift.products.report_html import ChipSources

GRID = TileGrid(ND_CRS, 224)
NAIP = SHARED_DATA / "naip-nd"


def label_product_inputs(
    vintage: str = "2014", skip_tiles: int = 0, skip_priors: int = 0, keep_codes: set[int] | None = None
) -> dict:
    """predictions, changes and summary of a product; ``skip_tiles`` tiles are left unscored (no
    data), ``skip_priors`` tiles lose their prior label, and ``keep_codes`` (if given) keeps only
    the tiles whose change value is in it."""
    prior = aggregate_labels(str(LABELS_DIR / "labels_2009_5m.tif"), GRID, DEFAULT_LEGEND)
    later = aggregate_labels(str(LABELS_DIR / "labels_2014_5m.tif"), GRID, DEFAULT_LEGEND)
    predictions = later.rename(columns={"prior_class": "class_code"}).assign(probability=later["prior_agreement"])
    # Interior tiles of the raster (not on its edges) become nodata, so the layout keeps its extent.
    interior = predictions[
        predictions["col"].between(predictions["col"].min() + 1, predictions["col"].max() - 1)
        & predictions["row"].between(predictions["row"].min() + 1, predictions["row"].max() - 1)
    ]
    predictions = predictions.drop(index=interior.index[:skip_tiles]).reset_index(drop=True)
    prior = prior.iloc[skip_priors:].reset_index(drop=True)
    rule = ChangeRule(0.7, 0.6)
    changes = compare(predictions, prior, rule)
    if keep_codes is not None:
        kept = changes["change_code"].isin(keep_codes).to_numpy()
        changes = changes[kept].reset_index(drop=True)
        predictions = predictions[kept].reset_index(drop=True)
    summary = {
        "region": "nd-pothole",
        "vintage": vintage,
        "prior": {"source": "annotated-2009"},
        "model": {"name": "landshift-mobilenetv2", "version": "7"},
        "change": change_summary(changes, DEFAULT_LEGEND.codes, 224, rule),
    }
    return {"predictions": predictions, "changes": changes, "summary": summary}


def naip_chips(after_date: str = "20140720") -> ChipSources:
    """Chips from the real NAIP scenes: 2009 (the prior labels' year) before, ``after_date`` after."""
    return ChipSources(
        after_scenes=[str(NAIP / f"m_4709963_se_14_1_{after_date}.tif")],
        after_caption=f"NAIP {after_date[:4]}",
        before_scenes=[str(NAIP / "m_4709963_se_14_1_20090818.tif")],
        before_caption="NAIP 2009 (the prior labels' year)",
    )
