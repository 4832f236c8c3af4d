"""Scoring: read planned tiles, run the frozen backbone and the head, emit one row per tile.

The functions here run inside Spark's Python workers: each task gets a run of consecutive chunks
of the plan (raster order, one scene after another), reads windows (on reader threads, one per
task core, while the previous batch is in the model, when a GPU or a second core computes
meanwhile; else between model calls, from scenes kept open between tasks), fills task-long
result arrays, and keeps the model cached for the life of the worker (its heap frozen once the
model is loaded, freed memory kept for reuse); numpy's BLAS runs on one thread while it scores.
The tiles' water share is one of the model's spectral features; for a model without them, the
readers measure it. Pixels never cross the JVM/Python boundary: only tile ids go in and a
one-row manifest comes out.
"""

from __future__ import annotations

import itertools
import logging
import os
import platform
import queue
import resource
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from landshift.core.grid import TileGrid
from landshift.imagery.planning import TILE_COLUMNS, check_scenes_unchanged
from landshift.imagery.scenes import grid_read_env, open_on_grid, read_tiles, scene_on_grid
from landshift.model.spec import SPECTRAL_FEATURE_NAMES

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
    readers: int = 0  # reader threads per task; 0: one per CPU core the task was given
    feed_only: bool = False  # the feed-rate benchmark: reads, batches, results and Parquet, no model

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
    from landshift.model.registry import load_verified
    from landshift.model.spec import Featurizer, ModelSpec

    configure_worker_devices()
    keep_freed_memory()
    lake = open_lake(lake_root)
    if spec_uri:
        spec, head = ModelSpec.from_dict(read_json(lake, spec_uri)), None
    else:
        version = load_verified(lake, model_name, model_version)  # digests checked at use, not only at validation
        spec, head = version.spec, version.head
    with local_copy(lake, spec.weights_uri) as weights_path:
        featurizer = Featurizer(spec, weights_path, precision=precision, xla=xla)
    freeze_worker_heap()
    return LoadedModel(spec, head, featurizer)


def freeze_worker_heap() -> None:
    """In a Spark Python worker, move the objects alive now (TensorFlow, the model: about 390,000)
    out of the cyclic garbage collector's reach. A reused worker runs ``gc.collect()`` after every
    task, which scanned them all: 100-330 ms per task, more than a 750-tile feed-only task's reads.
    New objects are collected as before; elsewhere (the driver, in-process runs) nothing changes.
    Each model load unfreezes first, so a model the cache evicted since is still collected."""
    import gc

    from pyspark import TaskContext

    if TaskContext.get() is not None:
        gc.unfreeze()
        gc.collect()  # free what is garbage already, then freeze the rest
        gc.freeze()


# glibc returns a freed block above its mmap threshold (adaptive, at most 32 MB) to the system at
# once, and the heap's free top above its trim threshold (128 kB): GDAL's buffers for a row of
# 0.6 m tiles and its cache blocks are then mapped afresh and fault in every page again. A
# scoring process keeps them for reuse instead. On the plain 0.6 m GeoTIFF, read and model in
# turns on one core: 59-126 page faults a tile without; 85 with a 32 MB mmap threshold; 0 with
# 64 or 512 MB (0.80-0.90 -> 0.71-0.74 ms a tile); 256 MB leaves room for rows of 64 tiles. A
# worker keeps at most the trim threshold of free heap beyond its peak.
MALLOC_MMAP_THRESHOLD_BYTES = 256 * 2**20
MALLOC_TRIM_THRESHOLD_BYTES = 512 * 2**20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)


@lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed memory of this process for reuse (see the thresholds
    above); whether it did (False off Linux/glibc, where nothing changes)."""
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    mmap_set = libc.mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD_BYTES) == 1
    return libc.mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD_BYTES) == 1 and mmap_set


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
    """Tiles read from one scene, ready for the model: their positions in the task, pixels, stats;
    the kept tiles' water share when the reader computed it (and the seconds that took)."""

    index: np.ndarray
    pixels: np.ndarray
    scene_stats: np.ndarray
    valid_fraction: np.ndarray
    water_share: np.ndarray | None = None
    water_seconds: float = 0.0


