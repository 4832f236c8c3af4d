"""Inputs and fresh-process probes for ``bench/run_bench.py``: the generated 0.6 m quarter-quad,
VRT copies of the real scenes, reads from the lake (Azurite) per GDAL setting, the plan stage as
scenes grow, and a one-scene region's cold start. Everything is generated in the bench's
temporary folder from the real scenes in ``../shared/data``; nothing is kept.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
QQ_RESOLUTION_M = 0.6
STRIP_ROWS = 512
log = logging.getLogger("bench.0p6m")


def python_json(code: str, *args: str, env: dict[str, str] | None = None, timeout: int = 900) -> object:
    """Run ``code`` in a fresh Python (bench/ importable, ``args`` as argv[1:]); its last stdout
    line, parsed as JSON."""
    result = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(BENCH_DIR)!r})\n{code}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable, **(env or {})},
    )
    if result.returncode:
        raise RuntimeError(f"bench subprocess failed: {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def scene_vrt(scene: Path | str, path: Path, side_px: int = 0, offset_m: tuple[float, float] = (0.0, 0.0)) -> str:
    """A VRT of the real scene: repeated to ``side_px`` square (a large mosaic), or one copy moved
    ``offset_m`` east/south (scenes side by side, as a state's quarter-quads lie)."""
    import rasterio

    with rasterio.open(scene) as src:
        width, height, transform, crs, block = src.width, src.height, src.transform, src.crs, src.block_shapes[0]
    size_x, size_y = (side_px, side_px) if side_px else (width, height)
    places = [(x, y) for y in range(0, size_y, height) for x in range(0, size_x, width)]
    bands = "".join(
        f'<VRTRasterBand dataType="Byte" band="{band}"><NoDataValue>0</NoDataValue>'
        + "".join(
            f'<SimpleSource><SourceFilename relativeToVRT="0">{scene}</SourceFilename><SourceBand>{band}</SourceBand>'
            f'<SourceProperties RasterXSize="{width}" RasterYSize="{height}" DataType="Byte" '
            f'BlockXSize="{block[1]}" BlockYSize="{block[0]}"/><SrcRect xOff="0" yOff="0" '
            f'xSize="{min(width, size_x - x)}" ySize="{min(height, size_y - y)}"/><DstRect xOff="{x}" yOff="{y}" '
            f'xSize="{min(width, size_x - x)}" ySize="{min(height, size_y - y)}"/></SimpleSource>'
            for x, y in places
        )
        + "</VRTRasterBand>"
        for band in range(1, 5)
    )
    geo = (transform.c + offset_m[0], transform.a, 0.0, transform.f - offset_m[1], 0.0, transform.e)
    path.write_text(
        f'<VRTDataset rasterXSize="{size_x}" rasterYSize="{size_y}"><SRS>{crs.to_wkt()}</SRS>'
        f"<GeoTransform>{', '.join(str(v) for v in geo)}</GeoTransform>{bands}</VRTDataset>"
    )
    return str(path)


def scene_copies(scenes: list[Path], out_dir: Path, count: int) -> list[str]:
    """``count`` VRT copies of the real scenes (cycling through the dates), 16 to a row."""
    out_dir.mkdir(parents=True, exist_ok=True)
    step_x, step_y = 224 * 22, 224 * 17  # larger than a scene, whole tiles
    return [
        scene_vrt(
            scenes[i % len(scenes)], out_dir / f"scene_{i:04d}.vrt", offset_m=((i % 16) * step_x, (i // 16) * step_y)
        )
        for i in range(count)
    ]


def _texture(sample: Path) -> np.ndarray:
    """High-frequency texture of a real 0.6 m scene: pixels minus their 5 x 5 mean, mirrored
    into a seamless (band, 2h, 2w) cell, int16."""
    import rasterio

    with rasterio.open(sample) as src:
        pixels = src.read(list(range(1, 5))).astype(np.float32)
    sums = np.pad(
        np.pad(pixels, ((0, 0), (2, 2), (2, 2)), mode="reflect").cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0))
    )
    mean = (sums[:, 5:, 5:] - sums[:, :-5, 5:] - sums[:, 5:, :-5] + sums[:, :-5, :-5]) / 25.0
    detail = np.round(pixels - mean).astype(np.int16)
    top = np.concatenate([detail, detail[:, :, ::-1]], axis=2)
    return np.concatenate([top, top[:, ::-1, :]], axis=1)


def build_quarter_quad(scene_5m: Path, texture_sample: Path, out_dir: Path, width: int, height: int) -> dict:
    """A 0.6 m quarter-quad: the real 5 m scene (mirrored to cover it) resampled to 0.6 m plus the
    texture of the real 0.6 m sample, written as delivered (tiled, uncompressed, no overviews) and
    ingested (``landshift.imagery.ingest.write_cog``); paths, sizes and seconds."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.transform import Affine
    from rasterio.windows import Window

    from landshift.imagery.ingest import write_cog

    started = time.perf_counter()
    with rasterio.open(scene_5m) as src:
        base = src.read()[:, 2:-2, 2:-2]  # the 5 m grids of different dates leave a nodata rim
        west, north, crs = src.transform.c + 2 * src.transform.a, src.transform.f + 2 * src.transform.e, src.crs
    scale = 5.0 / QQ_RESOLUTION_M
    need_h, need_w = int(np.ceil(height / scale)) + 2, int(np.ceil(width / scale)) + 2
    mirrored = np.concatenate([base, base[:, :, ::-1]], axis=2)
    mirrored = np.concatenate([mirrored, mirrored[:, ::-1, :]], axis=1)
    reps = (1, -(-need_h // mirrored.shape[1]), -(-need_w // mirrored.shape[2]))
    base = np.tile(mirrored, reps)[:, :need_h, :need_w]
    texture = _texture(texture_sample)
    plain = out_dir / "qq_plain.tif"
    common = {"count": 4, "dtype": "uint8", "crs": crs}
    profile = dict(common, driver="GTiff", width=width, height=height, tiled=True, blockxsize=512, blockysize=512)
    profile |= dict(interleave="pixel", photometric="RGB", alpha="unspecified")
    profile["transform"] = Affine(QQ_RESOLUTION_M, 0, west, 0, -QQ_RESOLUTION_M, north)
    coarse_profile = {**common, "driver": "MEM", "width": base.shape[2], "height": base.shape[1]}
    coarse_profile["transform"] = Affine(5.0, 0, west, 0, -5.0, north)
    with rasterio.open("", "w+", **coarse_profile) as coarse, rasterio.open(plain, "w", **profile) as out:
        coarse.write(base)
        for row0 in range(0, height, STRIP_ROWS):
            rows = min(STRIP_ROWS, height - row0)
            window = Window(0, row0 / scale, width / scale, rows / scale)
            smooth = coarse.read(window=window, out_shape=(4, rows, width), resampling=Resampling.bilinear)
            (ty, tx), offset = texture.shape[1:], row0 % texture.shape[1]
            detail = np.tile(texture, (1, -(-(rows + offset) // ty), -(-width // tx)))[
                :, offset : offset + rows, :width
            ]
            out.write(
                np.clip(smooth.astype(np.int16) + detail, 1, 255).astype(np.uint8), window=Window(0, row0, width, rows)
            )
    plain_seconds = time.perf_counter() - started
    cog = out_dir / "qq_cog.tif"
    cog_seconds = write_cog(str(plain), str(cog))
    sizes = {"plain_mb": round(plain.stat().st_size / 2**20, 1), "cog_mb": round(cog.stat().st_size / 2**20, 1)}
    seconds = {"generate_seconds": round(plain_seconds, 2), "ingest_seconds": round(cog_seconds, 2)}
    return {"plain": str(plain), "cog": str(cog), "width": width, "height": height, **sizes, **seconds}


# Each variant is the LandShift defaults (landshift.lake.adls.GDAL_DEFAULTS) with one change, except
# the first, which is GDAL's own defaults.
LAKE_VARIANTS: dict[str, dict[str, str] | None] = {
    "gdal_defaults": None,
    "landshift_defaults": {},
    "chunk_size_1mb": {"CPL_VSIL_CURL_CHUNK_SIZE": "1048576"},
    "multirange_serial": {"GDAL_HTTP_MULTIRANGE": "SERIAL"},
    "multirange_single_get": {"GDAL_HTTP_MULTIRANGE": "SINGLE_GET"},
    "http2_multiplex": {"GDAL_HTTP_VERSION": "2", "GDAL_HTTP_MULTIPLEX": "YES"},
    "vsi_cache_off": {"VSI_CACHE": "FALSE"},
    "block_cache_16mb": {"GDAL_CACHEMAX": "16"},
}

_READ_SCRIPT = """
import json, os
os.environ.update(json.loads(sys.argv[1]))
from run_bench import read_rate
print(json.dumps(read_rate(sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), sys.argv[5])))
"""


def fresh_read_rate(path: str, cells: list, size_px: int, resampling: str, env: dict[str, str]) -> float:
    """Library tile reads/s of ``cells`` in a fresh process (cold GDAL caches) with ``env`` set, best of two."""
    args = (json.dumps(env), path, json.dumps([[c.col, c.row] for c in cells]), str(size_px), resampling)
    return max(float(python_json(_READ_SCRIPT, *args)) for _ in range(2))


def lake_reads(files: dict[str, str], cells: list, size_px: int, resampling: str) -> dict:
    """Reads of each file from Azurite (``/vsiaz/``) under each GDAL variant, and locally."""
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from azure.storage.blob import BlobServiceClient
    from support.adls_double.dfs_server import ACCOUNT, DEV_ACCOUNT_KEY
    from support.adls_double.fixtures import azurite, have_node

    from landshift.lake.adls import AdlsSettings, gdal_options

    if not have_node():
        return {"skipped": "Node.js not found: Azurite cannot run"}
    out: dict = {"tiles": len(cells), "settings_tiles_per_second": {}, "local_tiles_per_second": {}}
    with azurite() as server:
        blobs = BlobServiceClient(server.endpoint, credential={"account_name": ACCOUNT, "account_key": DEV_ACCOUNT_KEY})
        blobs.create_container("lake")
        started = time.perf_counter()
        for name, path in files.items():
            with open(path, "rb") as data:
                blobs.get_blob_client("lake", f"bench/{name}.tif").upload_blob(data, max_concurrency=4)
        out["upload_seconds"] = round(time.perf_counter() - started, 2)
        settings = AdlsSettings(account_name=ACCOUNT, account_key=DEV_ACCOUNT_KEY, blob_endpoint=server.endpoint)
        landshift = gdal_options(f"abfss://lake@{ACCOUNT}.dfs.core.windows.net/", settings)
        credentials = {"AZURE_STORAGE_CONNECTION_STRING": landshift["AZURE_STORAGE_CONNECTION_STRING"]}
        for name, path in files.items():
            out["local_tiles_per_second"][name] = round(fresh_read_rate(path, cells, size_px, resampling, {}), 1)
            figures = {}
            for variant, change in LAKE_VARIANTS.items():
                if name != "cog" and variant not in ("gdal_defaults", "landshift_defaults"):
                    continue  # the settings are compared on the recommended form only
                env = dict(credentials) if change is None else {**landshift, **change}
                env.setdefault("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
                uri = f"/vsiaz/lake/bench/{name}.tif"
                figures[variant] = round(fresh_read_rate(uri, cells, size_px, resampling, env), 1)
            out["settings_tiles_per_second"][name] = figures
            log.info("lake reads %s: %s (local %s)", name, figures, out["local_tiles_per_second"][name])
    out["ratios"] = {
        form: round(out["settings_tiles_per_second"][form]["landshift_defaults"] / local, 3)
        for form, local in out["local_tiles_per_second"].items()
    }
    return out


_PLAN_SCRIPT = """
import json, time
from landshift.core.grid import TileGrid
from landshift.lake.base import LocalLake, write_table
from landshift.imagery.planning import inspect_scenes, plan_tiles
args = json.loads(sys.argv[1])
def high_water_mb():  # VmHWM: this process's own peak (ru_maxrss would carry the parent's across exec)
    return next(int(line.split()[1]) / 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:"))
grid, lake = TileGrid("EPSG:26914", 224), LocalLake(args["lake"])
before, started = high_water_mb(), time.perf_counter()
infos = inspect_scenes(lake, args["scenes"], grid, workers=args["workers"])
plan = plan_tiles(lake, args["scenes"], grid, None, 256, scenes=infos)
write_table(lake, args["out"], plan.tiles)
seconds = time.perf_counter() - started
figures = {"seconds": seconds, "tiles": len(plan.tiles), "peak_rss_mb": high_water_mb()}
print(json.dumps({**figures, "rss_before_mb": before}))
"""


def plan_in_subprocess(lake_root: str, scenes: list[str], out_uri: str, workers: int) -> dict:
    """The plan stage for ``scenes`` in a fresh process: seconds, tiles, peak RSS (MB)."""
    return python_json(
        _PLAN_SCRIPT, json.dumps({"lake": lake_root, "scenes": scenes, "out": out_uri, "workers": workers})
    )


_COLD_SCRIPT = """
import json, time
args = json.loads(sys.argv[1])
started = time.perf_counter()
times = {}
if args["spark"]:
    from run_bench import spark_session
    spark, _ = spark_session("local[2]")
    times["spark_start"] = time.perf_counter() - started
from landshift.core.grid import TileGrid
from landshift.imagery.planning import inspect_scenes, plan_tiles
from landshift.lake.base import LocalLake, write_table
from landshift.scoring.batch import ScoringConfig, run_scoring, run_scoring_in_process
lake, grid = LocalLake(args["lake"]), TileGrid("EPSG:26914", 224)
config = ScoringConfig(args["lake"], args["model"], args["version"], "EPSG:26914", 224.0)
mark = time.perf_counter()
infos = inspect_scenes(lake, args["scenes"], grid)
write_table(lake, args["tiles"], plan_tiles(lake, args["scenes"], grid, None, 256, scenes=infos).tiles)
times["plan"], mark = time.perf_counter() - mark, time.perf_counter()
if args["spark"]:
    run_scoring(spark, config, args["tiles"], args["out"])
    spark.stop()
else:
    run_scoring_in_process(config, args["tiles"], args["out"])
times["score"], times["total"] = time.perf_counter() - mark, time.perf_counter() - started
print(json.dumps(times))
"""


def cold_start(lake_root: str, scenes: list[str], model: str, version: str, spark: bool) -> dict:
    """Seconds of a one-scene region's plan + scoring from a fresh process, with Spark or in process."""
    where = "spark" if spark else "in_process"
    args = {"lake": lake_root, "scenes": scenes, "model": model, "version": version, "spark": spark}
    args |= {"tiles": f"{lake_root}/bench/cold/tiles.parquet", "out": f"{lake_root}/bench/cold/{where}"}
    return {k: round(v, 2) for k, v in python_json(_COLD_SCRIPT, json.dumps(args)).items()}
