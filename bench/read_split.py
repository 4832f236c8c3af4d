"""Where a fresh tile read goes, on one pinned core: ``read_tiles`` as scoring reads, GDAL alone
(one rasterio read per strip into a band-sequential array) and decoding alone (a native read of
the same strips from the overview GDAL picks, no resampling). Each pass opens the scene afresh.

Usage: python bench/read_split.py SCENE [--reps 5] [--bands 1,2,4] [--size-px 64]
(``docs/performance.md``, rounds 7 and 8: with ZSTD overviews decoding was about half of a COG
read; with the uncompressed overviews ingest now writes, GDAL's convolution is most of it.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window

from landshift.core.grid import TileGrid
from landshift.imagery.scenes import (
    OVERVIEW_OVERSAMPLING_THRESHOLD,
    grid_read_env,
    read_tiles,
    window_from_bounds,
)

TILE_M, CRS = 224.0, "EPSG:26914"


def interior_rows(path: str) -> tuple[list[int], list[int]]:
    """The grid rows and columns of the tiles wholly inside the scene."""
    with rasterio.open(path) as src:
        bounds = src.bounds
    rows = list(range(int(bounds.top // TILE_M) - 1, int(bounds.bottom // TILE_M), -1))
    cols = list(range(int(bounds.left // TILE_M) + 1, int(bounds.right // TILE_M)))
    return rows, cols


def overview_level(src, size_px: int) -> int:
    """The overview GDAL reads a tile from (its index; -1: the full resolution), as
    ``grid_read_env`` sets the choice."""
    per_px = TILE_M / abs(src.transform.a) / size_px
    factors = [f for f in src.overviews(1) if f <= per_px * OVERVIEW_OVERSAMPLING_THRESHOLD]
    return len(factors) - 1


def strip_window(src, grid: TileGrid, row: int, cols: list[int]) -> Window:
    """The window of one grid row's tiles in ``src``."""
    west, south, _, north = grid.tile(cols[0], row).bounds
    return window_from_bounds(west, south, west + TILE_M * len(cols), north, src.transform)


def split(path: str, reps: int, bands: tuple[int, ...], size_px: int) -> dict:
    """Best and worst ms a tile of each read (the scene's opening not timed), the three
    alternated ``reps`` times."""
    grid = TileGrid(CRS, TILE_M)
    rows, cols = interior_rows(path)
    tiles = [grid.tile(c, r) for r in rows for c in cols]
    with rasterio.open(path) as src:
        level = overview_level(src, size_px)

    def ours(src) -> None:
        read_tiles(src, tiles, size_px, bands=bands)

    def gdal_alone(src) -> None:
        out = np.empty((len(bands), size_px, size_px * len(cols)), np.uint8)
        for row in rows:
            src.read(bands, window=strip_window(src, grid, row, cols), out=out, resampling=Resampling.bilinear)

    def decoding_alone(src) -> None:
        for row in rows:
            src.read(bands, window=strip_window(src, grid, row, cols).round_offsets().round_lengths())

    native = {"overview_level": level} if level >= 0 else {}
    reads: dict[str, tuple[Callable[[object], None], dict]] = {"read_tiles": (ours, {}), "gdal_alone": (gdal_alone, {})}
    reads["decoding_alone"] = (decoding_alone, native)
    times: dict[str, list[float]] = {name: [] for name in reads}
    for _ in range(reps):
        for name, (read, options) in reads.items():
            with grid_read_env(), rasterio.open(path, **options) as src:
                started = time.perf_counter()
                read(src)
                times[name].append(1000 * (time.perf_counter() - started) / len(tiles))
    figures = {name: [round(min(t), 4), round(max(t), 4)] for name, t in times.items()}
    return {"scene": path, "tiles": len(tiles), "bands": list(bands), "ms_per_tile_best_worst": figures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scene")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--bands", default="1,2,4", help="bands read, as the model reads them")
    parser.add_argument("--size-px", type=int, default=64, help="the model's input size")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    bands = tuple(int(b) for b in args.bands.split(","))
    print(json.dumps(split(args.scene, args.reps, bands, args.size_px), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
