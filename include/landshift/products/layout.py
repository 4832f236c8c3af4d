"""The raster layout of a product (one pixel per tile) and the codes every product file shares."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from landshift.change.rules import (
    CHANGE_NO_PRIOR,
    CHANGE_NODATA,
    CHANGE_STABLE,
    CHANGE_UNCERTAIN,
)
from landshift.core.grid import TileGrid, extent_of

log = logging.getLogger(__name__)

CONFIDENCE_NODATA = 255
WATER_SHARE_NODATA = 255
PRODUCT_FILES = (
    "landuse.tif",
    "landuse.tif.aux.xml",
    "landuse.qml",
    "change.tif",
    "change.tif.aux.xml",
    "change.qml",
    "confidence.tif",
    "confidence.qml",
    "water_share.tif",
    "water_share.tif.aux.xml",
    "water_share.qml",
    "landuse.png",
    "change.png",
    "summary.json",
    "report.html",
    "item.json",
)
CHANGE_CODING = (
    "from*100+to for reported changes (NLCD codes, e.g. 8211 = Cultivated to Water); "
    "1 = stable, 2 = uncertain change (below the rule's thresholds), 3 = no prior label, 0 = no tile"
)
# Status values of the change raster: greys and a pale violet, so transitions stand out.
STATUS_COLORS = {
    CHANGE_NODATA: (0, 0, 0, 0),
    CHANGE_STABLE: (225, 225, 225, 255),
    CHANGE_UNCERTAIN: (150, 150, 150, 255),
    CHANGE_NO_PRIOR: (214, 196, 232, 255),
}


@dataclass(frozen=True)
class RasterLayout:
    """The one-pixel-per-tile raster covering a set of tiles."""

    grid: TileGrid
    cols: range
    rows: range

    @classmethod
    def covering(cls, grid: TileGrid, table: pd.DataFrame) -> RasterLayout:
        """The smallest layout holding every tile of ``table`` (columns col, row)."""
        tiles = [grid.tile(int(c), int(r)) for c, r in zip(table["col"], table["row"], strict=True)]
        cols, rows = extent_of(tiles)
        return cls(grid, cols, rows)

    @property
    def native_bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the grid CRS."""
        size = self.grid.tile_size_m
        return (self.cols.start * size, self.rows.start * size, self.cols.stop * size, self.rows.stop * size)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return len(self.rows), len(self.cols)

    def rasterize(self, table: pd.DataFrame, column: str, dtype: str, fill: int = 0) -> np.ndarray:
        """An array with ``table[column]`` at each tile's pixel and ``fill`` elsewhere."""
        array = np.full(self.shape, fill, dtype=dtype)
        pixel_rows = self.rows.stop - 1 - table["row"].to_numpy()
        pixel_cols = table["col"].to_numpy() - self.cols.start
        array[pixel_rows, pixel_cols] = table[column].to_numpy().astype(dtype)
        return array
