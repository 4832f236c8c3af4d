"""The stable tile grid: square cells whose edges lie on multiples of the cell size.

Column ``c`` covers x in ``[size * c, size * (c + 1))`` and row ``r`` covers y in
``[size * r, size * (r + 1))`` of the grid's projected CRS, so a tile id ``E{c}_N{r}`` names the
same ground in every vintage.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from affine import Affine

from landshift.core.errors import InputError

TILE_ID_PATTERN = re.compile(r"^E(-?\d+)_N(-?\d+)$")
DEFAULT_TILE_SIZE_M = 224.0

Bounds = tuple[float, float, float, float]


@dataclass(frozen=True, order=True)
class Tile:
    """One cell of the grid."""

    col: int
    row: int
    size_m: float = DEFAULT_TILE_SIZE_M

    @property
    def tile_id(self) -> str:
        """The stable id ``E{col}_N{row}``."""
        return f"E{self.col}_N{self.row}"

    @property
    def bounds(self) -> Bounds:
        """(minx, miny, maxx, maxy) in the grid's CRS."""
        return (
            self.col * self.size_m,
            self.row * self.size_m,
            (self.col + 1) * self.size_m,
            (self.row + 1) * self.size_m,
        )


@dataclass(frozen=True)
class TileGrid:
    """A square grid of ``tile_size_m`` cells in a projected CRS."""

    crs: str
    tile_size_m: float = DEFAULT_TILE_SIZE_M

    def __post_init__(self) -> None:
        if not self.tile_size_m > 0:
            raise InputError(f"tile_size_m must be positive, got {self.tile_size_m}")

    def tile(self, col: int, row: int) -> Tile:
        """The tile at (col, row)."""
        return Tile(col, row, self.tile_size_m)

    def index_range(self, bounds: Bounds) -> tuple[range, range]:
        """Columns and rows of every cell that intersects ``bounds`` (a positive area)."""
        minx, miny, maxx, maxy = bounds
        if not (maxx > minx and maxy > miny):
            raise InputError(f"bounds {bounds} enclose no area")
        size = self.tile_size_m
        cols = range(math.floor(minx / size), math.ceil(maxx / size))
        rows = range(math.floor(miny / size), math.ceil(maxy / size))
        return cols, rows

    def tiles_in(self, bounds: Bounds) -> Iterator[Tile]:
        """Cells intersecting ``bounds``, north to south then west to east (raster order)."""
        cols, rows = self.index_range(bounds)
        for row in reversed(rows):
            for col in cols:
                yield self.tile(col, row)

    def raster_transform(self, cols: range, rows: range) -> Affine:
        """Affine transform of a raster with one pixel per tile covering ``cols`` x ``rows``."""
        size = self.tile_size_m
        return Affine(size, 0.0, cols.start * size, 0.0, -size, rows.stop * size)


def tile_ids(cols: Iterable[int], rows: Iterable[int]) -> list[str]:
    """The ids ``E{col}_N{row}`` of many tiles at once (columns and rows of any integer type)."""
    return [f"E{col}_N{row}" for col, row in zip(_ints(cols), _ints(rows), strict=True)]


def _ints(values: Iterable[int]) -> list[int]:
    """Python ints of numpy arrays, pandas series or lists (numpy scalars print alike, but slower)."""
    return values.tolist() if hasattr(values, "tolist") else [int(v) for v in values]


def parse_tile_id(tile_id: str) -> tuple[int, int]:
    """(col, row) of a tile id ``E{col}_N{row}``; raise InputError for anything else."""
    match = TILE_ID_PATTERN.match(tile_id)
    if match is None:
        raise InputError(f"not a tile id (expected E<col>_N<row>): {tile_id!r}")
    return int(match.group(1)), int(match.group(2))


def extent_of(tiles: list[Tile]) -> tuple[range, range]:
    """The smallest column and row ranges covering ``tiles``."""
    if not tiles:
        raise InputError("no tiles")
    cols = [t.col for t in tiles]
    rows = [t.row for t in tiles]
    return range(min(cols), max(cols) + 1), range(min(rows), max(rows) + 1)


def pixel_of(tile: Tile, cols: range, rows: range) -> tuple[int, int]:
    """(row, col) pixel index of ``tile`` in a one-pixel-per-tile raster over cols x rows."""
    return rows.stop - 1 - tile.row, tile.col - cols.start
