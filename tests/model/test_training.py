"""Head training: agreement filter, spatially blocked split, determinism, metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from landshift.core.legend import DEFAULT_LEGEND
from landshift.model.evaluation import evaluate, kappa
from landshift.model.heads import HeadSettings, blocked_split, evaluate_and_fit, filter_by_agreement, train_head


def grid_table(years=(2009,)) -> pd.DataFrame:
    rows = [
        {
            "year": y,
            "col": c,
            "row": r,
            "variant": 0,
            "prior_class": 11 if (c + r) % 5 == 0 else 82,
            "prior_agreement": 0.5 if c == 3 else 0.9,
        }
        for y in years
        for c in range(20)
        for r in range(15)
    ]
    return pd.DataFrame(rows)


def separable_features(table: pd.DataFrame, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    signal = (table["prior_class"] == 11).to_numpy()[:, None] * 2.0
    return np.hstack([rng.normal(size=(len(table), 30)) + signal, rng.normal(size=(len(table), 4)) + signal])


def test_agreement_filter_drops_mixed_tiles():
    table = grid_table()
    kept = filter_by_agreement(table, 0.6)
    assert len(kept) == len(table) - 15 and (kept["col"] != 3).all()


def test_blocked_split_never_shares_a_block_between_train_and_validation():
    table = grid_table()
    train, validation = blocked_split(table, block_tiles=4, validation_share=0.25, seed=1)
    assert not (train & validation).any() and (train | validation).all()
    blocks = (table["col"] // 4).astype(str) + "_" + (table["row"] // 4).astype(str)
    assert not set(blocks[train]) & set(blocks[validation])
    assert 0.1 < validation.mean() < 0.4
    again = blocked_split(table, block_tiles=4, validation_share=0.25, seed=1)
    assert np.array_equal(again[1], validation)


def test_same_seed_same_head_and_metrics():
    table = grid_table((2009, 2014))
    features = separable_features(table)
    first = evaluate_and_fit(table, features, DEFAULT_LEGEND, seed=7)
    second = evaluate_and_fit(table, features, DEFAULT_LEGEND, seed=7)
    assert first[0].to_bytes() == second[0].to_bytes()
    assert first[2] == second[2]
    directions = first[2]["cross_year"]["directions"]
    assert [(d["train_year"], d["test_years"]) for d in directions] == [(2009, [2014]), (2014, [2009])]
    assert min(d["accuracy"] for d in directions) > 0.9
    assert first[2]["accuracy"] == round(sum(d["accuracy"] for d in directions) / 2, 4)
    assert first[2]["training_tiles"] == len(table) - 30  # the mixed column is filtered in both years
    assert first[1].codes == [11, 82]


def test_class_weighting_lifts_the_rare_class():
    rng = np.random.default_rng(3)
    labels = np.array([11] * 20 + [82] * 380)
    features = rng.normal(size=(400, 8)) + (labels == 11)[:, None] * 0.8
    settings = HeadSettings(pca_components=0, spectral_count=0, class_weighting=True)
    weighted = train_head(features, labels, 0, settings)
    plain = train_head(features, labels, 0, HeadSettings(pca_components=0, spectral_count=0, class_weighting=False))
    recall = lambda head: (head.predict(features)[labels == 11] == 11).mean()  # noqa: E731
    assert recall(weighted) > recall(plain)


def test_one_class_cannot_be_trained():
    with pytest.raises(Exception, match="two classes"):
        train_head(np.zeros((4, 3)), np.array([82, 82, 82, 82]))


def test_metrics_match_hand_computed_figures():
    truth = np.array([11, 11, 82, 82, 82, 71])
    predicted = np.array([11, 82, 82, 82, 11, 71])
    report = evaluate(truth, predicted, DEFAULT_LEGEND)
    assert report["accuracy"] == round(4 / 6, 4)
    assert report["per_class"]["11"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert report["confusion_matrix"]["rows_true_columns_predicted"] == [[1, 0, 1], [0, 1, 0], [1, 0, 2]]
    assert report["recipe_3class"]["accuracy"] == round(4 / 6, 4)
    assert kappa(np.array([[5, 0], [0, 5]])) == 1.0
    assert abs(kappa(np.array([[25, 25], [25, 25]]))) < 1e-9


def test_augmented_rows_train_the_head_but_only_original_tiles_are_evaluated():
    base = grid_table((2009, 2014))
    augmented = pd.concat([base.assign(variant=v) for v in range(8)], ignore_index=True)
    features = separable_features(augmented, seed=5)
    _, _, metrics = evaluate_and_fit(augmented, features, DEFAULT_LEGEND, seed=1)
    kept = len(base) - 30
    assert metrics["training_tiles"] == kept and metrics["training_rows"] == 8 * kept
    assert [d["tiles"] for d in metrics["cross_year"]["directions"]] == [kept // 2] * 2  # the originals only


def test_split_settings_shape_the_blocked_validation_and_are_recorded():
    from landshift.core.errors import InputError
    from landshift.model.heads import SplitSettings

    table = grid_table((2009,))
    features = separable_features(table)
    _, _, default = evaluate_and_fit(table, features, DEFAULT_LEGEND, seed=3)
    _, _, wide = evaluate_and_fit(table, features, DEFAULT_LEGEND, seed=3, split=SplitSettings(2, 0.5))
    assert default["split"] == {"block_tiles": 4, "validation_share": 0.25}
    assert wide["split"] == {"block_tiles": 2, "validation_share": 0.5}
    assert wide["spatial_blocks"]["tiles"] > default["spatial_blocks"]["tiles"]
    with pytest.raises(InputError, match="validation share"):
        SplitSettings(4, 0.9)
    with pytest.raises(InputError, match="block size"):
        SplitSettings(0, 0.25)


def test_change_scores_count_only_changes_with_the_right_to_class():
    from landshift.model.evaluation import best_operating_point, change_scores

    prior = np.array([82, 82, 82, 71, 71, 11])
    later = np.array([11, 11, 82, 82, 71, 11])
    predicted = np.array([11, 71, 11, 82, 82, 11])  # right, wrong to-class, false, right, false, stable
    probability = np.array([0.9, 0.9, 0.6, 0.95, 0.8, 0.99])
    support = np.array([0.9, 0.9, 0.9, 0.9, 0.2, 0.9])
    curve = change_scores(prior, later, predicted, probability, np.ones(6, bool), support, (0.5, 0.7), (0.5,))
    plain = {row["min_probability"]: row for row in curve if row["min_prior_support"] is None}
    assert (plain[0.5]["reported"], plain[0.5]["right"], plain[0.5]["true_changes"]) == (5, 2, 3)
    assert plain[0.5]["precision"] == 0.4 and plain[0.5]["recall"] == round(2 / 3, 4)
    assert (plain[0.7]["reported"], plain[0.7]["right"]) == (4, 2)  # the 0.6 false change drops out
    bitemporal = next(row for row in curve if row["min_prior_support"] == 0.5 and row["min_probability"] == 0.7)
    assert (bitemporal["reported"], bitemporal["right"]) == (3, 2)  # the unsupported 71 -> 82 drops out
    assert best_operating_point(curve, 0.6) == bitemporal
    assert best_operating_point(curve, 0.9) is None


def test_temperature_scaling_recovers_an_overconfident_models_temperature():
    from landshift.model.evaluation import fit_temperature, reliability

    rng = np.random.default_rng(0)
    true_scores = rng.normal(size=(4000, 3)) * 2.0
    probabilities = np.exp(true_scores) / np.exp(true_scores).sum(axis=1, keepdims=True)
    truth = np.array([rng.choice(3, p=p) for p in probabilities])
    temperature = fit_temperature(true_scores * 3.0, truth)  # three times too confident
    assert 2.6 < temperature < 3.4
    overconfident = np.exp(true_scores * 3) / np.exp(true_scores * 3).sum(axis=1, keepdims=True)
    before = reliability(overconfident.max(axis=1), overconfident.argmax(axis=1) == truth)
    after = reliability(probabilities.max(axis=1), probabilities.argmax(axis=1) == truth)
    assert after["ece"] < 0.03 < before["ece"]
    assert sum(row["tiles"] for row in after["bins"]) == 4000


def test_evaluation_reports_change_and_calibration_and_the_head_is_calibrated():
    from landshift.model.heads import logits

    table = grid_table((2009, 2014))
    later = table["year"] == 2014
    table.loc[later & (table["col"] < 2), "prior_class"] = 11  # a strip turns to water in 2014
    features = separable_features(table)
    head, _, metrics = evaluate_and_fit(table, features, DEFAULT_LEGEND, seed=2)
    change = metrics["change"]
    assert (change["train_year"], change["test_year"]) == (2009, 2014)
    assert change["curve"][0]["true_changes"] == int((later & (table["col"] < 2)).sum()) - 6  # (c + r) % 5 == 0
    assert set(change["at_rule"]) == {"post_classification", "bitemporal"}
    calibration = metrics["calibration"]
    assert calibration["temperature"] > 0 and calibration["after"]["ece"] <= calibration["before"]["ece"]
    uncalibrated = train_head(
        features[table["prior_agreement"].to_numpy() >= 0.6], table["prior_class"][table["prior_agreement"] >= 0.6], 2
    )
    scores = logits(uncalibrated, features)
    assert np.allclose(logits(head, features), scores / calibration["temperature"], atol=1e-6)
