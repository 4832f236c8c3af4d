"""The ADLS Gen2 lake through the real Azure SDK and GDAL, against loopback servers.

The dfs test double (tests/support/adls_double/dfs_server.py) serves the Data Lake operations; Azurite
serves the blob endpoint for the GDAL ``/vsiaz/`` read of a COG. Both run in their own process
groups on 127.0.0.1 and are stopped at the end of the module.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from support.adls_double.dfs_server import ACCOUNT, DEV_ACCOUNT_KEY
from support.adls_double.fixtures import azurite, dfs_double, have_node

from conftest import NAIP_2020, REPO_ROOT, SHARED_DATA
from landshift.core.errors import InputError, NotFoundError
from landshift.lake.adls import AdlsLake, AdlsSettings, gdal_env, gdal_options, spark_conf
from landshift.lake.base import read_table, write_table
from landshift.lake.factory import open_lake
from landshift.lake.publishing import publish_dir
from landshift.products.layout import PRODUCT_FILES

pytestmark = [pytest.mark.integration, pytest.mark.data]
PAGE_SIZE = 7  # small pages, so listings go through continuation tokens


@pytest.fixture(scope="module")
def double():
    with dfs_double(page_size=PAGE_SIZE) as server:
        yield server


@pytest.fixture(scope="module")
def blob_server():
    if not have_node():
        pytest.skip("node (Node.js) is not on PATH: Azurite cannot run; install Node.js >= 20 to run this test")
    with azurite() as server:
        yield server


@pytest.fixture(autouse=True)
def restore_environment():
    """AdlsLake exports GDAL options to os.environ: put the environment back after each test."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def key_settings(double, **overrides) -> AdlsSettings:
    values = {"account_name": ACCOUNT, "account_key": DEV_ACCOUNT_KEY, "dfs_endpoint": double.endpoint}
    return AdlsSettings(**{**values, **overrides})


def new_lake(double, name: str, **overrides) -> AdlsLake:
    from azure.storage.filedatalake import DataLakeServiceClient

    settings = key_settings(double, **overrides)
    DataLakeServiceClient(double.endpoint, credential=settings.credential(ACCOUNT)).create_file_system(name)
    return AdlsLake(f"abfss://{name}@{ACCOUNT}.dfs.core.windows.net/lake", settings)


