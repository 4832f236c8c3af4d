"""Publishing: rasterise per-tile tables on the tile grid into COGs, quicklooks, summary and STAC."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from landshift.change.rules import (
    CHANGE_NO_PRIOR,
    CHANGE_NODATA,
    CHANGE_STABLE,
    CHANGE_UNCERTAIN,
    SPECIAL_CHANGE_NAMES,
    is_transition,
    split_transition,
)
from landshift.core.grid import TileGrid
from landshift.core.legend import NODATA_CODE, Legend, rgba_to_hex, transition_rgba
from landshift.lake.base import Lake
from landshift.lake.publishing import publish_dir
from landshift.products.layout import (
    CHANGE_CODING,
    CONFIDENCE_NODATA,
    PRODUCT_FILES,
    STATUS_COLORS,
    WATER_SHARE_NODATA,
    RasterLayout,
)
from landshift.products.report_html import ChipSources, write_report
from landshift.products.stac import StacContext, _raster_asset, stac_item, update_catalog
from landshift.products.symbology import ClassEntry, ramp_qml, write_sidecars

log = logging.getLogger(__name__)


def write_cog(
    path: str, array: np.ndarray, layout: RasterLayout, colormap: dict | None, tags: dict, nodata: int = 0
) -> None:
    """Write a single-band raster as a validated Cloud-Optimized GeoTIFF (with a palette if given).

    16-bit rasters get no palette: GeoTIFF stores all 65,536 entries of one (393 KB); their
    colours live in the PAM and QGIS sidecars instead.
    """
    from rasterio.enums import ColorInterp
    from rasterio.io import MemoryFile
    from rio_cogeo.cogeo import cog_translate, cog_validate
    from rio_cogeo.profiles import cog_profiles

    from landshift.imagery.scenes import parse_crs

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
            if colormap is not None:
                dst.write_colormap(1, colormap)
                dst.colorinterp = [ColorInterp.palette]
            else:
                dst.colorinterp = [ColorInterp.gray]
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


def change_entries(legend: Legend, transitions: list[int], counts: dict[int, int]) -> list[ClassEntry]:
    """Names and colours of the change raster's values: the four status values, then transitions."""
    entries = [
        ClassEntry(value, name, STATUS_COLORS[value], counts.get(value, 0))
        for value, name in sorted(SPECIAL_CHANGE_NAMES.items())
    ]
    for code in sorted(transitions):
        source, target = split_transition(code)
        name = f"{legend.by_code(source).name} to {legend.by_code(target).name}"
        entries.append(ClassEntry(code, name, transition_rgba(legend, source, target), counts.get(code, 0)))
    return entries


def landuse_entries(legend: Legend, counts: dict[int, int]) -> list[ClassEntry]:
    """Names and colours of the land-use raster's values (0 = no data)."""
    palette = legend.colormap()
    return [ClassEntry(NODATA_CODE, "No data", palette[NODATA_CODE], counts.get(NODATA_CODE, 0))] + [
        ClassEntry(c.code, c.name, palette[c.code], counts.get(c.code, 0)) for c in legend.classes
    ]


def value_counts(array: np.ndarray) -> dict[int, int]:
    """``{value: pixels}`` of an integer array."""
    values, counts = np.unique(array, return_counts=True)
    return {int(v): int(n) for v, n in zip(values, counts, strict=True)}


def change_pixel_counts(counts: dict[int, int]) -> dict[str, int]:
    """Pixels of the change raster per kind of value, as summary.json reports them."""
    return {
        "nodata": counts.get(CHANGE_NODATA, 0),
        "stable": counts.get(CHANGE_STABLE, 0),
        "uncertain": counts.get(CHANGE_UNCERTAIN, 0),
        "no_prior": counts.get(CHANGE_NO_PRIOR, 0),
        "reported": sum(n for v, n in counts.items() if is_transition(v)),
    }


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


