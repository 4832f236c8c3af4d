"""Leave-one-vintage-out: the protocol keeps the test vintage's labels away from every choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from landshift.core.errors import InputError
from landshift.core.legend import DEFAULT_LEGEND
from landshift.model.lovo import (
    LABEL_COLUMNS,
    Fold,
    FrozenModel,
    Protocol,
    Vintage,
    fit_frozen,
    leave_one_vintage_out,
)
from landshift.model.spec import Head

CLASSES = np.array([11, 71, 82])


def _vintage(year: int, seed: int, shift: float = 0.0) -> Vintage:
    """A 12 x 10 tile vintage whose 6 embedding columns and 4 spectral columns tell the class apart."""
    rng = np.random.default_rng(seed)
    cols, rows = np.meshgrid(np.arange(12), np.arange(10))
    classes = CLASSES[rng.choice(3, size=cols.size, p=[0.2, 0.2, 0.6])]
    share = np.where(classes == 11, rng.uniform(0.6, 1.0, cols.size), rng.uniform(0.0, 0.3, cols.size))
    embedding = rng.normal(0, 1, (cols.size, 6)) + (classes[:, None] == CLASSES[None, :]).repeat(2, axis=1) * 2 + shift
    spectral = np.stack([share, share, share, share - 0.5], axis=1)
    table = pd.DataFrame(
        {
            "col": cols.ravel(),
            "row": rows.ravel(),
            "variant": 0,
            "prior_class": classes,
            "prior_agreement": 0.9,
            "prior_water_share": share,
            "reference_class": classes,
            "confidence": np.where(rng.random(cols.size) < 0.7, "high", "low"),
        }
    )
    return Vintage(year, table, np.concatenate([embedding, spectral], axis=1).astype(np.float32))


@pytest.fixture(scope="module")
def vintages():
    return {2009: _vintage(2009, 1), 2012: _vintage(2012, 2, shift=0.3), 2014: _vintage(2014, 3, shift=-0.3)}


def test_a_fold_hands_its_model_no_test_labels(vintages):
    fold = Fold(vintages, 2014)
    assert sorted(fold.training) == [2009, 2012]
    assert not set(LABEL_COLUMNS) & set(fold.inputs.tiles.columns)
    assert fold.inputs.features.shape == (120, 10)
    with pytest.raises(InputError, match="cannot train on it"):
        Fold(vintages, 2014, training_years=(2009, 2014))


def test_only_a_frozen_model_trained_without_the_test_vintage_is_scored(vintages):
    fold = Fold(vintages, 2014)
    model = fit_frozen(fold.training, spectral_count=4, protocol=Protocol(l2_candidates=(1e-2,)))
    with pytest.raises(InputError, match="FrozenModel"):
        fold.score(model.head, DEFAULT_LEGEND)
    leaky = FrozenModel(model.head, model.water_column, {}, training_years=(2012, 2014))
    with pytest.raises(InputError, match="trained on 2014"):
        fold.score(leaky, DEFAULT_LEGEND)
    report = fold.score(model, DEFAULT_LEGEND)
    assert report["tiles"] == 120 and report["accuracy"] > 0.9 and report["water_f1"] > 0.9
    assert report["water_share_mae"] == 0.0  # the measured share is the label share in this data
    assert report["confident_tiles"] == int((vintages[2014].table["confidence"] == "high").sum())


def test_the_test_vintages_labels_change_no_choice(vintages):
    """Scramble the test vintage's labels: the fold's frozen model is bit for bit the same."""
    protocol = Protocol(l2_candidates=(1e-2, 1e-1))
    scrambled = dict(vintages)
    table = vintages[2014].table.copy()
    for column in LABEL_COLUMNS:
        table[column] = table[column].sample(frac=1.0, random_state=7).to_numpy()
    scrambled[2014] = Vintage(2014, table, vintages[2014].features)
    first = fit_frozen(Fold(vintages, 2014).training, 4, protocol)
    second = fit_frozen(Fold(scrambled, 2014).training, 4, protocol)
    assert first.choices == second.choices
    assert np.array_equal(first.head.weights, second.head.weights)


def test_water_rule_decides_water_from_the_measured_share_and_round_trips():
    head = Head(
        offset=np.zeros(2),
        projection=np.eye(2),
        mean=np.zeros(2),
        scale=np.ones(2),
        weights=np.array([[5.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
        bias=np.zeros(3),
        class_codes=(11, 71, 82),
        water_rule=(1.0, 0.5, 0.05),
    )
    features = np.array([[3.0, 0.4], [3.0, 0.6], [0.0, 0.9]])  # the linear layer says water for the first two
    assert head.predict(features).tolist() == [82, 11, 11]
    assert np.allclose(head.predict_proba(features).sum(axis=1), 1.0)
    again = Head.from_bytes(head.to_bytes())
    assert again.water_rule == (1.0, 0.5, 0.05)
    assert np.allclose(again.predict_proba(features), head.predict_proba(features), atol=1e-6)


def test_lovo_reports_every_fold_and_every_ordered_pair(vintages):
    result = leave_one_vintage_out(vintages, DEFAULT_LEGEND, 4, Protocol(l2_candidates=(1e-2,)))
    assert [fold["test_year"] for fold in result["folds"]] == [2009, 2012, 2014]
    assert [fold["train_years"] for fold in result["folds"]] == [[2012, 2014], [2009, 2014], [2009, 2012]]
    assert [(pair["from"], pair["to"]) for pair in result["change"]] == [
        (2009, 2012),
        (2009, 2014),
        (2012, 2009),
        (2012, 2014),
        (2014, 2009),
        (2014, 2012),
    ]
    assert result["mean"]["folds"] == 3 and result["mean"]["worst_accuracy"] <= result["mean"]["accuracy"]
    assert set(result["mean"]["per_class_f1"]) == {"11", "71", "82"}
    assert all(0 <= pair["precision"] <= 1 and pair["true_changes"] > 0 for pair in result["change"])


def _imbalanced_vintage(year: int, seed: int) -> Vintage:
    """Crop on 90 % of the tiles, grassland on 10 %, their embeddings overlapping (half a spread apart)."""
    base = _vintage(year, seed)
    rng = np.random.default_rng(seed + 100)
    classes = np.where(rng.random(len(base.table)) < 0.1, 71, 82)
    features = base.features.copy()
    features[:, :6] = rng.normal(0, 1, (len(classes), 6)) + (classes == 71)[:, None] * 0.5
    features[:, 6:] = [0.05, 0.05, 0.05, -0.45]
    table = base.table.assign(prior_class=classes, reference_class=classes, prior_water_share=0.05)
    return Vintage(year, table, features)


def test_class_weighting_is_chosen_by_blocked_validation_not_assumed():
    training = {2009: _imbalanced_vintage(2009, 4), 2012: _imbalanced_vintage(2012, 5)}
    model = fit_frozen(training, spectral_count=4)
    keys = model.choices["validation_accuracy"]
    assert {k.split("|")[1] for k in keys} == {"class_weighting=False", "class_weighting=True"}
    # Balancing a rare, overlapping class over-calls it: validation picks the unweighted head, which
    # calls far fewer grassland tiles than the balanced one on the same inputs.
    assert model.choices["class_weighting"] is False
    weighted = fit_frozen(training, spectral_count=4, protocol=Protocol(class_weighting_candidates=(True,)))
    assert weighted.choices["class_weighting"] is True
    inputs = training[2012].features
    called = {name: int((m.head.predict(inputs) == 71).sum()) for name, m in (("plain", model), ("weighted", weighted))}
    assert called["plain"] < called["weighted"] / 2, called


def test_low_confidence_labels_can_be_weighted_down_and_the_choice_is_recorded(vintages):
    def mislabelled_when_unsure(vintage: Vintage) -> Vintage:
        unsure = (vintage.table["confidence"] == "low").to_numpy()
        wrong = np.where(vintage.table["prior_class"] == 82, 71, 82)
        return Vintage(
            vintage.year,
            vintage.table.assign(prior_class=np.where(unsure, wrong, vintage.table["prior_class"])),
            vintage.features,
        )

    fold = Fold(vintages, 2014)
    noisy = {year: mislabelled_when_unsure(v) for year, v in fold.training.items()}
    kept = fit_frozen(noisy, spectral_count=4)
    dropped = fit_frozen(noisy, spectral_count=4, protocol=Protocol(low_confidence_weights=(0.0,)))
    assert (kept.choices["low_confidence_weight"], dropped.choices["low_confidence_weight"]) == (1.0, 0.0)
    assert fold.score(dropped, DEFAULT_LEGEND)["accuracy"] > fold.score(kept, DEFAULT_LEGEND)["accuracy"] + 0.05


def test_the_change_threshold_can_be_chosen_on_the_training_vintages_own_pairs(vintages):
    from landshift.model.lovo import CHANGE_THRESHOLDS, change_threshold

    training = Fold(vintages, 2014).training
    chosen = change_threshold(training, spectral_count=4, protocol=Protocol())
    assert chosen["min_probability"] in CHANGE_THRESHOLDS
    assert set(chosen["validation"]) == {str(t) for t in CHANGE_THRESHOLDS}
    precision = {t: chosen["validation"][str(t)]["precision"] for t in CHANGE_THRESHOLDS}
    reaching = [t for t in CHANGE_THRESHOLDS if precision[t] >= 0.8]
    assert reaching, precision  # the synthetic classes separate: some threshold reaches 0.8
    assert chosen["min_probability"] == reaching[0]
    # Impossible target: the most precise threshold.
    strict = change_threshold(training, spectral_count=4, protocol=Protocol(), target=1.01)
    best = max(v["precision"] for v in strict["validation"].values())
    assert strict["validation"][str(strict["min_probability"])]["precision"] == best
