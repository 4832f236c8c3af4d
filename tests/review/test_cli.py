"""``landshift review``: the CLI round trip on a published product, bad input refused with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from landshift.cli.main import app

from .conftest import REGION, VINTAGE

pytestmark = pytest.mark.data
runner = CliRunner()


def _run(lake, *args: str):
    return runner.invoke(app, ["review", *args, "--lake", lake.root])


def _decision_files(lake) -> list[Path]:
    return sorted(Path(lake.root).glob("reviews/**/decisions/**/*.json"))


def test_queue_decide_import_apply_round_trip(lake, tmp_path):
    result = _run(lake, "queue", REGION, VINTAGE, "--limit", "12", "--json")
    assert result.exit_code == 0, result.output
    queue = json.loads(result.stdout)
    assert len(queue) == 12
    assert {"tile_id", "reason", "predicted", "prior", "confidence"} <= set(queue[0])
    assert {q["reason"] for q in queue} <= {"change", "uncertain"}
    assert [q["confidence"] for q in queue] == sorted(q["confidence"] for q in queue)

    result = _run(lake, "decide", REGION, VINTAGE, queue[0]["tile_id"], "reject", "--reviewer", "ann")
    assert result.exit_code == 0, result.output
    assert f"{queue[0]['tile_id']}: reject by ann" in result.stdout
    result = _run(lake, "decide", REGION, VINTAGE, queue[1]["tile_id"], "relabel", "--label", "11")
    assert result.exit_code == 0, result.output

    csv_file = tmp_path / "gis.csv"
    csv_file.write_text(
        "region,vintage,tile_id,decision,label,reviewer\n"
        + "".join(f"{REGION},{VINTAGE},{q['tile_id']},accept,,gis\n" for q in queue[2:10])
    )
    result = runner.invoke(app, ["review", "import", str(csv_file), "--lake", lake.root])
    assert result.exit_code == 0, result.output
    assert "Recorded 8 decision(s)" in result.stdout
    assert len(_decision_files(lake)) == 10

    result = _run(lake, "apply", REGION, VINTAGE, "--json")
    assert result.exit_code == 0, result.output
    review = json.loads(result.stdout)["review"]
    assert (review["reviewed"], review["accepted"], review["rejected"], review["relabelled"]) == (10, 8, 1, 1)
    summary = json.loads(Path(lake.root, "published", REGION, VINTAGE, "summary.json").read_text())
    assert summary["review"]["reviewed"] == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["decide", REGION, VINTAGE, "E1_N1", "accept"], "unknown tile E1_N1"),
        (["decide", REGION, VINTAGE, "E2184_N23240", "relabel", "--label", "12"], "unknown class code 12"),
        (["decide", REGION, VINTAGE, "E2184_N23240", "relabel"], "needs a class"),
        (["decide", REGION, VINTAGE, "../../x", "accept"], "not a grid tile id"),
        (["decide", "../x", VINTAGE, "E2184_N23240", "accept"], "must be a slug"),
        (["queue", REGION, "1999"], "no published product"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(lake, args, message):
    result = _run(lake, *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert _decision_files(lake) == []


def test_a_bad_csv_row_exits_2_and_writes_nothing(lake, tmp_path):
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text(
        "region,vintage,tile_id,decision,label,reviewer\n"
        f"{REGION},{VINTAGE},E2184_N23240,accept,,gis\n{REGION},{VINTAGE},E2184_N23240,relabel,,gis\n"
    )
    result = runner.invoke(app, ["review", "import", str(csv_file), "--lake", lake.root])
    assert result.exit_code == 2 and "line 3" in result.stderr
    assert _decision_files(lake) == []