def write_confidence(path: str, predictions: pd.DataFrame, layout: RasterLayout, tags: dict) -> np.ndarray:
    """The winning class's probability per tile as uint8 percent (255 = no tile), with a QGIS style."""
    percent = np.clip(np.rint(predictions["probability"].to_numpy(dtype=float) * 100.0), 0, 100)
    confidence = layout.rasterize(predictions.assign(_percent=percent), "_percent", "uint8", fill=CONFIDENCE_NODATA)
    write_cog(
        path,
        confidence,
        layout,
        None,
        {**tags, "LANDSHIFT_CONFIDENCE": "winning class probability, percent"},
        nodata=CONFIDENCE_NODATA,
    )
    Path(path).with_suffix(".qml").write_text(
        ramp_qml([(0, "#d7191c", "0 %"), (50, "#ffffbf", "50 %"), (100, "#1a9641", "100 %")], 0, 100)
    )
    return confidence


WATER_SHARE_CODING = "share of the tile that is open water in percent (0-100), 255 = no tile"


def water_share_percent(predictions: pd.DataFrame) -> np.ndarray:
    """Each tile's open-water share as uint8 percent; tiles scored without one get the nodata value."""
    from landshift.imagery.water import share_percent

    if "water_share" not in predictions.columns:
        return np.full(len(predictions), WATER_SHARE_NODATA, dtype=np.uint8)
    shares = predictions["water_share"].to_numpy(dtype=float)
    return np.where(np.isfinite(shares), share_percent(np.nan_to_num(shares)), WATER_SHARE_NODATA).astype(np.uint8)


def water_share_pam(nodata: int) -> str:
    """The GDAL PAM sidecar of ``water_share.tif``: band description, unit, nodata, value range."""
    return (
        "<PAMDataset>\n"
        '  <PAMRasterBand band="1">\n'
        "    <Description>open water share of the tile</Description>\n"
        "    <UnitType>%</UnitType>\n"
        f"    <NoDataValue>{nodata}</NoDataValue>\n"
        "    <Metadata>\n"
        '      <MDI key="STATISTICS_MINIMUM">0</MDI>\n'
        '      <MDI key="STATISTICS_MAXIMUM">100</MDI>\n'
        "    </Metadata>\n"
        "  </PAMRasterBand>\n"
        "</PAMDataset>\n"
    )


def write_water_share(path: str, predictions: pd.DataFrame, layout: RasterLayout, tags: dict) -> np.ndarray:
    """The open-water share per tile as uint8 percent (255 = no tile), with its PAM and QGIS sidecars."""
    percent = water_share_percent(predictions)
    water = layout.rasterize(predictions.assign(_percent=percent), "_percent", "uint8", fill=WATER_SHARE_NODATA)
    write_cog(
        path, water, layout, None, {**tags, "LANDSHIFT_WATER_SHARE": WATER_SHARE_CODING}, nodata=WATER_SHARE_NODATA
    )
    Path(f"{path}.aux.xml").write_text(water_share_pam(WATER_SHARE_NODATA))
    Path(path).with_suffix(".qml").write_text(
        ramp_qml([(0, "#f7fbff", "0 %"), (50, "#6baed6", "50 %"), (100, "#08306b", "100 %")], 0, 100)
    )
    return water


def water_share_assets(layout: RasterLayout) -> dict:
    """The STAC assets of ``water_share.tif`` and its sidecars."""
    return {
        "water_share": {
            **_raster_asset(
                "./water_share.tif",
                "Open water share",
                "Share of the tile that is open water in percent (0-100); 255 = no tile",
                layout,
                "uint8",
                WATER_SHARE_NODATA,
                None,
            ),
            "unit": "%",
        },
        "water_share_pam": {
            "href": "./water_share.tif.aux.xml",
            "type": "application/xml",
            "roles": ["metadata"],
            "title": "GDAL PAM sidecar of water_share.tif: description, unit, nodata",
        },
        "water_share_style": {
            "href": "./water_share.qml",
            "type": "application/xml",
            "roles": ["style", "metadata"],
            "title": "QGIS layer style of water_share.tif",
        },
    }


