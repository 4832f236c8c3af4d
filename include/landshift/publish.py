"""Publishing: rasterise per-tile tables on the tile grid into COGs, quicklooks, summary and STAC."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from landshift.grid import TileGrid, extent_of
from landshift.lake import Lake, publish_dir
from landshift.legend import Legend

log = logging.getLogger(__name__)

CHANGE_NODATA = 65535
PRODUCT_FILES = ("landuse.tif", "change.tif", "landuse.png", "change.png", "summary.json", "item.json")
CLASSIFICATION_SCHEMA = "https://stac-extensions.github.io/classification/v2.0.0/schema.json"
PROJECTION_SCHEMA = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"


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


def write_cog(path: str, array: np.ndarray, layout: RasterLayout, colormap: dict, tags: dict, nodata: int = 0) -> None:
    """Write a single-band class raster as a validated Cloud-Optimized GeoTIFF with a palette."""
    from rasterio.enums import ColorInterp
    from rasterio.io import MemoryFile
    from rio_cogeo.cogeo import cog_translate, cog_validate
    from rio_cogeo.profiles import cog_profiles

    from landshift.imagery import parse_crs

    profile = {
        "driver": "GTiff",
        "height": array.shape[0],
        "width": array.shape[1],
        "count": 1,
        "dtype": array.dtype.name,
        "crs": parse_crs(layout.grid.crs),
        "transform": layout.grid.raster_transform(layout.cols, layout.rows),
        "nodata": nodata,
    }
    with MemoryFile() as memfile:
        with memfile.open(**profile) as dst:
            dst.write(array, 1)
            dst.write_colormap(1, colormap)
            dst.colorinterp = [ColorInterp.palette]
            dst.update_tags(**{k: str(v) for k, v in tags.items()})
        with memfile.open() as src:
            cog_translate(
                src,
                path,
                cog_profiles.get("deflate"),
                overview_resampling="nearest",
                quiet=True,
                in_memory=True,
                add_mask=False,
            )
    valid, errors, _ = cog_validate(path, quiet=True)
    if not valid:
        raise RuntimeError(f"{path} is not a valid COG: {errors}")


def change_colormap(codes: list[int]) -> dict[int, tuple[int, int, int, int]]:
    """Palette for from-to codes: stable tiles light grey, each transition its own colour."""
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    entries = {CHANGE_NODATA: (0, 0, 0, 0), 0: (225, 225, 225, 255)}
    for index, code in enumerate(c for c in codes if c):
        red, green, blue, _ = palette(index % 10)
        entries[code] = (round(red * 255), round(green * 255), round(blue * 255), 255)
    return entries


def write_quicklook(path: str, array: np.ndarray, colormap: dict, labels: dict[int, str], title: str) -> None:
    """A PNG picture of a class raster with a legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rgba = np.zeros((*array.shape, 4), dtype=np.uint8)
    for code, color in colormap.items():
        rgba[array == code] = color
    figure, axis = plt.subplots(figsize=(7, 5), dpi=100)
    axis.imshow(rgba, interpolation="nearest")
    axis.set_title(title)
    axis.set_axis_off()
    handles = [
        Patch(facecolor=np.array(colormap[code]) / 255.0, edgecolor="grey", label=label)
        for code, label in labels.items()
    ]
    if handles:
        axis.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    figure.tight_layout()
    figure.savefig(path, metadata={"Software": None}, bbox_inches="tight")
    plt.close(figure)