def control(double, route: str, method: str = "GET"):
    request = urllib.request.Request(f"http://127.0.0.1:{double.port}/_double/{route}", method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


def test_every_lake_operation_through_the_sdk(double, tmp_path):
    lake = new_lake(double, "ops")
    target = lake.uri("a", "b", "c.json")
    lake.write_bytes(target, b'{"x": 1}')
    lake.write_bytes(target, b'{"x": 2}')  # overwrite
    assert lake.read_bytes(target) == b'{"x": 2}'
    assert lake.exists(target) and lake.exists(lake.uri("a", "b")) and lake.exists(lake.root)
    assert not lake.exists(lake.uri("nope"))
    lake.write_bytes(lake.uri("a", "d.txt"), b"d")
    assert lake.list_files(lake.uri("a")) == [target, lake.uri("a", "d.txt")]
    assert lake.list_files(lake.uri("a"), ".json") == [target]
    assert lake.list_files(lake.uri("missing")) == [] and lake.list_files(target) == []
    table = __import__("pandas").DataFrame({"tile_id": ["E1_N2"], "value": [3.5]})
    write_table(lake, lake.uri("t", "part-0.parquet"), table)
    assert read_table(lake, lake.uri("t")).equals(table)
    lake.download(target, str(tmp_path / "c.json"))
    assert (tmp_path / "c.json").read_bytes() == b'{"x": 2}'
    with pytest.raises(NotFoundError):
        lake.download(lake.uri("nope"), str(tmp_path / "nope"))

    lake.move(lake.uri("a"), lake.uri("moved", "deeper", "a"))  # creates the missing parents
    assert lake.read_bytes(lake.uri("moved", "deeper", "a", "b", "c.json")) == b'{"x": 2}'
    assert not lake.exists(target)
    lake.move(lake.uri("moved", "deeper", "a", "d.txt"), lake.uri("d-moved.txt"))  # a file
    assert lake.read_bytes(lake.uri("d-moved.txt")) == b"d"
    with pytest.raises(FileExistsError):
        lake.move(lake.uri("t"), lake.uri("moved", "deeper", "a"))
    with pytest.raises(FileExistsError):
        lake.move(lake.uri("t", "part-0.parquet"), lake.uri("d-moved.txt"))
    with pytest.raises(NotFoundError):
        lake.move(lake.uri("nope"), lake.uri("nope2"))

    lake.delete(lake.uri("moved"))
    lake.delete(lake.uri("d-moved.txt"))
    lake.delete(lake.uri("never-existed"))
    assert not lake.exists(lake.uri("moved")) and not lake.exists(lake.uri("d-moved.txt"))
    with pytest.raises(NotFoundError):
        lake.read_bytes(target)
    with pytest.raises(InputError, match="not in the lake"):
        lake.read_bytes(f"abfss://other@{ACCOUNT}.dfs.core.windows.net/x")
    with pytest.raises(InputError):
        lake.delete(f"abfss://ops@{ACCOUNT}.dfs.core.windows.net")
    assert lake.gdal_path(lake.uri("t", "part-0.parquet")) == "/vsiadls/ops/lake/t/part-0.parquet"
    assert lake.spark_path(target) == target
    assert not [name for name in lake.list_files(lake.root) if Path(name).name.startswith(".")]


def test_upload_dir_and_recursive_listing_across_pages(double, tmp_path):
    lake = new_lake(double, "listing")
    local = tmp_path / "tree"
    expected = []
    for i in range(3):
        for j in range(8):
            path = local / f"d{i}" / f"s{j}" / f"part-{j:05d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"{i}-{j}".encode())
            expected.append(lake.uri("tree", f"d{i}", f"s{j}", f"part-{j:05d}.parquet"))
    (local / "README.txt").write_text("r")
    lake.upload_dir(str(local), lake.uri("tree"))
    listed = lake.list_files(lake.uri("tree"), ".parquet")
    assert listed == sorted(expected) and len(listed) > 3 * PAGE_SIZE
    assert lake.list_files(lake.uri("tree")) == sorted([*expected, lake.uri("tree", "README.txt")])
    assert lake.read_bytes(lake.uri("tree", "d2", "s7", "part-00007.parquet")) == b"2-7"
    with pytest.raises(FileExistsError):
        lake.upload_dir(str(local), lake.uri("tree"))
    log = control(double, "requests")
    assert any("continuation=" in line for line in log), "listing must follow continuation tokens"


def test_the_double_verifies_shared_key_signatures(double):
    from azure.core.exceptions import ClientAuthenticationError

    new_lake(double, "auth")
    wrong = key_settings(double, account_key="d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmc=")
    with pytest.raises(ClientAuthenticationError):
        AdlsLake(f"abfss://auth@{ACCOUNT}.dfs.core.windows.net/lake", wrong).write_bytes(
            f"abfss://auth@{ACCOUNT}.dfs.core.windows.net/lake/x", b"x"
        )


def test_a_failed_publish_leaves_the_product_untouched_and_a_retry_succeeds(double, tmp_path):
    lake = new_lake(double, "publish")
    dest = lake.uri("published", "nd-pothole", "2020")
    first, second = tmp_path / "v1", tmp_path / "v2"
    for folder, text in ((first, "old"), (second, "new")):
        (folder / "sub").mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps({"product": text}))
        (folder / "sub" / "landuse.tif").write_bytes(text.encode())
    publish_dir(lake, str(first), dest)
    control(double, "fail-rename?after=1", "POST")  # the old product moves aside, the new one fails to move in
    with pytest.raises(Exception, match="InjectedFailure"):
        publish_dir(lake, str(second), dest)
    assert json.loads(lake.read_bytes(f"{dest}/summary.json")) == {"product": "old"}
    assert lake.read_bytes(f"{dest}/sub/landuse.tif") == b"old"
    assert lake.list_files(lake.uri("staging")) == [] and lake.list_files(lake.uri("trash")) == []
    publish_dir(lake, str(second), dest)
    assert json.loads(lake.read_bytes(f"{dest}/summary.json")) == {"product": "new"}
    assert lake.list_files(dest) == [f"{dest}/sub/landuse.tif", f"{dest}/summary.json"]
    assert lake.list_files(lake.uri("trash")) == []


def test_open_lake_resolves_settings_from_the_environment(double, monkeypatch):
    new_lake(double, "fromenv")
    monkeypatch.setenv("LANDSHIFT_ADLS_DFS_ENDPOINT", double.endpoint)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", DEV_ACCOUNT_KEY)
    lake = open_lake(f"abfss://fromenv@{ACCOUNT}.dfs.core.windows.net/lake")
    assert isinstance(lake, AdlsLake) and "account-key" in repr(lake)
    lake.write_bytes(lake.uri("x.txt"), b"x")
    assert open_lake(lake.root).read_bytes(lake.uri("x.txt")) == b"x"
    assert os.environ["GDAL_DISABLE_READDIR_ON_OPEN"] == "EMPTY_DIR"
    assert f"BlobEndpoint={double.endpoint}" in os.environ["AZURE_STORAGE_CONNECTION_STRING"]