@dataclass(frozen=True)
class TaskTiles:
    """One task's tiles as column arrays in scoring order: by chunk, north to south, west to east,
    one scene after another (in order of first appearance)."""

    tile_id: np.ndarray
    col: np.ndarray
    row: np.ndarray
    scene_uri: np.ndarray
    scene_stats: np.ndarray
    scene_revision: np.ndarray  # as planning recorded it ("" where the table has none)

    @classmethod
    def of(cls, tiles: pd.DataFrame) -> TaskTiles:
        """The tiles of a (non-empty) tiles table, ordered for scoring."""
        ordered = tiles.sort_values(["chunk", "row", "col"], ascending=[True, False, True])
        ordered = ordered.iloc[np.argsort(pd.factorize(ordered["scene_uri"])[0], kind="stable")]
        revisions = ordered.get("scene_revision", pd.Series("", index=ordered.index)).fillna("")
        return cls(
            tile_id=ordered["tile_id"].astype(str).to_numpy(),
            col=ordered["col"].to_numpy(np.int32),
            row=ordered["row"].to_numpy(np.int32),
            scene_uri=ordered["scene_uri"].astype(str).to_numpy(),
            scene_stats=np.asarray(ordered["scene_stats"].tolist(), dtype=np.float32),
            scene_revision=revisions.astype(str).to_numpy(),
        )

    def __len__(self) -> int:
        return len(self.tile_id)

    def scenes(self) -> pd.DataFrame:
        """Each scene of the task once, with its recorded revision ("" where none was recorded)."""
        first = np.unique(self.scene_uri, return_index=True)[1]
        return pd.DataFrame({"scene_uri": self.scene_uri[first], "scene_revision": self.scene_revision[first]})

    def spans(self, batch_size: int) -> list[tuple[str, np.ndarray]]:
        """(scene, positions) of each batch: up to ``batch_size`` consecutive tiles of one scene."""
        cuts = [0, *(np.flatnonzero(self.scene_uri[1:] != self.scene_uri[:-1]) + 1), len(self)]
        return [
            (self.scene_uri[start], np.arange(first, min(first + batch_size, stop)))
            for start, stop in itertools.pairwise(cuts)
            for first in range(start, stop, batch_size)
        ]


# Scenes a task's thread keeps open for its worker's next tasks. A worker's next task often goes
# on with the same scene (a mosaic's tiles split into tasks, a quarter-quad across two tasks),
# and opening one can cost as much as reading a hundred of its tiles: a 5 m VRT mosaic of 616
# sources takes 20-50 ms, a scene on ADLS a round trip for its header. A scene open longer than
# KEPT_SCENE_SECONDS is opened afresh (a lake handle then signs with the current credentials).
KEPT_SCENES_PER_THREAD = 8
KEPT_SCENE_SECONDS = 600.0


class KeptScenes:
    """The scenes one thread read last, kept open (at most ``capacity``, the least recently used
    closed first; none longer than ``max_seconds``). A scene is the same while its path and
    planned revision are: a file replaced since has another revision (each task checks the
    revisions against the lake as it starts)."""

    def __init__(self, capacity: int = KEPT_SCENES_PER_THREAD, max_seconds: float = KEPT_SCENE_SECONDS) -> None:
        self.capacity, self.max_seconds = capacity, max_seconds
        self._open: OrderedDict[tuple[str, str, str], tuple[ExitStack, object, float]] = OrderedDict()

    def scene(self, path: str, revision: str, grid: TileGrid):
        """``path`` opened on ``grid`` (``landshift.imagery.scenes.scene_on_grid``), reused while kept."""
        key = (path, revision, grid.crs)
        if key in self._open:
            stack, src, opened_at = self._open[key]
            if time.monotonic() - opened_at <= self.max_seconds:
                self._open.move_to_end(key)
                return src
            del self._open[key]
            stack.close()
        stack = ExitStack()
        src = stack.enter_context(scene_on_grid(path, grid))
        self._open[key] = (stack, src, time.monotonic())
        while len(self._open) > self.capacity:
            self._open.popitem(last=False)[1][0].close()
        return src

    def close(self) -> None:
        """Close every scene kept."""
        while self._open:
            self._open.popitem()[1][0].close()

    def __len__(self) -> int:
        return len(self._open)


_thread_state = threading.local()


def thread_kept_scenes() -> KeptScenes:
    """The scenes this thread keeps open between tasks (a Python worker runs its tasks one after
    another on one thread)."""
    if not hasattr(_thread_state, "kept_scenes"):
        _thread_state.kept_scenes = KeptScenes()
    return _thread_state.kept_scenes


