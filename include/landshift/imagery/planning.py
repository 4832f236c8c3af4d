"""Planning: discover a vintage's scenes in the lake and lay tiles on the grid (the tiles table)."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import rasterio

from landshift.core.errors import InputError
from landshift.core.grid import Bounds, TileGrid, tile_ids
from landshift.imagery.scenes import check_grid_crs, crs_name

if TYPE_CHECKING:
    from landshift.lake.base import Lake


from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from landshift.core.errors import NotFoundError
from landshift.imagery.scenes import (
    DEEP_CHECK_SAMPLE_BLOCKS,
    SceneInfo,
    check_scene_unchanged,
    inspect_scene,
    scene_revision,
)
from landshift.lake.base import Lake, read_json, write_json

log = logging.getLogger(__name__)


def first_scene_crs(lake: Lake, imagery_uri: str) -> str:
    """The CRS of the first scene under a prefix (the default grid CRS of a new region)."""

    scenes = discover_scenes(lake, imagery_uri)
    with rasterio.open(lake.gdal_path(scenes[0])) as src:
        if src.crs is None:
            raise InputError(f"{scenes[0]}: not georeferenced")
        name = crs_name(src.crs)
    try:
        check_grid_crs(name)
    except InputError as exc:
        raise InputError(f"{scenes[0]}: its CRS cannot be the tile grid's: {exc}; or give the grid CRS (crs)") from exc
    return name


SCENE_SUFFIXES = (".tif", ".tiff")
# scene_revision: the scene's fingerprint at validation, re-checked when the scoring job opens it.
TILE_COLUMNS = ["tile_id", "col", "row", "scene_uri", "chunk", "scene_stats", "scene_revision"]
DEFAULT_TILES_PER_TASK = 256
# Scenes inspected at once: GDAL releases the GIL while it reads and decodes, so threads overlap
# storage latency (the lake) and decoding (several cores). See bench/results.json "plan_scaling".
DEFAULT_INSPECT_WORKERS = min(16, 2 * (os.cpu_count() or 1))


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


def inspect_scenes(
    lake: Lake,
    scene_uris: list[str],
    grid: TileGrid,
    deep: bool = True,
    sample_blocks: int | None = DEEP_CHECK_SAMPLE_BLOCKS,
    workers: int = DEFAULT_INSPECT_WORKERS,
) -> list[SceneInfo]:
    """Validate every scene before any work starts (errors name the bad file), in parallel.

    With ``deep`` (the default), each scene is also checked for truncation and corrupt blocks
    and its radiometry is computed: one pass per scene gives everything planning needs, so a run
    opens each scene once on the driver (see ``plan_tiles(..., scenes=...)``). The infos keep
    the order of ``scene_uris``; the first bad scene in that order is the error raised.
    """

    def inspect(uri: str) -> SceneInfo:
        revision = scene_revision(lake, uri)  # before reading: a file swapped later reads differently
        info = inspect_scene(lake.gdal_path(uri), grid, deep=deep, sample_blocks=sample_blocks)
        return SceneInfo(**{**info.__dict__, "uri": uri, "revision": revision})

    if workers <= 1 or len(scene_uris) <= 1:
        return [inspect(uri) for uri in scene_uris]
    with ThreadPoolExecutor(max_workers=min(workers, len(scene_uris)), thread_name_prefix="inspect") as pool:
        return list(pool.map(inspect, scene_uris))


def write_scene_infos(lake: Lake, uri: str, scenes: list[SceneInfo]) -> None:
    """Keep inspected scenes in the lake (JSON) for a later stage, so it needs not reopen them."""
    write_json(lake, uri, {"scenes": [scene.to_dict() for scene in scenes]})


def read_scene_infos(lake: Lake, uri: str) -> list[SceneInfo]:
    """The scenes ``write_scene_infos`` kept."""
    return [SceneInfo.from_dict(raw) for raw in read_json(lake, uri)["scenes"]]


def plan_tiles(
    lake: Lake,
    scene_uris: list[str],
    grid: TileGrid,
    aoi: Bounds | None = None,
    tiles_per_task: int = DEFAULT_TILES_PER_TASK,
    scenes: list[SceneInfo] | None = None,
) -> TilePlan:
    """Tiles of the grid covering the scenes (clipped to ``aoi``), each assigned to one scene.

    A tile goes to the scene that covers most of it (the first one on ties); tiles of a scene
    are cut into chunks of about ``tiles_per_task`` in raster order, one Spark task per chunk.
    ``scenes``: the deep inspection of ``scene_uris`` done before (validation); without it the
    scenes are inspected here. Work grows with the tiles, not tiles x scenes.
    """
    if scenes is None or any(not s.stats for s in scenes):
        scenes = inspect_scenes(lake, scene_uris, grid)
    if [s.uri for s in scenes] != list(scene_uris):
        raise InputError("scene infos do not match the scenes to plan (inspect the same list, in order)")
    coverage = union([s.footprint for s in scenes])
    if aoi is not None:
        clipped = intersect(coverage, aoi)
        if clipped is None:
            raise InputError(f"AOI {list(aoi)} does not intersect the imagery {list(coverage)}")
        coverage = clipped
    check_tile_count(scenes, grid, aoi)  # before any array of the coverage's size is made
    cols, rows, owner = _assign_tiles(grid, coverage, scenes)
    frames = []
    chunk_base = 0
    for index, (scene, scene_uri) in enumerate(zip(scenes, scene_uris, strict=True)):
        mine = owner == index
        count = int(mine.sum())
        if not count:
            continue
        scene_cols, scene_rows = cols[mine], rows[mine]
        frames.append(
            pd.DataFrame(
                {
                    "tile_id": tile_ids(scene_cols, scene_rows),
                    "col": scene_cols.astype(int),
                    "row": scene_rows.astype(int),
                    "scene_uri": scene_uri,
                    "chunk": chunk_base + np.arange(count) // max(1, tiles_per_task),
                    "scene_stats": [list(scene.stats)] * count,
                    "scene_revision": scene.revision,
                }
            )
        )
        chunk_base += -(-count // max(1, tiles_per_task))
    tiles = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TILE_COLUMNS)
    tiles = tiles[TILE_COLUMNS]
    log.info(
        "Planned %d tiles of %.0f m over %d scene(s) in %d task(s)",
        len(tiles),
        grid.tile_size_m,
        len(scenes),
        chunk_base,
    )
    return TilePlan(tiles=tiles, scenes=scenes, bounds=coverage)


def _assign_tiles(grid: TileGrid, coverage: Bounds, scenes: list[SceneInfo]) -> tuple[np.ndarray, ...]:
    """(cols, rows, owning scene index) of the tiles in ``coverage`` in raster order (north to
    south, west to east) that some scene covers; the owner covers most of the tile, first wins ties.

    Each scene scores only the tiles its footprint touches, so a state's thousands of scenes cost
    their tiles, not tiles x scenes.
    """
    all_cols, all_rows = grid.index_range(coverage)
    width = len(all_cols)
    size = grid.tile_size_m
    best_area = np.zeros(len(all_cols) * len(all_rows))
    owner = np.full(best_area.shape, -1)
    for index, scene in enumerate(scenes):
        if intersect(coverage, scene.footprint) is None:
            continue
        cols, rows = grid.index_range(scene.footprint)  # clipped to the coverage's tiles below
        col_idx = np.arange(max(cols.start, all_cols.start), min(cols.stop, all_cols.stop))
        row_idx = np.arange(max(rows.start, all_rows.start), min(rows.stop, all_rows.stop))
        west, south, east, north = scene.footprint
        x_overlap = np.minimum((col_idx + 1) * size, east) - np.maximum(col_idx * size, west)
        y_overlap = np.minimum((row_idx + 1) * size, north) - np.maximum(row_idx * size, south)
        area = np.clip(y_overlap, 0, None)[:, None] * np.clip(x_overlap, 0, None)[None, :]
        # Raster order: position 0 is the north-west tile of the coverage.
        flat = ((all_rows.stop - 1 - row_idx)[:, None] * width + (col_idx - all_cols.start)[None, :]).ravel()
        better = area.ravel() > best_area[flat]
        best_area[flat[better]] = area.ravel()[better]
        owner[flat[better]] = index
    positions = np.flatnonzero(owner >= 0)
    cols = all_cols.start + positions % width
    rows = all_rows.stop - 1 - positions // width
    return cols, rows, owner[positions]


def _best_scene(tile_bounds: Bounds, scenes: list[SceneInfo]) -> SceneInfo | None:
    """The scene whose footprint covers most of the tile (first one wins ties)."""
    best, best_area = None, 0.0
    for scene in scenes:
        box = intersect(tile_bounds, scene.footprint)
        area = (box[2] - box[0]) * (box[3] - box[1]) if box else 0.0
        if area > best_area:
            best, best_area = scene, area
    return best


# -- limits before planning ------------------------------------------------------------------------
ENV_MAX_TILES = "LANDSHIFT_MAX_TILES_PER_RUN"
ENV_MIN_PIXEL_M = "LANDSHIFT_MIN_PIXEL_SIZE_M"
ENV_MAX_PIXEL_M = "LANDSHIFT_MAX_PIXEL_SIZE_M"
ENV_MAX_UPSAMPLE = "LANDSHIFT_MAX_TILE_UPSAMPLE"
ENV_MAX_DOWNSAMPLE = "LANDSHIFT_MAX_TILE_DOWNSAMPLE"


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    try:
        number = float(value) if value else default
    except ValueError as exc:
        raise InputError(f"{name} must be a number, got {value!r}") from exc
    if not number > 0:
        raise InputError(f"{name} must be positive, got {value!r}")
    return number


@dataclass(frozen=True)
class WorkLimits:
    """What one run may plan; each from an environment variable, with defaults that admit a US
    state of NAIP (1 M tiles of 224 m is 50,000 km²)."""

    max_tiles: int = 1_000_000
    min_pixel_m: float = 0.05
    max_pixel_m: float = 30.0
    max_upsample: float = 8.0  # model input px per native px of a tile, at most
    max_downsample: float = 32.0  # native px per model input px, at most

    @classmethod
    def from_env(cls) -> WorkLimits:
        """The limits, with ``LANDSHIFT_MAX_TILES_PER_RUN`` and friends overriding the defaults."""
        default = cls()
        return cls(
            max_tiles=int(_env_float(ENV_MAX_TILES, default.max_tiles)),
            min_pixel_m=_env_float(ENV_MIN_PIXEL_M, default.min_pixel_m),
            max_pixel_m=_env_float(ENV_MAX_PIXEL_M, default.max_pixel_m),
            max_upsample=_env_float(ENV_MAX_UPSAMPLE, default.max_upsample),
            max_downsample=_env_float(ENV_MAX_DOWNSAMPLE, default.max_downsample),
        )


def ground_pixel_m(scene: SceneInfo) -> float:
    """A scene's coarser pixel side in ground metres of the grid CRS (from its header: footprint / size)."""
    west, south, east, north = scene.footprint
    return max((east - west) / max(1, scene.width), (north - south) / max(1, scene.height))


