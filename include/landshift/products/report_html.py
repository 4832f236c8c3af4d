"""``report.html``: one self-contained page per product that shows what each reported change rests on.

The land-use and change maps, the transition table with areas, and for every reported change
(most confident first) image chips of the tile **before** (imagery of the prior labels' year, or
another earlier vintage) and **after** (this vintage), in the NIR-R-G composite the model sees
and in true colour. Images are inline base64 (maps PNG, chips JPEG), so the page opens from the lake, a file
system or a mail attachment. Nothing in it depends on the clock: the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from landshift.change.rules import STATUS_CHANGE
from landshift.core.grid import TileGrid
from landshift.core.legend import Legend, rgba_to_hex
from landshift.products.symbology import ClassEntry

log = logging.getLogger(__name__)

CONTEXT_TILES = 0.5  # chips show this many tiles of context on each side of the tile
MAX_CHIP_PX = 96
JPEG_QUALITY = 90
COMPOSITES = {"NIR-R-G": (4, 1, 2), "True colour": (1, 2, 3)}


@dataclass(frozen=True)
class ChipSources:
    """GDAL-readable scene paths of the imagery before and after, with a caption each."""

    after_scenes: list[str]
    after_caption: str
    before_scenes: list[str] = field(default_factory=list)
    before_caption: str = "before"


@dataclass(frozen=True)
class _Box:
    bounds: tuple[float, float, float, float]


class _Scene:
    """A scene open on the grid with its per-band stretch (2nd-98th percentile of the scene)."""

    def __init__(self, src, stretch: list[tuple[float, float]], stats: list[float] | None = None):
        self.src = src
        self.stretch = stretch
        self.stats = stats

    def covers(self, box: _Box) -> bool:
        """Whether the centre of ``box`` lies in the scene."""
        left, bottom, right, top = self.src.bounds
        x, y = (box.bounds[0] + box.bounds[2]) / 2, (box.bounds[1] + box.bounds[3]) / 2
        return left <= x <= right and bottom <= y <= top


def stretch_bands(pixels: np.ndarray, bands: tuple[int, ...], stretch: list[tuple[float, float]]) -> np.ndarray:
    """An RGB uint8 chip of ``bands`` (1-based) of ``pixels``, each stretched between its (low, high)."""
    out = np.zeros((*pixels.shape[:2], 3), dtype=np.uint8)
    for channel, band in enumerate(bands):
        low, high = stretch[band - 1]
        scaled = (pixels[..., band - 1].astype(np.float64) - low) / max(high - low, 1.0)
        out[..., channel] = np.clip(np.rint(scaled * 255.0), 0, 255).astype(np.uint8)
    return out


def outline_tile(rgb: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Draw the tile's edges (yellow) on a chip."""
    out = rgb.copy()
    yellow = np.array([255, 230, 0], dtype=np.uint8)
    out[start, start:stop] = out[stop - 1, start:stop] = yellow
    out[start:stop, start] = out[start:stop, stop - 1] = yellow
    return out


def jpeg_data_uri(rgb: np.ndarray) -> str:
    """A ``data:`` URI of an RGB array as JPEG: a sixth of a PNG's size for imagery chips, and
    deterministic (Pillow writes no time stamps; libjpeg encodes the same pixels the same way)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def read_chips(scenes: list[_Scene], grid: TileGrid, col: int, row: int) -> dict[str, str] | None:
    """Chips (data URIs by composite) of tile (col, row) with context, from the first scene covering it."""
    from landshift.imagery.scenes import read_tile

    tile = grid.tile(col, row)
    margin = CONTEXT_TILES * grid.tile_size_m
    left, bottom, right, top = tile.bounds
    box = _Box((left - margin, bottom - margin, right + margin, top + margin))
    for scene in scenes:
        if not scene.covers(box):
            continue
        size = min(MAX_CHIP_PX, max(16, round((right - left + 2 * margin) / abs(scene.src.res[0]))))
        pixels, valid = read_tile(scene.src, box, size, resampling="nearest")
        if valid == 0:
            continue
        start = round(size * margin / (right - left + 2 * margin))
        return {
            name: jpeg_data_uri(outline_tile(stretch_bands(pixels, bands, scene.stretch), start, size - start))
            for name, bands in COMPOSITES.items()
        }
    return None


def read_water_share(scenes: list[_Scene], grid: TileGrid, col: int, row: int) -> float | None:
    """Open-water share of tile (col, row) on the first scene covering it, at the scene's own
    resolution: NDWI against the scene's threshold (``landshift.imagery.water``)."""
    from landshift.imagery.scenes import read_tile
    from landshift.imagery.water import tile_water_share

    tile = grid.tile(col, row)
    box = _Box(tile.bounds)
    for scene in scenes:
        if scene.stats is None or not scene.covers(box):
            continue
        size = max(8, round(grid.tile_size_m / abs(scene.src.res[0])))
        pixels, valid = read_tile(scene.src, box, size, resampling="nearest")
        if valid == 0:
            continue
        return float(tile_water_share(pixels[None], np.asarray([scene.stats], dtype=np.float32))[0])
    return None


