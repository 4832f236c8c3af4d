"""Planning: discover a vintage's scenes in the lake and lay tiles on the grid (the tiles table)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from landshift.errors import InputError, NotFoundError
from landshift.grid import Bounds, TileGrid
from landshift.imagery import SceneInfo, inspect_scene, scene_stats
from landshift.lake import Lake

log = logging.getLogger(__name__)

SCENE_SUFFIXES = (".tif", ".tiff")
TILE_COLUMNS = ["tile_id", "col", "row", "scene_uri", "chunk", "scene_stats"]
DEFAULT_TILES_PER_TASK = 256


@dataclass(frozen=True)
class TilePlan:
    """The planned tiles of one vintage, and what was found on the way."""

    tiles: pd.DataFrame
    scenes: list[SceneInfo]
    bounds: Bounds

    def summary(self) -> dict:
        """A small JSON-ready description for logs and XCom."""
        return {
            "tiles_planned": len(self.tiles),
            "scenes": [s.uri for s in self.scenes],
            "bounds": list(self.bounds),
            "tasks": int(self.tiles["chunk"].nunique()) if len(self.tiles) else 0,
        }


def discover_scenes(lake: Lake, imagery_prefix_uri: str) -> list[str]:
    """URIs of the GeoTIFF scenes under a prefix; NotFoundError when there are none."""
    scenes = [uri for uri in lake.list_files(imagery_prefix_uri) if uri.lower().endswith(SCENE_SUFFIXES)]
    if not scenes:
        raise NotFoundError(f"no imagery (*.tif) under {imagery_prefix_uri}")
    return scenes


def intersect(a: Bounds, b: Bounds) -> Bounds | None:
    """The intersection of two boxes, or None when they do not overlap."""
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[0] < box[2] and box[1] < box[3] else None


def union(boxes: list[Bounds]) -> Bounds:
    """The box covering every box."""
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def inspect_scenes(lake: Lake, scene_uris: list[str], grid: TileGrid) -> list[SceneInfo]:
    """Validate every scene before any work starts (errors name the bad file)."""
    return [inspect_scene(lake.gdal_path(uri), grid) for uri in scene_uris]


def plan_tiles(
    lake: Lake,
    scene_uris: list[str],
    grid: TileGrid,
    aoi: Bounds | None = None,
    tiles_per_task: int = DEFAULT_TILES_PER_TASK,
) -> TilePlan:
    """Tiles of the grid covering the scenes (clipped to ``aoi``), each assigned to one scene.

    A tile goes to the scene that covers most of it; tiles of a scene are cut into chunks of
    about ``tiles_per_task`` in raster order, one Spark task per chunk.
    """
    scenes = inspect_scenes(lake, scene_uris, grid)
    coverage = union([s.footprint for s in scenes])
    if aoi is not None:
        clipped = intersect(coverage, aoi)
        if clipped is None:
            raise InputError(f"AOI {list(aoi)} does not intersect the imagery {list(coverage)}")
        coverage = clipped
    rows: list[dict] = []
    chunk_base = 0
    for scene, scene_uri in zip(scenes, scene_uris, strict=True):
        stats = scene_stats(scene.uri, grid)
        scene_tiles = [tile for tile in grid.tiles_in(coverage) if _best_scene(tile.bounds, scenes) is scene]
        for index, tile in enumerate(scene_tiles):
            rows.append(
                {
                    "tile_id": tile.tile_id,
                    "col": tile.col,
                    "row": tile.row,
                    "scene_uri": scene_uri,
                    "chunk": chunk_base + index // max(1, tiles_per_task),
                    "scene_stats": stats,
                }
            )
        chunk_base += -(-len(scene_tiles) // max(1, tiles_per_task))
    tiles = pd.DataFrame(rows, columns=TILE_COLUMNS)
    log.info(
        "Planned %d tiles of %.0f m over %d scene(s) in %d task(s)",
        len(tiles),
        grid.tile_size_m,
        len(scenes),
        chunk_base,
    )
    return TilePlan(tiles=tiles, scenes=scenes, bounds=coverage)


def _best_scene(tile_bounds: Bounds, scenes: list[SceneInfo]) -> SceneInfo | None:
    """The scene whose footprint covers most of the tile (first one wins ties)."""
    best, best_area = None, 0.0
    for scene in scenes:
        box = intersect(tile_bounds, scene.footprint)
        area = (box[2] - box[0]) * (box[3] - box[1]) if box else 0.0
        if area > best_area:
            best, best_area = scene, area
    return best