def estimate_tiles(scenes: list[SceneInfo], grid: TileGrid, aoi: Bounds | None = None) -> tuple[int, Bounds]:
    """The tiles planning lays out (the grid cells of the scenes' coverage, clipped to ``aoi``),
    from headers alone; and that coverage."""
    coverage = union([s.footprint for s in scenes])
    if aoi is not None:
        coverage = intersect(coverage, aoi) or coverage
    size = grid.tile_size_m
    cols = int(np.floor(coverage[2] / size)) - int(np.floor(coverage[0] / size)) + 1
    rows = int(np.floor(coverage[3] / size)) - int(np.floor(coverage[1] / size)) + 1
    return cols * rows, coverage


def check_work_limits(
    scenes: list[SceneInfo],
    grid: TileGrid,
    aoi: Bounds | None = None,
    input_size_px: int | None = None,
    limits: WorkLimits | None = None,
) -> dict:
    """Refuse a run whose scene headers promise more work than the limits allow, before planning
    allocates anything: tiles per run, pixel size, and tile size against the model's input.

    InputError carries the estimate and the setting that limits it; returns the estimate.
    """
    limits = limits or WorkLimits.from_env()
    estimate, coverage = estimate_tiles(scenes, grid, aoi)
    for scene in scenes:
        pixel = ground_pixel_m(scene)
        if not limits.min_pixel_m <= pixel <= limits.max_pixel_m:
            raise InputError(
                f"{scene.uri}: pixels of {pixel:.3g} m ({scene.width} x {scene.height} px over "
                f"{(scene.footprint[2] - scene.footprint[0]) / 1000:.1f} km) are outside {limits.min_pixel_m:g}.."
                f"{limits.max_pixel_m:g} m ({ENV_MIN_PIXEL_M}/{ENV_MAX_PIXEL_M}): not aerial imagery LandShift can "
                "classify; check the file's header and resolution"
            )
        if input_size_px:
            native = grid.tile_size_m / pixel  # native pixels across a tile
            if input_size_px / native > limits.max_upsample or native / input_size_px > limits.max_downsample:
                low = input_size_px / limits.max_upsample * pixel
                high = input_size_px * limits.max_downsample * pixel
                raise InputError(
                    f"tile size {grid.tile_size_m:g} m is {native:.3g} native px of {scene.uri} ({pixel:.3g} m "
                    f"pixels) for a {input_size_px} px model input: outside 1/{limits.max_upsample:g}..."
                    f"{limits.max_downsample:g}x ({ENV_MAX_UPSAMPLE}/{ENV_MAX_DOWNSAMPLE}); choose a tile size in "
                    f"{low:.0f}..{high:.0f} m"
                )
    check_tile_count(scenes, grid, aoi, limits)
    return {"tiles_estimated": estimate, "coverage": list(coverage)}


