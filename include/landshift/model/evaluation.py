"""Classification metrics: accuracy, per-class P/R/F1, confusion matrix, kappa, the 2017 regrouping."""

from __future__ import annotations

import itertools

import numpy as np

from landshift.core.legend import RECIPE_GROUPS, Legend
from landshift.model.spec import WATER_CODE


def confusion(truth: np.ndarray, predicted: np.ndarray, codes: list[int]) -> np.ndarray:
    """Counts [true class, predicted class] over ``codes``."""
    index = {code: i for i, code in enumerate(codes)}
    matrix = np.zeros((len(codes), len(codes)), dtype=np.int64)
    for t, p in zip(truth, predicted, strict=True):
        matrix[index[int(t)], index[int(p)]] += 1
    return matrix


def kappa(matrix: np.ndarray) -> float:
    """Cohen's kappa of a confusion matrix."""
    total = matrix.sum()
    if total == 0:
        return 0.0
    observed = np.trace(matrix) / total
    expected = (matrix.sum(axis=0) * matrix.sum(axis=1)).sum() / total**2
    return float((observed - expected) / (1 - expected)) if expected < 1 else 1.0


def per_class(matrix: np.ndarray, codes: list[int]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support per class."""
    scores = {}
    for i, code in enumerate(codes):
        true_positive = matrix[i, i]
        precision = true_positive / matrix[:, i].sum() if matrix[:, i].sum() else 0.0
        recall = true_positive / matrix[i, :].sum() if matrix[i, :].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[str(code)] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "support": int(matrix[i, :].sum()),
        }
    return scores


def regroup(codes: np.ndarray) -> np.ndarray:
    """Map class codes to the 2017 recipe's three groups (Developed / Cultivated / Undeveloped)."""
    lookup = {code: group for group, members in RECIPE_GROUPS.items() for code in members}
    return np.array([lookup.get(int(c), "Undeveloped") for c in codes])


def evaluate(truth: np.ndarray, predicted: np.ndarray, legend: Legend) -> dict:
    """JSON-ready metrics of predicted vs true class codes."""
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    codes = [c for c in legend.codes if c in set(truth.tolist()) | set(predicted.tolist())]
    matrix = confusion(truth, predicted, codes)
    groups = list(RECIPE_GROUPS)
    group_truth, group_predicted = regroup(truth), regroup(predicted)
    group_index = {g: i for i, g in enumerate(groups)}
    group_matrix = np.zeros((len(groups), len(groups)), dtype=np.int64)
    for t, p in zip(group_truth, group_predicted, strict=True):
        group_matrix[group_index[t], group_index[p]] += 1
    return {
        "tiles": len(truth),
        "accuracy": round(float((truth == predicted).mean()) if len(truth) else 0.0, 4),
        "kappa": round(kappa(matrix), 4),
        "per_class": per_class(matrix, codes),
        "confusion_matrix": {"classes": codes, "rows_true_columns_predicted": matrix.tolist()},
        "recipe_3class": {
            "accuracy": round(float((group_truth == group_predicted).mean()) if len(truth) else 0.0, 4),
            "classes": groups,
            "confusion_matrix": group_matrix.tolist(),
        },
    }


def mean_of_directions(directions: list[dict]) -> dict:
    """Mean accuracy, kappa and water / herbaceous F1 over cross-year directions."""

    def f1(report: dict, code: str) -> float:
        return report["per_class"].get(code, {}).get("f1", 0.0)

    return {
        "accuracy": round(float(np.mean([d["accuracy"] for d in directions])), 4),
        "kappa": round(float(np.mean([d["kappa"] for d in directions])), 4),
        "water_f1": round(float(np.mean([f1(d, "11") for d in directions])), 4),
        "herbaceous_f1": round(float(np.mean([f1(d, "71") for d in directions])), 4),
        "directions": len(directions),
    }


def fit_temperature(scores: np.ndarray, truth_index: np.ndarray) -> float:
    """The softmax temperature minimising the negative log-likelihood of held-out scores (logits),
    by a deterministic grid search over 0.25..8 (log-spaced)."""
    best, best_nll = 1.0, np.inf
    for temperature in np.exp(np.linspace(np.log(0.25), np.log(8.0), 97)):
        scaled = scores / temperature
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        log_probs = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        nll = -log_probs[np.arange(len(truth_index)), truth_index].mean()
        if nll < best_nll - 1e-12:
            best, best_nll = float(temperature), nll
    return round(best, 4)


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> dict:
    """Reliability diagram (per confidence bin: tiles, mean confidence, accuracy) and the expected
    calibration error."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows, ece = [], 0.0
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if not inside.any():
            continue
        mean_confidence, accuracy = float(confidence[inside].mean()), float(correct[inside].mean())
        ece += inside.mean() * abs(mean_confidence - accuracy)
        rows.append(
            {
                "bin": [round(float(low), 2), round(float(high), 2)],
                "tiles": int(inside.sum()),
                "confidence": round(mean_confidence, 4),
                "accuracy": round(accuracy, 4),
            }
        )
    return {"bins": rows, "ece": round(float(ece), 4)}


def change_scores(
    prior: np.ndarray,
    later_truth: np.ndarray,
    predicted: np.ndarray,
    probability: np.ndarray,
    reportable: np.ndarray,
    prior_support: np.ndarray | None = None,
    thresholds: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
    supports: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8),
) -> list[dict]:
    """Change precision and recall per ``min_probability`` threshold, without and with bitemporal
    evidence: ``prior_support`` is the probability the model gives the prior class on the prior
    vintage's imagery, and a change counts only where it reaches ``min_prior_support``.

    Truth: tiles whose later label differs from the prior label. A reported change is right only
    when its to-class is the later label (its from-class is the prior label by construction).
    ``reportable``: tiles whose prior is clear enough to report (the rule's prior agreement).
    """
    truth = (prior != later_truth) & (prior > 0) & (later_truth > 0)
    differs = (predicted != prior) & (prior > 0) & reportable
    rows = []
    for support in (None, *supports) if prior_support is not None else (None,):
        for threshold in thresholds:
            reported = differs & (probability >= threshold)
            if support is not None:
                reported &= prior_support >= support
            right = reported & truth & (predicted == later_truth)
            rows.append(
                {
                    "min_probability": threshold,
                    "min_prior_support": support,
                    "reported": int(reported.sum()),
                    "right": int(right.sum()),
                    "true_changes": int(truth.sum()),
                    "precision": round(float(right.sum() / reported.sum()), 4) if reported.any() else 0.0,
                    "recall": round(float(right.sum() / truth.sum()), 4) if truth.any() else 0.0,
                }
            )
    return rows


def best_operating_point(curve: list[dict], min_recall: float) -> dict | None:
    """The curve's point of highest precision among those with recall >= ``min_recall`` (ties:
    higher recall), or None."""
    eligible = [row for row in curve if row["recall"] >= min_recall]
    return max(eligible, key=lambda row: (row["precision"], row["recall"])) if eligible else None


CONFIDENT_LEVELS = ("medium", "high")


def vintage_scores(
    truth: np.ndarray,
    predicted: np.ndarray,
    confidence: np.ndarray,
    water_truth: np.ndarray,
    water_predicted: np.ndarray,
    legend: Legend,
) -> dict:
    """A test vintage's metrics: :func:`evaluate`, water and herbaceous F1, accuracy per label
    confidence and on medium/high-confidence labels, and the tile water-share MAE."""
    report = evaluate(truth, predicted, legend)
    confidence = np.asarray(confidence).astype(str)
    correct = np.asarray(truth) == np.asarray(predicted)
    by_confidence = {
        level: {"tiles": int((confidence == level).sum()), "accuracy": _share(correct[confidence == level])}
        for level in ("low", "medium", "high")
    }
    confident = np.isin(confidence, CONFIDENT_LEVELS)
    error = np.abs(np.asarray(water_predicted, dtype=np.float64) - np.asarray(water_truth, dtype=np.float64))
    # The 5 m label rasters mark every pixel of a water-class tile as water (the tile's class), so
    # on those tiles the error measures the label's construction; on land tiles, ponds pixel by pixel.
    water_tiles = np.asarray(truth) == WATER_CODE
    return {
        **report,
        "water_f1": report["per_class"].get("11", {}).get("f1", 0.0),
        "herbaceous_f1": report["per_class"].get("71", {}).get("f1", 0.0),
        "confident_accuracy": _share(correct[confident]),
        "confident_tiles": int(confident.sum()),
        "accuracy_by_confidence": by_confidence,
        "water_share_mae": _mean(error),
        "water_share_mae_land_tiles": _mean(error[~water_tiles]),
        "water_share_mae_water_tiles": _mean(error[water_tiles]),
    }


def _mean(values: np.ndarray) -> float:
    """Mean of ``values``, 0 when empty, rounded."""
    return round(float(values.mean()), 4) if len(values) else 0.0


def _share(flags: np.ndarray) -> float:
    """Mean of boolean flags, 0 when empty, rounded."""
    return round(float(flags.mean()), 4) if len(flags) else 0.0


FOLD_FIGURES = (
    "accuracy",
    "kappa",
    "water_f1",
    "herbaceous_f1",
    "confident_accuracy",
    "water_share_mae",
    "water_share_mae_land_tiles",
    "water_share_mae_water_tiles",
)


def mean_of_folds(folds: list[dict]) -> dict:
    """Mean and worst fold of each headline figure, and per-class F1 means."""
    mean = {key: round(float(np.mean([f[key] for f in folds])), 4) for key in FOLD_FIGURES}
    codes = sorted({code for f in folds for code in f["per_class"]}, key=int)
    mean["per_class_f1"] = {
        code: round(float(np.mean([f["per_class"].get(code, {}).get("f1", 0.0) for f in folds])), 4) for code in codes
    }
    mean["worst_accuracy"] = round(float(min(f["accuracy"] for f in folds)), 4)
    mean["worst_water_share_mae"] = round(float(max(f["water_share_mae"] for f in folds)), 4)
    mean["folds"] = len(folds)
    return mean