def _percent(share: float | None) -> str:
    """A water share as a table cell."""
    return "n/a" if share is None else f"{share * 100:.0f} %"


def _open_scenes(stack: ExitStack, paths: list[str], grid: TileGrid) -> list[_Scene]:
    """Open each readable scene on the grid (closed with ``stack``); unreadable ones are skipped."""
    from landshift.imagery.scenes import open_on_grid, scene_stats

    scenes = []
    for path in sorted(paths):
        try:
            stats = scene_stats(path, grid)
            src = stack.enter_context(open_on_grid(path, grid))
        except Exception as exc:  # a scene that cannot be read leaves its chips out, not the product
            log.warning("report: cannot read %s for chips: %s", path, exc)
            continue
        scenes.append(_Scene(src, [(stats[2 * b], stats[2 * b + 1]) for b in range(4)], list(stats)))
    return scenes


_STYLE = """
body{font-family:DejaVu Sans,Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px;border-bottom:1px solid #ccc}
.meta{color:#555;font-size:13px}.maps{display:flex;gap:16px;flex-wrap:wrap}.maps img{max-width:560px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2}td.l,th.l{text-align:left}.sw{display:inline-block;width:12px;height:12px;
border:1px solid #888;vertical-align:middle;margin-right:4px}
.chips img{width:128px;height:128px;image-rendering:pixelated;display:block}
.chips td{text-align:center;vertical-align:top}.na{width:128px;height:128px;background:#eee;
display:flex;align-items:center;justify-content:center;color:#888;font-size:12px}
"""


def _swatch(rgba: tuple[int, ...]) -> str:
    return f'<span class="sw" style="background:{rgba_to_hex(rgba)}"></span>'


