"""Benchmarks at real NAIP resolution (0.6 m), from the lake (Azurite), and as the work grows.

Called by ``bench/run_bench.py`` (``make bench``); every figure is a ratio or a time measured in
that one run. Inputs are generated here, in the bench's temporary folder, from the real scenes
in ``../shared/data``; nothing is kept.

- ``build_quarter_quad``: a 0.6 m quarter-quad (default 10,000 x 12,000 px x 4 bands): the real
  5 m 2020 scene (mirrored to cover 6 x 7.2 km) resampled to 0.6 m, plus the high-frequency
  texture of the real 0.6 m NAIP sample (its difference from its 5 x 5 mean, mirrored), written
  as delivered (tiled, uncompressed, no overviews) and ingested (``landshift.imagery.ingest``: COG,
  DEFLATE, overviews).
- ``read_pair``: LandShift's tile reads (``read_tiles``, as scoring calls it) over a plain
  rasterio read of each tile window at the model's input size, same file, same order.
- ``lake_reads``: the same reads through ``/vsiaz/`` against Azurite under GDAL settings chosen
  one at a time, each in a fresh process (no cache carried over), over the local file.
- ``plan_in_subprocess``: the plan stage (deep inspection + tiling) for N scenes, time and
  peak RSS in a fresh process; scenes are VRT copies of the real scenes laid side by side.
- ``cold_start``: a one-scene region (plan + scoring) with a fresh Spark application, and
  scored in process instead.
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
import pandas as pd

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
QQ_RESOLUTION_M = 0.6
STRIP_ROWS = 512
log = logging.getLogger("bench.0p6m")


# -- the 0.6 m quarter-quad ---------------------------------------------------------------------
def _texture(sample: Path) -> np.ndarray:
    """High-frequency texture of a real 0.6 m scene: pixels minus their 5 x 5 mean, mirrored
    into a seamless (band, 2h, 2w) cell, int16."""
    import rasterio

    with rasterio.open(sample) as src:
        pixels = src.read(list(range(1, 5))).astype(np.float32)
    padded = np.pad(pixels, ((0, 0), (2, 2), (2, 2)), mode="reflect")
    sums = padded.cumsum(1).cumsum(2)
    sums = np.pad(sums, ((0, 0), (1, 0), (1, 0)))
    mean = (sums[:, 5:, 5:] - sums[:, :-5, 5:] - sums[:, 5:, :-5] + sums[:, :-5, :-5]) / 25.0
    detail = np.round(pixels - mean).astype(np.int16)
    top = np.concatenate([detail, detail[:, :, ::-1]], axis=2)
    return np.concatenate([top, top[:, ::-1, :]], axis=1)


def build_quarter_quad(scene_5m: Path, texture_sample: Path, out_dir: Path, width: int, height: int) -> dict:
    """Write the delivered (plain) and ingested (COG) forms; returns their paths, sizes and the
    seconds each took."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.transform import Affine
    from rasterio.windows import Window

    from landshift.imagery.ingest import write_cog

    started = time.perf_counter()
    with rasterio.open(scene_5m) as src:
        base = src.read()[:, 2:-2, 2:-2]  # the 5 m grids of different dates leave a nodata rim
        west, north = src.transform.c + 2 * src.transform.a, src.transform.f + 2 * src.transform.e
        crs = src.crs
    scale = 5.0 / QQ_RESOLUTION_M
    need_h, need_w = int(np.ceil(height / scale)) + 2, int(np.ceil(width / scale)) + 2
    reps = (1, -(-need_h // base.shape[1]), -(-need_w // base.shape[2]))
    mirrored = np.concatenate([base, base[:, :, ::-1]], axis=2)
    mirrored = np.concatenate([mirrored, mirrored[:, ::-1, :]], axis=1)
    base = np.tile(mirrored, (1, -(-reps[1] // 2), -(-reps[2] // 2)))[:, :need_h, :need_w]
    texture = _texture(texture_sample)
    plain = out_dir / "qq_plain.tif"
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 4,
        "dtype": "uint8",
        "crs": crs,
        "transform": Affine(QQ_RESOLUTION_M, 0, west, 0, -QQ_RESOLUTION_M, north),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "interleave": "pixel",
        "photometric": "RGB",
        "alpha": "unspecified",
    }
    mem_profile = {
        "driver": "MEM",
        "width": base.shape[2],
        "height": base.shape[1],
        "count": 4,
        "dtype": "uint8",
        "crs": crs,
        "transform": Affine(5.0, 0, west, 0, -5.0, north),
    }
    with rasterio.open("", "w+", **mem_profile) as coarse, rasterio.open(plain, "w", **profile) as out:
        coarse.write(base)
        for row0 in range(0, height, STRIP_ROWS):
            rows = min(STRIP_ROWS, height - row0)
            window = Window(0, row0 / scale, width / scale, rows / scale)
            smooth = coarse.read(window=window, out_shape=(4, rows, width), resampling=Resampling.bilinear)
            ty, tx = texture.shape[1:]
            offset = row0 % ty
            reps_y, reps_x = -(-(rows + offset) // ty), -(-width // tx)
            detail = np.tile(texture, (1, reps_y, reps_x))[:, offset : offset + rows, :width]
            pixels = np.clip(smooth.astype(np.int16) + detail, 1, 255).astype(np.uint8)
            out.write(pixels, window=Window(0, row0, width, rows))
    plain_seconds = time.perf_counter() - started
    cog = out_dir / "qq_cog.tif"
    cog_seconds = write_cog(str(plain), str(cog))
    return {
        "plain": str(plain),
        "cog": str(cog),
        "width": width,
        "height": height,
        "plain_mb": round(plain.stat().st_size / 2**20, 1),
        "cog_mb": round(cog.stat().st_size / 2**20, 1),
        "generate_seconds": round(plain_seconds, 2),
        "ingest_seconds": round(cog_seconds, 2),
    }


# -- reads --------------------------------------------------------------------------------------
def tile_cells(tiles: pd.DataFrame, grid) -> list:
    """Grid tiles of a tiles table, in its order."""
    return [grid.tile(int(c), int(r)) for c, r in zip(tiles["col"], tiles["row"], strict=True)]


def landshift_reads(path: str, cells: list, size_px: int, resampling: str, crs: str = "EPSG:26914") -> float:
    """tiles/s of opening the scene and ``read_tiles`` in scoring's 64-tile batches (one task)."""
    from landshift.core.grid import TileGrid
    from landshift.imagery.scenes import open_on_grid, read_tiles

    started = time.perf_counter()
    with open_on_grid(path, TileGrid(crs, cells[0].size_m)) as src:
        for start in range(0, len(cells), 64):
            read_tiles(src, cells[start : start + 64], size_px, resampling=resampling)
    return len(cells) / (time.perf_counter() - started)


def raw_reads(path: str, cells: list, size_px: int, resampling: str) -> float:
    """tiles/s of a plain rasterio read of each tile window at ``size_px`` square."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.windows import from_bounds

    started = time.perf_counter()
    with rasterio.open(path) as src:
        for cell in cells:
            window = from_bounds(*cell.bounds, transform=src.transform)
            src.read(window=window, out_shape=(src.count, size_px, size_px), resampling=Resampling[resampling])
    return len(cells) / (time.perf_counter() - started)


def read_pair(path: str, cells: list, size_px: int, resampling: str, repeats: int = 2) -> tuple[float, float]:
    """(LandShift reads/s, raw reads/s), best of ``repeats`` alternating passes (warm cache)."""
    ours, raw = 0.0, 0.0
    for _ in range(repeats):
        raw = max(raw, raw_reads(path, cells, size_px, resampling))
        ours = max(ours, landshift_reads(path, cells, size_px, resampling))
    return ours, raw


def deep_check_seconds(path: str, grid, sample_blocks: int | None) -> float:
    """Seconds of one deep inspection (open, checks, block decode, radiometry) of a scene."""
    from landshift.imagery.scenes import inspect_scene

    started = time.perf_counter()
    inspect_scene(path, grid, deep=True, sample_blocks=sample_blocks)
    return time.perf_counter() - started


# -- from the lake (Azurite) ---------------------------------------------------------------------
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
import json, os, sys, time
os.environ.update(json.loads(sys.argv[1]))
sys.path.insert(0, {bench!r})
from naip_0p6m import landshift_reads
from landshift.core.grid import Tile
cells = [Tile(c, r, s) for c, r, s in json.loads(sys.argv[3])]
print(json.dumps(landshift_reads(sys.argv[2], cells, int(sys.argv[4]), sys.argv[5])))
"""


def read_in_subprocess(path: str, cells: list, size_px: int, resampling: str, env: dict[str, str]) -> float:
    """tiles/s of ``landshift_reads`` in a fresh process (cold GDAL caches) with ``env`` set,
    best of two processes."""
    return max(_read_in_subprocess(path, cells, size_px, resampling, env) for _ in range(2))


def _read_in_subprocess(path: str, cells: list, size_px: int, resampling: str, env: dict[str, str]) -> float:
    script = _READ_SCRIPT.format(bench=str(BENCH_DIR))
    cell_args = json.dumps([[c.col, c.row, c.size_m] for c in cells])
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(env), path, cell_args, str(size_px), resampling],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode:
        raise RuntimeError(f"read subprocess failed: {result.stderr[-2000:]}")
    return float(result.stdout.strip().splitlines()[-1])


def lake_reads(files: dict[str, str], cells: list, size_px: int, resampling: str) -> dict:
    """Reads of each file from Azurite (``/vsiaz/``) under each GDAL variant, and locally."""
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from azure.storage.blob import BlobServiceClient

    from adls_double.dfs_server import ACCOUNT, DEV_ACCOUNT_KEY
    from adls_double.fixtures import azurite, have_node
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
            local = read_in_subprocess(path, cells, size_px, resampling, {})
            out["local_tiles_per_second"][name] = round(local, 1)
            figures = {}
            for variant, change in LAKE_VARIANTS.items():
                if name != "cog" and variant not in ("gdal_defaults", "landshift_defaults"):
                    continue  # the settings are compared on the recommended form only
                env = dict(credentials) if change is None else {**landshift, **change}
                env.setdefault("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
                figures[variant] = round(
                    read_in_subprocess(f"/vsiaz/lake/bench/{name}.tif", cells, size_px, resampling, env), 1
                )
                log.info("lake read %s %s: %.1f tiles/s (local %.1f)", name, variant, figures[variant], local)
            out["settings_tiles_per_second"][name] = figures
    return out


# -- the plan stage as scenes grow --------------------------------------------------------------
def scene_copies(scenes: list[Path], out_dir: Path, count: int) -> list[str]:
    """``count`` VRTs of the real scenes (cycling through the dates), laid side by side on a
    16-wide layout so each copy covers its own ground, as the quarter-quads of a state do."""
    import rasterio

    paths = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        scene = scenes[index % len(scenes)]
        with rasterio.open(scene) as src:
            width, height, transform, crs = src.width, src.height, src.transform, src.crs
            block = src.block_shapes[0]
        step_x, step_y = 224 * 22, 224 * 17  # larger than a scene, whole tiles
        west = transform.c + (index % 16) * step_x
        north = transform.f - (index // 16) * step_y
        bands = "".join(
            f'<VRTRasterBand dataType="Byte" band="{band}"><NoDataValue>0</NoDataValue>'
            f'<SimpleSource><SourceFilename relativeToVRT="0">{scene}</SourceFilename>'
            f"<SourceBand>{band}</SourceBand>"
            f'<SourceProperties RasterXSize="{width}" RasterYSize="{height}" DataType="Byte" '
            f'BlockXSize="{block[1]}" BlockYSize="{block[0]}"/>'
            f'<SrcRect xOff="0" yOff="0" xSize="{width}" ySize="{height}"/>'
            f'<DstRect xOff="0" yOff="0" xSize="{width}" ySize="{height}"/></SimpleSource></VRTRasterBand>'
            for band in range(1, 5)
        )
        geo = ", ".join(str(v) for v in (west, transform.a, 0.0, north, 0.0, transform.e))
        path = out_dir / f"scene_{index:04d}.vrt"
        path.write_text(
            f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>{crs.to_wkt()}</SRS>'
            f"<GeoTransform>{geo}</GeoTransform>{bands}</VRTDataset>"
        )
        paths.append(str(path))
    return paths


_PLAN_SCRIPT = """
import json, sys, time
args = json.loads(sys.argv[1])
from landshift.core.grid import TileGrid
from landshift.lake.base import LocalLake, write_table
from landshift.imagery.planning import inspect_scenes, plan_tiles
if args["legacy"]:
    import importlib.util
    spec = importlib.util.spec_from_file_location("legacy_planning", args["legacy"])
    legacy = importlib.util.module_from_spec(spec)
    sys.modules["legacy_planning"] = legacy
    spec.loader.exec_module(legacy)


def high_water_mb():
    # VmHWM: this process's own peak (ru_maxrss would carry the forking parent's across exec).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024


grid = TileGrid(args["crs"], 224)
lake = LocalLake(args["lake"])
before = high_water_mb()
started = time.perf_counter()
if args["legacy"]:
    plan = legacy.plan_tiles(lake, args["scenes"], grid, None, 256)
else:
    infos = inspect_scenes(lake, args["scenes"], grid, workers=args["workers"])
    plan = plan_tiles(lake, args["scenes"], grid, None, 256, scenes=infos)
write_table(lake, args["out"], plan.tiles)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "tiles": len(plan.tiles), "peak_rss_mb": high_water_mb(),
                  "rss_before_mb": before}))
"""


def plan_in_subprocess(lake_root: str, scenes: list[str], out_uri: str, workers: int, legacy: str = "") -> dict:
    """The plan stage for ``scenes`` in a fresh process: seconds, tiles, peak RSS (MB)."""
    args = {"crs": "EPSG:26914", "lake": lake_root, "scenes": scenes, "out": out_uri, "workers": workers}
    result = subprocess.run(
        [sys.executable, "-c", _PLAN_SCRIPT, json.dumps({**args, "legacy": legacy})],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode:
        raise RuntimeError(f"plan subprocess failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def legacy_planning_module(out_dir: Path, commit: str = "3411fbb") -> str:
    """The planning module as it was before this change (per-tile scene search, serial
    inspection), from git, to measure the curve it had; empty when git cannot give it."""
    result = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "show", f"{commit}:include/landshift/planning.py"],
        capture_output=True,
        text=True,
    )
    if result.returncode:
        return ""
    path = out_dir / "legacy_planning.py"
    path.write_text(result.stdout)
    return str(path)


# -- cold start --------------------------------------------------------------------------------
_COLD_SCRIPT = """
import json, sys, time
args = json.loads(sys.argv[1])
sys.path.insert(0, {bench!r})
from landshift.core.grid import TileGrid
from landshift.lake.base import LocalLake, write_table
from landshift.imagery.planning import inspect_scenes, plan_tiles
from landshift.scoring.batch import ScoringConfig, run_scoring, run_scoring_in_process
lake = LocalLake(args["lake"])
grid = TileGrid("EPSG:26914", 224)
config = ScoringConfig(args["lake"], args["model"], args["version"], "EPSG:26914", 224.0)
times = {{}}
started = time.perf_counter()
if args["spark"]:
    from run_bench import spark_session
    spark, _ = spark_session("local[2]")
    times["spark_start"] = time.perf_counter() - started
mark = time.perf_counter()
plan = plan_tiles(lake, args["scenes"], grid, None, 256, scenes=inspect_scenes(lake, args["scenes"], grid))
write_table(lake, args["tiles"], plan.tiles)
times["plan"] = time.perf_counter() - mark
mark = time.perf_counter()
if args["spark"]:
    run_scoring(spark, config, args["tiles"], args["out"])
    spark.stop()
else:
    run_scoring_in_process(config, args["tiles"], args["out"])
times["score"] = time.perf_counter() - mark
times["total"] = time.perf_counter() - started
print(json.dumps(times))
"""


def cold_start(lake_root: str, scenes: list[str], model: str, version: str, spark: bool) -> dict:
    """Seconds of a one-scene region's plan + scoring from a fresh process, with Spark or in process."""
    args = {
        "lake": lake_root,
        "scenes": scenes,
        "model": model,
        "version": version,
        "spark": spark,
        "tiles": f"{lake_root}/bench/cold/tiles.parquet",
        "out": f"{lake_root}/bench/cold/{'spark' if spark else 'in_process'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", _COLD_SCRIPT.format(bench=str(BENCH_DIR)), json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )
    if result.returncode:
        raise RuntimeError(f"cold-start subprocess failed: {result.stderr[-3000:]}")
    return {k: round(v, 2) for k, v in json.loads(result.stdout.strip().splitlines()[-1]).items()}


# -- README tables ----------------------------------------------------------------------------------
LAKE_SETTING_NOTES = {
    "gdal_defaults": "GDAL's own defaults (credentials only)",
    "landshift_defaults": "`adls.GDAL_DEFAULTS`: VSI cache on, 512 MB block cache, multi-range and merged ranges, "
    "no directory listing on open",
    "chunk_size_1mb": "+ `CPL_VSIL_CURL_CHUNK_SIZE=1MB` (default 16 KB)",
    "multirange_serial": "+ `GDAL_HTTP_MULTIRANGE=SERIAL` (ranges one after another)",
    "multirange_single_get": "+ `GDAL_HTTP_MULTIRANGE=SINGLE_GET` (one GET spanning the ranges)",
    "http2_multiplex": "+ `GDAL_HTTP_VERSION=2`, `GDAL_HTTP_MULTIPLEX=YES` (Azurite speaks HTTP/1.1: no effect here)",
    "vsi_cache_off": "+ `VSI_CACHE=FALSE`",
    "block_cache_16mb": "+ `GDAL_CACHEMAX=16` MB",
}


def readme_tables(results: dict) -> str:
    """The README's figures for this part, as Markdown, from a results.json."""
    qq = results["quarter_quad"]["tiles_per_second"]
    deep = results["deep_check_seconds"]
    scaling = results["plan_scaling"]["points"]
    cold = results["cold_start"]
    state = results.get("state_projection", {})
    rows = [
        "| figure | COG (recommended) | plain, as delivered | goal | what it compares |",
        "| --- | --- | --- | --- | --- |",
        f"| `read_vs_raw_0p6m` | **{results['read_vs_raw_0p6m']['cog']}** | {results['read_vs_raw_0p6m']['plain']} "
        f"| >= 0.8 | LandShift tile reads at the model's input size ({qq['cog']['tile_read_landshift']} / "
        f"{qq['plain']['tile_read_landshift']} tiles/s) over a plain rasterio read of each window at that size "
        f"({qq['cog']['tile_read_raw']} / {qq['plain']['tile_read_raw']} tiles/s), one thread |",
        f"| `pipeline_vs_bare_0p6m` | **{results['pipeline_vs_bare_0p6m']['cog']}** "
        f"| {results['pipeline_vs_bare_0p6m']['plain']} | >= 0.85 | scoring job, `local[2]`, warm "
        f"({qq['cog']['pipeline_warm']} / {qq['plain']['pipeline_warm']} tiles/s, {qq['cog']['job_tiles']} tiles) "
        f"over bare featurizer + head on the same tiles in memory, one process, TensorFlow's own threads, "
        f"batch 64 ({qq['cog']['bare_model']} / {qq['plain']['bare_model']} tiles/s) |",
        f"| `pipeline_vs_bare_per_core_0p6m` | {results['pipeline_vs_bare_per_core_0p6m']['cog']} "
        f"| {results['pipeline_vs_bare_per_core_0p6m']['plain']} | (reported) | the same job over the model's "
        f"ceiling here: one single-threaded process per core, each pinned, tiles in memory "
        f"({qq['cog']['bare_model_per_core']} / {qq['plain']['bare_model_per_core']} tiles/s) |",
        f"| `lake_vs_local` | **{results['lake_vs_local'].get('ratios', {}).get('cog', 'n/a')}** "
        f"| {results['lake_vs_local'].get('ratios', {}).get('plain', 'n/a')} | (reported) | reads from Azurite "
        "with LandShift's GDAL settings over the local file (below) |",
        f"| deep check of one quarter-quad, s | {deep['cog']['sampled_blocks']} sampled / "
        f"{deep['cog']['every_block']} every block | {deep['plain']['sampled_blocks']} / "
        f"{deep['plain']['every_block']} | (reported) | open, checks, 48 blocks (or all) decoded, radiometry |",
        f"| ingest (COG + overviews), s | {results['quarter_quad']['ingest_seconds']} | | (reported) "
        f"| once per scene; {results['quarter_quad']['plain_mb']} MB in, {results['quarter_quad']['cog_mb']} MB out |",
        "",
        "| scenes | tiles | plan, 8 threads: s (peak MB) | plan, serial: s | plan before this change: s "
        "| scoring: s (tiles/s) | plan / scoring |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for count, point in sorted(scaling.items(), key=lambda item: int(item[0])):
        par, ser = point["plan_parallel_8_threads"], point["plan_serial"]
        before = point.get("plan_before_this_change", {}).get("seconds")
        rows.append(
            f"| {count} | {par['tiles']} | {par['seconds']:.2f} ({par['peak_rss_mb']:.0f}) | {ser['seconds']:.2f} "
            f"| {f'{before:.2f}' if before is not None else '-'} | {point['scoring_seconds']} "
            f"({point['scoring_tiles_per_second']}) | **{point['plan_over_scoring']}** |"
        )
    projection = results["plan_scaling"]["projection_4000_scenes"]["plan_parallel_8_threads"]
    rows += [
        f"| 4,000 (projected) | 1.5 M at 5 m | {projection['seconds']} ({projection['peak_rss_mb']}) | | | | |",
        "",
        f"Cold start of a one-scene region (plan + scoring, 374 tiles) from a fresh process: with a new "
        f"Spark application {cold['spark_seconds']['total']} s, of which starting Spark "
        f"{cold['spark_seconds']['spark_start']} s (**{cold['spark_start_share']:.0%}**); scored in process "
        f"{cold['in_process_seconds']['total']} s (**{cold['in_process_over_spark_total']}** of the Spark run).",
    ]
    if state:
        rows += [
            "",
            f"North Dakota ({state['tiles']:,} tiles, ~4,000 quarter-quads): "
            f"{state['cpu_tiles_per_second_per_core']} tiles/s per CPU core measured (0.6 m COG, warm job, "
            "the lower of the pinned one-core job and half the two-core job); "
            + ", ".join(f"{k.replace('_', ' ')}: {v} min" for k, v in state["minutes_cpu"].items())
            + f". A GPU worker is read-bound: expected about {state['gpu_expected_tiles_per_second']['value']} "
            f"tiles/s with 8 reader cores (not measured here), {state['minutes_gpu_10_workers']} min on 10 such "
            f"workers. Planning 4,000 scenes: about {state['plan_seconds_4000_scenes']} s (projected).",
        ]
    lake = results["lake_vs_local"]
    if "settings_tiles_per_second" in lake:
        rows += ["", "| GDAL setting | COG tiles/s | over local | plain tiles/s |", "| --- | --- | --- | --- |"]
        local = lake["local_tiles_per_second"]
        for variant, value in lake["settings_tiles_per_second"]["cog"].items():
            plain = lake["settings_tiles_per_second"]["plain"].get(variant, "")
            rows.append(
                f"| {LAKE_SETTING_NOTES.get(variant, variant)} | {value} | {value / local['cog']:.2f} | {plain} |"
            )
        rows.append(f"| local file | {local['cog']} | 1.00 | {local['plain']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(readme_tables(json.loads(Path(sys.argv[1]).read_text())))