def read_batch(src, task: TaskTiles, index: np.ndarray, grid: TileGrid, spec) -> TileBatch:
    """The tiles at ``index`` of ``task`` read from their open scene at the model's input size."""
    cells = [grid.tile(int(c), int(r)) for c, r in zip(task.col[index], task.row[index], strict=True)]
    reads = read_tiles(src, cells, spec.input_size, resampling=spec.resampling, bands=spec.bands_read)
    pixels = np.stack([pixels for pixels, _ in reads])
    return TileBatch(index, pixels, task.scene_stats[index], np.array([valid for _, valid in reads]))


def read_batches(
    task: TaskTiles, config: ScoringConfig, gdal_path, share: slice = slice(None), kept: KeptScenes | None = None
) -> Iterator[TileBatch]:
    """The batches of ``task`` (or every n-th of them, ``share``) read in this thread, each scene
    opened once (or taken from ``kept``, the scenes this thread keeps open between tasks, when
    the tiles record the scene's revision); when scoring with a model that does not measure
    water, with the kept tiles' water share (off the model's thread)."""
    model, grid = config.load(), config.grid
    spec, readers_measure_water = model.spec, not (config.emit_features or model_measures_water(model))
    spans = task.spans(config.batch_size)[share]
    for scene_uri, group in itertools.groupby(spans, key=lambda span: span[0]):
        indexes = [index for _, index in group]
        revision = str(task.scene_revision[indexes[0][0]])
        if kept is None or not revision:  # a scene without a recorded revision is never kept
            opened = open_on_grid(gdal_path(scene_uri), grid)
        else:
            opened = nullcontext(kept.scene(gdal_path(scene_uri), revision, grid))
        with grid_read_env(), opened as src:
            for index in indexes:
                batch = read_batch(src, task, index, grid, spec)
                keep = batch.valid_fraction >= config.min_valid_fraction
                if keep.any() and readers_measure_water:  # here, so the model's thread only scores
                    mark = time.perf_counter()
                    batch.water_share = batch_water_share(batch, keep, spec)
                    batch.water_seconds = time.perf_counter() - mark
                yield batch


def read_ahead(task: TaskTiles, config: ScoringConfig, gdal_path, readers: int = 1) -> Iterator[TileBatch]:
    """The batches of ``task`` in order, read by ``readers`` threads ahead of the caller (GDAL
    releases the GIL while it decodes): reader k reads batches k, k + readers, ... with its own
    open scene, at most two batches ahead."""
    config.load()  # once, before the readers ask for it together
    count = len(task.spans(config.batch_size))
    readers = max(1, min(readers, count))
    queues: list[queue.Queue] = [queue.Queue(maxsize=1) for _ in range(readers)]
    stop = threading.Event()

    def put(out: queue.Queue, item: object) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read_share(k: int) -> None:
        try:
            for batch in read_batches(task, config, gdal_path, slice(k, None, readers)):
                if not put(queues[k], batch):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(queues[k], exc)

    threads = [
        threading.Thread(target=read_share, args=(k,), name=f"tile-reader-{k}", daemon=True) for k in range(readers)
    ]
    for thread in threads:
        thread.start()
    try:
        for number in range(count):
            item = queues[number % readers].get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def task_cores() -> int:
    """The CPU cores Spark gave the current task (1 outside a task)."""
    from pyspark import TaskContext

    context = TaskContext.get()
    return context.cpus() if context is not None else 1


def task_readers(config: ScoringConfig) -> int:
    """Reader threads of a task: ``config.readers``, else one per CPU core Spark gave the task."""
    return config.readers or task_cores()


def task_batches(task: TaskTiles, config: ScoringConfig, gdal_path, device: str) -> Iterator[TileBatch]:
    """The task's batches: read ahead on reader threads when something computes meanwhile (the
    task's GPU, or its other cores), else in this thread between model calls. On one CPU core a
    reader thread only takes turns with the model: the plain 0.6 m job scored 4-10 % faster
    without it (same application, alternated), the 5 m job as fast."""
    if device.startswith("/GPU") or task_cores() > 1:
        return read_ahead(task, config, gdal_path, task_readers(config))
    return read_batches(task, config, gdal_path, kept=thread_kept_scenes())


@lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """numpy's BLAS on one thread while scoring: the head's small products (64 x 1284 x 68) take
    0.36 ms on one thread and 12-90 ms on OpenBLAS's pool of two competing with TensorFlow; one
    thread also gives the same bits on any machine, whatever its core count."""
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield


