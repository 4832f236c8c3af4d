"""How the scoring job cuts a plan into Spark tasks (pure), and its Python workers' heap (real local Spark)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from landshift.scoring.batch import task_groups


def plan(chunk_sizes: list[int]) -> pd.DataFrame:
    """A tiles table with consecutive chunks of the given sizes, in plan order."""
    chunks = np.repeat(np.arange(len(chunk_sizes)), chunk_sizes)
    return pd.DataFrame({"tile_id": [f"t{i}" for i in range(len(chunks))], "chunk": chunks})


def test_small_chunks_merge_into_one_task_per_core():
    groups = task_groups(plan([256, 256, 256, 156, 256, 256, 256, 156]), min_tasks=2, tiles_per_task=1024)
    assert [len(g) for g in groups] == [924, 924]
    assert [sorted(g["chunk"].unique()) for g in groups] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_large_plans_get_tasks_of_about_tiles_per_task():
    groups = task_groups(plan([256] * 40), min_tasks=2, tiles_per_task=1024)
    assert len(groups) == 10
    assert {len(g) for g in groups} == {1024}


def test_the_task_count_is_a_multiple_of_the_cores():
    # 3,000 tiles on 2 cores: 3 tasks of ~1,000 would leave one core idle while the third runs.
    groups = task_groups(plan([256] * 11 + [184]), min_tasks=2, tiles_per_task=1024)
    assert [len(g) for g in groups] == [768, 768, 768, 696]


def test_never_more_tasks_than_chunks_and_every_tile_once_in_order():
    tiles = plan([300, 5, 120])
    groups = task_groups(tiles, min_tasks=16, tiles_per_task=10)
    assert len(groups) == 3
    joined = pd.concat(groups, ignore_index=True)
    assert joined["tile_id"].tolist() == tiles["tile_id"].tolist()
    for group in groups:  # a chunk is never split between tasks
        assert group["chunk"].nunique() == 1


@pytest.mark.parametrize("sizes", [[1], [7, 7, 7], [500, 1, 1, 1, 500]])
def test_chunks_stay_whole_and_consecutive(sizes):
    tiles = plan(sizes)
    groups = task_groups(tiles, min_tasks=2, tiles_per_task=4)
    seen = [sorted(g["chunk"].unique()) for g in groups]
    flat = [c for chunks in seen for c in chunks]
    assert flat == list(range(len(sizes)))
    for chunks in seen:
        assert chunks == list(range(chunks[0], chunks[-1] + 1))


def test_an_empty_plan_has_no_tasks():
    assert task_groups(plan([]), min_tasks=2) == []


def test_the_jobs_reader_threads_come_from_its_arguments():
    from landshift.scoring.spark import JobUsageError, scoring_config

    required = ["--lake-root", "/lake", "--tiles", "t", "--out", "o", "--crs", "EPSG:26914", "--tile-size-m", "224"]
    model = ["--model-name", "m", "--model-version", "1"]
    assert scoring_config([*required, *model])[0].readers == 0  # one per core Spark gives the task
    assert scoring_config([*required, *model, "--readers", "8"])[0].readers == 8
    with pytest.raises(JobUsageError, match="--readers"):
        scoring_config([*required, *model, "--readers", "-1"])


def test_a_spark_worker_freezes_its_heap_and_the_driver_does_not(spark):
    # A reused worker runs gc.collect() after each task; objects alive when the model was loaded
    # (TensorFlow's: ~390,000) are frozen so that it stops scanning them (100-330 ms per task).
    # The next load unfreezes first: garbage frozen meanwhile (an evicted model) is still freed.
    import gc

    from landshift.scoring.batch import freeze_worker_heap

    def frozen_in_task(_):
        import gc
        import weakref

        from landshift.scoring.batch import freeze_worker_heap

        class Node:
            pass

        node = Node()
        node.cycle = node
        alive = weakref.ref(node)
        freeze_worker_heap()
        frozen_with_node = gc.get_freeze_count()
        del node  # now cyclic garbage, frozen
        freeze_worker_heap()
        return frozen_with_node, alive() is None

    frozen, freed = spark.sparkContext.parallelize([0], 1).map(frozen_in_task).collect()[0]
    assert frozen > 1000
    assert freed
    before = gc.get_freeze_count()
    freeze_worker_heap()
    assert gc.get_freeze_count() == before


def test_the_jvm_compiles_with_c1_only_and_keeps_sparks_own_options(spark):
    # A job's JVM passes tile ids and results only; C2's compiles cost more than they save.
    runtime = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    arguments = list(runtime.getInputArguments())
    assert "-XX:TieredStopAtLevel=1" in arguments
    assert any(argument.startswith("--add-opens") for argument in arguments)  # Spark's module options stay