def check_tile_count(
    scenes: list[SceneInfo], grid: TileGrid, aoi: Bounds | None = None, limits: WorkLimits | None = None
) -> int:
    """InputError when the scenes' coverage holds more tiles than ``LANDSHIFT_MAX_TILES_PER_RUN``,
    with the estimate; else the estimate."""
    limits = limits or WorkLimits.from_env()
    estimate, coverage = estimate_tiles(scenes, grid, aoi)
    if estimate > limits.max_tiles:
        raise InputError(
            f"the run would plan about {estimate:,} tiles of {grid.tile_size_m:g} m (coverage "
            f"{(coverage[2] - coverage[0]) / 1000:,.1f} x {(coverage[3] - coverage[1]) / 1000:,.1f} km in {grid.crs}, "
            f"from {len(scenes)} scene header(s)), above {ENV_MAX_TILES}={limits.max_tiles:,}: give an AOI, split the "
            "imagery into smaller runs, or raise the limit"
        )
    return estimate


def check_scenes_unchanged(lake: Lake, tiles: pd.DataFrame) -> None:
    """The scoring job's check as it opens the scenes of a tiles table: each is still the file
    validation inspected (``scene_revision``); IntegrityError naming the first that is not."""
    if "scene_revision" not in tiles.columns:
        return
    for scene_uri, revision in (
        tiles[["scene_uri", "scene_revision"]].drop_duplicates("scene_uri").itertuples(index=False)
    ):
        check_scene_unchanged(lake, scene_uri, str(revision or ""))


