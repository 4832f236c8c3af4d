"""Scoring: read planned tiles, run the frozen backbone and the head, emit one row per tile.

The functions here run inside Spark's Python workers: each task gets a run of consecutive chunks
of the plan (raster order, one scene after another), opens each scene once, reads windows while
the previous batch is in the model, and keeps the model cached for the life of the worker.
Pixels never cross the JVM/Python boundary: only tile ids go in and a one-row manifest comes out.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from landshift.core.grid import TileGrid
from landshift.imagery.scenes import open_on_grid, read_tiles

log = logging.getLogger(__name__)

STATUS_SCORED = "scored"
STATUS_NODATA = "skipped_nodata"
# Tiles per model call. Featurizer tiles/s on 2 CPU cores, 96 px: 16 -> 611, 32 -> 715, 64 -> 804,
# 128 -> 810, 256 -> 829: 64 reaches the plateau with a quarter of 256's activations in memory.
# GPU workers raise it (--batch-size) to fill the device.
DEFAULT_BATCH_SIZE = 64
DEFAULT_MIN_VALID_FRACTION = 0.5


@dataclass(frozen=True)
class ScoringConfig:
    """Everything a worker needs to score tiles; small and picklable."""

    lake_root: str
    model_name: str
    model_version: str
    crs: str
    tile_size_m: float
    batch_size: int = DEFAULT_BATCH_SIZE
    min_valid_fraction: float = DEFAULT_MIN_VALID_FRACTION
    emit_features: bool = False
    augment: bool = False
    spec_uri: str = ""
    precision: str = "float32"
    xla: bool = False

    def load(self) -> LoadedModel:
        """The worker's cached model for this configuration."""
        return cached_model(
            self.lake_root, self.model_name, self.model_version, self.spec_uri, self.precision, self.xla
        )

    @property
    def grid(self) -> TileGrid:
        """The tile grid the tiles were planned on."""
        return TileGrid(self.crs, self.tile_size_m)


@dataclass(frozen=True)
class LoadedModel:
    """What a worker scores with: the spec, the head (None when only featurizing), the featurizer."""

    spec: object
    head: object | None
    featurizer: object


@lru_cache(maxsize=2)
def cached_model(
    lake_root: str, model_name: str, model_version: str, spec_uri: str, precision: str = "float32", xla: bool = False
) -> LoadedModel:
    """The model, loaded once per Python worker: a registered version, or a bare spec file."""
    from landshift.lake.base import local_copy, read_json
    from landshift.lake.factory import open_lake
    from landshift.model.registry import resolve_version
    from landshift.model.spec import Featurizer, ModelSpec

    configure_worker_devices()
    lake = open_lake(lake_root)
    if spec_uri:
        spec, head = ModelSpec.from_dict(read_json(lake, spec_uri)), None
    else:
        version = resolve_version(lake, model_name, model_version)
        spec, head = version.spec, version.head
    with local_copy(lake, spec.weights_uri) as weights_path:
        featurizer = Featurizer(spec, weights_path, precision=precision, xla=xla)
    return LoadedModel(spec, head, featurizer)


def configure_worker_devices() -> list[str]:
    """Size TF's thread pools to the task's cores; hide GPUs from workers that were given none.

    Returns the GPU addresses Spark assigned the current task (empty on CPU workers), so the CPU
    path never needs a GPU library.
    """
    from pyspark import TaskContext

    context = TaskContext.get()
    cpus = context.cpus() if context is not None else 1
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(cpus))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    gpus = assigned_gpus()
    if not gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    else:
        os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    return gpus


def assigned_gpus() -> list[str]:
    """GPU addresses the current task was given (empty without GPU scheduling)."""
    from pyspark import TaskContext

    context = TaskContext.get()
    gpu = context.resources().get("gpu") if context is not None else None
    return list(gpu.addresses) if gpu else []


