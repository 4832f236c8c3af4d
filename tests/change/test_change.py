"""Post-classification change coding, the confidence rule and the transition matrix."""

import pandas as pd
import pytest

from landshift.change.rules import (
    CHANGE_NO_PRIOR,
    CHANGE_STABLE,
    CHANGE_UNCERTAIN,
    STATUS_CHANGE,
    STATUS_NO_PRIOR,
    STATUS_STABLE,
    STATUS_UNCERTAIN,
    ChangeRule,
    change_code,
    change_summary,
    compare,
    is_transition,
    split_transition,
)
from landshift.core.errors import InputError

PREDICTIONS = pd.DataFrame(
    {
        "tile_id": ["E0_N0", "E1_N0", "E2_N0", "E3_N0", "E4_N0"],
        "col": [0, 1, 2, 3, 4],
        "row": [0, 0, 0, 0, 0],
        "class_code": [11, 11, 82, 11, 71],
        "probability": [0.95, 0.55, 0.9, 0.9, 0.99],
    }
)
PRIORS = pd.DataFrame(
    {
        "tile_id": ["E0_N0", "E1_N0", "E2_N0", "E3_N0"],
        "prior_class": [82, 82, 82, 71],
        "prior_agreement": [0.9, 0.9, 1.0, 0.4],
    }
)


def test_change_code_is_from_times_100_plus_to_and_never_a_status_value():
    assert change_code(82, 11) == 8211
    assert change_code(11, 82) == 1182
    assert split_transition(8211) == (82, 11)
    assert not any(is_transition(v) for v in (0, CHANGE_STABLE, CHANGE_UNCERTAIN, CHANGE_NO_PRIOR))
    with pytest.raises(InputError, match="to itself"):
        change_code(71, 71)
    with pytest.raises(InputError, match="not a from-to"):
        split_transition(CHANGE_STABLE)


def test_rule_separates_reported_change_from_uncertain_change():
    changes = compare(PREDICTIONS, PRIORS, ChangeRule(min_probability=0.7, min_prior_agreement=0.6)).set_index(
        "tile_id"
    )
    assert changes.loc["E0_N0", "status"] == STATUS_CHANGE and changes.loc["E0_N0", "change_code"] == 8211
    assert changes.loc["E1_N0", "status"] == STATUS_UNCERTAIN  # model not confident enough
    assert changes.loc["E2_N0", "status"] == STATUS_STABLE
    assert changes.loc["E3_N0", "status"] == STATUS_UNCERTAIN  # prior cell too mixed
    assert changes.loc["E4_N0", "status"] == STATUS_NO_PRIOR
    # each status has its own value: 0 is left for "no tile"
    assert changes["change_code"].tolist() == [8211, CHANGE_UNCERTAIN, CHANGE_STABLE, CHANGE_UNCERTAIN, CHANGE_NO_PRIOR]


def test_summary_counts_transitions_and_area():
    rule = ChangeRule(0.5, 0.3)
    summary = change_summary(compare(PREDICTIONS, PRIORS, rule), [11, 71, 82], 224.0, rule)
    assert summary["tiles_compared"] == 4
    assert summary["tiles_changed"] == 3
    assert summary["tiles_stable"] == 1
    assert summary["tiles_uncertain"] == 0
    assert summary["tiles_without_prior"] == 1
    assert summary["transition_matrix"]["82"] == {"11": 2, "71": 0, "82": 1}
    assert summary["reported_transition_matrix"]["71"]["11"] == 1
    assert summary["changed_area_km2_by_transition"] == {
        "7111": pytest.approx(0.050176),
        "8211": pytest.approx(0.100352),
    }
    assert summary["changed_area_km2"] == pytest.approx(3 * 0.224 * 0.224)


def test_rule_thresholds_are_validated_and_columns_checked():
    with pytest.raises(InputError):
        ChangeRule(min_probability=1.5)
    with pytest.raises(InputError, match="lack columns"):
        compare(PREDICTIONS.drop(columns=["probability"]), PRIORS, ChangeRule())
