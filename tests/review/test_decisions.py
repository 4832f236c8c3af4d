"""Decisions in the lake: one atomic file each, history kept, latest counts, nothing outside the lake."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from landshift.core.errors import InputError
from landshift.review.decisions import decision_history, import_decisions, latest_decisions, record_decision
from landshift.review.queue import review_queue

from .conftest import REGION, VINTAGE

pytestmark = pytest.mark.data


def _decision_files(lake) -> list[Path]:
    return sorted(Path(lake.root, "reviews").rglob("*.json")) if Path(lake.root, "reviews").exists() else []


def test_a_decision_is_a_file_with_who_what_when_and_which_product(lake):
    tile = review_queue(lake, REGION, VINTAGE)[0]
    made = record_decision(lake, REGION, VINTAGE, tile.tile_id, "relabel", 11, reviewer="ann")
    files = _decision_files(lake)
    assert len(files) == 1
    assert files[0].parent == Path(lake.root, "reviews", REGION, VINTAGE, "decisions", tile.tile_id)
    assert made.label == 11 and made.reviewer == "ann" and made.decided_at.endswith("Z")
    assert made.model_version == "7" and len(made.product_digest) == 16
    assert (made.predicted, made.prior) == (tile.predicted, tile.prior)


def test_deciding_again_keeps_the_history_and_the_latest_counts(lake):
    tile = review_queue(lake, REGION, VINTAGE)[0].tile_id
    record_decision(lake, REGION, VINTAGE, tile, "accept", reviewer="ann")
    record_decision(lake, REGION, VINTAGE, tile, "reject", reviewer="bob")
    assert [d.decision for d in decision_history(lake, REGION, VINTAGE)] == ["accept", "reject"]
    assert latest_decisions(lake, REGION, VINTAGE)[tile].reviewer == "bob"


def test_two_reviewers_deciding_at_the_same_moment_both_keep_their_decisions(lake):
    tiles = [i.tile_id for i in review_queue(lake, REGION, VINTAGE)[:5]]
    start = threading.Barrier(2)

    def review(name: str) -> None:
        start.wait()
        for tile in tiles:
            record_decision(lake, REGION, VINTAGE, tile, "accept", reviewer=name)

    threads = [threading.Thread(target=review, args=(n,)) for n in ("ann", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = decision_history(lake, REGION, VINTAGE)
    assert len(history) == len(_decision_files(lake)) == 10
    assert sorted(d.reviewer for d in history) == ["ann"] * 5 + ["bob"] * 5


@pytest.mark.parametrize(
    ("tile", "decision", "label", "message"),
    [
        ("E1_N1", "accept", None, "unknown tile"),
        ("../../../etc", "accept", None, "not a grid tile id"),
        ("E2184_N23240", "relabel", None, "needs a class"),
        ("E2184_N23240", "relabel", 12, "unknown class code 12"),
        ("E2184_N23240", "maybe", None, "decision must be one of"),
        ("E2184_N23240", "accept", 11, "relabel only"),
    ],
)
def test_bad_decisions_are_refused_and_write_nothing(lake, tile, decision, label, message):
    with pytest.raises(InputError, match=message):
        record_decision(lake, REGION, VINTAGE, tile, decision, label)
    assert _decision_files(lake) == []


def test_region_and_vintage_cannot_leave_the_lake(lake):
    with pytest.raises(InputError):
        record_decision(lake, "../../tmp", VINTAGE, "E2184_N23240", "accept")
    with pytest.raises(InputError):
        record_decision(lake, REGION, "../2014", "E2184_N23240", "accept")
    assert _decision_files(lake) == []


def test_a_csv_import_checks_every_row_before_writing(lake, tmp_path):
    tiles = [i.tile_id for i in review_queue(lake, REGION, VINTAGE)[:3]]
    good = tmp_path / "good.csv"
    good.write_text(
        "region,vintage,tile_id,decision,label,reviewer\n"
        f"{REGION},{VINTAGE},{tiles[0]},accept,,gis\n"
        f"{REGION},{VINTAGE},{tiles[1]},relabel,11,\n"
        f"{REGION},{VINTAGE},{tiles[2]},reject,,gis\n"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(good.read_text() + f"{REGION},{VINTAGE},E1_N1,accept,,gis\n")
    with pytest.raises(InputError, match="line 5: unknown tile E1_N1"):
        import_decisions(lake, str(bad))
    assert _decision_files(lake) == []
    made = import_decisions(lake, str(good), reviewer="team")
    assert [(d.decision, d.label, d.reviewer) for d in made] == [
        ("accept", None, "gis"),
        ("relabel", 11, "team"),
        ("reject", None, "gis"),
    ]