def test_the_hook_builds_the_lake_from_an_airflow_connection(double, monkeypatch):
    from landshift_airflow.lake_hook import LandShiftLakeHook

    new_lake(double, "hooked")
    connection = {
        "conn_type": "generic",
        "host": ACCOUNT,
        "password": DEV_ACCOUNT_KEY,
        "extra": {"filesystem": "hooked", "prefix": "lake", "endpoint": double.endpoint},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LANDSHIFT_LAKE", json.dumps(connection))
    hook = LandShiftLakeHook()
    lake = hook.get_conn()
    assert isinstance(lake, AdlsLake) and lake.root == f"abfss://hooked@{ACCOUNT}.dfs.core.windows.net/lake"
    lake.write_bytes(lake.uri("via-hook.txt"), b"ok")
    assert lake.read_bytes(lake.uri("via-hook.txt")) == b"ok"
    assert hook.lake_environment()["LANDSHIFT_ADLS_DFS_ENDPOINT"] == double.endpoint
    assert DEV_ACCOUNT_KEY not in repr(hook.lake_settings())


def test_secrets_never_reach_logs_or_reprs(double, caplog):
    caplog.set_level(logging.DEBUG)
    lake = new_lake(double, "secrets")
    lake.write_bytes(lake.uri("x.txt"), b"x")
    lake.read_bytes(lake.uri("x.txt"))
    lake.list_files(lake.root)
    logging.getLogger("test").info("lake %r settings %s", lake, lake._settings)
    assert "x.txt" in caplog.text  # the SDK did log its requests
    assert DEV_ACCOUNT_KEY not in caplog.text
    assert DEV_ACCOUNT_KEY not in repr(lake) and "account-key" in repr(lake)
    assert DEV_ACCOUNT_KEY not in json.dumps(spark_conf(lake.root, lake._settings))
    assert (
        spark_conf(lake.root, lake._settings, with_secrets=True)[
            f"spark.hadoop.fs.azure.account.key.{ACCOUNT}.dfs.core.windows.net"
        ]
        == DEV_ACCOUNT_KEY
    )
    sp = AdlsSettings(account_name="acct", tenant_id="t", client_id="c", client_secret="sp-s3cret-value")
    sas = AdlsSettings(account_name="acct", sas_token="?sv=2024&sig=sas-s3cret-value")
    for settings, secret in ((sp, "sp-s3cret-value"), (sas, "sas-s3cret-value")):
        assert secret not in repr(settings) and secret not in str(settings) and "***" in repr(settings)
        assert secret not in json.dumps(spark_conf("abfss://lake@acct.dfs.core.windows.net/lake", settings))
    assert sas.to_env()["AZURE_STORAGE_SAS_TOKEN"] == "sv=2024&sig=sas-s3cret-value"


def test_spark_conf_and_gdal_options_per_credential():
    root = "abfss://lake@acct.dfs.core.windows.net/lake"
    host = "acct.dfs.core.windows.net"
    sp = spark_conf(root, AdlsSettings(tenant_id="t", client_id="c", client_secret="s"))
    assert sp[f"spark.hadoop.fs.azure.account.auth.type.{host}"] == "OAuth"
    assert sp[f"spark.hadoop.fs.azure.account.oauth2.client.endpoint.{host}"].endswith("/t/oauth2/token")
    msi = spark_conf(root, AdlsSettings())
    assert msi[f"spark.hadoop.fs.azure.account.oauth.provider.type.{host}"].endswith("MsiTokenProvider")
    assert spark_conf(root, AdlsSettings(sas_token="sig=x"))[f"spark.hadoop.fs.azure.account.auth.type.{host}"] == "SAS"
    key = gdal_options(root, AdlsSettings(account_key="k"))
    assert key["AZURE_STORAGE_ACCOUNT"] == "acct" and key["AZURE_STORAGE_ACCESS_KEY"] == "k"
    assert gdal_options(root, AdlsSettings(sas_token="?sig=x"))["AZURE_STORAGE_SAS_TOKEN"] == "sig=x"
    managed = gdal_options(root, AdlsSettings())
    assert "AZURE_STORAGE_ACCESS_KEY" not in managed and managed["GDAL_HTTP_MAX_RETRY"] == "5"


def test_windowed_raster_reads_through_gdal_from_the_double(double):
    import rasterio

    lake = new_lake(double, "rasters")
    uri = lake.uri("raw", "imagery", "scene.tif")
    lake.write_bytes(uri, NAIP_2020.read_bytes())
    window = ((300, 340), (500, 560))
    before = len(control(double, "requests"))
    with rasterio.open(lake.gdal_path(uri)) as remote, rasterio.open(NAIP_2020) as local:
        assert remote.crs == local.crs and remote.transform == local.transform
        assert np.array_equal(remote.read(window=window), local.read(window=window))
    reads = [r for r in control(double, "requests")[before:] if r.startswith("GET") and "scene.tif" in r]
    assert reads, "GDAL must read the raster through the double"


@pytest.mark.parametrize("credential", ["account-key", "sas"])
def test_windowed_cog_read_through_gdal_vsiaz_from_azurite(double, blob_server, tmp_path, credential):
    import datetime

    import rasterio
    from azure.storage.blob import AccountSasPermissions, BlobServiceClient, ResourceTypes, generate_account_sas
    from rasterio.transform import from_origin

    pixels = (np.arange(3 * 512 * 512) % 251).astype("uint8").reshape(3, 512, 512)
    local = tmp_path / "landuse.tif"
    profile = {"driver": "COG", "width": 512, "height": 512, "count": 3, "dtype": "uint8", "blocksize": 256}
    with rasterio.open(local, "w", crs="EPSG:26914", transform=from_origin(500000, 5200000, 1, 1), **profile) as out:
        out.write(pixels)
    filesystem = f"cogs-{credential}"
    blobs = BlobServiceClient(
        blob_server.endpoint, credential={"account_name": ACCOUNT, "account_key": DEV_ACCOUNT_KEY}
    )
    blobs.create_container(filesystem)
    blobs.get_blob_client(filesystem, "lake/published/nd-pothole/2020/landuse.tif").upload_blob(local.read_bytes())
    settings = key_settings(double, blob_endpoint=blob_server.endpoint)
    if credential == "sas":
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
        token = generate_account_sas(
            ACCOUNT,
            DEV_ACCOUNT_KEY,
            ResourceTypes(container=True, object=True),
            AccountSasPermissions(read=True),
            expiry,
        )
        settings = AdlsSettings(account_name=ACCOUNT, sas_token=f"?{token}", blob_endpoint=blob_server.endpoint)
    lake = AdlsLake(f"abfss://{filesystem}@{ACCOUNT}.dfs.core.windows.net/lake", settings)
    path = lake.gdal_path(lake.uri("published", "nd-pothole", "2020", "landuse.tif"))
    assert path == f"/vsiaz/{filesystem}/lake/published/nd-pothole/2020/landuse.tif"
    window = ((100, 164), (300, 400))
    with gdal_env(lake.root, settings), rasterio.open(path) as remote, rasterio.open(local) as reference:
        assert remote.profile["blockxsize"] == 256 and remote.overviews(1) == reference.overviews(1)
        assert remote.crs == reference.crs and remote.transform == reference.transform
        assert np.array_equal(remote.read(window=window), reference.read(window=window))
        assert np.array_equal(remote.read(window=window), pixels[:, 100:164, 300:400])


@pytest.mark.slow
def test_the_demo_pipeline_publishes_the_same_product_on_adls_as_on_a_local_lake(double, tmp_path):
    new_lake(double, "pipeline")
    adls_root = f"abfss://pipeline@{ACCOUNT}.dfs.core.windows.net/lake"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "tests" / "support" / "adls_double" / "pipeline_run.py"),
            str(SHARED_DATA),
            str(tmp_path / "local-lake"),
            adls_root,
        ],
        env={
            **os.environ,
            **key_settings(double).to_env(),
            "PYTHONPATH": os.pathsep.join(str(REPO_ROOT / d) for d in ("include", "tests")),
        },
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    digests = json.loads(result.stdout.strip().splitlines()[-1])
    local, remote = digests[str(tmp_path / "local-lake")], digests[adls_root]
    assert local["landuse.tif"] == remote["landuse.tif"]
    assert local["change.tif"] == remote["change.tif"]
    assert set(remote) == set(PRODUCT_FILES)
    # sidecars, confidence and the report (its chips read through /vsiadls/) match too; summary and
    # item name their own lake, so they differ
    for name in ("confidence.tif", "landuse.tif.aux.xml", "change.tif.aux.xml", "change.qml", "report.html"):
        assert local[name] == remote[name], name
    assert any(r.startswith("GET") and "raw/imagery" in r for r in control(double, "requests"))
