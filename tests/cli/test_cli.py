"""The `landshift` console script as a user runs it: help everywhere, exit codes, one-line errors, --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import landshift

from conftest import REPO_ROOT

COMMANDS = [
    [],
    ["run"],
    ["train"],
    ["evaluate"],
    ["ingest"],
    ["seed-demo"],
    ["regions"],
    ["regions", "list"],
    ["regions", "show"],
    ["regions", "validate"],
    ["products"],
    ["products", "list"],
    ["products", "show"],
    ["review"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "landshift")
def test_every_command_has_help(command: list[str]):
    result = landshift(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: landshift" in result.stdout


def test_an_unknown_region_exits_2_with_one_line(tmp_path: Path):
    result = landshift("run", "nope", "2020", lake=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["landshift: error: unknown region 'nope'; registered: ['nd-pothole']"]
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_malformed_vintage_exits_2_before_anything_is_written(tmp_path: Path):
    result = landshift("run", "nd-pothole", "20x0", lake=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "vintage" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_no_lake_is_a_usage_error_and_a_local_lake_folder_is_the_default(tmp_path: Path):
    result = landshift("products", "list", "nd-pothole", cwd=tmp_path)
    assert result.returncode == 2
    assert "no lake: pass --lake or set LANDSHIFT_LAKE_ROOT" in result.stderr
    (tmp_path / "lake").mkdir()
    result = landshift("products", "list", "nd-pothole", "--json", cwd=tmp_path)
    assert result.returncode == 0 and json.loads(result.stdout) == []


def test_regions_list_and_show_as_json():
    listed = json.loads(landshift("regions", "list", "--json").stdout)
    assert [r["id"] for r in listed["regions"]] == ["nd-pothole"] and listed["errors"] == []
    shown = json.loads(landshift("regions", "show", "nd-pothole", "--json").stdout)
    assert shown["id"] == "nd-pothole" and shown["crs"] == "EPSG:26914"


def test_regions_validate_accepts_a_good_file_and_names_the_field_of_a_bad_one(tmp_path: Path):
    good = REPO_ROOT / "include" / "regions" / "nd-pothole.json"
    result = landshift("regions", "validate", str(good), "--json")
    assert result.returncode == 0 and json.loads(result.stdout) == {
        "path": str(good),
        "valid": True,
        "id": "nd-pothole",
    }
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads(good.read_text()), "tile_size_m": -5}))
    result = landshift("regions", "validate", str(bad))
    assert result.returncode == 2 and "tile_size_m" in result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = landshift("regions", "validate", str(broken))
    assert result.returncode == 2 and f"{broken}: not JSON" in result.stderr


def test_products_of_an_empty_lake(tmp_path: Path):
    result = landshift("products", "list", "nd-pothole", "--json", lake=tmp_path)
    assert result.returncode == 0 and json.loads(result.stdout) == []
    result = landshift("products", "show", "nd-pothole", "2020", lake=tmp_path)
    assert result.returncode == 2 and "no product published for nd-pothole 2020" in result.stderr
