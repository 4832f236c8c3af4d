"""Imagery scenes: validation, footprints and windowed tile reads on the tile grid."""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Interleaving, MaskFlags, Resampling
from rasterio.errors import CRSError, RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window, WindowError

from landshift.core.errors import InputError, NotFoundError
from landshift.core.grid import Bounds, Tile, TileGrid

if TYPE_CHECKING:
    from landshift.lake.base import Lake

log = logging.getLogger(__name__)

# Band order of NAIP-like 4-band imagery.
IMAGERY_BANDS = ("red", "green", "blue", "nir")
RGBN_BANDS = (1, 2, 3, 4)  # their 1-based band numbers in a scene
REQUIRED_BAND_COUNT = 4
# Longest run of adjacent tiles read as one strip (measured on the bench mosaic, 96 px tiles:
# 16 -> 6.9k, 32 -> 8.0k, 64 -> 8.6k, 128 -> 8.6k tiles/s); a 64-tile scoring batch is one strip.
MAX_TILES_PER_READ = 64
# GDAL's resampled reads filter a lines x width buffer of doubles column by column: with a width
# of a multiple of 512 px, a column's entries lie a multiple of 4 KB apart, all in the same few
# cache sets, so every line misses. A 64-tile strip of 64 px tiles (4,096 px) took 0.066-0.074 ms
# a tile, 65 tiles 0.037-0.041 (5 m mosaic, one core).
ALIASED_WIDTH_PX = 512
# Blocks decoded by the sampled deep check, evenly spread over the scene, the last one always
# included (truncation cuts the end of a file). Cost on the bench's 0.6 m quarter-quad
# (10,000 x 12,000 px, 512 px blocks): see bench/results.json "deep_check_seconds".
DEEP_CHECK_SAMPLE_BLOCKS = 48


@dataclass(frozen=True)
class SceneInfo:
    """What a validated scene offers: where it is, its CRS, size and footprint on the grid CRS."""

    uri: str
    crs: str
    width: int
    height: int
    band_count: int
    resolution: tuple[float, float]
    nodata: float | None
    footprint: Bounds
    stats: tuple[float, ...] = ()
    overview_count: int = 0
    revision: str = ""  # "<size>:<lake revision>" when inspected, re-checked when the scoring job opens it

    def to_dict(self) -> dict:
        """A JSON-ready dict (``SceneInfo.from_dict`` reads it back)."""
        return {
            "uri": self.uri,
            "crs": self.crs,
            "width": self.width,
            "height": self.height,
            "band_count": self.band_count,
            "resolution": list(self.resolution),
            "nodata": self.nodata,
            "footprint": list(self.footprint),
            "stats": list(self.stats),
            "overview_count": self.overview_count,
            "revision": self.revision,
        }

    @classmethod
    def from_dict(cls, raw: dict) -> SceneInfo:
        """The info ``to_dict`` wrote."""
        return cls(
            uri=raw["uri"],
            crs=raw["crs"],
            width=int(raw["width"]),
            height=int(raw["height"]),
            band_count=int(raw["band_count"]),
            resolution=tuple(float(v) for v in raw["resolution"]),
            nodata=raw["nodata"],
            footprint=tuple(float(v) for v in raw["footprint"]),
            stats=tuple(float(v) for v in raw.get("stats", ())),
            overview_count=int(raw.get("overview_count", 0)),
            revision=str(raw.get("revision", "")),
        )