def model_measures_water(model: LoadedModel) -> bool:
    """Whether the model's features carry the tiles' water share (a spectral feature, computed in
    the featurizer's graph to the same bits as ``landshift.imagery.water.tile_water_share``)."""
    return model.featurizer.spectral_count > 0


def _probabilities(
    batch: TileBatch, keep: np.ndarray, config: ScoringConfig, classes: int, timings: dict
) -> tuple[np.ndarray, np.ndarray | None]:
    """Class probabilities of the kept tiles of a batch and, when the model measures it, their
    water share (zeros of the same shapes when only feeding; water None when the model does not)."""
    model = config.load()
    measured = model_measures_water(model)
    if config.feed_only:
        kept = int(keep.sum())
        return np.zeros((kept, classes), dtype=np.float32), np.zeros(kept, dtype=np.float32) if measured else None
    mark = time.perf_counter()
    features = model.featurizer.features(batch.pixels[keep], batch.scene_stats[keep])
    timings["model"] = timings.get("model", 0.0) + time.perf_counter() - mark
    mark = time.perf_counter()
    probabilities = model.head.predict_proba(features).astype(np.float32)
    timings["head"] = timings.get("head", 0.0) + time.perf_counter() - mark
    water_column = features.shape[1] - model.featurizer.spectral_count + SPECTRAL_FEATURE_NAMES.index("water_share")
    return probabilities, features[:, water_column] if measured else None


EMPTY_PROBABILITIES = np.zeros(0, dtype=np.float32)


def batch_water_share(batch: TileBatch, keep: np.ndarray, spec) -> np.ndarray:
    """Open-water share (0..1) of the kept tiles of a batch, from the pixels already read: NDWI
    against each scene's threshold (``landshift.imagery.water``), the model spec's floor."""
    from landshift.imagery.water import tile_water_share

    return tile_water_share(batch.pixels[keep], batch.scene_stats[keep], getattr(spec, "water_floor", -1.0))


def score_task(
    task: TaskTiles, batches: Iterator[TileBatch], config: ScoringConfig, device: str, timings: dict | None = None
) -> pd.DataFrame:
    """One row per tile of ``task``: class, probabilities and status; tiles below the valid-pixel
    share are skipped, not scored. Results fill task-long arrays; one frame is built at the end."""
    timings = {} if timings is None else timings
    count = len(task)
    valid, scored = np.zeros(count), np.zeros(count, dtype=bool)
    codes, best_probability = np.zeros(count, dtype=np.int32), np.zeros(count)
    probabilities: list[np.ndarray] = [EMPTY_PROBABILITIES] * count
    water_share = np.zeros(count, dtype=np.float32)
    class_codes = np.asarray(config.load().head.class_codes, dtype=np.int32)
    for batch in batches:
        keep = batch.valid_fraction >= config.min_valid_fraction
        valid[batch.index] = batch.valid_fraction
        if not keep.any():
            continue
        batch_probabilities, measured_water = _probabilities(batch, keep, config, len(class_codes), timings)
        mark = time.perf_counter()
        index, best = batch.index[keep], batch_probabilities.argmax(axis=1)
        scored[index] = True
        codes[index] = class_codes[best]
        best_probability[index] = batch_probabilities[np.arange(len(best)), best]
        for position, row in zip(index, batch_probabilities, strict=True):
            probabilities[position] = row
        timings["results"] = timings.get("results", 0.0) + time.perf_counter() - mark
        mark = time.perf_counter()
        if measured_water is not None:
            water_share[index] = measured_water
        elif batch.water_share is not None:
            water_share[index] = batch.water_share
        else:
            water_share[index] = batch_water_share(batch, keep, config.load().spec)
        timings["water"] = timings.get("water", 0.0) + time.perf_counter() - mark + batch.water_seconds
    mark = time.perf_counter()
    frame = pd.DataFrame(
        {
            "tile_id": task.tile_id,
            "col": task.col,
            "row": task.row,
            "scene_uri": task.scene_uri,
            "valid_fraction": valid,
            "status": np.where(scored, STATUS_SCORED, STATUS_NODATA).astype(object),
            "class_code": codes,
            "probability": best_probability,
            "probabilities": probabilities,
            "water_share": water_share,
            "device": device,
        }
    )
    timings["results"] = timings.get("results", 0.0) + time.perf_counter() - mark
    return frame


