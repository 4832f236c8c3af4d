"""Fault suite: publishing survives kill -9 at every step, concurrent publishes, failed moves.

Each test runs the real publish function in a real subprocess (``tests/support/publish_worker.py``)
on a lake holding real GeoTIFFs, stops it at a named step (``LANDSHIFT_PUBLISH_PAUSE_AT``), kills
it with SIGKILL, and checks that ``repair_publish`` (or the next publish) leaves the destination
holding the old product or the new one, every file's checksum equal to one of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import LABELS_DIR, REPO_ROOT
from landshift.core.errors import PublishBusyError, is_retryable
from landshift.lake.base import Lake, LocalLake
from landshift.lake.publishing import (
    ENV_PUBLISH_PAUSE_AT,
    journal_uri,
    previous_products,
    publish_dir,
    repair_publish,
    sweep_lake,
)

pytestmark = pytest.mark.data

WORKER = Path(__file__).resolve().parents[1] / "support" / "publish_worker.py"
DEST = ("published", "nd-pothole", "2020")


def checksums(lake: Lake, folder: str) -> dict[str, str]:
    """sha256 of every file under ``folder``, by relative path."""
    prefix = folder.rstrip("/") + "/"
    return {uri[len(prefix) :]: hashlib.sha256(lake.read_bytes(uri)).hexdigest() for uri in lake.list_files(folder)}


def make_product(folder: Path, label_tif: str, marker: str) -> Path:
    """A product folder of real GeoTIFFs (a label raster as the map) and a summary naming it."""
    folder.mkdir(parents=True)
    shutil.copyfile(LABELS_DIR / label_tif, folder / "landuse.tif")
    shutil.copyfile(LABELS_DIR / label_tif.replace("_5m", "_tiles"), folder / "change.tif")
    (folder / "summary.json").write_text(json.dumps({"product": marker}))
    return folder


@pytest.fixture
def products(tmp_path):
    """Two different products built locally, and their checksums."""
    old = make_product(tmp_path / "old", "labels_2009_5m.tif", "old")
    new = make_product(tmp_path / "new", "labels_2014_5m.tif", "new")
    local = LocalLake(str(tmp_path))
    return {
        "old": (str(old), checksums(local, str(old))),
        "new": (str(new), checksums(local, str(new))),
    }


@pytest.fixture
def lake(tmp_path, products):
    """A local lake with the old product published."""
    lake = LocalLake(str(tmp_path / "lake"))
    publish_dir(lake, products["old"][0], lake.uri(*DEST))
    return lake


def start_worker(root: str, source: str, dest: str, pause_at: str = "", extra_env: dict | None = None):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "include"), os.environ.get("PYTHONPATH", "")]),
        ENV_PUBLISH_PAUSE_AT: pause_at,
        **(extra_env or {}),
    }
    return subprocess.Popen(
        [sys.executable, str(WORKER), root, source, dest],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_paused(process: subprocess.Popen, step: str) -> None:
    line = process.stdout.readline()
    if line.strip() != f"PAUSED {step}":
        process.kill()
        raise AssertionError(f"worker did not pause at {step}: {line!r} {process.stderr.read()}")


def kill_at(root: str, source: str, dest: str, step: str, extra_env: dict | None = None) -> None:
    """Run a publish in a subprocess and SIGKILL it at ``step``."""
    process = start_worker(root, source, dest, step, extra_env)
    wait_paused(process, step)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)  # reaped: its pid is gone, as after a killed Airflow task
    assert process.returncode == -signal.SIGKILL


@pytest.mark.parametrize(
    ("step", "outcome", "expected"),
    [
        ("staged", "clean", "old"),  # before the journal: nothing moved, the staged copy is an orphan
        ("journaled", "rolled-forward", "new"),
        ("retired", "rolled-forward", "new"),  # the destination was empty at the kill
        ("moved_in", "completed", "new"),
        ("released", "clean", "new"),
    ],
)
def test_fault_kill_9_during_publish_then_repair_leaves_old_or_new(lake, products, step, outcome, expected):
    dest = lake.uri(*DEST)
    kill_at(lake.root, products["new"][0], dest, step)
    if step == "retired":
        assert not lake.exists(dest)  # the window the old code lost the product in
    assert repair_publish(lake, dest) == outcome
    assert checksums(lake, dest) == products[expected][1]
    assert not lake.exists(journal_uri(lake, dest))


def test_fault_next_publish_repairs_an_interrupted_one_first(lake, products, tmp_path):
    dest = lake.uri(*DEST)
    kill_at(lake.root, products["new"][0], dest, "retired")
    third = make_product(tmp_path / "third", "labels_2009_5m.tif", "third")
    publish_dir(lake, str(third), dest)
    assert json.loads(lake.read_bytes(f"{dest}/summary.json")) == {"product": "third"}
    assert not lake.exists(journal_uri(lake, dest))
    assert lake.list_files(lake.uri("trash")) == []  # keep_previous 0: the replaced products are gone


def test_fault_sweep_removes_stale_staging_and_keeps_the_product(lake, products):
    dest = lake.uri(*DEST)
    kill_at(lake.root, products["new"][0], dest, "staged")
    assert lake.list_files(lake.uri("staging"))  # the orphaned upload
    report = sweep_lake(lake, stale_after_s=0)
    assert len(report["staging_removed"]) == 1
    assert lake.list_files(lake.uri("staging")) == []
    assert checksums(lake, dest) == products["old"][1]


def test_fault_sweep_repairs_every_interrupted_publish(lake, products):
    dest = lake.uri(*DEST)
    kill_at(lake.root, products["new"][0], dest, "retired")
    report = sweep_lake(lake, stale_after_s=3600)
    assert report["repaired"] == {dest: "rolled-forward"}
    assert checksums(lake, dest) == products["new"][1]


def test_fault_repair_leaves_a_live_publish_alone(lake, products):
    dest = lake.uri(*DEST)
    process = start_worker(lake.root, products["new"][0], dest, "retired")
    try:
        wait_paused(process, "retired")
        assert repair_publish(lake, dest) == "busy"
        assert not lake.exists(dest)  # untouched: the live publisher finishes it
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert repair_publish(lake, dest) == "rolled-forward"
    assert checksums(lake, dest) == products["new"][1]


def test_fault_busy_publish_is_a_transient_error(lake, products, tmp_path):
    dest = lake.uri(*DEST)
    process = start_worker(lake.root, products["new"][0], dest, "journaled")
    try:
        wait_paused(process, "journaled")
        third = make_product(tmp_path / "third", "labels_2009_5m.tif", "third")
        with pytest.raises(PublishBusyError, match="in progress") as raised:
            from landshift.lake.publishing import replace_dir

            staging = lake.uri("staging", "manual-test")
            lake.upload_dir(str(third), staging)
            replace_dir(lake, staging, dest, wait_s=0.5)
        assert is_retryable(raised.value)
        assert checksums(lake, dest) == products["old"][1]
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_fault_two_concurrent_publishes_of_one_dest_serialise(lake, products):
    dest = lake.uri(*DEST)
    first = start_worker(lake.root, products["old"][0], dest, "journaled:2", {"LANDSHIFT_KEEP_PREVIOUS_PRODUCTS": "5"})
    wait_paused(first, "journaled")  # holds the journal (the lock) for 2 s
    second = start_worker(lake.root, products["new"][0], dest, "", {"LANDSHIFT_KEEP_PREVIOUS_PRODUCTS": "5"})
    started = time.monotonic()
    assert second.wait(timeout=60) == 0, second.stderr.read()
    assert first.wait(timeout=60) == 0, first.stderr.read()
    assert time.monotonic() - started > 0.5  # the second waited for the first
    assert checksums(lake, dest) == products["new"][1]
    kept = [checksums(lake, uri) for uri in previous_products(lake, dest)]
    assert kept == [products["old"][1], products["old"][1]]  # each replaced product whole
    assert not lake.exists(journal_uri(lake, dest))


def test_fault_failed_move_in_rolls_back_in_process(lake, products):
    dest = lake.uri(*DEST)
    from landshift.lake.publishing import replace_dir

    with pytest.raises(FileNotFoundError):
        replace_dir(lake, lake.uri("staging", "vanished"), dest)  # the staged folder is gone
    assert checksums(lake, dest) == products["old"][1]
    assert not lake.exists(journal_uri(lake, dest))


def test_fault_keep_previous_products_is_configurable(lake, products, monkeypatch):
    dest = lake.uri(*DEST)
    monkeypatch.setenv("LANDSHIFT_KEEP_PREVIOUS_PRODUCTS", "2")
    for name in ("new", "old", "new"):
        publish_dir(lake, products[name][0], dest)
    kept = previous_products(lake, dest)
    assert [checksums(lake, uri) for uri in kept] == [products["new"][1], products["old"][1]]
    assert checksums(lake, dest) == products["new"][1]
    monkeypatch.setenv("LANDSHIFT_KEEP_PREVIOUS_PRODUCTS", "0")
    assert len(sweep_lake(lake)["trash_removed"]) == 2
    assert previous_products(lake, dest) == []


@pytest.mark.integration
def test_fault_kill_9_on_the_adls_backend_then_repair(products, tmp_path):
    from azure.storage.filedatalake import DataLakeServiceClient
    from support.adls_double.dfs_server import ACCOUNT, DEV_ACCOUNT_KEY
    from support.adls_double.fixtures import dfs_double

    from landshift.lake.adls import AdlsLake, AdlsSettings

    with dfs_double() as server:
        settings = AdlsSettings(account_name=ACCOUNT, account_key=DEV_ACCOUNT_KEY, dfs_endpoint=server.endpoint)
        DataLakeServiceClient(server.endpoint, credential=settings.credential(ACCOUNT)).create_file_system("faults")
        lake = AdlsLake(f"abfss://faults@{ACCOUNT}.dfs.core.windows.net/lake", settings)
        dest = lake.uri(*DEST)
        publish_dir(lake, products["old"][0], dest)
        env = {"AZURE_STORAGE_ACCOUNT_KEY": DEV_ACCOUNT_KEY, "LANDSHIFT_ADLS_DFS_ENDPOINT": server.endpoint}
        kill_at(lake.root, products["new"][0], dest, "retired", env)
        assert not lake.exists(dest)
        assert repair_publish(lake, dest) == "rolled-forward"
        assert checksums(lake, dest) == products["new"][1]
        assert not lake.exists(journal_uri(lake, dest))


def test_fault_corrupt_journal_is_an_integrity_error_and_the_product_stays(lake, products):
    from landshift.core.errors import IntegrityError

    dest = lake.uri(*DEST)
    Path(journal_uri(lake, dest)).mkdir(parents=True)
    Path(journal_uri(lake, dest), "intent.json").write_text('{"dest": ')
    with pytest.raises(IntegrityError, match=r"journal .* is unreadable"):
        repair_publish(lake, dest)
    assert not is_retryable(IntegrityError("x"))
    assert checksums(lake, dest) == products["old"][1]