def crs_name(crs: CRS) -> str:
    """'EPSG:n' where the CRS has an EPSG code, else its WKT."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


# Projections whose metres are ground metres only along one line (the equator): a tile of the grid
# covers 1/cos(latitude)^2 times too little ground (2.1x at 47 N), so they are refused as grids.
NON_GROUND_METRE_METHODS = frozenset(
    {
        "Mercator_1SP",
        "Mercator_2SP",
        "Mercator_Auxiliary_Sphere",
        "Popular_Visualisation_Pseudo_Mercator",
        "Equirectangular",
        "Plate_Carree",
        "Miller_Cylindrical",
    }
)
# Largest difference between a metre of the grid CRS and a metre on the ground, at a scene, that
# a grid may have (UTM stays under 0.1 %, conic state and national grids under 1.5 %).
MAX_GRID_SCALE_ERROR = 0.03
WHAT_TO_DO_CRS = "use a metre-based local CRS, such as the UTM zone of the imagery (EPSG:326NN north, 327NN south)"


def parse_crs(value: str) -> CRS:
    """A projected CRS from 'EPSG:n' or WKT, or InputError."""
    try:
        crs = CRS.from_user_input(value)
    except CRSError as exc:
        raise InputError(f"unknown CRS {value!r}: {exc}") from exc
    if not crs.is_projected:
        raise InputError(f"CRS {value!r} is not projected: tiles need metres")
    return crs


def check_grid_crs(value: str) -> CRS:
    """A CRS a tile grid may use: projected, in ground metres; else InputError saying what to do.

    Refused besides :func:`parse_crs`'s cases: CRSs whose linear unit is not the metre (US survey
    feet) and Mercator-like projections whose metres are not ground metres (Web Mercator).
    """
    crs = parse_crs(value)
    unit, factor = crs.linear_units_factor
    if abs(factor - 1.0) > 1e-9:
        raise InputError(
            f"CRS {value!r} measures in {unit} ({factor:g} m), not metres: tile sizes and km² figures would be off "
            f"by {1 / factor:.2f}x per side; {WHAT_TO_DO_CRS}"
        )
    method = re.search(r'PROJECTION\["([^"]+)"', crs.to_wkt())
    if method and method.group(1) in NON_GROUND_METRE_METHODS:
        raise InputError(
            f"CRS {value!r} is a {method.group(1)} projection: its metres are ground metres only at the equator "
            f"(tiles and km² figures off by 1/cos(latitude)^2, 2x at 45 degrees); {WHAT_TO_DO_CRS}"
        )
    return crs


def utm_hint(lon: float, lat: float) -> str:
    """The WGS84 UTM zone CRS of a point, e.g. 'EPSG:32614'."""
    zone = min(60, max(1, int((lon + 180.0) // 6) + 1))
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def check_ground_metres(grid_crs: str, footprint: Bounds, path: str = "") -> float:
    """The ground length of one metre of ``grid_crs`` at the middle of ``footprint`` (both axes
    averaged); InputError when it differs from 1 by more than ``MAX_GRID_SCALE_ERROR``."""
    from rasterio.warp import transform

    x, y = (footprint[0] + footprint[2]) / 2, (footprint[1] + footprint[3]) / 2
    step = 500.0
    lons, lats = transform(grid_crs, "EPSG:4326", [x, x + step, x], [y, y, y + step])
    radius = 6_371_008.8

    def ground(i: int) -> float:
        p1, p2 = math.radians(lats[0]), math.radians(lats[i])
        dp, dl = p2 - p1, math.radians(lons[i] - lons[0])
        h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        return 2 * radius * math.asin(math.sqrt(h))

    scale = (ground(1) + ground(2)) / (2 * step)
    if abs(scale - 1.0) > MAX_GRID_SCALE_ERROR:
        raise InputError(
            f"{path + ': ' if path else ''}a metre of the grid CRS {grid_crs} is {scale:.3f} m on the ground here "
            f"(lon {lons[0]:.3f}, lat {lats[0]:.3f}): tiles and km² figures would be off by {scale**2:.2f}x; "
            f"use a metre-based local CRS such as {utm_hint(lons[0], lats[0])}"
        )
    return scale


def check_north_up(path: str, transform: Affine) -> None:
    """InputError unless the geotransform is north-up (no rotation or shear, rows run south)."""
    if transform.b != 0 or transform.d != 0 or transform.a <= 0 or transform.e >= 0:
        raise InputError(
            f"{path}: geotransform {tuple(round(v, 6) for v in transform[:6])} is rotated, sheared or flipped: "
            "LandShift tiles north-up rasters only; warp it north-up first "
            "(gdalwarp -t_srs <its CRS> in.tif out.tif), then deliver the warped file"
        )


def inspect_scene(
    path: str,
    grid: TileGrid,
    min_bands: int = REQUIRED_BAND_COUNT,
    deep: bool = False,
    sample_blocks: int | None = DEEP_CHECK_SAMPLE_BLOCKS,
) -> SceneInfo:
    """Open and validate a scene; raise InputError with the reason when it cannot be used.

    With ``deep``, the scene is also checked for truncation and corrupt blocks (``check_blocks``)
    and its radiometry (``scene_stats``) is computed, so one inspection serves validation and
    planning alike.
    """
    try:
        with rasterio.open(path) as src:
            info = _validated_info(path, src, grid, min_bands)
            if not deep:
                return info
            if info.crs == grid.crs and max(src.width, src.height) <= STATS_MAX_SIDE_PX:
                # A small scene on the grid's CRS: one full read checks every block and is the
                # very read scene_stats makes (nearest at scale 1), so it is read once.
                _check_block_extents(src, path, list(src.block_windows(1)))
                try:
                    pixels = src.read()
                except RasterioIOError:
                    check_blocks(src, path, None)  # names the bad block
                    raise
                nodata = src.nodata if src.nodata is not None else 0
                return SceneInfo(**{**info.__dict__, "stats": tuple(radiometry(path, pixels, nodata))})
            check_blocks(src, path, sample_blocks)
    except RasterioIOError as exc:
        raise InputError(f"{path}: not a readable raster (corrupt or missing): {exc}") from exc
    try:
        stats = scene_stats(path, grid)
    except RasterioIOError as exc:
        raise InputError(f"{path}: corrupt raster data (read failed): {exc}") from exc
    return SceneInfo(**{**info.__dict__, "stats": tuple(stats)})


def check_raster_file(path: str, sample_blocks: int | None = DEEP_CHECK_SAMPLE_BLOCKS) -> int:
    """The deep check of any raster (a label raster as well as a scene): InputError naming the
    file (and the block) when it is unreadable, truncated or holds a corrupt block."""
    try:
        with rasterio.open(path) as src:
            return check_blocks(src, path, sample_blocks)
    except RasterioIOError as exc:
        raise InputError(f"{path}: not a readable raster (corrupt or missing): {exc}") from exc


def check_blocks(src: rasterio.DatasetReader, path: str, sample_blocks: int | None = DEEP_CHECK_SAMPLE_BLOCKS) -> int:
    """Decode blocks of a raster to find truncation and corrupt blocks before any job reads it.

    Every block's byte range is checked against the file size (GeoTIFFs on a local disk: the
    TIFF directory is cheap to read); then ``sample_blocks`` blocks (every block when None),
    spread evenly and always including the last, are decoded. Raises InputError naming the file
    and the block (band, block row, block column). Returns the number of blocks decoded.
    """
    windows = list(src.block_windows(1))
    _check_block_extents(src, path, windows)
    if sample_blocks is not None and len(windows) > sample_blocks:
        picks = np.unique(np.linspace(0, len(windows) - 1, max(2, sample_blocks)).round().astype(int))
        windows = [windows[index] for index in picks]
    planar = src.interleaving == Interleaving.band
    for (block_row, block_col), window in windows:
        try:
            src.read(window=window)
        except RasterioIOError as exc:
            band = _first_bad_band(src, window) if planar else "all"
            raise InputError(
                f"{path}: corrupt or truncated block (band {band}, block row {block_row}, block column {block_col}, "
                f"pixels {window.col_off},{window.row_off} {window.width}x{window.height}): {exc}"
            ) from exc
    return len(windows)


def _first_bad_band(src: rasterio.DatasetReader, window: Window) -> int | str:
    for band in src.indexes:
        try:
            src.read(band, window=window)
        except RasterioIOError:
            return band
    return "?"


def _check_block_extents(src: rasterio.DatasetReader, path: str, windows: list) -> None:
    """Every block of a local GeoTIFF lies inside the file (a truncated download does not)."""
    if src.driver != "GTiff" or not os.path.isfile(path):
        return
    size = os.path.getsize(path)
    bands = src.indexes if src.interleaving == Interleaving.band else (1,)
    for band in bands:
        for (block_row, block_col), _ in windows:
            offset = src.get_tag_item(f"BLOCK_OFFSET_{block_col}_{block_row}", "TIFF", bidx=band)
            length = src.get_tag_item(f"BLOCK_SIZE_{block_col}_{block_row}", "TIFF", bidx=band)
            if offset is None or length is None:
                return  # a GDAL that does not expose the TIFF directory: the decode check remains
            if int(offset) + int(length) > size:
                raise InputError(
                    f"{path}: truncated: block (band {band}, block row {block_row}, block column {block_col}) "
                    f"ends at byte {int(offset) + int(length)}, the file has {size}"
                )


def _validated_info(path: str, src: rasterio.DatasetReader, grid: TileGrid, min_bands: int) -> SceneInfo:
    if src.crs is None or src.transform.is_identity:
        raise InputError(f"{path}: not georeferenced (no CRS or geotransform)")
    check_north_up(path, src.transform)
    if not src.crs.is_projected and not src.crs.is_geographic:
        raise InputError(f"{path}: unknown CRS {src.crs}")
    if src.count < min_bands:
        raise InputError(f"{path}: has {src.count} band(s), needs at least {min_bands} ({', '.join(IMAGERY_BANDS)})")
    if any(dtype != "uint8" for dtype in src.dtypes[:min_bands]):
        raise InputError(f"{path}: bands must be uint8 like NAIP, got {src.dtypes[:min_bands]}")
    footprint = transform_bounds(src.crs, check_grid_crs(grid.crs), *src.bounds, densify_pts=21)
    check_ground_metres(grid.crs, footprint, path)
    return SceneInfo(
        uri=path,
        crs=crs_name(src.crs),
        width=src.width,
        height=src.height,
        band_count=src.count,
        resolution=(abs(src.res[0]), abs(src.res[1])),
        nodata=src.nodata,
        footprint=tuple(float(v) for v in footprint),
        overview_count=len(src.overviews(1)),
    )


# GDAL reads a downsampled window from the coarsest overview at most this much coarser than the
# output (default: none coarser). A 224 m tile at 0.6 m is 373 px; for 96 px (2.33 m) the 4x
# overview (2.4 m, 3% coarser) then serves instead of the 2x one: a quarter of the pixels to
# fetch and decode (3x the tile reads/s on the bench's quarter-quad COG).
OVERVIEW_OVERSAMPLING_THRESHOLD = 1.1


def grid_read_env() -> rasterio.Env:
    """The GDAL settings tile reads need (the overview choice above), for a ``with`` around them."""
    return rasterio.Env(GDAL_OVERVIEW_OVERSAMPLING_THRESHOLD=str(OVERVIEW_OVERSAMPLING_THRESHOLD))


# A local, uncompressed GeoTIFF without overviews (NAIP as delivered) is read through a memory
# map of the file, where it fits in RAM, rather than through GDAL's block cache: the same pixels,
# one copy fewer of the full-resolution pixels every tile read decodes. The plain quarter-quad's
# tile reads 0.675 -> 0.58 ms on one core, its scoring job 1,772-1,826 -> 1,896-1,920 tiles/s.
# Where overviews serve the reads (a COG, whose overviews ingest stores uncompressed) the job
# gained nothing (3,344-3,800 mapped against 3,540-3,736 tiles/s), so those stay unmapped.
VIRTUAL_MEMORY_READS = "IF_ENOUGH_RAM"


def _open_scene(path: str) -> rasterio.io.DatasetReader:
    """``path`` opened for tile reads, memory-mapped where that pays (above). GDAL takes the
    setting as it opens a file, so a plain file is opened a second time (once per scene a worker
    thread keeps open)."""
    src = rasterio.open(path)
    if path.startswith("/vsi") or src.driver != "GTiff" or src.compression is not None or src.overviews(1):
        return src
    src.close()
    with rasterio.Env(GTIFF_VIRTUAL_MEM_IO=VIRTUAL_MEMORY_READS):
        return rasterio.open(path)


@contextmanager
def open_on_grid(path: str, grid: TileGrid) -> Iterator[rasterio.io.DatasetReaderBase]:
    """Open a scene for reads in the grid's CRS (warped on the fly when the CRS differs), with
    the settings tile reads need."""
    with grid_read_env(), scene_on_grid(path, grid) as src:
        yield src


@contextmanager
def scene_on_grid(path: str, grid: TileGrid) -> Iterator[rasterio.io.DatasetReaderBase]:
    """A scene opened in the grid's CRS (warped on the fly when the CRS differs); tile reads
    from it need :func:`grid_read_env` around them."""
    with _open_scene(path) as src:
        if src.crs is not None and crs_name(src.crs) == grid.crs:
            yield src
            return
        with WarpedVRT(src, crs=parse_crs(grid.crs), resampling=Resampling.bilinear) as vrt:
            yield vrt


def read_tile(
    src: rasterio.io.DatasetReaderBase,
    tile: Tile,
    size_px: int,
    bands: tuple[int, ...] = RGBN_BANDS,
    resampling: str = "bilinear",
) -> tuple[np.ndarray, float]:
    """Read ``tile`` resampled to ``size_px`` square as uint8 RGBN (HWC), and its valid-pixel share.

    Only ``bands`` (1-based, of R, G, B, NIR) are read; the others stay 0. Pixels outside the
    scene are 0. A pixel is valid when any band read differs from nodata (0).
    """
    window = window_from_bounds(*tile.bounds, src.transform)
    pixels, all_valid = _read_clipped(src, window, size_px, bands, resampling=resampling)
    if all_valid:
        return pixels, 1.0
    nodata = src.nodata if src.nodata is not None else 0
    return pixels, float(valid_mask(pixels, nodata).mean())


def window_from_bounds(west: float, south: float, east: float, north: float, transform: Affine) -> Window:
    """``rasterio.windows.from_bounds`` for an affine transform, to the same bits (the same matrix
    product with the same inverse), without its per-call overhead: 4-6 us instead of 21-33, paid
    once or three times per strip read."""
    if (east - west) / transform.a < 0 or (south - north) / transform.e < 0:
        raise WindowError("Bounds and transform are inconsistent")
    corners = np.empty((3, 4))
    corners[0] = (west, east, east, west)
    corners[1] = (north, north, south, south)
    corners[2] = 1
    cols, rows = _inverse_matrix(transform).dot(corners)[:2].tolist()
    col0, row0 = min(cols), min(rows)
    return Window(col_off=col0, row_off=row0, width=max(max(cols) - col0, 0.0), height=max(max(rows) - row0, 0.0))


@lru_cache(maxsize=64)
def _inverse_matrix(transform: Affine) -> np.ndarray:
    """``transform``'s inverse as rasterio's AffineTransformer holds it (3 x 3 float64, read-only)."""
    matrix = np.empty((3, 3))
    matrix.flat[:] = ~transform
    matrix.flags.writeable = False
    return matrix


def tile_valid_shares(strip_mask: np.ndarray, count: int) -> np.ndarray:
    """The valid share of each of ``count`` square tiles side by side in a strip's valid mask:
    ``mask.reshape(size, count, size).mean(axis=(0, 2))`` to the bit (the counts are exact, so
    the quotients are too), summed as bytes column-wise first: 11 us a 14-tile strip, not 41."""
    size = strip_mask.shape[0]
    per_column = strip_mask.view(np.uint8).sum(axis=0, dtype=np.uint16 if size < 256 else np.uint32)
    return per_column.reshape(count, size).sum(axis=1) / (size * size)


def valid_mask(pixels: np.ndarray, nodata: float) -> np.ndarray:
    """Pixels of an HWC array where any band differs from nodata (band by band: numpy reduces a
    short last axis slowly)."""
    if nodata == 0 and pixels.shape[-1] == 4 and pixels.dtype == np.uint8 and pixels.strides[-1] == 1:
        return pixels.view(np.uint32)[..., 0] != 0  # the four bands of a pixel as one word
    valid = pixels[..., 0] != nodata
    for band in range(1, pixels.shape[-1]):
        valid |= pixels[..., band] != nodata
    return valid


def read_tile_row(
    src: rasterio.io.DatasetReaderBase,
    tiles: list[Tile],
    size_px: int,
    bands: tuple[int, ...] = RGBN_BANDS,
    resampling: str = "bilinear",
) -> list[tuple[np.ndarray, float]]:
    """Read adjacent tiles of one grid row (west to east, no gaps) in a single resampled read
    (``bands`` as in :func:`read_tile`).

    Tile edges lie on the grid, so the strip resampled to ``len(tiles) * size_px`` columns cuts
    exactly into tiles: one GDAL call instead of one per tile. A strip inside the scene as wide
    as a multiple of ``ALIASED_WIDTH_PX`` is read in two parts: the same pixels, faster (see
    there). Strips that leave the scene stay whole: the pixels at a clipped edge depend on the
    strip's extent.
    """
    if not tiles:
        return []
    size = tiles[0].size_m
    west, south, _, north = tiles[0].bounds
    window = window_from_bounds(west, south, west + size * len(tiles), north, src.transform)
    if len(tiles) > 1 and len(tiles) * size_px % ALIASED_WIDTH_PX == 0 and _lies_inside(src, window):
        split = min(len(tiles) - 1, len(tiles) // 2 + 1)  # 64 tiles of 64 px: 33 + 31
        return read_tile_row(src, tiles[:split], size_px, bands, resampling) + read_tile_row(
            src, tiles[split:], size_px, bands, resampling
        )
    pixels, all_valid = _read_clipped(src, window, size_px, bands, width_px=size_px * len(tiles), resampling=resampling)
    count = len(tiles)
    if all_valid:
        valid = np.ones(count)
    else:
        nodata = src.nodata if src.nodata is not None else 0
        valid = tile_valid_shares(valid_mask(pixels, nodata), count)
    # Each tile is a view of the strip (rows stay contiguous); stacking a batch copies it anyway.
    return [(pixels[:, index * size_px : (index + 1) * size_px], float(valid[index])) for index in range(count)]


def read_tiles(
    src: rasterio.io.DatasetReaderBase,
    tiles: list[Tile],
    size_px: int,
    max_run: int = MAX_TILES_PER_READ,
    resampling: str = "bilinear",
    bands: tuple[int, ...] = RGBN_BANDS,
) -> list[tuple[np.ndarray, float]]:
    """Read tiles in the given order, one GDAL call per run of adjacent tiles in a grid row
    (``bands`` as in :func:`read_tile`)."""
    results: list[tuple[np.ndarray, float]] = []
    run: list[Tile] = []
    for tile in tiles:
        if run and (tile.row != run[-1].row or tile.col != run[-1].col + 1 or len(run) == max_run):
            results.extend(read_tile_row(src, run, size_px, bands, resampling))
            run = []
        run.append(tile)
    results.extend(read_tile_row(src, run, size_px, bands, resampling))
    return results


def _lies_inside(src: rasterio.io.DatasetReaderBase, window: Window) -> bool:
    """Whether ``window`` lies wholly inside the dataset."""
    return (
        window.col_off >= 0
        and window.row_off >= 0
        and window.col_off + window.width <= src.width
        and window.row_off + window.height <= src.height
    )


def _read_clipped(
    src: rasterio.io.DatasetReaderBase,
    window: Window,
    size_px: int,
    bands: tuple[int, ...],
    width_px: int | None = None,
    resampling: str = "bilinear",
) -> tuple[np.ndarray, bool]:
    """Read ``bands`` of ``window`` resampled to ``size_px`` rows by ``width_px`` (default
    ``size_px``) columns as uint8 RGBN (HWC), zeros where it leaves the dataset and in the bands
    not read; and whether every pixel is known valid (resampled from native pixels none of which
    is nodata, so no valid-pixel count is needed).

    Only the part inside the dataset is read, so no boundless read (a VRT built per call, about
    100 times slower) is ever needed, and warped sources, which refuse boundless reads, work too.
    """
    width_px = width_px or size_px
    check_rgbn_bands(bands)
    pixels = np.zeros((size_px, width_px, len(RGBN_BANDS)), dtype=np.uint8)
    try:
        inside = window.intersection(Window(0, 0, src.width, src.height))
    except WindowError:
        return pixels, False
    if inside == window:
        return pixels, _resampled_read(src, window, pixels, bands, Resampling[resampling])
    scale_x, scale_y = width_px / window.width, size_px / window.height
    col0 = round((inside.col_off - window.col_off) * scale_x)
    row0 = round((inside.row_off - window.row_off) * scale_y)
    width = min(width_px - col0, max(1, round(inside.width * scale_x)))
    height = min(size_px - row0, max(1, round(inside.height * scale_y)))
    _resampled_read(src, inside, pixels[row0 : row0 + height, col0 : col0 + width], bands, Resampling[resampling])
    return pixels, False


def check_rgbn_bands(bands: tuple[int, ...]) -> None:
    """``bands`` must be some of R, G, B, NIR (1-4), ascending: InputError otherwise."""
    if not bands or list(bands) != sorted(set(bands)) or not set(bands) <= set(RGBN_BANDS):
        raise InputError(f"bands must be ascending, distinct and among {list(RGBN_BANDS)}, got {list(bands)}")


def _read_into_channels(
    src: rasterio.io.DatasetReaderBase,
    indexes: list[int],
    window: Window,
    out: np.ndarray,
    bands: tuple[int, ...],
    resampling: Resampling,
) -> None:
    """``src.read`` of ``indexes`` resampled band by band into a contiguous array, then each
    copied into the channel of its band in ``out`` (y, x, RGBN channel; zeros elsewhere). GDAL
    writing the pixel-interleaved ``out`` itself took longer: whole ``read_tiles`` 4-5 % less on a
    COG and a 5 m scene, the same pixels."""
    planes = np.empty((len(indexes), *out.shape[:2]), dtype=out.dtype)
    src.read(indexes, window=window, out=planes, resampling=resampling)
    for plane, band in zip(planes, bands, strict=True):
        out[..., band - 1] = plane


# Native pixels read around a window for resampling; GDAL's bilinear kernel needs 1.
RESAMPLING_MARGIN_PX = 2

# GDAL's names of the numpy types an in-memory view of native pixels can take.
GDAL_TYPE_NAMES = {"uint8": "Byte", "uint16": "UInt16", "int16": "Int16", "float32": "Float32"}


def _resampled_read(
    src: rasterio.io.DatasetReaderBase,
    window: Window,
    out: np.ndarray,
    bands: tuple[int, ...],
    resampling: Resampling,
) -> bool:
    """``src.read`` of ``window`` resampled into ``out`` (y, x, RGBN channel; any strides), each
    band in its own channel; returns whether every pixel written is known valid.

    Bilinear reads go through :func:`_nodata_free_read` where it applies (byte-identical, about
    twice as fast). Otherwise GDAL reads the bands in one call (:func:`_read_into_channels`:
    only those asked, a NIR-R-G model's three; reading blue too cost 0.02 ms a 64 px tile).
    """
    if resampling == Resampling.bilinear and _nodata_free_read(src, window, out, bands):
        return True
    _read_into_channels(src, list(bands), window, out, bands, resampling)
    return False


def _nodata_free_read(
    src: rasterio.io.DatasetReaderBase, window: Window, out: np.ndarray, bands: tuple[int, ...]
) -> bool:
    """Bilinear read of ``window`` into ``out`` (as :func:`_resampled_read`) from the native
    pixels around it when none of them is nodata; False, with nothing written, where it does not
    apply.

    GDAL's bilinear kernel takes a slow nodata-aware path whenever a band declares nodata,
    even where no pixel holds it. So the native pixels around the window are read once and, when
    none of them is nodata, resampled from an in-memory view of them that declares none: then
    every pixel is valid too (a bilinear pixel is a weighted mean of native ones, none 0).
    Elsewhere (scene edges, the odd 0 in a dark band, sources with alpha or per-dataset masks)
    the source is resampled as is. Sources without nodata (NAIP as delivered) and windows an
    overview serves (COGs) go straight to GDAL: there is no slow path to avoid, and the overview
    saves reading native pixels.
    """
    if (
        src.nodata is None
        or src.dtypes[0] not in GDAL_TYPE_NAMES
        or _overview_serves(src, window, out.shape[1])
        or not _masked_by_nodata_only(src, bands)
    ):
        return False
    margin = RESAMPLING_MARGIN_PX
    col0, row0 = max(0, math.floor(window.col_off) - margin), max(0, math.floor(window.row_off) - margin)
    col1 = min(src.width, math.ceil(window.col_off + window.width) + margin)
    row1 = min(src.height, math.ceil(window.row_off + window.height) + margin)
    shape = (len(bands), row1 - row0, col1 - col0)
    # Where the scene cuts the margin east or south, the view must end where the pixels do.
    east, south = math.ceil(window.col_off + window.width), math.ceil(window.row_off + window.height)
    kept = _thread_native_buffer() if col1 - east == margin == row1 - south else None
    native = kept.region(shape, src.dtypes[0]) if kept else np.empty(shape, src.dtypes[0])
    src.read(bands, window=Window(col0, row0, col1 - col0, row1 - row0), out=native)
    if (native == src.nodata).any():
        return False
    inner = Window(window.col_off - col0, window.row_off - row0, window.width, window.height)
    # All bands in one GDAL call, as the direct read does: the same pixels as a call per band.
    # The resampling took 0.0255 against 0.0289 ms a 5 m tile; whole reads 3-6 % less.
    with nullcontext(kept.view) if kept else _in_memory_view(native) as view:
        _read_into_channels(view, list(range(1, len(bands) + 1)), inner, out, bands, Resampling.bilinear)
    return True


class NativeBuffer:
    """Native pixels read for resampling, and a GDAL view over them, kept by one thread across
    reads: a view opened per strip cost 90 us timed alone (round 5), 230 under cProfile.

    A strip's pixels fill the buffer's north-west corner; the view reads them by window. The
    pixels east and south of a strip are stale, but a window keeps its full margin there
    (``RESAMPLING_MARGIN_PX``), and GDAL's bilinear kernel reaches no further. The buffer grows
    (with a fresh view) when a strip needs more room or bands, or holds another type.
    """

    def __init__(self) -> None:
        self.array: np.ndarray | None = None
        self.view: rasterio.io.DatasetReader | None = None

    def region(self, shape: tuple[int, int, int], dtype: str) -> np.ndarray:
        """A (band, y, x) view of the buffer's north-west ``shape``, the buffer grown to fit it."""
        bands, height, width = shape
        held = self.array
        room = held.shape if held is not None and held.dtype == dtype else (0, 0, 0)
        if room[0] < bands or room[1] < height or room[2] < width:
            self.close()
            self.array = np.empty((max(bands, room[0]), max(height, room[1]), max(width, room[2])), dtype=dtype)
            self.view = _open_pointer_dataset(self.array)
        return self.array[:bands, :height, :width]

    def close(self) -> None:
        """Close the view (before its pixels go)."""
        if self.view is not None:
            self.view.close()
        self.view, self.array = None, None


_thread_state = threading.local()


def _thread_native_buffer() -> NativeBuffer:
    """This thread's :class:`NativeBuffer`."""
    if not hasattr(_thread_state, "native"):
        _thread_state.native = NativeBuffer()
    return _thread_state.native


@contextmanager
def _in_memory_view(native: np.ndarray) -> Iterator[rasterio.io.DatasetReader]:
    """A GDAL dataset over ``native`` (band, y, x; C-contiguous) without a copy: 90 us with its
    settings, where a MEM dataset created and written took 160.

    GDAL opens pointer datasets only with GDAL_MEM_ENABLE_OPEN set (a path naming a raw address
    would read any memory), so it is set for this one open only, never for paths from users.
    """
    with _open_pointer_dataset(native) as dataset:
        yield dataset


def _open_pointer_dataset(native: np.ndarray) -> rasterio.io.DatasetReader:
    """A GDAL dataset over ``native`` (band, y, x; C-contiguous), GDAL_MEM_ENABLE_OPEN set for
    this one open only; the caller closes it before ``native`` goes."""
    bands, height, width = native.shape
    name = (
        f"MEM:::DATAPOINTER={native.ctypes.data},PIXELS={width},LINES={height},BANDS={bands},"
        f"DATATYPE={GDAL_TYPE_NAMES[native.dtype.name]},PIXELOFFSET={native.itemsize},"
        f"LINEOFFSET={width * native.itemsize},BANDOFFSET={width * height * native.itemsize},"
        "GEOTRANSFORM=0/1/0/0/0/-1"  # any will do (reads are by pixel); none would warn on every open
    )
    with rasterio.Env(GDAL_MEM_ENABLE_OPEN="YES"):
        return rasterio.open(name)


def _overview_serves(src: rasterio.io.DatasetReaderBase, window: Window, width_px: int) -> bool:
    """Whether GDAL would read this downsampled window from an overview (a COG's pyramid):
    then the direct read is cheaper than reading native pixels here."""
    factors = src.overviews(1) if hasattr(src, "overviews") else []
    return bool(factors) and window.width / max(1, width_px) >= min(factors)


def _masked_by_nodata_only(src: rasterio.io.DatasetReaderBase, bands: tuple[int, ...]) -> bool:
    """Whether GDAL masks ``bands`` by a nodata value at most: no per-dataset or alpha mask (NAIP
    files often flag NIR as alpha), which GDAL's resampling would also honour."""
    plain = {MaskFlags.all_valid, MaskFlags.nodata}
    return all(set(src.mask_flag_enums[band - 1]) <= plain for band in bands)


def uint8_percentiles(values: np.ndarray, quantiles: tuple[float, ...]) -> list[float]:
    """``np.percentile(values, q)`` (linear method) for each q, bit for bit, without a sort."""
    if values.dtype != np.uint8:
        return [float(np.percentile(values, q)) for q in quantiles]
    return percentiles_from_counts(np.bincount(values.ravel(), minlength=256), quantiles)


def percentiles_from_counts(counts: np.ndarray, quantiles: tuple[float, ...]) -> list[float]:
    """What ``np.percentile`` (linear method) gives on the values 0..255 counted by ``counts``."""
    cumulative = np.cumsum(counts)
    last = int(cumulative[-1]) - 1
    out = []
    for q in quantiles:
        rank = q / 100.0 * last
        below = int(np.floor(rank))
        above = min(below + 1, last)
        low = float(np.searchsorted(cumulative, below, side="right"))
        high = float(np.searchsorted(cumulative, above, side="right"))
        t = rank - below
        # numpy's _lerp: a + (b - a) t below t = 0.5, b - (b - a)(1 - t) from it.
        out.append(high - (high - low) * (1 - t) if t >= 0.5 else low + (high - low) * t)
    return out


def otsu_threshold(values: np.ndarray, bins: int = 256, weights: np.ndarray | None = None) -> float:
    """The threshold that best splits ``values`` (each counted ``weights`` times) into two
    classes (Otsu's method)."""
    counts, edges = np.histogram(values, bins=bins, weights=weights)
    centres = (edges[:-1] + edges[1:]) / 2
    below = np.cumsum(counts).astype(np.float64)
    above = below[-1] - below
    below_sum = np.cumsum(counts * centres)
    between = (below_sum[-1] * below / below[-1] - below_sum) ** 2 / np.maximum(below * above, 1.0)
    return float(centres[int(np.argmax(between))])


# Scenes up to this size are read whole for their radiometry; larger ones decimated (or sampled).
STATS_MAX_SIDE_PX = 1024


def scene_stats(path: str, grid: TileGrid, max_side_px: int = STATS_MAX_SIDE_PX) -> list[float]:
    """Per-scene radiometry, read from a decimated view: the (p2, p98) of each band, then the
    Otsu threshold of NDWI = (green - nir) / (green + nir) that splits water from land.

    Both adapt to each acquisition (sensor, season, sun), so features built on them travel
    between vintages (see the dark-NIR 2014 scene).
    """
    with open_on_grid(path, grid) as src:
        if _decimated_read_is_full_read(src, max_side_px):
            pixels = _sampled_block_pixels(src)
        else:
            scale = max(1.0, max(src.width, src.height) / max_side_px)
            shape = (src.count, int(src.height / scale), int(src.width / scale))
            pixels = src.read(out_shape=shape, resampling=Resampling.nearest)
        nodata = src.nodata if src.nodata is not None else 0
    return radiometry(path, pixels, nodata)


def _decimated_read_is_full_read(src: rasterio.io.DatasetReaderBase, max_side_px: int) -> bool:
    """A large scene without overviews (NAIP as delivered): a decimated read decodes every block."""
    factors = src.overviews(1) if hasattr(src, "overviews") else []
    return not factors and max(src.width, src.height) > STATS_SAMPLED_ABOVE_PX and max_side_px < src.width


# Scenes wider or taller than this without overviews take their radiometry from sampled blocks
# (about the pixels of a 1,024 px decimated view, for a fortieth of the reading at 0.6 m).
STATS_SAMPLED_ABOVE_PX = 4096


def _sampled_block_pixels(src: rasterio.io.DatasetReaderBase) -> np.ndarray:
    """(band, y, x) pixels of the ``DEEP_CHECK_SAMPLE_BLOCKS`` blocks spread evenly over the
    scene, side by side (the deep check reads the same blocks, so the OS cache holds them)."""
    windows = list(src.block_windows(1))
    picks = np.unique(np.linspace(0, len(windows) - 1, DEEP_CHECK_SAMPLE_BLOCKS).round().astype(int))
    blocks = [src.read(window=windows[index][1])[:, ::4, ::4] for index in picks]  # ~1 M pixels in all
    return np.concatenate([block.reshape(block.shape[0], 1, -1) for block in blocks], axis=2)


def radiometry(path: str, pixels: np.ndarray, nodata: float) -> list[float]:
    """The (p2, p98) of each band and the NDWI Otsu threshold of (band, y, x) pixels.

    uint8 pixels (NAIP) are counted, not sorted: band histograms give the percentiles and a
    histogram of (green, nir) pairs gives NDWI's, bit for bit the same as on the pixels; the
    green and NIR histograms are that pair histogram's margins.
    """
    valid = pixels[0] != nodata
    for band in pixels[1:]:
        valid |= band != nodata
    if not valid.any():
        raise InputError(f"{path}: holds no valid pixels")
    if pixels.dtype != np.uint8:
        return _radiometry_of_values(pixels, valid)
    invalid = None if valid.all() else ~valid

    def valid_counts(values: np.ndarray, bins: int) -> np.ndarray:
        counts = np.bincount(values.ravel(), minlength=bins)
        return counts if invalid is None else counts - np.bincount(values[invalid], minlength=bins)

    pair_counts = valid_counts((pixels[1].astype(np.intp) << 8) | pixels[3], 256 * 256)
    by_green_nir = pair_counts.reshape(256, 256)
    band_counts = [valid_counts(pixels[0], 256), by_green_nir.sum(axis=1), valid_counts(pixels[2], 256)]
    band_counts.append(by_green_nir.sum(axis=0))
    percentiles = [value for counts in band_counts for value in percentiles_from_counts(counts, (2.0, 98.0))]
    present = np.flatnonzero(pair_counts)
    g, n = (present // 256).astype(np.float64), (present % 256).astype(np.float64)
    ndwi = (g - n) / np.maximum(g + n, 1.0)
    return [*percentiles, otsu_threshold(ndwi, weights=pair_counts[present])]


def _radiometry_of_values(pixels: np.ndarray, valid: np.ndarray) -> list[float]:
    percentiles = [
        value
        for band in pixels[:REQUIRED_BAND_COUNT]
        for value in (float(np.percentile(band[valid], 2.0)), float(np.percentile(band[valid], 98.0)))
    ]
    green, nir = pixels[1][valid].astype(np.float64), pixels[3][valid].astype(np.float64)
    ndwi = (green - nir) / np.maximum(green + nir, 1.0)
    return [*percentiles, otsu_threshold(ndwi)]


def scene_revision(lake: Lake, uri: str) -> str:
    """A cheap, sound fingerprint of a scene file: ``<size>:<revision>`` (the ETag on ADLS, the
    modification time in ns on a local lake), so a file replaced or rewritten reads differently."""
    info = lake.file_info(uri)
    return f"{info.size}:{info.revision}"


def check_scene_unchanged(lake: Lake, uri: str, recorded: str) -> None:
    """IntegrityError when the scene at ``uri`` is no longer the file validation inspected."""
    from landshift.core.errors import IntegrityError

    if not recorded:
        return
    try:
        now = scene_revision(lake, uri)
    except NotFoundError:
        now = "missing"
    if now != recorded:
        raise IntegrityError(
            f"{uri}: changed since the run validated it (size:revision {recorded}, now {now}); "
            "nothing was scored or published from it: rerun the vintage to validate the new file"
        )
