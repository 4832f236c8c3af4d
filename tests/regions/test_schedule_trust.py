"""Trust suite (issue 26): region schedules that never fire, or fire every second, are refused
by the region check, naming the file and the field; other regions still load."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import REPO_ROOT
from landshift.regions.registry import load_regions_report, validate_schedule


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("0 0 31 2 *", r"never fires \(no day 31 in month 2\); pick a day that month has"),
        ("0 0 30 2 *", r"never fires \(no day 30 in month 2\)"),
        ("0 0 31 4 *", r"never fires \(no day 31 in month 4\)"),
        ("0 0 6 1 * ?", r"has 6 fields; a cron expression has 5 .*Quartz-style"),
        ("* 0 6 1 * *", r"has 6 fields"),
        ("0 0 6 1 * ? 2026", r"has 7 fields"),
        ("every day", r"has 2 fields"),
        ("61 6 * * *", r"is not a cron expression"),
    ],
)
def test_invalid_schedules_are_refused_with_what_to_write(schedule, message):
    with pytest.raises(ValueError, match=message):
        validate_schedule(schedule)


@pytest.mark.parametrize("schedule", ["0 6 * * *", "0 0 29 2 *", "30 5 1,15 * *", "@daily", "0 0 28 2 *"])
def test_schedules_that_fire_pass(schedule):
    assert validate_schedule(schedule) == schedule


def test_bad_schedule_in_a_region_file_fails_only_that_file(tmp_path):
    shutil.copyfile(REPO_ROOT / "include" / "regions" / "nd-pothole.json", tmp_path / "nd-pothole.json")
    raw = json.loads((REPO_ROOT / "include" / "regions" / "nd-pothole.json").read_text())
    (tmp_path / "feb-31.json").write_text(json.dumps({**raw, "id": "feb-31", "schedule": "0 0 31 2 *"}))
    (tmp_path / "quartz.json").write_text(json.dumps({**raw, "id": "quartz", "schedule": "0 0 6 1 * ?"}))
    report = load_regions_report(tmp_path)
    assert sorted(report.regions) == ["nd-pothole"]
    errors = {error.region_id: str(error) for error in report.errors}
    assert "feb-31.json: field schedule: schedule '0 0 31 2 *' never fires" in errors["feb-31"]
    assert "quartz.json: field schedule: schedule '0 0 6 1 * ?' has 6 fields" in errors["quartz"]