def task_device() -> str:
    """The TensorFlow device of the current task: its first assigned GPU, else the CPU.

    Python workers are reused across tasks that may hold different GPUs, so each task places its
    work with ``tf.device`` instead of relying on the process-wide CUDA_VISIBLE_DEVICES.
    """
    gpus = assigned_gpus()
    return f"/GPU:{gpus[0]}" if gpus else "/CPU:0"


@contextmanager
def placed_on(device: str) -> Iterator[None]:
    """Run TensorFlow ops on ``device`` (TensorFlow imported only for GPUs)."""
    if not device.startswith("/GPU"):
        yield
        return
    import tensorflow as tf

    with tf.device(device):
        yield


@dataclass
class TileBatch:
    """Tiles read from one scene, ready for the model."""

    rows: pd.DataFrame
    pixels: np.ndarray
    scene_stats: np.ndarray
    valid_fraction: np.ndarray


def read_batches(tiles: pd.DataFrame, config: ScoringConfig, gdal_path) -> Iterator[TileBatch]:
    """Read tiles scene by scene in the given order, ``batch_size`` at a time."""
    grid = config.grid
    for scene_uri, scene_tiles in tiles.groupby("scene_uri", sort=False):
        spec = config.load().spec
        with open_on_grid(gdal_path(scene_uri), grid) as src:
            for start in range(0, len(scene_tiles), config.batch_size):
                rows = scene_tiles.iloc[start : start + config.batch_size].reset_index(drop=True)
                cells = [grid.tile(int(c), int(r)) for c, r in zip(rows["col"], rows["row"], strict=True)]
                reads = read_tiles(src, cells, spec.input_size, resampling=spec.resampling)
                yield TileBatch(
                    rows=rows,
                    pixels=np.stack([pixels for pixels, _ in reads]),
                    scene_stats=np.stack([np.asarray(s, dtype=np.float32) for s in rows["scene_stats"]]),
                    valid_fraction=np.array([valid for _, valid in reads]),
                )


