"""Real `airflow dags test` runs of both DAGs on a seeded lake, twice: idempotent and identical."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, SHARED_DATA
from landshift.products.layout import PRODUCT_FILES

pytestmark = [pytest.mark.slow, pytest.mark.data]
AIRFLOW = str(Path(sys.executable).parent / "airflow")


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    """An isolated embedded Airflow (SQLite) and a seeded lake."""
    home = tmp_path_factory.mktemp("airflow-home")
    lake = tmp_path_factory.mktemp("lake")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_SPARK_DEFAULT": '{"conn_type": "spark", "host": "local[2]"}',
        "LANDSHIFT_LAKE_ROOT": str(lake),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": f"{REPO_ROOT / 'plugins'}:{REPO_ROOT / 'include'}",  # this checkout's library first
        "SPARK_LOCAL_IP": "127.0.0.1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    subprocess.run(
        [AIRFLOW, "pools", "set", "landshift_spark", "2", "LandShift"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(
        [sys.executable, "-m", "landshift.run.demo", str(SHARED_DATA), str(lake)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return env, lake


def dags_test(env: dict, dag_id: str, conf: dict) -> str:
    """Run one DAG with `airflow dags test`; return its output, failing on a failed run."""
    result = subprocess.run(
        [AIRFLOW, "dags", "test", dag_id, "-c", json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "state=success" in output, output[-4000:]
    return output


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_training_then_region_dag_publish_and_repeat_identically(airflow_env):
    env, lake = airflow_env
    dags_test(env, "landshift_train", {"region": "nd-pothole"})
    alias = json.loads((lake / "models" / "landshift-mobilenetv2" / "aliases" / "production.json").read_text())
    assert alias == {"version": "1"}
    metrics = json.loads((lake / "models" / "landshift-mobilenetv2" / "1" / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.80 and len(metrics["cross_year"]["directions"]) == 3  # one per label year

    output = dags_test(env, "landshift_region_nd-pothole", {"vintage": "2020"})
    assert "Published" in output
    product = lake / "published" / "nd-pothole" / "2020"
    first = digests(product)
    assert set(first) == set(PRODUCT_FILES)
    summary = json.loads((product / "summary.json").read_text())
    assert summary["model"]["version"] == "1"
    assert summary["change"]["transition_matrix"]["82"]["11"] > 0

    # Again: the same model version is found (nothing new registered) and the rasters are identical.
    dags_test(env, "landshift_train", {"region": "nd-pothole"})
    assert sorted(p.name for p in (lake / "models" / "landshift-mobilenetv2").iterdir()) == ["1", "aliases"]
    dags_test(env, "landshift_region_nd-pothole", {"vintage": "2020"})
    assert digests(product) == first  # every published file, byte for byte


def test_a_vintage_without_imagery_is_skipped_not_failed(airflow_env):
    env, lake = airflow_env
    output = dags_test(env, "landshift_region_nd-pothole", {"vintage": "2011"})
    assert "no imagery for nd-pothole 2011" in output
    assert not (lake / "published" / "nd-pothole" / "2011").exists()


REGION_DAG = "landshift_region_nd-pothole"


def mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_scheduled_run_publishes_every_vintage_lacking_a_product_and_leaves_current_ones_untouched(airflow_env):
    env, lake = airflow_env  # the first test published 2020 with model version 1
    region_root = lake / "published" / "nd-pothole"
    current_2020 = mtimes(region_root / "2020")
    assert current_2020, "the first test should have published 2020"
    output = dags_test(env, REGION_DAG, {})
    with_imagery = sorted(p.name for p in (lake / "raw" / "imagery" / "nd-pothole").iterdir())
    assert len(with_imagery) == 10
    assert "9 of 10 vintages with imagery to publish" in output
    assert sorted(p.name for p in region_root.iterdir() if p.is_dir()) == with_imagery
    assert mtimes(region_root / "2020") == current_2020  # not republished, not touched
    for vintage in with_imagery:
        summary = json.loads((region_root / vintage / "summary.json").read_text())
        assert summary["inputs"]["fingerprint"]["model"] == {"name": "landshift-mobilenetv2", "version": "1"}


def test_nothing_new_means_no_spark_job_and_a_replaced_scene_republishes_only_its_vintage(airflow_env):
    env, lake = airflow_env
    region_root = lake / "published" / "nd-pothole"
    before = mtimes(region_root)
    output = dags_test(env, REGION_DAG, {})
    assert "all 10 vintages with imagery are current" in output
    assert "spark-submit" not in output  # the scoring task never ran
    assert mtimes(region_root) == before

    scene = next((lake / "raw" / "imagery" / "nd-pothole" / "2016").glob("*.tif"))
    scene.write_bytes(scene.read_bytes())  # re-delivered: same bytes, a new file version
    output = dags_test(env, REGION_DAG, {})
    assert "1 of 10 vintages with imagery to publish" in output and "2016 (imagery changed)" in output
    after = mtimes(region_root)
    changed = {name.split("/")[0] for name in after if after[name] != before.get(name)}
    assert changed <= {"2016", "collection.json"} and "2016" in changed
