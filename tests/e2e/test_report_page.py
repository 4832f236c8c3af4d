"""report.html in a real headless Chromium: opened from the file system, every chip decodes, and a
screenshot for the README (e2e/screenshots/report.png; docs/screenshots/report.png is its copy)."""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.harness import REPO_ROOT, Browser, chromedriver_binary, chromium_binary

from landshift.change.rules import STATUS_CHANGE
from landshift.core.legend import DEFAULT_LEGEND
from landshift.lake.base import LocalLake
from landshift.products.publish import publish_product

from .conftest import SCREENSHOTS

sys.path.insert(0, str(REPO_ROOT / "tests"))
from support.product_inputs import GRID, label_product_inputs, naip_chips


@pytest.fixture(scope="module")
def report_browser(tmp_path_factory):
    binary, driver = chromium_binary(), chromedriver_binary()
    if binary is None or driver is None:
        pytest.fail("chromium or chromedriver is not installed: run tests/e2e/install_browser.sh (make e2e does)")
    root = tmp_path_factory.mktemp("report-browser")
    browser = Browser(binary, driver, root / "profile", root / "chromedriver.log")
    yield browser
    browser.close()


def test_report_renders_every_chip_in_chromium(report_browser, tmp_path):
    lake = LocalLake(str(tmp_path))
    inputs = label_product_inputs(vintage="2014")
    dest = Path(lake.uri("published", "nd-pothole", "2014"))
    publish_product(lake, str(dest), legend=DEFAULT_LEGEND, grid=GRID, chips=naip_chips(), **inputs)
    report_browser.navigate((dest / "report.html").as_uri())
    report_browser.wait_text("Reported changes, most confident first")
    images = json.loads(
        report_browser.driver.execute_script(
            "return JSON.stringify([...document.images].map(i => [i.alt, i.complete && i.naturalWidth > 0]))"
        )
    )
    reported = int((inputs["changes"]["status"] == STATUS_CHANGE).sum())
    chips = [alt for alt, loaded in images if alt.startswith(("before", "after"))]
    assert len(chips) == 4 * reported
    assert all(loaded for _, loaded in images), [alt for alt, loaded in images if not loaded]
    # The top of the page: maps, transition table and the most confident changes.
    shot = report_browser.driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": 1280, "height": 1700, "scale": 1},
        },
    )
    png = base64.b64decode(shot["data"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "report.png").write_bytes(png)
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert pixels.shape[:2] == (1700, 1280) and pixels.std() > 20  # a rendered page, not a blank one
