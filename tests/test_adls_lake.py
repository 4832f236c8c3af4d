"""The ADLS Gen2 lake through the real Azure SDK and GDAL, against the loopback test double."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adls_double.dfs_server import ACCOUNT, serve
from conftest import NAIP_2020, REPO_ROOT, SHARED_DATA
from landshift.errors import InputError, NotFoundError
from landshift.lake import open_lake, publish_dir, read_table, write_table

pytestmark = pytest.mark.integration
# Azurite's published development key: not a secret, but the tests check it never leaks anyway.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.fixture(scope="module")
def double():
    server = serve(0)
    yield server
    server.shutdown()


@pytest.fixture
def adls_env(double, monkeypatch):
    endpoint = f"http://127.0.0.1:{double.server_port}/{ACCOUNT}"
    env = {
        "LANDSHIFT_ADLS_ENDPOINT": endpoint,
        "AZURE_STORAGE_ACCOUNT_NAME": ACCOUNT,
        "AZURE_STORAGE_ACCOUNT_KEY": ACCOUNT_KEY,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def new_lake(double, name: str):
    from azure.storage.filedatalake import DataLakeServiceClient

    service = DataLakeServiceClient(
        os.environ["LANDSHIFT_ADLS_ENDPOINT"], credential={"account_name": ACCOUNT, "account_key": ACCOUNT_KEY}
    )
    service.create_file_system(name)
    return open_lake(f"abfss://{name}@{ACCOUNT}.dfs.core.windows.net/lake")


def test_every_lake_operation_through_the_sdk(double, adls_env, tmp_path):
    lake = new_lake(double, "ops")
    target = lake.uri("a", "b", "c.json")
    lake.write_bytes(target, b'{"x": 1}')
    assert lake.read_bytes(target) == b'{"x": 1}'
    assert lake.exists(target) and lake.exists(lake.uri("a", "b")) and not lake.exists(lake.uri("nope"))
    lake.write_bytes(lake.uri("a", "d.txt"), b"d")
    assert lake.list_files(lake.uri("a")) == [lake.uri("a", "b", "c.json"), lake.uri("a", "d.txt")]
    assert lake.list_files(lake.uri("a"), ".json") == [target]
    assert lake.list_files(lake.uri("missing")) == []
    table = __import__("pandas").DataFrame({"tile_id": ["E1_N2"], "value": [3.5]})
    write_table(lake, lake.uri("t", "part-0.parquet"), table)
    assert read_table(lake, lake.uri("t")).equals(table)
    lake.download(target, str(tmp_path / "c.json"))
    assert (tmp_path / "c.json").read_bytes() == b'{"x": 1}'
    lake.move(lake.uri("a"), lake.uri("moved", "a"))
    assert lake.read_bytes(lake.uri("moved", "a", "b", "c.json")) == b'{"x": 1}' and not lake.exists(target)
    with pytest.raises(FileExistsError):
        lake.move(lake.uri("t"), lake.uri("moved", "a"))
    lake.delete(lake.uri("moved"))
    assert not lake.exists(lake.uri("moved", "a", "d.txt"))
    with pytest.raises(NotFoundError):
        lake.read_bytes(target)
    with pytest.raises(InputError, match="not in the lake"):
        lake.read_bytes("abfss://other@devstoreaccount1.dfs.core.windows.net/x")
    assert lake.gdal_path(target) == "/vsiaz/ops/lake/a/b/c.json"


def test_windowed_raster_reads_through_gdal_vsiaz(double, adls_env):
    import rasterio

    lake = new_lake(double, "rasters")
    uri = lake.uri("raw", "imagery", "scene.tif")
    lake.write_bytes(uri, NAIP_2020.read_bytes())
    window = ((300, 340), (500, 560))
    before = len(double.store.requests)
    with rasterio.open(lake.gdal_path(uri)) as remote, rasterio.open(NAIP_2020) as local:
        assert remote.crs == local.crs and remote.transform == local.transform
        assert np.array_equal(remote.read(window=window), local.read(window=window))
    reads = [r for r in double.store.requests[before:] if r.startswith("GET")]
    assert reads, "GDAL must read through the blob endpoint"


def test_a_failed_publish_leaves_the_product_untouched_and_a_retry_succeeds(double, adls_env, tmp_path):
    lake = new_lake(double, "publish")
    dest = lake.uri("published", "nd-pothole", "2020")
    first, second = tmp_path / "v1", tmp_path / "v2"
    for folder, text in ((first, "old"), (second, "new")):
        folder.mkdir()
        (folder / "summary.json").write_text(json.dumps({"product": text}))
    publish_dir(lake, str(first), dest)
    double.store.fail_renames_after = 1  # the old product moves aside, the new one fails to move in
    with pytest.raises(Exception, match="InjectedFailure"):
        publish_dir(lake, str(second), dest)
    assert json.loads(lake.read_bytes(f"{dest}/summary.json")) == {"product": "old"}
    assert lake.list_files(lake.uri("staging")) == [] and lake.list_files(lake.uri("trash")) == []
    publish_dir(lake, str(second), dest)
    assert json.loads(lake.read_bytes(f"{dest}/summary.json")) == {"product": "new"}


def test_secrets_never_reach_logs_or_reprs(double, adls_env, caplog):
    from landshift.adls import spark_conf

    caplog.set_level(logging.DEBUG)
    lake = new_lake(double, "secrets")
    lake.write_bytes(lake.uri("x.txt"), b"x")
    lake.read_bytes(lake.uri("x.txt"))
    assert ACCOUNT_KEY not in caplog.text
    assert ACCOUNT_KEY not in repr(lake) and "account-key" in repr(lake)
    assert ACCOUNT_KEY not in json.dumps(spark_conf(lake.root))


@pytest.mark.slow
def test_the_demo_pipeline_publishes_the_same_product_on_adls_as_on_a_local_lake(double, adls_env, tmp_path):
    new_lake(double, "pipeline")
    adls_root = f"abfss://pipeline@{ACCOUNT}.dfs.core.windows.net/lake"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "tests" / "adls_double" / "pipeline_run.py"),
            str(SHARED_DATA),
            str(tmp_path / "local-lake"),
            adls_root,
        ],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "tests")},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    digests = json.loads(result.stdout.strip().splitlines()[-1])
    local, remote = digests[str(tmp_path / "local-lake")], digests[adls_root]
    assert local["landuse.tif"] == remote["landuse.tif"]
    assert local["change.tif"] == remote["change.tif"]
    assert set(remote) == {"landuse.tif", "change.tif", "landuse.png", "change.png", "summary.json", "item.json"}
    assert any(r.startswith("GET") and "raw/imagery" in r for r in double.store.requests)
    assert Path(tmp_path / "local-lake" / "published" / "nd-pothole" / "2020" / "landuse.tif").is_file()
