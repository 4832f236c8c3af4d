"""The simulated analyst: answers leave a fold only through Fold.reveal, revealed tiles are never
scored, the answers train the refitted head (weighted), and the curves have their N points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from landshift.core.errors import InputError
from landshift.core.legend import DEFAULT_LEGEND
from landshift.model.heads import HeadSettings, train_head
from landshift.model.lovo import REVIEW_LABEL_WEIGHT, ExtraLabels, Fold, Protocol, Vintage, fit_frozen
from landshift.model.review_simulation import (
    QUEUE_UNCERTAIN,
    change_queue,
    queue_order,
    simulate_review,
)

CLASSES = np.array([11, 71, 82])
PROTOCOL = Protocol(l2_candidates=(1e-2,), water_rule_thresholds=(None, 0.4))


def _vintage(year: int, seed: int, shift: float = 0.0, drift: float = 0.0, variants: int = 2) -> Vintage:
    """A 12 x 10 tile vintage with ``variants`` augmentation rows per tile; its class-71 tiles'
    embedding moved by ``drift`` (what the other vintages never showed)."""
    rng = np.random.default_rng(seed)
    cols, rows = np.meshgrid(np.arange(12), np.arange(10))
    classes = CLASSES[rng.choice(3, size=cols.size, p=[0.2, 0.2, 0.6])]
    share = np.where(classes == 11, rng.uniform(0.6, 1.0, cols.size), rng.uniform(0.0, 0.3, cols.size))
    embedding = rng.normal(0, 1, (cols.size, 6)) + (classes[:, None] == CLASSES[None, :]).repeat(2, axis=1) * 1.2
    embedding[classes == 71] += drift
    tables, features = [], []
    for variant in range(variants):
        spectral = np.stack([share, share, share, share - 0.5], axis=1)
        features.append(np.concatenate([embedding + shift + rng.normal(0, 0.1, embedding.shape), spectral], axis=1))
        tables.append(
            pd.DataFrame(
                {
                    "col": cols.ravel(),
                    "row": rows.ravel(),
                    "variant": variant,
                    "prior_class": classes,
                    "prior_agreement": 0.9,
                    "prior_water_share": share,
                    "reference_class": np.where(np.arange(cols.size) % 40 == 7, 0, classes),  # 3 unlabelled
                    "confidence": "high",
                }
            )
        )
    return Vintage(year, pd.concat(tables, ignore_index=True), np.concatenate(features).astype(np.float32))


@pytest.fixture(scope="module")
def vintages():
    return {2009: _vintage(2009, 1), 2012: _vintage(2012, 2, 0.3), 2014: _vintage(2014, 3, -0.3, drift=1.5)}


def test_revealed_tiles_come_back_as_weighted_rows_and_are_never_scored(vintages):
    fold = Fold(vintages, 2014)
    model = fit_frozen(fold.training, 4, PROTOCOL)
    full = fold.score(model, DEFAULT_LEGEND)
    assert full["tiles"] == 117 and fold.revealed == ()
    reference = vintages[2014].originals()[0]["reference_class"].to_numpy()
    answers = fold.reveal([0, 5, 7], weight=2.0)  # position 7 has no reference label: no row
    assert fold.revealed == (0, 5, 7)
    assert answers.tiles == 2 and len(answers.labels) == 4  # 2 answered tiles x 2 variants
    assert list(answers.table["position"]) == [0, 0, 5, 5] and list(answers.table["variant"]) == [0, 1, 0, 1]
    assert list(answers.labels) == [reference[0]] * 2 + [reference[5]] * 2
    assert np.all(answers.weights == 2.0)
    every = vintages[2014]
    tile_5 = ((every.table["col"] == 5) & (every.table["row"] == 0)).to_numpy()
    assert np.array_equal(answers.features[2:], every.features[tile_5])
    assert fold.score(model, DEFAULT_LEGEND)["tiles"] == 115  # the two labelled revealed tiles left out
    with pytest.raises(InputError, match="positions must lie"):
        fold.reveal([120], weight=2.0)


def test_extra_rows_train_only_the_final_head_and_none_changes_nothing(vintages):
    fold = Fold(vintages, 2014)
    plain = fit_frozen(fold.training, 4, PROTOCOL)
    assert fit_frozen(fold.training, 4, PROTOCOL, extra=None).head.to_bytes() == plain.head.to_bytes()
    answers = fold.reveal(np.arange(60), weight=REVIEW_LABEL_WEIGHT)
    refitted = fit_frozen(fold.training, 4, PROTOCOL, extra=answers)
    assert refitted.choices["extra_labels"] == {"tiles": answers.tiles, "rows": len(answers.labels)}
    same = {k: v for k, v in refitted.choices.items() if k != "extra_labels"}
    assert same == plain.choices  # no choice is validated on the answers
    assert refitted.training_years == (2009, 2012)
    # The drifted class-71 tiles of 2014 are learnt from the answers: better on the tiles not reviewed.
    assert fold.score(refitted, DEFAULT_LEGEND)["accuracy"] > fold.score(plain, DEFAULT_LEGEND)["accuracy"]
    with pytest.raises(InputError, match="differ in length"):
        ExtraLabels(answers.table, answers.features, answers.labels[:-1], answers.weights)


def test_sample_weights_none_trains_the_same_bytes_and_weights_pull_the_head():
    rng = np.random.default_rng(0)
    labels = np.array([11] * 30 + [82] * 70)
    features = rng.normal(size=(100, 5)) + (labels == 11)[:, None] * 0.5
    settings = HeadSettings(pca_components=0, spectral_count=0)
    plain = train_head(features, labels, 1, settings)
    assert train_head(features, labels, 1, settings, None).to_bytes() == plain.to_bytes()
    assert train_head(features, labels, 1, settings, np.ones(100)).to_bytes() == plain.to_bytes()
    heavy = train_head(features, labels, 1, settings, np.where(labels == 11, 5.0, 1.0))
    assert (heavy.predict(features) == 11).sum() > (plain.predict(features) == 11).sum()
    with pytest.raises(InputError, match="sample weights"):
        train_head(features, labels, 1, settings, np.ones(99))


def test_queue_order_is_least_confident_first_and_the_change_queue_holds_every_reported_change(vintages):
    fold = Fold(vintages, 2014)
    model = fit_frozen(fold.training, 4, PROTOCOL)
    order = queue_order(model, fold)
    probability = model.predict(fold.inputs)["probability"]
    assert sorted(order) == list(range(120)) and np.all(np.diff(np.round(probability[order], 6)) >= 0)
    queue = change_queue(model, fold, vintages[2009])
    predicted = model.predict(fold.inputs)["class"]
    before = vintages[2009].originals()[0]["reference_class"].to_numpy()  # same tile order in both vintages
    reported = (predicted != before) & (before > 0) & (probability >= 0.9)
    assert set(np.flatnonzero(reported)) <= set(queue)
    assert len(queue) == reported.sum() + QUEUE_UNCERTAIN
    assert list(queue) == [p for p in order if p in set(queue)]


def test_simulation_curves_have_every_n_and_answers_reach_the_map(vintages):
    result = simulate_review(vintages, DEFAULT_LEGEND, 4, PROTOCOL, counts=(0, 10, 30), seeds=(0, 1))
    assert [f["test_year"] for f in result["folds"]] == [2009, 2012, 2014]
    for fold in result["folds"]:
        for order in ("queue", "random"):
            assert [p["reviewed"] for p in fold[order]] == [0, 10, 30]
            assert [p["tiles_scored"] + p["answered"] for p in fold[order]] == [117] * 3
        assert fold["queue"][0] == {**fold["queue"][0], "accuracy_without_answers": fold["queue"][0]["accuracy"]}
        assert fold["random"][0]["accuracy"] == fold["queue"][0]["accuracy"]
        assert fold["random"][1]["orders"] == 2
    worst = min(result["folds"], key=lambda f: f["queue"][0]["accuracy"])
    assert result["worst_fold"] == worst["test_year"]
    gain = result["worst_fold_gain"]
    assert gain["queue"] == round(worst["queue"][2]["accuracy"] - worst["queue"][0]["accuracy"], 4)
    assert gain["met"] == (gain["queue"] >= 0.03)
    assert set(result["queue_beats_random"]) == {"2009", "2012", "2014"}
    pairs = [(p["from"], p["to"]) for f in result["folds"] for p in f["reviewed_change"]]
    assert pairs == [(2009, 2012), (2009, 2014), (2012, 2014)]
    for pair in (p for f in result["folds"] for p in f["reviewed_change"]):
        points = pair["points"]
        assert [p["reviewed"] for p in points] == [0, 10, 30]
        # Every reviewed reported change is right, so right grows with the answers and never falls.
        assert points[0]["right"] <= points[1]["right"] <= points[2]["right"]
    assert [row["reviewed"] for row in result["reviewed_change_precision"]] == [0, 10, 30]