def prefetched(batches: Iterator[TileBatch]) -> Iterator[TileBatch]:
    """Read the next batch on a thread while the caller runs the model on the current one."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tile-reader") as pool:
        pending: Future = pool.submit(next, batches, None)
        while True:
            batch = pending.result()
            if batch is None:
                return
            pending = pool.submit(next, batches, None)
            yield batch


def score_batch(batch: TileBatch, config: ScoringConfig) -> pd.DataFrame:
    """Model outputs for one batch; tiles below the valid-pixel share are skipped, not scored."""
    model = config.load()
    keep = batch.valid_fraction >= config.min_valid_fraction
    out = pd.DataFrame(
        {
            "tile_id": batch.rows["tile_id"].astype(str),
            "col": batch.rows["col"].astype(np.int32),
            "row": batch.rows["row"].astype(np.int32),
            "scene_uri": batch.rows["scene_uri"].astype(str),
            "valid_fraction": batch.valid_fraction.astype(float),
            "status": np.where(keep, STATUS_SCORED, STATUS_NODATA),
            "class_code": np.zeros(len(keep), dtype=np.int32),
            "probability": np.zeros(len(keep)),
            "probabilities": [np.zeros(0, dtype=np.float32)] * len(keep),
        }
    )
    if not keep.any():
        return _with_feature_columns(out, config, None)
    pixels, stats = batch.pixels[keep], batch.scene_stats[keep]
    if config.emit_features:
        return _feature_rows(out[keep].reset_index(drop=True), pixels, stats, model.featurizer, config)
    features = model.featurizer.features(pixels, stats)
    probabilities = model.head.predict_proba(features).astype(np.float32)
    codes = np.asarray(model.head.class_codes, dtype=np.int32)
    best = probabilities.argmax(axis=1)
    out.loc[keep, "class_code"] = codes[best]
    out.loc[keep, "probability"] = probabilities[np.arange(len(best)), best].astype(float)
    out.loc[keep, "probabilities"] = pd.Series(list(probabilities), index=out.index[keep])
    return out


def _feature_rows(
    scored: pd.DataFrame, pixels: np.ndarray, stats: np.ndarray, featurizer, config: ScoringConfig
) -> pd.DataFrame:
    """Rows carrying features (and, with augmentation, one row per flip/rotation)."""
    from landshift.model.spec import augment

    variants = augment(pixels) if config.augment else [pixels]
    frames = []
    for variant_index, variant in enumerate(variants):
        frame = scored.copy()
        frame["variant"] = variant_index
        frame["features"] = list(featurizer.features(variant, stats).astype(np.float32))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _with_feature_columns(out: pd.DataFrame, config: ScoringConfig, _features) -> pd.DataFrame:
    if config.emit_features:
        out = out.assign(variant=0, features=[np.zeros(0, dtype=np.float32)] * len(out))
    return out


def score_partitions(config: ScoringConfig):
    """A function of tile-table frames yielding scored frames, reads overlapped with the model."""

    def run(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from landshift.lake.factory import open_lake

        lake = open_lake(config.lake_root)
        parts = [frame for frame in frames if not frame.empty]
        if not parts:
            return
        tiles = pd.concat(parts, ignore_index=True)
        started = time.perf_counter()
        device = task_device()
        tiles = tiles.sort_values(["chunk", "row", "col"], ascending=[True, False, True])
        with placed_on(device):
            for batch in prefetched(read_batches(tiles, config, lake.gdal_path)):
                yield score_batch(batch, config).assign(device=device)
        log.info("Scored %d tiles on %s in %.1f s", len(tiles), device, time.perf_counter() - started)

    return run


# Tiles per Spark task. Each task costs about 0.1 s of scheduling and Python-worker hand-off
# whatever its size (1,848 0.6 m tiles on local[2]: 8 tasks of 231 tiles 2.0 s, 2 tasks of 924
# tiles 1.0 s), so the job merges the plan's consecutive chunks into tasks of about this many
# tiles, and never into fewer tasks than the cluster has cores.
TILES_PER_TASK = 1024


def task_groups(tiles: pd.DataFrame, min_tasks: int, tiles_per_task: int = TILES_PER_TASK) -> list[pd.DataFrame]:
    """The tiles cut into tasks of whole, consecutive chunks, about ``tiles_per_task`` each,
    at least ``min_tasks`` of them where there are that many chunks."""
    if tiles.empty:
        return []
    sizes = tiles.groupby("chunk", sort=True).size()
    tasks = max(1, min_tasks, -(-len(tiles) // max(1, tiles_per_task)))
    if tasks >= len(sizes):  # a task per chunk
        task_of_chunk = np.arange(len(sizes))
    else:  # each chunk to the task its middle tile falls in
        middles = sizes.cumsum().to_numpy() - sizes.to_numpy() / 2
        task_of_chunk = (middles * tasks // len(tiles)).astype(int)
    groups = tiles.groupby(tiles["chunk"].map(dict(zip(sizes.index, task_of_chunk, strict=True))), sort=True)
    return [group.reset_index(drop=True) for _, group in groups]


def score_and_write(config: ScoringConfig, staging_uri: str):
    """A ``mapPartitions`` function: each element is (task index, tiles frame); it scores the
    tiles, writes them as one Parquet part and yields a one-row manifest.

    Scoring and writing happen in the same Python worker, so results never travel back through
    the JVM. Parts are named by task index, so a retried task overwrites its own part.
    """
    score = score_partitions(config)

    def run(tasks: Iterator[tuple[int, pd.DataFrame]]) -> Iterator[dict]:
        from landshift.lake.base import write_table
        from landshift.lake.factory import open_lake

        for index, tiles in tasks:
            started = time.perf_counter()
            results = list(score(iter([tiles])))
            count = 0
            if results:
                table = pd.concat(results, ignore_index=True)
                count = len(table)
                write_table(open_lake(config.lake_root), f"{staging_uri}/part-{index:05d}.parquet", table)
            seconds = time.perf_counter() - started
            yield {"partition": index, "rows": count, "device": task_device(), "seconds": seconds}

    return run


# Plans up to this many tiles score faster in the driver's process than through a fresh Spark
# application: starting the JVM and its Python workers costs more than the tiles (see
# bench/results.json "cold_start"). A region-vintage above it goes to Spark.
IN_PROCESS_MAX_TILES = 2000


def run_scoring_in_process(config: ScoringConfig, tiles_uri: str, out_uri: str) -> dict:
    """Score a small tiles table in this process with the same functions the Spark tasks run,
    into the same table layout (one part, a manifest, moved into place) as ``run_scoring``."""
    import uuid

    from landshift.lake.base import read_table, write_json, write_table
    from landshift.lake.factory import open_lake
    from landshift.lake.publishing import replace_dir

    lake = open_lake(config.lake_root)
    tiles = read_table(lake, tiles_uri)
    staging_uri = lake.uri("staging", uuid.uuid4().hex[:12])
    started = time.perf_counter()
    results = list(score_partitions(config)(iter([tiles])))
    table = pd.concat(results, ignore_index=True) if results else None
    if table is not None:
        write_table(lake, f"{staging_uri}/part-00000.parquet", table)
    elapsed = time.perf_counter() - started
    rows = 0 if table is None else len(table)
    write_json(
        lake,
        f"{staging_uri}/_manifest.json",
        {
            "rows": rows,
            "parts": [0] if rows else [],
            "devices": [task_device()],
            "config": asdict(config),
            "tiles_uri": tiles_uri,
            "in_process": True,
        },
    )
    replace_dir(lake, staging_uri, out_uri)
    summary = {
        "tiles": len(tiles),
        "rows": rows,
        "tasks": 1,
        "seconds": round(elapsed, 2),
        "tiles_per_second": round(len(tiles) / elapsed, 2) if elapsed else None,
        "out_uri": out_uri,
        "in_process": True,
    }
    log.info("Scoring done in process: %s", summary)
    return summary


def run_scoring(spark, config: ScoringConfig, tiles_uri: str, out_uri: str) -> dict:
    """Score (or featurize) every tile of a tiles table into a Parquet table at ``out_uri``.

    The table is written under a staging directory by the tasks and moved into place by the
    driver, so a failed or retried job never leaves a partial table at ``out_uri``.
    """
    import uuid

    from landshift.lake.base import read_table, write_json
    from landshift.lake.factory import open_lake
    from landshift.lake.publishing import replace_dir

    lake = open_lake(config.lake_root)
    tiles = read_table(lake, tiles_uri)
    columns = ["tile_id", "col", "row", "scene_uri", "chunk", "scene_stats"]
    tasks = list(enumerate(task_groups(tiles[columns], spark.sparkContext.defaultParallelism)))
    log.info(
        "Scoring %d tiles in %d task(s) with model %s/%s (batch %d, %s%s)",
        len(tiles),
        len(tasks),
        config.model_name,
        config.model_version,
        config.batch_size,
        config.precision,
        ", XLA" if config.xla else "",
    )
    staging_uri = lake.uri("staging", uuid.uuid4().hex[:12])
    started = time.perf_counter()
    # One element per slice, so one task per group; no shuffle, a single stage.
    rdd = spark.sparkContext.parallelize(tasks, max(1, len(tasks)))
    manifest = rdd.mapPartitions(score_and_write(config, staging_uri)).collect() if tasks else []
    elapsed = time.perf_counter() - started
    rows = sum(int(m["rows"]) for m in manifest)
    write_json(
        lake,
        f"{staging_uri}/_manifest.json",
        {
            "rows": rows,
            "parts": sorted(int(m["partition"]) for m in manifest if m["rows"]),
            "devices": sorted({m["device"] for m in manifest}),
            "config": asdict(config),
            "tiles_uri": tiles_uri,
        },
    )
    replace_dir(lake, staging_uri, out_uri)
    summary = {
        "tiles": len(tiles),
        "rows": rows,
        "tasks": len(tasks),
        "seconds": round(elapsed, 2),
        "tiles_per_second": round(len(tiles) / elapsed, 2) if elapsed else None,
        "out_uri": out_uri,
    }
    log.info("Scoring done: %s", summary)
    return summary
