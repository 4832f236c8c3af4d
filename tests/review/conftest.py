"""A small published product in a fresh lake: the 2014 labels standing in for predictions of 2014,
compared with the 2009 labels (tests/support/product_inputs.py), with real NAIP chips."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import LABELS_DIR, SHARED_DATA
from landshift.lake.base import LocalLake

REGION, VINTAGE = "nd-pothole", "2014"


def publish_label_product(root: Path) -> LocalLake:
    """Publish the label product of 2014 into a lake at ``root``; the prior labels are copied in."""
    from support.product_inputs import label_product_inputs, naip_chips

    from landshift.core.grid import TileGrid
    from landshift.core.legend import DEFAULT_LEGEND
    from landshift.products.publish import publish_product

    lake = LocalLake(str(root))
    prior = Path(lake.uri("raw", "labels", REGION, "2009", "labels_2009_5m.tif"))
    prior.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(LABELS_DIR / "labels_2009_5m.tif", prior)
    scenes = {}
    for year, date in (("2009", "20090818"), ("2014", "20140720")):
        scene = Path(lake.uri("raw", "imagery", REGION, year, f"m_4709963_se_14_1_{date}.tif"))
        scene.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHARED_DATA / "naip-nd" / scene.name, scene)
        scenes[year] = str(scene)
    inputs = label_product_inputs(VINTAGE)
    inputs["summary"]["prior"] = {"source": "annotated-2009", "year": 2009, "uri": str(prior)}
    inputs["summary"]["inputs"] = {"imagery": [scenes[VINTAGE]], "prior_labels": str(prior)}
    publish_product(
        lake,
        lake.uri("published", REGION, VINTAGE),
        chips=naip_chips(),
        legend=DEFAULT_LEGEND,
        grid=TileGrid("EPSG:26914", 224),
        **inputs,
    )
    return lake


@pytest.fixture(scope="module")
def product_template(tmp_path_factory) -> Path:
    """A lake holding the published label product, made once per module."""
    root = tmp_path_factory.mktemp("review-template")
    publish_label_product(root)
    return root


@pytest.fixture
def lake(product_template, tmp_path) -> LocalLake:
    """A private copy of the lake with the published product."""
    shutil.copytree(product_template, tmp_path / "lake")
    return LocalLake(str(tmp_path / "lake"))
