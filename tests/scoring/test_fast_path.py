"""The scoring task's fast path (task-long result arrays, one frame per task, reader threads, one
BLAS thread) writes the same table, byte for byte, as the per-batch path it replaced; the feed-only
run keeps the table's shape; the profile names each stage. Real scenes, real model, real reads."""

from __future__ import annotations

import io
import shutil
import threading
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from landshift.core.grid import TileGrid
from landshift.core.legend import DEFAULT_LEGEND
from landshift.imagery.planning import plan_tiles
from landshift.imagery.scenes import open_on_grid, read_tiles
from landshift.lake.base import LocalLake
from landshift.model.registry import register_version
from landshift.model.spec import SPECTRAL_FEATURE_NAMES, Head
from landshift.regions.registry import get_region
from landshift.run.demo import seed_lake
from landshift.run.training import TrainingRequest, model_spec_for
from landshift.scoring.batch import (
    STATUS_NODATA,
    STATUS_SCORED,
    KeptScenes,
    ScoringConfig,
    TaskTiles,
    profile_task,
    read_ahead,
    read_batches,
    score_partitions,
    single_threaded_blas,
    task_batches,
)

pytestmark = [pytest.mark.data]
MODEL = "fast-path-model"
EMBEDDING = 1280  # MobileNetV2's pooled features


@pytest.fixture(scope="module")
def scoring(tmp_path_factory, shared_data):
    """A seeded lake, a registered model (real backbone, random head) and the 2020 scene's plan."""
    lake = LocalLake(str(tmp_path_factory.mktemp("lake")))
    seed_lake(shared_data, lake)
    spec = model_spec_for(TrainingRequest(lake.root, get_region("nd-pothole"), (2009, 2014), MODEL), lake)
    width = EMBEDDING + len(SPECTRAL_FEATURE_NAMES)
    rng = np.random.default_rng(7)
    head = Head(
        offset=rng.normal(size=width).astype(np.float32),
        projection=rng.normal(size=(width, 16)).astype(np.float32) / 30,
        mean=np.zeros(16, np.float32),
        scale=np.ones(16, np.float32),
        weights=rng.normal(size=(16, 3)).astype(np.float32),
        bias=np.zeros(3, np.float32),
        class_codes=(11, 71, 82),
    )
    version = register_version(lake, MODEL, spec, head, DEFAULT_LEGEND.subset([11, 71, 82]), {}, {}).version
    scene = lake.uri("raw", "imagery", "nd-pothole", "2020", "m_4709963_se_14_1_20200831.tif")
    tiles = plan_tiles(lake, [scene], TileGrid("EPSG:26914", 224), None, 100).tiles
    return lake, ScoringConfig(lake.root, MODEL, version, "EPSG:26914", 224.0), tiles


def previous_path(tiles: pd.DataFrame, config: ScoringConfig, gdal_path) -> pd.DataFrame:
    """The per-batch path the fast path replaced: one pandas frame per 64-tile batch, concatenated."""
    model, grid, frames = config.load(), config.grid, []
    tiles = tiles.sort_values(["chunk", "row", "col"], ascending=[True, False, True])
    for scene_uri, scene_tiles in tiles.groupby("scene_uri", sort=False):
        with open_on_grid(gdal_path(scene_uri), grid) as src:
            for start in range(0, len(scene_tiles), config.batch_size):
                rows = scene_tiles.iloc[start : start + config.batch_size].reset_index(drop=True)
                cells = [grid.tile(int(c), int(r)) for c, r in zip(rows["col"], rows["row"], strict=True)]
                reads = read_tiles(src, cells, model.spec.input_size, resampling=model.spec.resampling)
                pixels = np.stack([p for p, _ in reads])
                stats = np.stack([np.asarray(s, dtype=np.float32) for s in rows["scene_stats"]])
                valid = np.array([v for _, v in reads])
                keep = valid >= config.min_valid_fraction
                out = pd.DataFrame(
                    {
                        "tile_id": rows["tile_id"].astype(str),
                        "col": rows["col"].astype(np.int32),
                        "row": rows["row"].astype(np.int32),
                        "scene_uri": rows["scene_uri"].astype(str),
                        "valid_fraction": valid.astype(float),
                        "status": np.where(keep, STATUS_SCORED, STATUS_NODATA),
                        "class_code": np.zeros(len(keep), dtype=np.int32),
                        "probability": np.zeros(len(keep)),
                        "probabilities": [np.zeros(0, dtype=np.float32)] * len(keep),
                    }
                )
                if keep.any():
                    probabilities = model.head.predict_proba(model.featurizer.features(pixels[keep], stats[keep]))
                    probabilities = probabilities.astype(np.float32)
                    best = probabilities.argmax(axis=1)
                    out.loc[keep, "class_code"] = np.asarray(model.head.class_codes, dtype=np.int32)[best]
                    out.loc[keep, "probability"] = probabilities[np.arange(len(best)), best].astype(float)
                    out.loc[keep, "probabilities"] = pd.Series(list(probabilities), index=out.index[keep])
                frames.append(out.assign(device="/CPU:0"))
    return pd.concat(frames, ignore_index=True)


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """The bytes ``landshift.lake.base.write_table`` writes for a frame."""
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue()


