"""Trust suite (issue 26) at the scene checks: only north-up rasters and ground-metre grids are
tiled, and planning refuses a coverage above the tile limit before allocating anything."""

from __future__ import annotations

import pytest
import rasterio
from affine import Affine
from rasterio.warp import transform_bounds

from conftest import NAIP_2020, SHARED_DATA
from landshift.core.errors import InputError
from landshift.core.grid import TileGrid
from landshift.imagery.planning import plan_tiles
from landshift.imagery.scenes import SceneInfo, check_grid_crs, check_ground_metres, check_north_up
from landshift.lake.base import LocalLake

pytestmark = pytest.mark.data


@pytest.mark.parametrize(
    ("transform", "what"),
    [
        (Affine(5.0, 0.0, 0.0, 0.0, -5.0, 0.0) * Affine.rotation(30), "rotated"),
        (Affine(5.0, 0.5, 0.0, 0.0, -5.0, 0.0), "sheared"),
        (Affine(5.0, 0.0, 0.0, 0.0, 5.0, 0.0), "south-up"),
    ],
)
def test_invalid_geotransforms_are_refused_saying_to_warp(transform, what):
    with pytest.raises(InputError, match=r"scene\.tif: geotransform .* is rotated, sheared or flipped: .*gdalwarp"):
        check_north_up("scene.tif", transform)


@pytest.mark.parametrize(
    ("crs", "message"),
    [
        ("EPSG:2265", r"measures in foot \(0\.3048 m\), not metres: tile sizes and km² figures would be off by 3\.28x"),
        ("EPSG:2263", r"measures in US survey foot"),
        ("EPSG:3857", r"is a Mercator_1SP projection: its metres are ground metres only at the equator"),
        ("EPSG:3395", r"is a Mercator_1SP projection"),
        ("EPSG:32662", r"is a Equirectangular projection"),
        ("ESRI:54003", r"is a Miller_Cylindrical projection"),
        ("EPSG:4326", r"is not projected"),
    ],
)
def test_invalid_grid_crs_is_refused_with_what_to_do(crs, message):
    with pytest.raises(InputError, match=message):
        check_grid_crs(crs)


def test_ground_metres_hold_for_utm_in_its_zone_and_albers_and_fail_far_from_the_zone():
    with rasterio.open(NAIP_2020) as src:
        nd = tuple(src.bounds)
    with rasterio.open(SHARED_DATA / "format-samples" / "usda-cdl" / "2021_30m_cdls.tif") as src:
        kansas = transform_bounds(src.crs, "EPSG:5070", *src.bounds)
    assert abs(check_ground_metres("EPSG:26914", nd) - 1.0) < 0.002
    assert abs(check_ground_metres("EPSG:5070", kansas) - 1.0) < 0.015
    with pytest.raises(InputError, match=r"EPSG:32610 is 0\.\d+ m on the ground .*such as EPSG:32614"):
        check_ground_metres("EPSG:32610", transform_bounds("EPSG:26914", "EPSG:32610", *nd))


def test_hostile_far_apart_scenes_are_refused_by_planning_before_it_allocates(monkeypatch):
    def scene(uri: str, west: float, south: float) -> SceneInfo:
        footprint = (west, south, west + 4670.0, south + 3615.0)
        return SceneInfo(uri, "EPSG:26914", 934, 723, 4, (5.0, 5.0), 0, footprint, (1.0,) * 9, 0, "1:1")

    grid = TileGrid("EPSG:26914", 224)
    scenes = [scene("a.tif", 486_000.0, 5_206_000.0), scene("b.tif", 1_486_000.0, 6_206_000.0)]  # 1,000 km apart
    with pytest.raises(InputError, match=r"about 20,1\d\d,\d{3} tiles of 224 m \(coverage 1,004\.7 x 1,003\.6 km"):
        plan_tiles(LocalLake("/"), ["a.tif", "b.tif"], grid, scenes=scenes)
    near = [scenes[0], scene("b.tif", 496_000.0, 5_206_000.0)]  # 10 km apart: 1,139 cells
    monkeypatch.setenv("LANDSHIFT_MAX_TILES_PER_RUN", "1200")
    assert len(plan_tiles(LocalLake("/"), ["a.tif", "b.tif"], grid, scenes=near).tiles) > 600
    monkeypatch.setenv("LANDSHIFT_MAX_TILES_PER_RUN", "1000")
    with pytest.raises(InputError, match=r"about 1,\d{3} tiles .*LANDSHIFT_MAX_TILES_PER_RUN=1,000:"):
        plan_tiles(LocalLake("/"), ["a.tif", "b.tif"], grid, scenes=near)