def build_product(
    out_dir: str,
    predictions: pd.DataFrame,
    changes: pd.DataFrame,
    legend: Legend,
    grid: TileGrid,
    summary: dict,
    stac: StacContext | None = None,
    chips: ChipSources | None = None,
) -> dict:
    """Write the product files into ``out_dir``; returns the summary as written."""
    layout = RasterLayout.covering(grid, predictions)
    tags = {
        "LANDSHIFT_REGION": summary["region"],
        "LANDSHIFT_VINTAGE": summary["vintage"],
        "LANDSHIFT_MODEL_VERSION": summary["model"]["version"],
        "LANDSHIFT_LEGEND": json.dumps(legend.to_dict(), sort_keys=True),
    }
    landuse = layout.rasterize(predictions, "class_code", "uint8")
    landuse_path = str(Path(out_dir, "landuse.tif"))
    write_cog(landuse_path, landuse, layout, legend.colormap(), tags)
    land_entries = landuse_entries(legend, value_counts(landuse))
    write_sidecars(landuse_path, land_entries, NODATA_CODE)

    change = layout.rasterize(changes, "change_code", "uint16", fill=CHANGE_NODATA)
    change_counts = value_counts(change)
    transitions = sorted(v for v in change_counts if is_transition(v))
    entries = change_entries(legend, transitions, change_counts)
    change_path = str(Path(out_dir, "change.tif"))
    write_cog(
        change_path, change, layout, None, {**tags, "LANDSHIFT_CHANGE_CODING": CHANGE_CODING}, nodata=CHANGE_NODATA
    )
    write_sidecars(change_path, entries, CHANGE_NODATA)
    confidence = write_confidence(str(Path(out_dir, "confidence.tif")), predictions, layout, tags)
    water = write_water_share(str(Path(out_dir, "water_share.tif")), predictions, layout, tags)

    present = sorted(int(c) for c in np.unique(landuse) if c)
    title = f"{summary['region']} {summary['vintage']}"
    write_quicklook(
        str(Path(out_dir, "landuse.png")),
        landuse,
        legend.colormap(),
        {c: legend.by_code(c).name for c in present},
        f"Land use {title}",
    )
    change_palette = {e.value: e.rgba for e in entries}
    write_quicklook(
        str(Path(out_dir, "change.png")),
        change,
        change_palette,
        {e.value: e.name for e in entries if e.value != CHANGE_NODATA and e.count},
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
        "change_raster": {
            "coding": CHANGE_CODING,
            "values": {str(e.value): e.name for e in entries},
            "colors": {str(e.value): rgba_to_hex(e.rgba) for e in entries},
            "pixels": change_pixel_counts(change_counts),
        },
        "confidence_raster": {
            "coding": "winning class probability in percent (0-100), 255 = no tile",
            "tiles": int((confidence != CONFIDENCE_NODATA).sum()),
            "mean_percent": round(float(confidence[confidence != CONFIDENCE_NODATA].mean()), 3)
            if (confidence != CONFIDENCE_NODATA).any()
            else None,
        },
        "water_share_raster": {
            "coding": WATER_SHARE_CODING,
            "tiles": int((water != WATER_SHARE_NODATA).sum()),
            "mean_percent": round(float(water[water != WATER_SHARE_NODATA].mean()), 3)
            if (water != WATER_SHARE_NODATA).any()
            else None,
        },
    }
    Path(out_dir, "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    write_report(str(Path(out_dir, "report.html")), out_dir, summary, legend, changes, entries, grid, chips)
    item = stac_item(summary, layout, land_entries, entries, stac or StacContext())
    item["assets"] = {**item["assets"], **water_share_assets(layout)}
    Path(out_dir, "item.json").write_text(json.dumps(item, indent=2, sort_keys=True) + "\n")
    return summary


def publish_product(lake: Lake, dest_uri: str, chips: ChipSources | None = None, **product) -> dict:
    """Build the product privately, move it to ``dest_uri`` in one step, then refresh the catalog.

    The STAC item travels inside the product; the region's collection and the lake's catalog are
    rebuilt from the published items and replaced file by file (each write atomic).
    """
    context = StacContext.for_product(lake, dest_uri)
    with tempfile.TemporaryDirectory(prefix="landshift-product-") as tmp:
        summary = build_product(tmp, stac=context, chips=chips, **product)
        missing = [name for name in PRODUCT_FILES if not Path(tmp, name).is_file()]
        if missing:
            raise RuntimeError(f"product incomplete, not published: missing {missing}")
        publish_dir(lake, tmp, dest_uri)
    update_catalog(lake, dest_uri)
    return summary
