"""`landshift ingest`: a vintage's delivered scenes become COGs once, with the same pixels; bad
requests exit 2 with one line before anything is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from support.cli import landshift

from conftest import NAIP_2020
from landshift.imagery.ingest import is_cloud_optimized

pytestmark = pytest.mark.data
SCENE = "raw/imagery/nd-pothole/2020/m_4709963_se_14_1_20200831.tif"


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """A lake holding the real 2020 scene where the nd-pothole region looks for it."""
    (tmp_path / SCENE).parent.mkdir(parents=True)
    shutil.copy(NAIP_2020, tmp_path / SCENE)
    return tmp_path


def test_ingest_writes_the_vintages_cogs_once_with_the_same_pixels(lake: Path):
    result = landshift("ingest", "nd-pothole", "2020", "--json", lake=lake)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    cog = lake / "cog/imagery/nd-pothole/2020/m_4709963_se_14_1_20200831.tif"
    assert report["scenes"] == report["written"] == 1 and report["cogs"] == [str(cog)]
    assert report["imagery_template"] == "cog/imagery/{region}/{vintage}"
    assert report["overview_compression"] == "none"
    assert is_cloud_optimized(str(cog))
    with rasterio.open(lake / SCENE) as source, rasterio.open(cog) as written:
        assert written.compression.name == "zstd" and written.transform == source.transform
        assert np.array_equal(written.read(), source.read())
    with rasterio.open(cog, overview_level=0) as overview:
        assert overview.compression is None  # what scoring reads below the model's resolution
    modified = cog.stat().st_mtime_ns
    again = landshift("ingest", "nd-pothole", "2020", lake=lake)
    assert again.returncode == 0 and "1 scene(s), 0 written" in again.stdout
    assert "imagery: 'cog/imagery/{region}/{vintage}'" in again.stdout
    assert cog.stat().st_mtime_ns == modified  # not rewritten


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["2014"], "no imagery"),
        (["2020", "--to", "raw/imagery/{region}/{vintage}/"], "is the imagery prefix itself"),
        (["2020", "--to", "cog/{region}"], "must use {vintage}"),
        (["2020", "--to", "cog/{vintage}/{year}"], "may only use {region} and {vintage}"),
        (["2020", "--to", "../outside/{vintage}"], "escape the lake"),
        (["20x0"], "vintage"),
        (["2020", "--overview-compression", "jpeg"], "overview compression must be one of none, zstd"),
    ],
)
def test_bad_ingest_requests_exit_2_with_one_line_and_write_nothing(lake: Path, args: list[str], message: str):
    result = landshift("ingest", "nd-pothole", *args, lake=lake)
    assert result.returncode == 2, result.stdout
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr
    assert sorted(p.relative_to(lake).as_posix() for p in lake.rglob("*") if p.is_file()) == [SCENE]
