"""Trust suite (issue 26) at the lake: symbolic links never lead outside it, one bad journal file
stops only its own destination, and a publish killed mid-swap is repaired (and back in the STAC
collection) by the next publish of any vintage of the region. Real GeoTIFF copies, real
subprocesses killed with SIGKILL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.product_inputs import label_product_inputs
from support.trust import checksums

from conftest import LABELS_DIR, NAIP_2020, REPO_ROOT
from landshift.core.errors import CorruptFileError, LakeBoundaryError
from landshift.core.grid import TileGrid
from landshift.core.legend import DEFAULT_LEGEND
from landshift.imagery.planning import discover_scenes
from landshift.lake.base import LocalLake, read_json
from landshift.lake.publishing import ENV_PUBLISH_PAUSE_AT, journal_uri, publish_dir, sweep_lake
from landshift.lake.uris import confine_uri
from landshift.products.publish import publish_product
from landshift.products.stac import update_catalog

pytestmark = pytest.mark.data

WORKER = Path(__file__).resolve().parents[1] / "support" / "publish_worker.py"
GRID = TileGrid("EPSG:26914", 224)


@pytest.fixture
def lake(tmp_path, monkeypatch) -> LocalLake:
    monkeypatch.delenv("LANDSHIFT_ALLOWED_LAKE_ROOTS", raising=False)
    lake = LocalLake(str(tmp_path / "lake"))
    scene = Path(lake.root, "raw/imagery/nd-pothole/2020", NAIP_2020.name)
    scene.parent.mkdir(parents=True)
    shutil.copyfile(NAIP_2020, scene)
    product = tmp_path / "product"
    product.mkdir()
    shutil.copyfile(LABELS_DIR / "labels_2009_tiles.tif", product / "landuse.tif")
    publish_dir(lake, str(product), lake.uri("published", "nd-pothole", "2020"))
    return lake


# -- 2. the lake boundary resolves links ---------------------------------------------------------------
def test_hostile_symlink_inside_the_lake_to_imagery_outside_is_refused_at_the_door_and_at_use(lake, tmp_path):
    outside = tmp_path / "outside" / "2020"
    outside.mkdir(parents=True)
    shutil.copyfile(NAIP_2020, outside / "elsewhere.tif")
    link_dir = Path(lake.root, "raw/imagery/linked/2020")
    link_dir.parent.mkdir(parents=True)
    link_dir.symlink_to(outside, target_is_directory=True)
    link_file = Path(lake.root, "raw/imagery/nd-pothole/2020/extra.tif")
    link_file.symlink_to(outside / "elsewhere.tif")
    before = checksums(Path(lake.root, "published"))
    # The door: the form's URI is inside the lake as written, outside once resolved.
    with pytest.raises(
        LakeBoundaryError, match=r"imagery_uri: a symbolic link leads to .*outside/2020, outside the lake"
    ):
        confine_uri(lake.root, "raw/imagery/linked/2020/", what="imagery_uri")
    # At use: listing or reading through either link is refused, naming where it leads.
    with pytest.raises(
        LakeBoundaryError, match=r"extra\.tif' is refused: resolves to .*elsewhere\.tif, outside the lake"
    ):
        discover_scenes(lake, lake.uri("raw/imagery/nd-pothole/2020"))
    with pytest.raises(LakeBoundaryError, match="outside the lake"):
        lake.gdal_path(str(link_dir / "elsewhere.tif"))
    with pytest.raises(LakeBoundaryError, match="outside the lake"):
        lake.write_bytes(str(link_dir / "planted.json"), b"{}")  # nor written through
    assert not (outside / "planted.json").exists()
    link_file.unlink()
    assert discover_scenes(lake, lake.uri("raw/imagery/nd-pothole/2020")) == [
        lake.uri("raw/imagery/nd-pothole/2020", NAIP_2020.name)
    ]
    assert checksums(Path(lake.root, "published")) == before


# -- 5. one bad journal file harms only its own destination --------------------------------------------
def test_bad_truncated_journal_stops_only_its_destination_naming_the_file(lake, tmp_path):
    other = lake.uri("published", "other-region", "2019")
    journal = Path(journal_uri(lake, other))
    journal.mkdir(parents=True)
    (journal / "intent.json").write_text('{"dest": "' + other[:20])  # truncated mid-write
    staged = Path(lake.root, "staging", "20200101T000000.000000000Z-deadbeef")  # stale, maybe the bad journal's
    staged.mkdir(parents=True)
    (staged / "landuse.tif").write_bytes(b"staged")
    before = checksums(Path(lake.root, "published"))
    report = sweep_lake(lake)  # the scheduled runs' startup sweep: every region goes on
    assert list(report["unreadable"]) == [str(journal / "intent.json")]
    assert report["staging_removed"] == [] and staged.is_dir()  # left while a bad journal may name it
    product = tmp_path / "product"
    publish_dir(lake, str(product), lake.uri("published", "nd-pothole", "2020"))  # another destination
    assert checksums(Path(lake.root, "published")) == before  # republished the same bytes
    with pytest.raises(
        CorruptFileError,
        match=rf"{journal}/intent\.json: publish journal of this destination is unreadable \(\d+ bytes",
    ):
        publish_dir(lake, str(product), other)
    assert not Path(other).exists()


# -- 8. a publish killed mid-swap is repaired by a publish of another vintage ---------------------------
def publish_vintage(lake: LocalLake, vintage: str) -> None:
    inputs = label_product_inputs(vintage)
    publish_product(
        lake,
        lake.uri("published", "nd-pothole", vintage),
        legend=DEFAULT_LEGEND,
        grid=GRID,
        **inputs,
    )


def test_fault_publish_killed_mid_swap_is_repaired_by_the_next_publish_of_another_vintage(lake, tmp_path):
    publish_vintage(lake, "2019")
    dest_2019 = lake.uri("published", "nd-pothole", "2019")
    product_2019 = checksums(Path(dest_2019))
    copy = tmp_path / "republish-2019"
    shutil.copytree(dest_2019, copy)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "include"), os.environ.get("PYTHONPATH", "")]),
        ENV_PUBLISH_PAUSE_AT: "retired",  # the old 2019 product moved aside, the new one not yet in
    }
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), lake.root, str(copy), dest_2019], stdout=subprocess.PIPE, text=True, env=env
    )
    assert worker.stdout.readline().strip() == "PAUSED retired"
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    assert not Path(dest_2019).exists()  # the window that lost products
    publish_vintage(lake, "2020")  # a run of another vintage
    assert checksums(Path(dest_2019)) == product_2019  # rolled forward: the same product, whole
    assert not Path(journal_uri(lake, dest_2019)).exists()
    collection = read_json(lake, lake.uri("published", "nd-pothole", "collection.json"))
    items = sorted(link["href"] for link in collection["links"] if link["rel"] == "item")
    assert items == ["./2019/item.json", "./2020/item.json"]
    # One corrupt item leaves only its vintage out of the rebuilt collection.
    Path(dest_2019, "item.json").write_text('{"type": "Feature", ')
    rebuilt = update_catalog(lake, lake.uri("published", "nd-pothole", "2020"))["collection"]
    assert [link["href"] for link in rebuilt["links"] if link["rel"] == "item"] == ["./2020/item.json"]
