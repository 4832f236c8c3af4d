"""Scoring benchmarks: every figure is a ratio measured in this one run on this machine.

Usage: python bench/run_bench.py [--out bench/results.json] [--tiles 1500]

Figures (written to --out and printed):
- pipeline_vs_bare: the Spark scoring job's tiles/s over bare Featurizer + head calls on the same
  tiles already in memory (same model, same process budget of 2 cores); JVM start-up excluded and
  reported separately; the job's first (cold) run is reported too.
- read_vs_raw: LandShift tile reads (windowed, resampled to the model input) over a plain
  sequential rasterio read of the same windows at native resolution.
- scaling_2_vs_1: the job's tiles/s on local[2] pinned to 2 CPUs over local[1] pinned to 1 CPU
  (the unpinned ratio is reported too).
- peak_rss_mb: peak RSS of the scoring Python worker and of the executor JVM, for a large scene
  (a ~20,000 x 20,000 px mosaic VRT of the real NAIP scenes) and for the small real scene.
- one_pass_vs_predict_batch_udf: LandShift's one-pass job (tiles read and scored in the task that
  writes them) over the alternative
  of reading pixels into a column and classifying them with ``predict_batch_udf``.
- tiles_per_second: absolute figures (reported, not asserted).

At real NAIP resolution, from the lake, at state scale (``bench/naip_0p6m.py`` does the work):

- read_vs_raw_0p6m / pipeline_vs_bare_0p6m: the figures above on a generated 0.6 m quarter-quad
  (10,000 x 12,000 px), as delivered (plain GeoTIFF, no overviews) and ingested (COG, overviews,
  the recommended form).
- lake_vs_local: the same reads through ``/vsiaz/`` from Azurite, per GDAL setting, over local.
- plan_scaling: the plan stage's seconds and peak memory for 1, 16 and 256 scenes (parallel,
  serial, and the code before this change up to 16), the scoring job on the same scenes, and
  the projection to 4,000 scenes.
- cold_start: a one-scene region's plan + scoring from a fresh process, with a new Spark
  application and in process.
- state_projection: minutes for North Dakota's 3.6 M tiles on N workers.

``python bench/naip_0p6m.py bench/results.json`` prints the README's tables of these.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LANDSHIFT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
MODEL = "landshift-mobilenetv2"
LARGE_SIDE_PX = 20_000

log = logging.getLogger("bench")


def build_mosaic_vrt(scene: Path, path: Path, side_px: int) -> None:
    """A VRT of ``side_px`` square repeating the real scene, georeferenced on the scene's CRS."""
    import rasterio

    with rasterio.open(scene) as src:
        width, height, transform, crs = src.width, src.height, src.transform, src.crs
        block = src.block_shapes[0]
    reps_x, reps_y = -(-side_px // width), -(-side_px // height)
    bands = []
    for band in range(1, 5):
        sources = []
        for j in range(reps_y):
            for i in range(reps_x):
                x, y = i * width, j * height
                w, h = min(width, side_px - x), min(height, side_px - y)
                sources.append(
                    f'<SimpleSource><SourceFilename relativeToVRT="0">{scene}</SourceFilename>'
                    f"<SourceBand>{band}</SourceBand>"
                    f'<SourceProperties RasterXSize="{width}" RasterYSize="{height}" DataType="Byte" '
                    f'BlockXSize="{block[1]}" BlockYSize="{block[0]}"/>'
                    f'<SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
                    f'<DstRect xOff="{x}" yOff="{y}" xSize="{w}" ySize="{h}"/></SimpleSource>'
                )
        bands.append(
            f'<VRTRasterBand dataType="Byte" band="{band}"><NoDataValue>0</NoDataValue>'
            f"{''.join(sources)}</VRTRasterBand>"
        )
    geo = ", ".join(str(v) for v in (transform.c, transform.a, 0.0, transform.f, 0.0, transform.e))
    path.write_text(
        f'<VRTDataset rasterXSize="{side_px}" rasterYSize="{side_px}"><SRS>{crs.to_wkt()}</SRS>'
        f"<GeoTransform>{geo}</GeoTransform>{''.join(bands)}</VRTDataset>"
    )


def central_block(tiles: pd.DataFrame, count: int, tiles_per_task: int) -> pd.DataFrame:
    """``count`` consecutive tiles (whole grid rows, raster order) from the middle of a tiles table."""
    start = max(0, len(tiles) // 2 - count // 2)
    block = tiles.iloc[start : start + count].reset_index(drop=True)
    return block.assign(chunk=np.arange(len(block)) // tiles_per_task)


def spark_session(master: str):
    """A fresh local session; returns it and its start-up seconds."""
    from pyspark.sql import SparkSession

    started = time.perf_counter()
    session = (
        SparkSession.builder.master(master)
        .appName(f"landshift-bench-{master}")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "1024")
        .config("spark.python.worker.reuse", "true")
        .getOrCreate()
    )
    session.range(1).count()
    return session, time.perf_counter() - started


def worker_peak_rss(config, tiles_uri: str, spark) -> tuple[float, float, float]:
    """Score a tiles table and return (tiles/s, peak Python-worker RSS MB, JVM RSS MB)."""
    import psutil

    from landshift.lake.base import read_table
    from landshift.lake.factory import open_lake
    from landshift.scoring.batch import score_partitions, task_groups

    tiles = read_table(open_lake(config.lake_root), tiles_uri)
    score = score_partitions(config)
    tasks = list(enumerate(task_groups(tiles, spark.sparkContext.defaultParallelism)))

    def scored_with_rss(items: Iterator[tuple[int, pd.DataFrame]]) -> Iterator[dict]:
        for _, frame in items:
            count = sum(len(f) for f in score(iter([frame])))
            yield {"tiles": count, "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}

    started = time.perf_counter()
    rows = spark.sparkContext.parallelize(tasks, len(tasks)).mapPartitions(scored_with_rss).collect()
    elapsed = time.perf_counter() - started
    jvm_pid = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    jvm_rss = psutil.Process(jvm_pid).memory_info().rss / 2**20
    return sum(r["tiles"] for r in rows) / elapsed, max(r["rss_kb"] for r in rows) / 1024, jvm_rss


def predict_batch_udf_throughput(spark, lake, version: str, tiles_uri: str, grid) -> float:
    """tiles/s of the alternative design: tiles read into a column, then ``predict_batch_udf``.

    Pixels cross the JVM/Python boundary twice (as array<float>, the type the UDF takes), which
    is what LandShift's one-pass job avoids.
    """
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.types import ArrayType, FloatType

    from landshift.imagery.scenes import open_on_grid, read_tiles
    from landshift.lake.base import local_copy, read_table
    from landshift.lake.factory import open_lake
    from landshift.model.registry import resolve_version
    from landshift.model.spec import SCENE_STATS_LENGTH, Featurizer

    loaded = resolve_version(lake, MODEL, version)
    size = loaded.spec.input_size
    lake_root, resampling = lake.root, loaded.spec.resampling

    def read_pixels(frames):
        source = open_lake(lake_root)
        for frame in frames:
            rows = []
            for scene_uri, group in frame.groupby("scene_uri", sort=False):
                with open_on_grid(source.gdal_path(scene_uri), grid) as src:
                    cells = [grid.tile(int(c), int(r)) for c, r in zip(group["col"], group["row"], strict=True)]
                    reads = read_tiles(src, cells, size, resampling=resampling)
                    for (pixels, _), stats, tile_id in zip(reads, group["scene_stats"], group["tile_id"], strict=True):
                        rows.append(
                            {
                                "tile_id": tile_id,
                                "pixels": pixels.astype(np.float32).ravel(),
                                "stats": np.asarray(stats, dtype=np.float32),
                            }
                        )
            yield pd.DataFrame(rows)

    def make_predict_fn():
        with local_copy(open_lake(lake_root), loaded.spec.weights_uri) as weights:
            featurizer = Featurizer(loaded.spec, weights)

        def predict(pixels: np.ndarray, stats: np.ndarray) -> np.ndarray:
            tiles = pixels.reshape(-1, size, size, 4).astype(np.uint8)
            return loaded.head.predict_proba(featurizer.features(tiles, stats)).astype(np.float32)

        return predict

    classify = predict_batch_udf(
        make_predict_fn,
        return_type=ArrayType(FloatType()),
        batch_size=64,
        input_tensor_shapes=[[size * size * 4], [SCENE_STATS_LENGTH]],
    )
    tiles = read_table(lake, tiles_uri)
    frame = spark.createDataFrame(
        tiles[["tile_id", "col", "row", "scene_uri", "chunk", "scene_stats"]],
        schema="tile_id string, col int, row int, scene_uri string, chunk int, scene_stats array<double>",
    ).repartitionByRange(int(tiles["chunk"].nunique()), "chunk")
    pixels = frame.mapInPandas(read_pixels, "tile_id string, pixels array<float>, stats array<float>")
    started = time.perf_counter()
    pixels.select(classify("pixels", "stats").alias("p")).write.format("noop").mode("overwrite").save()
    return len(tiles) / (time.perf_counter() - started)


def read_throughput(scene_path: str, tiles: pd.DataFrame, grid, size_px: int, resampling: str) -> tuple[float, float]:
    """(LandShift tile reads/s as scoring reads them, plain native window reads/s), one thread."""
    import rasterio
    from rasterio.windows import from_bounds

    from landshift.imagery.scenes import open_on_grid, read_tiles

    cells = [grid.tile(int(c), int(r)) for c, r in zip(tiles["col"], tiles["row"], strict=True)]
    with rasterio.open(scene_path) as src:
        started = time.perf_counter()
        for cell in cells:
            src.read(window=from_bounds(*cell.bounds, transform=src.transform))
        raw = len(cells) / (time.perf_counter() - started)
    with open_on_grid(scene_path, grid) as src:
        started = time.perf_counter()
        for start in range(0, len(cells), 64):
            read_tiles(src, cells[start : start + 64], size_px, resampling=resampling)
        ours = len(cells) / (time.perf_counter() - started)
    return ours, raw


def tiles_in_memory(lake, tiles: pd.DataFrame, grid):
    """(featurizer, head, pixels, stats, input px, resampling): the production model and the
    tiles read into memory, as scoring reads them."""
    from landshift.imagery.scenes import open_on_grid, read_tiles
    from landshift.lake.base import local_copy
    from landshift.model.registry import resolve_version
    from landshift.model.spec import Featurizer

    version = resolve_version(lake, MODEL, "production")
    with local_copy(lake, version.spec.weights_uri) as weights:
        featurizer = Featurizer(version.spec, weights)
    size = version.spec.input_size
    pixels, stats = [], []
    for scene_uri, group in tiles.groupby("scene_uri", sort=False):
        with open_on_grid(lake.gdal_path(scene_uri), grid) as src:
            cells = [grid.tile(int(c), int(r)) for c, r in zip(group["col"], group["row"], strict=True)]
            pixels.extend(tile for tile, _ in read_tiles(src, cells, size, resampling=version.spec.resampling))
            stats.extend(np.asarray(s, dtype=np.float32) for s in group["scene_stats"])
    return featurizer, version.head, np.stack(pixels), np.stack(stats), size, version.spec.resampling


def model_passes(featurizer, head, pixels: np.ndarray, stats: np.ndarray, batch_size: int, passes: int = 2) -> float:
    """Best tiles/s of ``passes`` passes of Featurizer + head over tiles in memory (after a warm-up)."""
    head.predict_proba(featurizer.features(pixels[:batch_size], stats[:batch_size]))
    best = 0.0
    for _ in range(passes):
        started = time.perf_counter()
        for start in range(0, len(pixels), batch_size):
            batch = slice(start, start + batch_size)
            head.predict_proba(featurizer.features(pixels[batch], stats[batch]))
        best = max(best, len(pixels) / (time.perf_counter() - started))
    return best


def bare_throughput(lake, tiles: pd.DataFrame, grid, batch_size: int) -> tuple[float, int, str]:
    """tiles/s of the model alone (Featurizer + head, TF's own thread pool) on tiles in memory."""
    featurizer, head, pixels, stats, size, resampling = tiles_in_memory(lake, tiles, grid)
    return model_passes(featurizer, head, pixels, stats, batch_size), size, resampling


_BARE_PER_CORE_SCRIPT = """
import json, os, sys, time
from pathlib import Path
os.environ.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")
os.sched_setaffinity(0, {{int(sys.argv[5])}})
sys.path.insert(0, {bench!r})
from run_bench import model_passes, tiles_in_memory
from landshift.core.grid import TileGrid
from landshift.lake.base import LocalLake, read_table
lake = LocalLake(sys.argv[1])
tiles = read_table(lake, sys.argv[2])
part, parts, barrier = int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[6])
tiles = tiles.iloc[part * len(tiles) // parts : (part + 1) * len(tiles) // parts]
featurizer, head, pixels, stats, _, _ = tiles_in_memory(lake, tiles, TileGrid("EPSG:26914", 224))
featurizer.features(pixels[:64], stats[:64])
(barrier / f"ready-{{part}}").touch()
while len(list(barrier.glob("ready-*"))) < parts:
    time.sleep(0.01)
print(json.dumps(model_passes(featurizer, head, pixels, stats, int(sys.argv[7]), passes=3)))
"""


def bare_per_core_throughput(lake, tiles_uri: str, batch_size: int) -> float:
    """tiles/s of the model alone as the job runs it: one single-threaded TF process per core,
    each pinned to its core with half the tiles in memory, started together; the sum."""
    cores = sorted(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="bare-barrier-") as barrier:
        script = _BARE_PER_CORE_SCRIPT.format(bench=str(Path(__file__).parent))
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    script,
                    lake.root,
                    tiles_uri,
                    str(i),
                    str(len(cores)),
                    str(core),
                    barrier,
                    str(batch_size),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i, core in enumerate(cores)
        ]
        rates = []
        for proc in procs:
            out, err = proc.communicate(timeout=900)
            if proc.returncode:
                raise RuntimeError(f"bare per-core process failed: {err[-2000:]}")
            rates.append(float(out.strip().splitlines()[-1]))
    return sum(rates)


def train_model(lake, spark) -> str:
    """Register a model through the library's training pipeline (features on Spark)."""
    from landshift.regions.registry import get_region
    from landshift.run.pipeline import run_pipeline
    from landshift.run.training import TRAINING_RUN, TrainingRequest

    request = TrainingRequest(lake.root, get_region("nd-pothole"), (2009, 2014), MODEL)
    return run_pipeline(TRAINING_RUN, request, spark)["model_version"]


def cores_probe(cores: int, lake_root: str, version: str, tiles_uri: str) -> float:
    """Warm tiles/s of the scoring job on local[cores] in a process pinned to ``cores`` CPUs.

    Pinning matters on a small machine: unpinned, a local[1] job still spreads its reader thread,
    JVM and Python worker over every core, and the scaling figure would understate.
    """
    script = (
        "import json, os, sys\n"
        f"os.sched_setaffinity(0, set(range({cores})))\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from run_bench import spark_session\n"
        "from landshift.scoring.batch import ScoringConfig, run_scoring\n"
        f"spark, _ = spark_session('local[{cores}]')\n"
        f"config = ScoringConfig({lake_root!r}, {MODEL!r}, {version!r}, 'EPSG:26914', 224.0)\n"
        f"out = {lake_root!r} + '/bench/cores-{cores}'\n"
        f"run_scoring(spark, config, {tiles_uri!r}, out)\n"
        f"runs = [run_scoring(spark, config, {tiles_uri!r}, out)['tiles_per_second'] for _ in range(2)]\n"
        "print(json.dumps(max(runs)))\n"
        "spark.stop()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=900)
    return float(result.stdout.strip().splitlines()[-1])


AT_SCALE_KEYS = (
    "read_vs_raw_0p6m",
    "pipeline_vs_bare_0p6m",
    "pipeline_vs_bare_per_core_0p6m",
    "quarter_quad",
    "deep_check_seconds",
    "lake_vs_local",
    "plan_scaling",
    "cold_start",
    "state_projection",
)
RECOMMENDED_FORM = "cog"
TEXTURE_SAMPLE = "format-samples/naip-0.6m/m_3211605_ne_11_060_20200415.tif"


def scoring_pair(spark, lake, config, tiles: pd.DataFrame, uri: str, grid) -> tuple[float, float, float, float]:
    """(warm scoring-job tiles/s, cold tiles/s, bare model tiles/s, bare model one process per
    core tiles/s) on one tiles table."""
    from landshift.lake.base import write_table
    from landshift.scoring.batch import run_scoring

    write_table(lake, uri, tiles)
    out = uri.replace(".parquet", "-scored")
    cold = run_scoring(spark, config, uri, out)["tiles_per_second"]
    warm = max(run_scoring(spark, config, uri, out)["tiles_per_second"] for _ in range(2))
    bare, _, _ = bare_throughput(lake, tiles, grid, batch_size=config.batch_size)
    return warm, cold, bare, bare_per_core_throughput(lake, uri, config.batch_size)


def at_0p6m_and_scale(lake, spark, config, grid, tmp: Path, args) -> dict:
    """The 0.6 m reads and scoring, reads from the lake, and the plan/scoring curve over scenes."""
    import naip_0p6m as qq

    from landshift.imagery.planning import inspect_scenes, plan_tiles
    from landshift.scoring.batch import run_scoring

    width, height = (int(v) for v in args.qq_px.lower().split("x"))
    scene_5m = SHARED_DATA / "naip-nd" / "m_4709963_se_14_1_20200831.tif"
    built = qq.build_quarter_quad(scene_5m, SHARED_DATA / TEXTURE_SAMPLE, tmp, width, height)
    log.info("0.6 m quarter-quad: %s", built)
    spec = config.load().spec
    size_px, resampling = spec.input_size, spec.resampling
    read_ratio, pipeline_ratio, per_core_ratio, figures, deep = {}, {}, {}, {}, {}
    cells_for_lake = []
    for form in ("plain", "cog"):
        path = built[form]
        started = time.perf_counter()
        infos = inspect_scenes(lake, [path], grid)
        plan_seconds = time.perf_counter() - started
        deep[form] = {
            "plan_one_scene": round(plan_seconds, 3),
            "sampled_blocks": round(qq.deep_check_seconds(path, grid, 48), 3),
            "every_block": round(qq.deep_check_seconds(path, grid, None), 3),
        }
        tiles = plan_tiles(lake, [path], grid, None, args.tiles_per_task, scenes=infos).tiles
        cells = qq.tile_cells(tiles, grid)
        ours, raw = qq.read_pair(path, cells, size_px, resampling, repeats=3)
        read_ratio[form] = round(ours / raw, 3)
        # Two names for the quarter-quad (a hard link): twice the tiles per job, as two scenes.
        twin = str(Path(path).with_name(Path(path).stem + "_b.tif"))
        os.link(path, twin)
        twin_infos = inspect_scenes(lake, [twin], grid)
        twin_tiles = plan_tiles(lake, [twin], grid, None, args.tiles_per_task, scenes=twin_infos)
        job = pd.concat(
            [tiles, twin_tiles.tiles.assign(chunk=twin_tiles.tiles["chunk"] + int(tiles["chunk"].max()) + 1)],
            ignore_index=True,
        )
        warm, cold, bare, per_core = scoring_pair(
            spark, lake, config, job, lake.uri("bench", f"qq-{form}.parquet"), grid
        )
        pipeline_ratio[form] = round(warm / bare, 3)
        per_core_ratio[form] = round(warm / per_core, 3)
        figures[form] = {
            "tiles_per_scene": len(tiles),
            "tile_read_landshift": round(ours, 1),
            "tile_read_raw": round(raw, 1),
            "pipeline_warm": round(warm, 1),
            "pipeline_cold": round(cold, 1),
            "bare_model": round(bare, 1),
            "bare_model_per_core": round(per_core, 1),
            "job_tiles": len(job),
        }
        if not cells_for_lake:
            middle = len(cells) // 2
            cells_for_lake = cells[max(0, middle - 128) : middle + 128]  # one task's worth
    results = {
        "read_vs_raw_0p6m": {**read_ratio, "recommended": RECOMMENDED_FORM},
        "pipeline_vs_bare_0p6m": {**pipeline_ratio, "recommended": RECOMMENDED_FORM},
        "pipeline_vs_bare_per_core_0p6m": {**per_core_ratio, "recommended": RECOMMENDED_FORM},
        "quarter_quad": {**built, "plain": "qq_plain.tif", "cog": "qq_cog.tif", "tiles_per_second": figures},
        "deep_check_seconds": deep,
    }
    try:
        lake_figures = qq.lake_reads({f: built[f] for f in ("cog", "plain")}, cells_for_lake, size_px, resampling)
    except Exception as exc:  # Azurite missing or failing must not cost the other figures
        log.exception("lake reads failed")
        lake_figures = {"skipped": f"{type(exc).__name__}: {exc}"}
    if "settings_tiles_per_second" in lake_figures:
        lake_figures["ratios"] = {
            form: round(lake_figures["settings_tiles_per_second"][form]["landshift_defaults"] / local, 3)
            for form, local in lake_figures["local_tiles_per_second"].items()
        }
        lake_figures["recommended"] = RECOMMENDED_FORM
    results["lake_vs_local"] = lake_figures

    scales = sorted(int(v) for v in args.scales.split(","))
    copies = qq.scene_copies(sorted((SHARED_DATA / "naip-nd").glob("*.tif")), tmp / "copies", max(scales))
    legacy = qq.legacy_planning_module(tmp)
    curve = {}
    for count in scales:
        scenes = copies[:count]
        uri = lake.uri("bench", f"scale-{count}.parquet")
        parallel = qq.plan_in_subprocess(lake.root, scenes, uri, workers=8)
        serial = qq.plan_in_subprocess(lake.root, scenes, lake.uri("bench", f"scale-{count}-serial.parquet"), 1)
        point = {"plan_parallel_8_threads": parallel, "plan_serial": serial}
        if legacy and count <= 16:
            point["plan_before_this_change"] = qq.plan_in_subprocess(
                lake.root, scenes, lake.uri("bench", f"scale-{count}-legacy.parquet"), 1, legacy
            )
        scored = run_scoring(spark, config, uri, lake.uri("bench", f"scale-{count}-scored"))
        point["scoring_seconds"] = scored["seconds"]
        point["scoring_tiles_per_second"] = scored["tiles_per_second"]
        point["plan_over_scoring"] = round(parallel["seconds"] / scored["seconds"], 4)
        curve[str(count)] = point
        log.info("scale %d scenes: %s", count, point)
    results["plan_scaling"] = {"points": curve, "projection_4000_scenes": plan_projection(curve, 4000)}
    return results


def plan_projection(curve: dict, scenes: int) -> dict:
    """Linear extrapolation of the plan stage (time and memory) from the two largest points."""
    (n1, a), (n2, b) = sorted(((int(k), v) for k, v in curve.items()))[-2:]
    out = {}
    for key in ("plan_parallel_8_threads", "plan_serial"):
        slope = (b[key]["seconds"] - a[key]["seconds"]) / max(1, n2 - n1)
        mem_slope = (b[key]["peak_rss_mb"] - a[key]["peak_rss_mb"]) / max(1, n2 - n1)
        out[key] = {
            "seconds": round(b[key]["seconds"] + slope * (scenes - n2), 1),
            "peak_rss_mb": round(b[key]["peak_rss_mb"] + mem_slope * (scenes - n2), 1),
        }
    return out


def cold_start_figures(lake, version: str, scene: str) -> dict:
    """A one-scene region's plan + scoring from a fresh process: with a new Spark application,
    and scored in process (what LandShift does below ``IN_PROCESS_MAX_TILES``)."""
    import naip_0p6m as qq

    with_spark = qq.cold_start(lake.root, [scene], MODEL, version, spark=True)
    in_process = qq.cold_start(lake.root, [scene], MODEL, version, spark=False)
    return {
        "cold_start": {
            "spark_seconds": with_spark,
            "in_process_seconds": in_process,
            "spark_start_share": round(with_spark["spark_start"] / with_spark["total"], 3),
            "in_process_over_spark_total": round(in_process["total"] / with_spark["total"], 3),
        }
    }


def state_projection(at_scale: dict, pinned_one_core: float) -> dict:
    """Hours for North Dakota (about 4,000 quarter-quads, 3.6 M tiles) on N workers, from the
    measured per-core tiles/s (recommended 0.6 m form) and the plan curve."""
    tiles = 3_600_000
    form = at_scale["quarter_quad"]["tiles_per_second"][RECOMMENDED_FORM]
    per_core = min(pinned_one_core, form["pipeline_warm"] / 2)  # local[2]: two cores
    read_per_core = form["tile_read_landshift"]
    plan = at_scale["plan_scaling"]["projection_4000_scenes"]["plan_parallel_8_threads"]["seconds"]
    minutes = {
        f"{workers}_workers_x_{cores}_cores": round(tiles / (per_core * workers * cores) / 60, 1)
        for workers, cores in ((1, 2), (10, 16), (50, 16))
    }
    return {
        "tiles": tiles,
        "cpu_tiles_per_second_per_core": round(per_core, 1),
        "minutes_cpu": minutes,
        "gpu_expected_tiles_per_second": {
            "note": "not measured (no GPU here): a GPU worker is read-bound; 8 reader cores x the "
            "measured per-core 0.6 m COG read rate",
            "value": round(8 * read_per_core, 1),
        },
        "minutes_gpu_10_workers": round(tiles / (8 * read_per_core * 10) / 60, 1),
        "plan_seconds_4000_scenes": plan,
    }


def main(argv: list[str]) -> int:
    """Run every benchmark and write the results."""
    parser = argparse.ArgumentParser(description="LandShift scoring benchmarks")
    parser.add_argument("--out", default=str(REPO_ROOT / "bench" / "results.json"))
    parser.add_argument("--tiles", type=int, default=1500, help="tiles per throughput run")
    parser.add_argument("--tiles-per-task", type=int, default=256)
    parser.add_argument("--qq-px", default="10000x12000", help="0.6 m quarter-quad size, WIDTHxHEIGHT")
    parser.add_argument("--scales", default="1,16,256", help="scene counts of the plan/scoring curve")
    parser.add_argument(
        "--only", choices=("all", "0p6m"), default="all", help="0p6m: only the 0.6 m, lake, scaling, cold-start parts"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # its connection chatter
    logging.getLogger("azure").setLevel(logging.WARNING)  # every HTTP request and response header
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from landshift.core.grid import TileGrid
    from landshift.imagery.planning import plan_tiles
    from landshift.lake.base import LocalLake, write_table
    from landshift.run.demo import seed_lake
    from landshift.scoring.batch import ScoringConfig, run_scoring

    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    with tempfile.TemporaryDirectory(prefix="landshift-bench-") as tmp:
        lake = LocalLake(tmp)
        seed_lake(SHARED_DATA, lake)
        grid = TileGrid("EPSG:26914", 224)
        scene = lake.uri("raw", "imagery", "nd-pothole", "2020", "m_4709963_se_14_1_20200831.tif")
        mosaic = Path(tmp, "mosaic_20000.vrt")
        build_mosaic_vrt(Path(scene), mosaic, LARGE_SIDE_PX)
        small = plan_tiles(lake, [scene], grid, None, args.tiles_per_task).tiles
        large_all = plan_tiles(lake, [str(mosaic)], grid, None, args.tiles_per_task).tiles
        large = central_block(large_all, args.tiles, args.tiles_per_task)
        small_uri, large_uri = lake.uri("bench", "small.parquet"), lake.uri("bench", "large.parquet")
        write_table(lake, small_uri, small)
        write_table(lake, large_uri, large)
        results["inputs"] = {
            "small_scene_tiles": len(small),
            "large_scene_px": LARGE_SIDE_PX,
            "large_scene_tiles": len(large_all),
            "large_sample_tiles": len(large),
        }

        spark, jvm_start = spark_session("local[2]")
        version = train_model(lake, spark)
        config = ScoringConfig(lake.root, MODEL, version, "EPSG:26914", 224.0)
        out = lake.uri("bench", "scored")
        at_scale = at_0p6m_and_scale(lake, spark, config, grid, Path(tmp), args)
        if args.only == "0p6m":  # the other figures are kept from the last full run in --out
            spark.stop()
            at_scale.update(cold_start_figures(lake, version, scene))
            at_scale["state_projection"] = state_projection(at_scale, float("inf"))
            previous = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
            results = {**previous, **results, "inputs": previous.get("inputs", results["inputs"]), **at_scale}
            Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
            print(json.dumps(at_scale, indent=2))
            return 0
        cold = run_scoring(spark, config, large_uri, out)["tiles_per_second"]
        warm2 = max(run_scoring(spark, config, large_uri, out)["tiles_per_second"] for _ in range(2))
        predict_batch_udf_throughput(spark, lake, version, large_uri, grid)  # warm the UDF's workers
        udf_tps = predict_batch_udf_throughput(spark, lake, version, large_uri, grid)
        spark.stop()

        # Peak RSS of each scene in a fresh session: Python workers are reused, and their peak
        # is a lifetime figure that would carry the earlier jobs' peaks.
        spark, _ = spark_session("local[2]")
        large_tps, large_worker_rss, large_jvm_rss = worker_peak_rss(config, large_uri, spark)
        spark.stop()
        spark, _ = spark_session("local[2]")
        _, small_worker_rss, small_jvm_rss = worker_peak_rss(config, small_uri, spark)
        spark.stop()

        spark, _ = spark_session("local[1]")
        run_scoring(spark, config, large_uri, out)
        warm1 = run_scoring(spark, config, large_uri, out)["tiles_per_second"]
        spark.stop()
        pinned = {cores: cores_probe(cores, lake.root, version, large_uri) for cores in (1, 2)}

        bare, size_px, resampling = bare_throughput(lake, large, grid, batch_size=64)
        bare_per_core = bare_per_core_throughput(lake, large_uri, batch_size=64)
        ours_read, raw_read = read_throughput(str(mosaic), large, grid, size_px, resampling)
        at_scale.update(cold_start_figures(lake, version, scene))
        at_scale["state_projection"] = state_projection(at_scale, pinned[1])

    results.update(
        {
            "pipeline_vs_bare": round(warm2 / bare, 3),
            "pipeline_vs_bare_per_core": round(warm2 / bare_per_core, 3),
            "pipeline_cold_vs_bare": round(cold / bare, 3),
            "read_vs_raw": round(ours_read / raw_read, 3),
            "scaling_2_vs_1": round(pinned[2] / pinned[1], 3),
            "scaling_2_vs_1_unpinned": round(warm2 / warm1, 3),
            "one_pass_vs_predict_batch_udf": round(warm2 / udf_tps, 3),
            "peak_rss_mb": {
                "large_scene_python_worker": round(large_worker_rss, 1),
                "small_scene_python_worker": round(small_worker_rss, 1),
                "large_over_small_python_worker": round(large_worker_rss / small_worker_rss, 3),
                "large_scene_executor_jvm": round(large_jvm_rss, 1),
                "small_scene_executor_jvm": round(small_jvm_rss, 1),
            },
            "tiles_per_second": {
                "bare_model": round(bare, 1),
                "bare_model_per_core": round(bare_per_core, 1),
                "pipeline_local2_warm": round(warm2, 1),
                "pipeline_local2_cold": round(cold, 1),
                "pipeline_local1_warm": round(warm1, 1),
                "pipeline_local1_pinned_1_cpu": round(pinned[1], 1),
                "pipeline_local2_pinned_2_cpus": round(pinned[2], 1),
                "predict_batch_udf_local2_warm": round(udf_tps, 1),
                "pipeline_local2_rss_run": round(large_tps, 1),
                "tile_read_resampled": round(ours_read, 1),
                "tile_read_native": round(raw_read, 1),
            },
            "jvm_startup_seconds": round(jvm_start, 2),
            "model": {"name": MODEL, "version": version, "input_px": size_px},
            **at_scale,
        }
    )
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    for key in (
        "pipeline_vs_bare",
        "pipeline_vs_bare_per_core",
        "pipeline_cold_vs_bare",
        "read_vs_raw",
        "scaling_2_vs_1",
        "one_pass_vs_predict_batch_udf",
    ):
        print(f"{key:>24}: {results[key]}")
    print(f"{'peak_rss_mb':>24}: {json.dumps(results['peak_rss_mb'])}")
    print(f"{'tiles_per_second':>24}: {json.dumps(results['tiles_per_second'])}")
    print(f"{'jvm_startup_seconds':>24}: {results['jvm_startup_seconds']}")
    for key in AT_SCALE_KEYS:
        print(f"{key:>24}: {json.dumps(results.get(key))}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