def feature_task(task: TaskTiles, batches: Iterator[TileBatch], config: ScoringConfig, device: str) -> pd.DataFrame:
    """Rows carrying embeddings (with augmentation, one row per flip/rotation) of the kept tiles;
    a batch with none kept gives its rows with empty features."""
    frames = []
    for batch in batches:
        keep = batch.valid_fraction >= config.min_valid_fraction
        out = pd.DataFrame(
            {
                "tile_id": task.tile_id[batch.index].astype(object),
                "col": task.col[batch.index],
                "row": task.row[batch.index],
                "scene_uri": task.scene_uri[batch.index].astype(object),
                "valid_fraction": batch.valid_fraction.astype(float),
                "status": np.where(keep, STATUS_SCORED, STATUS_NODATA),
                "class_code": np.zeros(len(keep), dtype=np.int32),
                "probability": np.zeros(len(keep)),
                "probabilities": [EMPTY_PROBABILITIES] * len(keep),
            }
        )
        if keep.any():
            out = _feature_rows(out[keep].reset_index(drop=True), batch.pixels[keep], batch.scene_stats[keep], config)
        else:
            out = out.assign(variant=0, features=[np.zeros(0, dtype=np.float32)] * len(out))
        frames.append(out.assign(device=device))
    return pd.concat(frames, ignore_index=True)


