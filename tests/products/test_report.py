"""report.html: self-contained, every reported change with before/after chips, most confident first."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.product_inputs import GRID, label_product_inputs, naip_chips

from landshift.change.rules import STATUS_CHANGE
from landshift.core.legend import DEFAULT_LEGEND
from landshift.lake.base import LocalLake
from landshift.products.publish import publish_product

pytestmark = pytest.mark.data


class _Rows(HTMLParser):
    """Rows of the chips table: tile id, cell texts, and image sources."""

    def __init__(self):
        super().__init__()
        self.rows: list[dict] = []
        self.sources: list[str] = []
        self._row: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and attrs.get("id"):
            self._row = {"id": attrs["id"], "text": [], "images": []}
        elif tag == "img":
            self.sources.append(attrs["src"])
            if self._row is not None:
                self._row["images"].append(attrs)

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._row is not None and data.strip():
            self._row["text"].append(data.strip())


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    lake = LocalLake(str(tmp_path_factory.mktemp("report-lake")))
    inputs = label_product_inputs()
    dest = lake.uri("published", "nd-pothole", "2014")
    publish_product(lake, dest, legend=DEFAULT_LEGEND, grid=GRID, chips=naip_chips(), **inputs)
    return lake, dest, inputs


def _decode(uri: str) -> np.ndarray:
    header, payload = uri.split(",", 1)
    assert header in ("data:image/jpeg;base64", "data:image/png;base64")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(payload))))


def test_every_reported_change_has_before_and_after_chips_most_confident_first(published):
    _, dest, inputs = published
    page = Path(dest, "report.html").read_text()
    parser = _Rows()
    parser.feed(page)
    reported = inputs["changes"][inputs["changes"]["status"] == STATUS_CHANGE]
    assert len(reported) > 20
    assert sorted(r["id"] for r in parser.rows) == sorted(reported["tile_id"])
    probabilities = [float(r["text"][2]) for r in parser.rows]
    assert probabilities == sorted(probabilities, reverse=True)
    for row in parser.rows:
        alts = [image["alt"] for image in row["images"]]
        assert alts == [
            f"before NIR-R-G {row['id']}",
            f"after NIR-R-G {row['id']}",
            f"before True colour {row['id']}",
            f"after True colour {row['id']}",
        ]
        chips = [_decode(image["src"]) for image in row["images"]]
        assert all(chip.shape[2] == 3 and chip.std() > 5 for chip in chips)  # real imagery, not blank
        assert not np.array_equal(chips[0], chips[1])  # before and after are different acquisitions
    assert "no imagery" not in page


def test_report_is_self_contained_and_lists_transitions_with_areas(published):
    _, dest, inputs = published
    page = Path(dest, "report.html").read_text()
    parser = _Rows()
    parser.feed(page)
    assert all(src.startswith("data:image/") for src in parser.sources)  # nothing to fetch
    assert "http://" not in page and "https://" not in page
    reported = inputs["changes"][inputs["changes"]["status"] == STATUS_CHANGE]
    tiles_8211 = int((reported["change_code"] == 8211).sum())
    area = tiles_8211 * 0.224**2
    assert f"<td>{tiles_8211}</td><td>{area:.3f}</td>" in page
    assert "Cultivated to Water" in page and "NAIP 2009 (the prior labels&#x27; year)" in page


def test_report_rebuilds_byte_identical(published, tmp_path):
    lake, dest, inputs = published
    first = Path(dest, "report.html").read_bytes()
    publish_product(lake, dest, legend=DEFAULT_LEGEND, grid=GRID, chips=naip_chips(), **inputs)
    assert Path(dest, "report.html").read_bytes() == first


def test_a_product_without_imagery_still_gets_a_report(tmp_path):
    lake = LocalLake(str(tmp_path))
    dest = lake.uri("published", "nd-pothole", "2014")
    publish_product(lake, dest, legend=DEFAULT_LEGEND, grid=GRID, **label_product_inputs())
    page = Path(dest, "report.html").read_text()
    assert "no imagery" in page and "Reported transitions" in page
