"""Class names and colours where a GIS looks for them: GDAL PAM sidecars and QGIS style files.

* ``<raster>.aux.xml`` (GDAL PAM): category names (for small integer codes) and a thematic raster
  attribute table (Value, Count, Name, Red, Green, Blue, Alpha). GDAL, QGIS and ArcGIS read it.
* ``<stem>.qml``: a QGIS layer style; QGIS loads ``<name>.qml`` next to ``<name>.tif`` by default.

Both are written as plain text from sorted inputs, so the same classes give the same bytes.
:func:`gdal_band_classes` reads them back through GDAL itself (the libgdal that rasterio ships).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from landshift.core.legend import rgba_to_hex

MAX_CATEGORY_CODE = 255  # category names are a list indexed by value: only for small codes

# GDAL's GDALRATFieldType and GDALRATFieldUsage enums.
_GFT_INTEGER, _GFT_STRING = 0, 2
_GFU_GENERIC, _GFU_PIXEL_COUNT, _GFU_NAME, _GFU_MIN_MAX = 0, 1, 2, 5
_GFU_RED, _GFU_GREEN, _GFU_BLUE, _GFU_ALPHA = 6, 7, 8, 9
_RAT_FIELDS = (
    ("Value", _GFT_INTEGER, _GFU_MIN_MAX),
    ("Count", _GFT_INTEGER, _GFU_PIXEL_COUNT),
    ("Name", _GFT_STRING, _GFU_NAME),
    ("Red", _GFT_INTEGER, _GFU_RED),
    ("Green", _GFT_INTEGER, _GFU_GREEN),
    ("Blue", _GFT_INTEGER, _GFU_BLUE),
    ("Alpha", _GFT_INTEGER, _GFU_ALPHA),
)


@dataclass(frozen=True)
class ClassEntry:
    """One value of a class raster: its name, colour and pixel count."""

    value: int
    name: str
    rgba: tuple[int, int, int, int]
    count: int = 0


def pam_xml(entries: list[ClassEntry]) -> str:
    """A GDAL PAM ``.aux.xml`` document for band 1: category names (codes <= 255) and a RAT."""
    entries = sorted(entries, key=lambda e: e.value)
    lines = ["<PAMDataset>", '  <PAMRasterBand band="1">']
    if entries and entries[-1].value <= MAX_CATEGORY_CODE:
        names = {e.value: e.name for e in entries}
        lines.append("    <CategoryNames>")
        lines += [f"      <Category>{escape(names.get(v, ''))}</Category>" for v in range(entries[-1].value + 1)]
        lines.append("    </CategoryNames>")
    lines.append('    <GDALRasterAttributeTable tableType="thematic">')
    for index, (name, kind, usage) in enumerate(_RAT_FIELDS):
        lines += [
            f'      <FieldDefn index="{index}">',
            f"        <Name>{name}</Name>",
            f"        <Type>{kind}</Type>",
            f"        <Usage>{usage}</Usage>",
            "      </FieldDefn>",
        ]
    for row, entry in enumerate(entries):
        fields = (entry.value, entry.count, escape(entry.name), *entry.rgba)
        lines.append(f'      <Row index="{row}">' + "".join(f"<F>{f}</F>" for f in fields) + "</Row>")
    lines += ["    </GDALRasterAttributeTable>", "  </PAMRasterBand>", "</PAMDataset>"]
    return "\n".join(lines) + "\n"


_QML_HEAD = """<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.34.0" styleCategories="Symbology">
  <pipe>
"""
_QML_TAIL = """    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" invertColors="0"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


def paletted_qml(entries: list[ClassEntry], nodata: int) -> str:
    """A QGIS style with a paletted (unique values) renderer: one named colour per class value."""
    palette = [
        f"        <paletteEntry value={quoteattr(str(e.value))} color={quoteattr(rgba_to_hex(e.rgba))} "
        f"alpha={quoteattr(str(e.rgba[3]))} label={quoteattr(e.name)}/>"
        for e in sorted(entries, key=lambda e: e.value)
        if e.value != nodata
    ]
    return (
        _QML_HEAD
        + '    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">\n'
        + "      <rasterTransparency/>\n"
        + "      <colorPalette>\n"
        + "\n".join(palette)
        + "\n      </colorPalette>\n"
        + "    </rasterrenderer>\n"
        + _QML_TAIL
    )


def ramp_qml(stops: list[tuple[int, str, str]], minimum: int, maximum: int) -> str:
    """A QGIS style with an interpolated colour ramp through ``(value, '#rrggbb', label)`` stops."""
    items = [
        f'          <item value={quoteattr(str(v))} color={quoteattr(c)} alpha="255" label={quoteattr(label)}/>'
        for v, c, label in stops
    ]
    return (
        _QML_HEAD + f'    <rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" '
        f'classificationMin="{minimum}" classificationMax="{maximum}" nodataColor="">\n'
        + "      <rasterTransparency/>\n"
        + "      <rastershader>\n"
        + f'        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" '
        f'minimumValue="{minimum}" maximumValue="{maximum}" labelPrecision="0">\n'
        + "\n".join(items)
        + "\n        </colorrampshader>\n"
        + "      </rastershader>\n"
        + "    </rasterrenderer>\n"
        + _QML_TAIL
    )