def _image(uri: str | None, alt: str) -> str:
    if uri is None:
        return '<div class="na">no imagery</div>'
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def render_report(
    summary: dict,
    legend: Legend,
    changes: pd.DataFrame,
    entries: list[ClassEntry],
    maps: dict[str, str],
    chips: dict[str, dict[str, dict[str, str] | None]],
    captions: tuple[str, str],
    water: dict[str, dict[str, float | None]] | None = None,
) -> str:
    """The report page as a string (``chips``: tile_id -> 'before'/'after' -> composite -> data URI;
    ``water``: tile_id -> 'before'/'after' -> open-water share 0..1)."""
    water = water or {}
    region, vintage = summary["region"], summary["vintage"]
    change = summary["change"]
    pixels = summary["change_raster"]["pixels"]
    tile_km2 = (summary["raster"]["tile_size_m"] / 1000.0) ** 2
    by_code = {e.value: e for e in entries}
    reported = changes[changes["status"] == STATUS_CHANGE].sort_values(
        ["probability", "prior_agreement", "tile_id"], ascending=[False, False, True], kind="mergesort"
    )
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>LandShift change report {esc(region)} {esc(vintage)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>LandShift change report: {esc(region)} {esc(vintage)}</h1>",
        f'<p class="meta">Model {esc(str(summary["model"].get("name", "")))} version '
        f"{esc(str(summary['model']['version']))}; compared with {esc(str(summary['prior']['source']))}; "
        f"rule: probability &ge; {change['rule']['min_probability']}, prior agreement &ge; "
        f"{change['rule']['min_prior_agreement']}; tile {summary['raster']['tile_size_m']:g} m.</p>",
        f'<p class="meta">Tiles: {pixels["reported"]} reported change, {pixels["uncertain"]} uncertain, '
        f"{pixels['stable']} stable, {pixels['no_prior']} without prior label; "
        f"{change['changed_area_km2']:.3f} km² changed.</p>",
        '<h2>Maps</h2><div class="maps">',
        *[f'<img src="{uri}" alt="{esc(name)}">' for name, uri in maps.items()],
        "</div>",
        "<h2>Reported transitions</h2>",
        '<table><tr><th class="l">code</th><th class="l">from</th><th class="l">to</th>'
        "<th>tiles</th><th>area km²</th></tr>",
    ]
    counts = reported.groupby("change_code").size()
    for code, tiles in sorted(counts.items()):
        source, target = divmod(int(code), 100)
        parts.append(
            f'<tr><td class="l">{_swatch(by_code[int(code)].rgba)}{int(code)}</td>'
            f'<td class="l">{esc(legend.by_code(source).name)}</td>'
            f'<td class="l">{esc(legend.by_code(target).name)}</td>'
            f"<td>{int(tiles)}</td><td>{int(tiles) * tile_km2:.3f}</td></tr>"
        )
    parts.append("</table>")
    parts.append(
        f"<h2>Reported changes, most confident first ({len(reported)})</h2>"
        f'<p class="meta">Before: {esc(captions[0])}. After: {esc(captions[1])}. Chips show the tile '
        f"(yellow outline) with {CONTEXT_TILES:g} tile of context on each side; each band is stretched "
        "between its scene's 2nd and 98th percentiles. Water: the share of the tile that is open water "
        "(NDWI above the scene's own threshold) on the imagery before and after.</p>"
    )
    parts.append(
        '<table class="chips"><tr><th class="l">tile</th><th class="l">change</th><th>probability</th>'
        "<th>prior agreement</th><th>water before</th><th>water after</th><th>before NIR-R-G</th><th>after NIR-R-G</th>"
        "<th>before true colour</th><th>after true colour</th></tr>"
    )
    for row in reported.itertuples(index=False):
        tile_chips = chips.get(row.tile_id, {})
        before, after = tile_chips.get("before") or {}, tile_chips.get("after") or {}
        entry = by_code[int(row.change_code)]
        parts.append(
            f'<tr id="{esc(row.tile_id)}"><td class="l">{esc(row.tile_id)}</td>'
            f'<td class="l">{_swatch(entry.rgba)}{esc(entry.name)}</td>'
            f"<td>{row.probability:.3f}</td><td>{row.prior_agreement:.3f}</td>"
            f"<td>{_percent(water.get(row.tile_id, {}).get('before'))}</td>"
            f"<td>{_percent(water.get(row.tile_id, {}).get('after'))}</td>"
            + "".join(
                f"<td>{_image(side.get(name), f'{label} {name} {row.tile_id}')}</td>"
                for name in COMPOSITES
                for side, label in ((before, "before"), (after, "after"))
            )
            + "</tr>"
        )
    parts += ["</table>", "</body></html>"]
    return "\n".join(parts) + "\n"


def write_report(
    path: str,
    product_dir: str,
    summary: dict,
    legend: Legend,
    changes: pd.DataFrame,
    entries: list[ClassEntry],
    grid: TileGrid,
    sources: ChipSources | None,
) -> None:
    """Read the chips of every reported change and write ``report.html``."""
    maps = {
        name: "data:image/png;base64," + base64.b64encode(Path(product_dir, name).read_bytes()).decode()
        for name in ("landuse.png", "change.png")
    }
    reported = changes[changes["status"] == STATUS_CHANGE]
    chips: dict[str, dict[str, dict[str, str] | None]] = {}
    water: dict[str, dict[str, float | None]] = {}
    captions = ("no imagery given", "no imagery given")
    if sources is not None and len(reported):
        captions = (sources.before_caption, sources.after_caption)
        for side, paths in (("before", sources.before_scenes), ("after", sources.after_scenes)):
            with ExitStack() as stack:
                scenes = _open_scenes(stack, paths, grid)
                for row in reported.itertuples(index=False):
                    chips.setdefault(row.tile_id, {})[side] = read_chips(scenes, grid, int(row.col), int(row.row))
                    water.setdefault(row.tile_id, {})[side] = read_water_share(scenes, grid, int(row.col), int(row.row))
    Path(path).write_text(render_report(summary, legend, changes, entries, maps, chips, captions, water))
