"""Classification metrics: accuracy, per-class P/R/F1, confusion matrix, kappa, the 2017 regrouping."""

from __future__ import annotations

import numpy as np

from landshift.legend import RECIPE_GROUPS, Legend


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
