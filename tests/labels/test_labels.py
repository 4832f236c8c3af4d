"""Prior labels aggregated to the grid, from real label rasters."""

import pandas as pd
import pytest

from conftest import LABELS_DIR, ND_CRS, SHARED_DATA
from landshift.core.errors import InputError
from landshift.core.grid import TileGrid
from landshift.core.legend import DEFAULT_LEGEND
from landshift.labels.prior import aggregate_labels, subpixels_per_tile

pytestmark = pytest.mark.data

GRID = TileGrid(ND_CRS, 224)


@pytest.mark.parametrize("year", [2009, 2014])
def test_fine_labels_aggregate_to_the_annotated_tile_labels(year):
    expected = pd.read_csv(LABELS_DIR / f"labels_{year}.csv")
    labels = aggregate_labels(str(LABELS_DIR / f"labels_{year}_5m.tif"), GRID, DEFAULT_LEGEND)
    merged = labels.merge(expected, on="tile_id")
    assert len(labels) == len(expected) == len(merged) == 300
    assert (merged["prior_class"] == DEFAULT_LEGEND.map_codes(merged["nlcd_class"].to_numpy())).all()
    # Water pixels from the NDWI mask make some cells mixed: agreement is a share, not always 1.
    assert 0.5 < merged["prior_agreement"].min() < 1.0
    assert merged["prior_agreement"].mean() > 0.85


def test_one_pixel_per_tile_labels_are_taken_as_they_are():
    labels = aggregate_labels(str(LABELS_DIR / "labels_2009_tiles.tif"), GRID, DEFAULT_LEGEND)
    counts = labels["prior_class"].value_counts().to_dict()
    assert counts == {82: 224, 11: 38, 71: 38}  # 95 (wetland) folds into Herbaceous
    assert (labels["prior_agreement"] == 1.0).all()


def test_labels_in_another_crs_are_warped_onto_the_grid(tmp_path):
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    source = LABELS_DIR / "labels_2014_5m.tif"
    warped = tmp_path / "labels_2014_albers.tif"
    with rasterio.open(source) as src:
        transform, width, height = calculate_default_transform(src.crs, "EPSG:5070", src.width, src.height, *src.bounds)
        profile = {**src.profile, "crs": "EPSG:5070", "transform": transform, "width": width, "height": height}
        with rasterio.open(warped, "w", **profile) as dst:
            reproject(rasterio.band(src, 1), rasterio.band(dst, 1), resampling=Resampling.nearest)
    expected = pd.read_csv(LABELS_DIR / "labels_2014.csv")
    labels = aggregate_labels(str(warped), GRID, DEFAULT_LEGEND).merge(expected, on="tile_id")
    agreement = (labels["prior_class"] == DEFAULT_LEGEND.map_codes(labels["nlcd_class"].to_numpy())).mean()
    assert len(labels) >= 290 and agreement > 0.95


def test_aoi_clips_the_tiles():
    aoi = (2175 * 224.0, 23245 * 224.0, 2180 * 224.0, 23250 * 224.0)
    labels = aggregate_labels(str(LABELS_DIR / "labels_2009_5m.tif"), GRID, DEFAULT_LEGEND, aoi=aoi)
    assert sorted(labels["col"].unique()) == list(range(2175, 2180))
    assert sorted(labels["row"].unique()) == list(range(23245, 23250))


def test_bad_label_rasters_get_specific_errors(tmp_path):
    with pytest.raises(InputError, match="must have 1 band"):
        aggregate_labels(str(SHARED_DATA / "naip-nd" / "m_4709963_se_14_1_20090818.tif"), GRID, DEFAULT_LEGEND)
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00not a tiff at all")
    with pytest.raises(InputError, match="not a readable label raster"):
        aggregate_labels(str(corrupt), GRID, DEFAULT_LEGEND)
    with pytest.raises(InputError, match="does not intersect"):
        aggregate_labels(str(LABELS_DIR / "labels_2009_5m.tif"), GRID, DEFAULT_LEGEND, aoi=(0, 0, 10, 10))


def test_subpixel_count_follows_the_label_resolution():
    assert subpixels_per_tile(224, 5) == 45
    assert subpixels_per_tile(224, 224) == 1
    assert subpixels_per_tile(224, 1000) == 1
    assert subpixels_per_tile(224, 0.5) == 112


@pytest.mark.parametrize("year", [2009, 2012, 2014])
def test_water_share_is_the_share_of_water_pixels_of_each_tile(year):
    expected = pd.read_csv(LABELS_DIR / f"labels_{year}.csv")
    labels = aggregate_labels(str(LABELS_DIR / f"labels_{year}_5m.tif"), GRID, DEFAULT_LEGEND)
    merged = labels.merge(expected, on="tile_id")
    water = merged["prior_class"] == 11
    assert merged["prior_water_share"].between(0.0, 1.0).all()
    # A water tile's majority is its water pixels; dry tiles still hold a few ponds.
    assert (merged.loc[water, "prior_water_share"] == merged.loc[water, "prior_agreement"]).all()
    assert merged.loc[~water, "prior_water_share"].max() < 0.5
    assert merged.loc[~water, "prior_water_share"].gt(0).sum() > 20


def test_reference_table_reads_the_annotators_classes_and_confidence(tmp_path):
    from landshift.labels.prior import reference_table

    table = reference_table(str(LABELS_DIR / "labels_2012.csv"), DEFAULT_LEGEND)
    assert len(table) == 300
    assert table["reference_class"].value_counts().to_dict() == {82: 214, 11: 58, 71: 28}
    assert (table["confidence"] == "low").sum() == 49
    broken = tmp_path / "broken.csv"
    broken.write_text("tile_id,col,row,nlcd_class\nE1_N1,1,1,82\n")
    with pytest.raises(InputError, match="lacks columns \\['confidence'\\]"):
        reference_table(str(broken), DEFAULT_LEGEND)