def write_sidecars(raster_path: str, entries: list[ClassEntry], nodata: int) -> list[str]:
    """Write ``<raster>.aux.xml`` and ``<stem>.qml`` next to a class raster; their paths."""
    raster = Path(raster_path)
    pam = raster.with_name(raster.name + ".aux.xml")
    qml = raster.with_suffix(".qml")
    pam.write_text(pam_xml(entries))
    qml.write_text(paletted_qml(entries, nodata))
    return [str(pam), str(qml)]


# --- reading back through GDAL ----------------------------------------------------------------


def _libgdal() -> ctypes.CDLL:
    """The libgdal that rasterio loaded (its wheel's own), through ctypes."""
    import rasterio

    libs = Path(rasterio.__file__).resolve().parent.parent / "rasterio.libs"
    candidates = sorted(libs.glob("libgdal*.so*")) if libs.is_dir() else []
    lib = ctypes.CDLL(str(candidates[0]) if candidates else "libgdal.so")
    lib.GDALOpen.restype = ctypes.c_void_p
    lib.GDALOpen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    lib.GDALGetRasterBand.restype = ctypes.c_void_p
    lib.GDALGetRasterBand.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.GDALGetRasterCategoryNames.restype = ctypes.POINTER(ctypes.c_char_p)
    lib.GDALGetRasterCategoryNames.argtypes = [ctypes.c_void_p]
    lib.GDALGetDefaultRAT.restype = ctypes.c_void_p
    lib.GDALGetDefaultRAT.argtypes = [ctypes.c_void_p]
    for name in ("GDALRATGetRowCount", "GDALRATGetColumnCount"):
        getattr(lib, name).restype = ctypes.c_int
        getattr(lib, name).argtypes = [ctypes.c_void_p]
    lib.GDALRATGetNameOfCol.restype = ctypes.c_char_p
    lib.GDALRATGetNameOfCol.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.GDALRATGetUsageOfCol.restype = ctypes.c_int
    lib.GDALRATGetUsageOfCol.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.GDALRATGetValueAsString.restype = ctypes.c_char_p
    lib.GDALRATGetValueAsString.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.GDALClose.argtypes = [ctypes.c_void_p]
    lib.CPLGetThreadLocalConfigOption.restype = ctypes.c_char_p
    lib.CPLGetThreadLocalConfigOption.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.CPLSetThreadLocalConfigOption.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.GDALAllRegister()
    return lib


@dataclass(frozen=True)
class BandClasses:
    """What GDAL reports for band 1: its category names and its raster attribute table."""

    category_names: list[str]
    rat_columns: list[tuple[str, int]]
    rat_rows: list[list[str]]

    def rat_names(self) -> dict[int, str]:
        """``{value: name}`` from the RAT's MinMax and Name columns."""
        usages = [usage for _, usage in self.rat_columns]
        if _GFU_MIN_MAX not in usages or _GFU_NAME not in usages:
            return {}
        value, name = usages.index(_GFU_MIN_MAX), usages.index(_GFU_NAME)
        return {int(row[value]): row[name] for row in self.rat_rows}


def gdal_band_classes(path: str) -> BandClasses:
    """Open ``path`` with GDAL (PAM enabled) and read band 1's category names and RAT."""
    lib = _libgdal()
    # The sidecar is a sibling file: GDAL must look for it even where the lake's remote settings
    # (GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR, see landshift.lake.adls) are in this process's environment.
    option = b"GDAL_DISABLE_READDIR_ON_OPEN"
    before = lib.CPLGetThreadLocalConfigOption(option, None)
    lib.CPLSetThreadLocalConfigOption(option, b"NO")
    try:
        dataset = lib.GDALOpen(str(path).encode(), 0)
    finally:
        lib.CPLSetThreadLocalConfigOption(option, before)
    if not dataset:
        raise OSError(f"GDAL cannot open {path}")
    try:
        band = lib.GDALGetRasterBand(dataset, 1)
        columns: list[tuple[str, int]] = []
        rows: list[list[str]] = []
        rat = lib.GDALGetDefaultRAT(band)
        if rat:
            n_cols = lib.GDALRATGetColumnCount(rat)
            columns = [
                (lib.GDALRATGetNameOfCol(rat, c).decode(), lib.GDALRATGetUsageOfCol(rat, c)) for c in range(n_cols)
            ]
            rows = [
                [lib.GDALRATGetValueAsString(rat, r, c).decode() for c in range(n_cols)]
                for r in range(lib.GDALRATGetRowCount(rat))
            ]
        # Asked after the RAT: the GeoTIFF driver loads the PAM sidecar lazily, and asking for
        # the category names first does not trigger that load (GDAL 3.10).
        names: list[str] = []
        pointer = lib.GDALGetRasterCategoryNames(band)
        index = 0
        while pointer and pointer[index] is not None:
            names.append(pointer[index].decode())
            index += 1
        return BandClasses(names, columns, rows)
    finally:
        lib.GDALClose(dataset)
