"""Bitemporal evidence: a change is reported only where the model recognises the prior class on
the prior vintage's imagery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from landshift.change.bitemporal import confirm_changes, prior_support
from landshift.change.rules import (
    CHANGE_STABLE,
    CHANGE_UNCERTAIN,
    STATUS_CHANGE,
    STATUS_STABLE,
    STATUS_UNCERTAIN,
    ChangeRule,
    compare,
)
from landshift.core.errors import InputError

CODES = (11, 71, 82)


def tables():
    predictions = pd.DataFrame(
        {
            "tile_id": ["a", "b", "c", "d"],
            "col": [0, 1, 2, 3],
            "row": [0, 0, 0, 0],
            "class_code": [11, 11, 82, 82],
            "probability": [0.9, 0.95, 0.9, 0.8],
        }
    )
    priors = pd.DataFrame(
        {"tile_id": ["a", "b", "c", "d"], "prior_class": [82, 71, 71, 82], "prior_agreement": [1.0, 1.0, 1.0, 1.0]}
    )
    prior_predictions = pd.DataFrame(
        {
            "tile_id": ["a", "b", "c", "d"],
            "status": ["scored", "scored", "scored", "skipped_nodata"],
            "probabilities": [
                np.array([0.05, 0.05, 0.9], np.float32),  # the model saw cultivated: a real change
                np.array([0.1, 0.2, 0.7], np.float32),  # the model never saw herbaceous here
                np.array([0.0, 0.8, 0.2], np.float32),
                np.zeros(0, np.float32),
            ],
        }
    )
    return predictions, priors, prior_predictions


def test_prior_support_is_the_probability_of_the_prior_class_on_the_prior_imagery():
    _, priors, prior_predictions = tables()
    support = prior_support(prior_predictions, priors, CODES)
    assert support["tile_id"].tolist() == ["a", "b", "c", "d"]
    assert np.allclose(support["prior_support"], [0.9, 0.2, 0.8, 0.0])


def test_unsupported_changes_become_uncertain_and_lose_their_code():
    predictions, priors, prior_predictions = tables()
    changes = compare(predictions, priors, ChangeRule(0.7, 0.6))
    confirmed = confirm_changes(changes, prior_support(prior_predictions, priors, CODES), 0.7)
    assert confirmed["status"].tolist() == [STATUS_CHANGE, STATUS_UNCERTAIN, STATUS_CHANGE, STATUS_STABLE]
    assert confirmed["change_code"].tolist() == [8211, CHANGE_UNCERTAIN, 7182, CHANGE_STABLE]
    assert (changes["status"] == STATUS_CHANGE).sum() == 3  # without the evidence b is reported too


def test_bad_prior_predictions_and_thresholds_are_clear_errors():
    predictions, priors, prior_predictions = tables()
    with pytest.raises(InputError, match="lack columns"):
        prior_support(prior_predictions.drop(columns="probabilities"), priors, CODES)
    with pytest.raises(InputError, match="min_prior_support"):
        confirm_changes(compare(predictions, priors, ChangeRule()), prior_support(prior_predictions, priors, CODES), 2)