def _feature_rows(scored: pd.DataFrame, pixels: np.ndarray, stats: np.ndarray, config: ScoringConfig) -> pd.DataFrame:
    """Rows carrying features (and, with augmentation, one row per flip/rotation)."""
    from landshift.model.spec import augment

    featurizer = config.load().featurizer
    variants = augment(pixels) if config.augment else [pixels]
    frames = []
    for variant_index, variant in enumerate(variants):
        frame = scored.copy()
        frame["variant"] = variant_index
        frame["features"] = list(featurizer.features(variant, stats).astype(np.float32))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def score_partitions(config: ScoringConfig):
    """A function of tile-table frames yielding one scored frame per call (:func:`score_tiles`)."""

    def run(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        parts = [frame for frame in frames if not frame.empty]
        if parts:
            yield score_tiles(config, TaskTiles.of(pd.concat(parts, ignore_index=True)))

    return run


def score_tiles(config: ScoringConfig, task: TaskTiles) -> pd.DataFrame:
    """One task's rows, scored (or their features, when emitting them), reads overlapped with the
    model; each scene first checked to be the file validation inspected."""
    from landshift.lake.factory import open_lake

    lake = open_lake(config.lake_root)
    check_scenes_unchanged(lake, task.scenes())
    started = time.perf_counter()
    device = task_device()
    with placed_on(device), single_threaded_blas():
        batches = task_batches(task, config, lake.gdal_path, device)
        if config.emit_features:
            frame = feature_task(task, batches, config, device)
        else:
            frame = score_task(task, batches, config, device)
    log.info("Scored %d tiles on %s in %.1f s", len(task), device, time.perf_counter() - started)
    return frame


def profile_task(config: ScoringConfig, tiles: pd.DataFrame) -> dict[str, float]:
    """Milliseconds per tile of each stage of one scoring task, run serially in this thread:
    open (the task's scenes, opened afresh), read (windowed reads, decoding, resampling, the
    batch arrays), model (preprocessing and backbone), head, results (the task's frame), water
    (the tiles' water share) and parquet (the part's bytes), and the total of all but open.

    Scenes are timed apart from reads: a worker keeps its scenes open across tasks, so a job pays
    an opening once per scene and worker, not per task (the bench's 5 m mosaic, a VRT of 616
    sources, takes 20-50 ms: as much as reading 500 of its tiles)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from landshift.lake.factory import open_lake

    lake = open_lake(config.lake_root)
    task, timings = TaskTiles.of(tiles), {"open": 0.0, "read": 0.0}
    fresh = KeptScenes(capacity=max(1, len(set(task.scene_uri))))

    def timed(batches: Iterator[TileBatch]) -> Iterator[TileBatch]:
        while True:
            mark = time.perf_counter()
            batch = next(batches, None)
            timings["read"] += time.perf_counter() - mark - (batch.water_seconds if batch else 0.0)
            if batch is None:
                return
            yield batch

    config.load()
    mark = time.perf_counter()
    for uri, revision in task.scenes().itertuples(index=False):
        if revision:  # read_batches opens (and times within read) a scene without a revision
            fresh.scene(lake.gdal_path(uri), revision, config.grid)
    timings["open"] = time.perf_counter() - mark
    started = time.perf_counter()
    try:
        with single_threaded_blas():
            batches = timed(read_batches(task, config, lake.gdal_path, kept=fresh))
            frame = score_task(task, batches, config, "/CPU:0", timings)
    finally:
        fresh.close()
    mark = time.perf_counter()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), io.BytesIO())  # as write_table does
    timings["parquet"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    return {stage: round(seconds * 1000 / len(task), 4) for stage, seconds in timings.items()}


# Tiles per Spark task, at most. Each task costs Spark's launch and the Python worker's hand-off
# whatever its size: 15-20 ms of a core on local[2] (a no-op job of 6 tasks takes 0.09 s), as much
# as reading 120 5 m tiles. So the job merges the plan's consecutive chunks into tasks of up to
# this many tiles, and never into fewer tasks than the cluster has cores: a cluster's tasks only
# reach the cap when every core has more than that many tiles. The task count is a multiple of
# the cores, so the last wave of tasks keeps every core busy (10,000 tiles on 2 cores: 4 tasks of
# 2,500, not 3 of 3,334 of which the third runs alone). At 4,096 instead of 1,024 the feed-only
# job on 2 cores went from 4,800 to 5,400-7,600 tiles/s per core at 5 m, scoring from
# 1,460-1,700 to 1,820-1,890; a retried task re-reads at most 4,096 tiles (2 s at 5 m on a CPU core).
TILES_PER_TASK = 4096
# Featurizing tasks stay smaller: each tile gives 8 augmented rows of 1,284 floats (40 kB).
FEATURE_TILES_PER_TASK = 1024


def task_groups(tiles: pd.DataFrame, min_tasks: int, tiles_per_task: int = TILES_PER_TASK) -> list[pd.DataFrame]:
    """The tiles cut into tasks of whole, consecutive chunks, about ``tiles_per_task`` each, a
    multiple of ``min_tasks`` (the cores) of them where there are that many chunks."""
    if tiles.empty:
        return []
    sizes = tiles.groupby("chunk", sort=True).size()
    waves = -(-len(tiles) // max(1, tiles_per_task * max(1, min_tasks)))
    tasks = max(1, min_tasks) * max(1, waves)
    if tasks >= len(sizes):  # a task per chunk
        task_of_chunk = np.arange(len(sizes))
    else:  # each chunk to the task its middle tile falls in
        middles = sizes.cumsum().to_numpy() - sizes.to_numpy() / 2
        task_of_chunk = (middles * tasks // len(tiles)).astype(int)
    groups = tiles.groupby(tiles["chunk"].map(dict(zip(sizes.index, task_of_chunk, strict=True))), sort=True)
    return [group.reset_index(drop=True) for _, group in groups]


def score_and_write(config: ScoringConfig, staging_uri: str):
    """A ``mapPartitions`` function: each element is (task index, the task's tiles); it scores the
    tiles, writes them as one Parquet part and yields a one-row manifest.

    Scoring and writing happen in the same Python worker, so results never travel back through
    the JVM. Parts are named by task index, so a retried task overwrites its own part.
    """

    def run(tasks: Iterator[tuple[int, TaskTiles]]) -> Iterator[dict]:
        from landshift.lake.base import write_table
        from landshift.lake.factory import open_lake

        for index, task in tasks:
            started = time.perf_counter()
            table = score_tiles(config, task)  # task_groups makes no empty task
            write_table(open_lake(config.lake_root), f"{staging_uri}/part-{index:05d}.parquet", table)
            seconds = time.perf_counter() - started
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            yield {
                "partition": index,
                "rows": len(table),
                "device": task_device(),
                "seconds": seconds,
                "peak_rss_mb": peak_mb,
            }

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
    columns = [c for c in TILE_COLUMNS if c in tiles]  # plans made before scene_revision lack it
    tiles_per_task = FEATURE_TILES_PER_TASK if config.emit_features else TILES_PER_TASK
    # Each task travels as its column arrays: a tiles frame took 6 us a tile to pickle and unpickle
    # (5 of them its per-tile scene-stats lists) and 2 more to become arrays in the worker; the
    # arrays take 0.35, made once by the driver.
    groups = task_groups(tiles[columns], spark.sparkContext.defaultParallelism, tiles_per_task)
    tasks = list(enumerate(TaskTiles.of(group) for group in groups))
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
        "worker_peak_rss_mb": round(max((m.get("peak_rss_mb", 0.0) for m in manifest), default=0.0), 1),
    }
    log.info("Scoring done: %s", summary)
    return summary