def stac_item(summary: dict, legend: Legend, layout: RasterLayout, change_codes: list[int]) -> dict:
    """A STAC Item describing both rasters with the classification and projection extensions."""
    import pystac
    from rasterio.warp import transform_bounds

    from landshift.imagery import parse_crs

    size = layout.grid.tile_size_m
    native = (
        layout.cols.start * size,
        layout.rows.start * size,
        layout.cols.stop * size,
        layout.rows.stop * size,
    )
    west, south, east, north = transform_bounds(parse_crs(layout.grid.crs), "EPSG:4326", *native)
    vintage = str(summary["vintage"])
    item = pystac.Item(
        id=f"landshift-{summary['region']}-{vintage}",
        geometry={
            "type": "Polygon",
            "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
        },
        bbox=[west, south, east, north],
        datetime=None,
        properties={
            "start_datetime": f"{vintage[:4]}-01-01T00:00:00Z",
            "end_datetime": f"{vintage[:4]}-12-31T23:59:59Z",
            "landshift:model_version": summary["model"]["version"],
            "landshift:region": summary["region"],
            "proj:code": layout.grid.crs,
            "proj:shape": list(layout.shape),
            "proj:transform": list(layout.grid.raster_transform(layout.cols, layout.rows))[:6],
        },
        stac_extensions=[CLASSIFICATION_SCHEMA, PROJECTION_SCHEMA],
    )
    landuse_classes = [
        {
            "value": c.code,
            "name": c.name.lower(),
            "description": c.name,
            "color_hint": c.color.lstrip("#").upper(),
        }
        for c in legend.classes
    ]
    change_classes = [
        {
            "value": code,
            "name": f"{legend.by_code(code // 100).name}-to-{legend.by_code(code % 100).name}".lower(),
            "description": f"{legend.by_code(code // 100).name} to {legend.by_code(code % 100).name}",
        }
        for code in change_codes
        if code
    ]
    item.add_asset(
        "landuse",
        pystac.Asset(
            href="./landuse.tif",
            media_type=pystac.MediaType.COG,
            roles=["data"],
            title="Land use class per tile",
            extra_fields={"classification:classes": landuse_classes},
        ),
    )
    item.add_asset(
        "change",
        pystac.Asset(
            href="./change.tif",
            media_type=pystac.MediaType.COG,
            roles=["data"],
            title="Change from prior (from * 100 + to, 0 = no change)",
            extra_fields={"classification:classes": change_classes},
        ),
    )
    for key in ("landuse.png", "change.png"):
        item.add_asset(
            key.replace(".", "_"),
            pystac.Asset(href=f"./{key}", media_type=pystac.MediaType.PNG, roles=["overview"]),
        )
    item.add_asset("summary", pystac.Asset(href="./summary.json", media_type=pystac.MediaType.JSON, roles=["metadata"]))
    return item.to_dict(include_self_link=False)


def build_product(
    out_dir: str,
    predictions: pd.DataFrame,
    changes: pd.DataFrame,
    legend: Legend,
    grid: TileGrid,
    summary: dict,
) -> dict:
    """Write the six product files into ``out_dir``; returns the summary as written."""
    layout = RasterLayout.covering(grid, predictions)
    tags = {
        "LANDSHIFT_REGION": summary["region"],
        "LANDSHIFT_VINTAGE": summary["vintage"],
        "LANDSHIFT_MODEL_VERSION": summary["model"]["version"],
        "LANDSHIFT_LEGEND": json.dumps(legend.to_dict(), sort_keys=True),
    }
    landuse = layout.rasterize(predictions, "class_code", "uint8")
    write_cog(str(Path(out_dir, "landuse.tif")), landuse, layout, legend.colormap(), tags)
    codes = sorted(int(c) for c in changes["change_code"].unique() if c)
    change = layout.rasterize(changes, "change_code", "uint16", fill=CHANGE_NODATA)
    change_palette = change_colormap(codes)
    write_cog(
        str(Path(out_dir, "change.tif")),
        change,
        layout,
        change_palette,
        {**tags, "LANDSHIFT_CHANGE_CODING": "from*100+to, 0 = no change"},
        nodata=CHANGE_NODATA,
    )
    present = sorted(int(c) for c in np.unique(landuse) if c)
    title = f"{summary['region']} {summary['vintage']}"
    write_quicklook(
        str(Path(out_dir, "landuse.png")),
        landuse,
        legend.colormap(),
        {c: legend.by_code(c).name for c in present},
        f"Land use {title}",
    )
    write_quicklook(
        str(Path(out_dir, "change.png")),
        change,
        change_palette,
        {0: "No change", **{c: f"{legend.by_code(c // 100).name} to {legend.by_code(c % 100).name}" for c in codes}},
        f"Change {title} vs {summary['prior']['source']}",
    )
    summary = {
        **summary,
        "legend": legend.to_dict(),
        "raster": {
            "crs": grid.crs,
            "tile_size_m": grid.tile_size_m,
            "width": layout.shape[1],
            "height": layout.shape[0],
            "transform": list(grid.raster_transform(layout.cols, layout.rows))[:6],
        },
    }
    Path(out_dir, "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    item = stac_item(summary, legend, layout, codes)
    Path(out_dir, "item.json").write_text(json.dumps(item, indent=2, sort_keys=True) + "\n")
    return summary


def publish_product(lake: Lake, dest_uri: str, **product) -> dict:
    """Build the product in a private directory and move it to ``dest_uri`` in one step."""
    with tempfile.TemporaryDirectory(prefix="landshift-product-") as tmp:
        summary = build_product(tmp, **product)
        missing = [name for name in PRODUCT_FILES if not Path(tmp, name).is_file()]
        if missing:
            raise RuntimeError(f"product incomplete, not published: missing {missing}")
        publish_dir(lake, tmp, dest_uri)
    return summary