VINTAGE_TOKEN = re.compile(r"(?<!\d)((?:19|20)\d{2})(\d{4})?(?!\d)")


def scene_years(scene_uri: str, prefix_uri: str) -> set[int]:
    """Years a scene's path names below ``prefix_uri``: vintage folders (``YYYY``/``YYYYMMDD``) and
    acquisition dates in file names (NAIP's ``_YYYYMMDD.tif``)."""
    prefix = prefix_uri.rstrip("/")
    relative = scene_uri[len(prefix) :].strip("/") if scene_uri.startswith(prefix) else scene_uri.rsplit("/", 1)[-1]
    years = set()
    for part in relative.split("/"):
        for year, date in VINTAGE_TOKEN.findall(part):
            if date and not (1 <= int(date[:2]) <= 12 and 1 <= int(date[2:]) <= 31):
                continue
            if not date and part != relative.split("/")[-1] and part != year:
                continue  # a folder must be the year itself; a file name may carry it
            years.add(int(year))
    return years


def check_single_vintage(scene_uris: list[str], prefix_uri: str, vintage: str) -> None:
    """Refuse imagery that mixes vintages: scenes whose folders or file dates name another year
    than the requested vintage (a region's root given as a manual run's imagery prefix)."""
    wanted = int(str(vintage)[:4])
    others: dict[int, int] = {}
    for uri in scene_uris:
        for year in scene_years(uri, prefix_uri) - {wanted}:
            others[year] = others.get(year, 0) + 1
    if others:
        counts = ", ".join(f"{year}: {count} scene(s)" for year, count in sorted(others.items()))
        raise InputError(
            f"imagery {prefix_uri} mixes vintages: {counts} besides the requested vintage {vintage} "
            f"({len(scene_uris)} scene(s) in all); point imagery_uri at the folder of the {vintage} scenes "
            f"(e.g. {prefix_uri.rstrip('/')}/{vintage}/), or request the vintage the scenes are from"
        )