def fast_path(tiles: pd.DataFrame, config: ScoringConfig) -> pd.DataFrame:
    """The job's task body, in process."""
    return pd.concat(score_partitions(config)(iter([tiles])), ignore_index=True)


@pytest.mark.parametrize("readers", [1, 3])
def test_the_fast_path_writes_the_previous_paths_table_byte_for_byte(scoring, readers):
    lake, config, tiles = scoring
    with single_threaded_blas():  # the previous path under the thread layout the job now uses
        before = previous_path(tiles, config, lake.gdal_path)
    after = fast_path(tiles, replace(config, readers=readers))
    assert len(after) == len(tiles) >= 300
    assert set(after["status"]) == {STATUS_SCORED, STATUS_NODATA}  # the scene's edge tiles are skipped
    assert len(set(after.loc[after["status"] == STATUS_SCORED, "class_code"])) > 1
    # Columns added since (the tiles' water share) are not the previous path's to compare.
    assert parquet_bytes(after[list(before.columns)]) == parquet_bytes(before)


def test_the_feed_only_run_keeps_the_tables_shape_without_the_model(scoring):
    _, config, tiles = scoring
    scored, fed = fast_path(tiles, config), fast_path(tiles, replace(config, feed_only=True))
    assert list(fed.columns) == list(scored.columns) and fed.dtypes.equals(scored.dtypes)
    assert fed[["tile_id", "status", "valid_fraction"]].equals(scored[["tile_id", "status", "valid_fraction"]])
    kept = fed[fed["status"] == STATUS_SCORED]
    assert {len(p) for p in kept["probabilities"]} == {3} and (kept["probability"] == 0).all()


def test_reader_threads_hand_batches_over_in_order_and_raise_a_readers_error(scoring):
    lake, config, tiles = scoring
    task = TaskTiles.of(tiles)
    batches = list(read_ahead(task, config, lake.gdal_path, readers=4))
    assert np.array_equal(np.concatenate([b.index for b in batches]), np.arange(len(task)))
    with pytest.raises(Exception, match=r"missing\.tif"):
        list(read_ahead(task, config, lambda _uri: f"{lake.root}/missing.tif", readers=2))


def test_a_one_core_cpu_task_reads_between_model_calls_and_a_gpu_task_reads_ahead(scoring):
    # On one CPU core a reader thread only takes turns with the model (the plain 0.6 m job scored
    # 4-10 % faster without it); a GPU computes meanwhile, so its task reads ahead.
    lake, config, tiles = scoring
    task, readers = TaskTiles.of(tiles), []

    def recorded(uri: str) -> str:
        readers.append(threading.current_thread().name)
        return lake.gdal_path(uri)

    between = list(task_batches(task, config, recorded, "/CPU:0"))
    assert readers == [threading.current_thread().name]  # one scene, opened by the caller
    readers.clear()
    ahead = list(task_batches(task, config, recorded, "/GPU:0"))
    assert readers == ["tile-reader-0"]
    for one, other in zip(between, ahead, strict=True):
        assert np.array_equal(one.index, other.index) and np.array_equal(one.pixels, other.pixels)


def test_a_thread_keeps_its_scenes_open_between_tasks_while_they_are_the_same_file(scoring, tmp_path):
    # A worker's next task often goes on with the same scene; opening a 5 m VRT mosaic of 616
    # sources costs 20-50 ms, as much as reading a hundred of its tiles.
    lake, config, tiles = scoring
    grid, path = config.grid, lake.gdal_path(tiles["scene_uri"].iloc[0])
    kept = KeptScenes(capacity=2)
    first = kept.scene(path, "1:a", grid)
    assert kept.scene(path, "1:a", grid) is first
    rewritten = kept.scene(path, "1:b", grid)  # the same path holding another file
    assert rewritten is not first and not first.closed
    other = shutil.copy(path, tmp_path / "other.tif")
    kept.scene(str(other), "1:a", grid)  # a third scene: the least recently used one closes
    assert first.closed and not rewritten.closed and len(kept) == 2
    kept.close()
    assert rewritten.closed and len(kept) == 0
    brief = KeptScenes(max_seconds=0.0)  # kept no longer than that: opened afresh
    stale = brief.scene(path, "1:a", grid)
    time.sleep(0.01)
    assert brief.scene(path, "1:a", grid) is not stale and stale.closed

    task, kept = TaskTiles.of(tiles), KeptScenes()
    fresh = list(read_batches(task, config, lake.gdal_path))
    for _ in range(2):  # two tasks of the same tiles: the second reads from the scene kept open
        again = list(read_batches(task, config, lake.gdal_path, kept=kept))
        assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(fresh, again, strict=True))
        assert len(kept) == 1
    unrecorded = KeptScenes()
    list(read_batches(TaskTiles.of(tiles.drop(columns="scene_revision")), config, lake.gdal_path, kept=unrecorded))
    assert len(unrecorded) == 0  # no revision recorded: opened for the task only


def expected_water_share(tiles: pd.DataFrame, config: ScoringConfig, gdal_path) -> pd.Series:
    """Each kept tile's water share measured by ``landshift.imagery.water`` on the pixels scoring reads."""
    from landshift.imagery.water import tile_water_share

    task, floor = TaskTiles.of(tiles), config.load().spec.water_floor
    shares = pd.Series(0.0, index=task.tile_id, dtype=np.float32)
    for batch in read_ahead(task, replace(config, emit_features=True), gdal_path):
        keep = batch.valid_fraction >= config.min_valid_fraction
        if keep.any():
            shares.iloc[batch.index[keep]] = tile_water_share(batch.pixels[keep], batch.scene_stats[keep], floor)
    return shares


def test_the_water_share_is_the_models_spectral_feature_and_readers_measure_it_only_for_models_without(scoring):
    # The featurizer's graph measures water to the same bits as landshift.imagery.water: measuring
    # it again on the readers cost the feed 0.014 of its 0.159 ms a tile (5 m, 2 cores).
    lake, config, tiles = scoring
    expected = expected_water_share(tiles, config, lake.gdal_path)
    assert (expected > 0).any() and (expected == 0).any()
    task = TaskTiles.of(tiles)
    assert all(b.water_share is None for b in read_ahead(task, config, lake.gdal_path, readers=2))
    scored = fast_path(tiles, config).set_index("tile_id")["water_share"]
    assert np.array_equal(scored.loc[expected.index].to_numpy(), expected.to_numpy())

    model = config.load()
    no_spectral = replace(model.spec, spectral_features=False)
    head = replace(model.head, offset=model.head.offset[:EMBEDDING], projection=model.head.projection[:EMBEDDING])
    legend = DEFAULT_LEGEND.subset(list(head.class_codes))
    version = register_version(lake, MODEL, no_spectral, head, legend, {}, {}).version
    plain = replace(config, model_version=version)
    batches = list(read_ahead(task, plain, lake.gdal_path, readers=2))
    kept = [b for b in batches if (b.valid_fraction >= config.min_valid_fraction).any()]
    assert kept and all(b.water_share is not None and b.water_seconds > 0 for b in kept)
    scored = fast_path(tiles, plain).set_index("tile_id")["water_share"]
    assert np.array_equal(scored.loc[expected.index].to_numpy(), expected.to_numpy())
    assert (fast_path(tiles, replace(plain, feed_only=True))["water_share"] > 0).any()  # readers measure it


def test_the_scoring_jobs_workers_freeze_their_heap_once_the_model_is_loaded(scoring, spark):
    # PySpark's reused workers run gc.collect() after every task: TensorFlow's ~390,000 objects
    # must be out of its reach (frozen), or each task pays 100-330 ms for the collection.
    from landshift.lake.base import write_table
    from landshift.scoring.batch import run_scoring

    lake, config, tiles = scoring
    uri = lake.uri("fast-path", "tiles.parquet")
    write_table(lake, uri, tiles)
    assert run_scoring(spark, config, uri, lake.uri("fast-path", "scored"))["rows"] == len(tiles)

    def freeze_count(rows):
        import gc

        return [len(list(rows)) * 0 + gc.get_freeze_count()]

    assert max(spark.sparkContext.parallelize(range(2), 2).mapPartitions(freeze_count).collect()) > 100_000


def test_the_profile_names_each_stage_in_ms_per_tile(scoring):
    _, config, tiles = scoring
    stages = profile_task(config, tiles)
    assert {"open", "read", "model", "head", "results", "parquet", "total"} <= set(stages)
    assert all(value >= 0 for value in stages.values())
    assert stages["open"] > 0  # the scenes, opened before the reads and timed apart from them
    assert stages["total"] >= stages["read"] + stages["model"] > 0
