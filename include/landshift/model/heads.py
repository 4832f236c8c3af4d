"""Head training: agreement filter, spatially blocked split, softmax regression (class-balanced weights optional)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from landshift.core.errors import InputError
from landshift.core.legend import Legend
from landshift.model.evaluation import (
    best_operating_point,
    change_scores,
    evaluate,
    fit_temperature,
    mean_of_directions,
    reliability,
)
from landshift.model.spec import Head

log = logging.getLogger(__name__)

# The change rule the evaluation reports at: (min_probability, min_prior_agreement,
# min_prior_support), chosen from the change curve (see the README's model section).
CHANGE_RULE = (0.9, 0.6, 0.7)


@dataclass(frozen=True)
class HeadSettings:
    """Softmax-regression hyper-parameters (chosen by the cross-year evaluation)."""

    l2: float = 1e-2
    learning_rate: float = 0.05
    steps: int = 400
    class_weighting: bool = True
    pca_components: int = 64
    spectral_count: int = 4


def filter_by_agreement(table: pd.DataFrame, min_agreement: float) -> pd.DataFrame:
    """Tiles whose majority label covers at least ``min_agreement`` of the tile."""
    return table[table["prior_agreement"] >= min_agreement]


def spatial_blocks(table: pd.DataFrame, block_tiles: int) -> pd.Series:
    """Block id of each tile: squares of ``block_tiles`` x ``block_tiles`` neighbouring tiles."""
    if block_tiles < 1:
        raise InputError("block_tiles must be >= 1")
    return (table["col"] // block_tiles).astype(str) + "_" + (table["row"] // block_tiles).astype(str)


@dataclass(frozen=True)
class SplitSettings:
    """The spatially blocked validation split: square blocks of ``block_tiles`` tiles a side, a
    ``validation_share`` of the blocks held out."""

    block_tiles: int = 4
    validation_share: float = 0.25

    def __post_init__(self) -> None:
        if not 1 <= self.block_tiles <= 64:
            raise InputError(f"split block size must lie in 1..64 tiles, got {self.block_tiles}")
        if not 0.05 <= self.validation_share <= 0.5:
            raise InputError(f"validation share must lie in [0.05, 0.5], got {self.validation_share}")


def blocked_split(
    table: pd.DataFrame, block_tiles: int = 4, validation_share: float = 0.25, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean train/validation masks assigning whole spatial blocks to one side.

    Neighbouring tiles are correlated; a random tile split would flatter the score.
    """
    blocks = spatial_blocks(table, block_tiles)
    unique = np.array(sorted(blocks.unique()))
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(unique, size=max(1, round(len(unique) * validation_share)), replace=False))
    validation = blocks.isin(chosen).to_numpy()
    return ~validation, validation


def class_weights(labels: np.ndarray, codes: list[int]) -> np.ndarray:
    """Per-sample weights inversely proportional to class frequency (mean 1)."""
    counts = {code: int((labels == code).sum()) for code in codes}
    weights = np.array([len(labels) / (len(codes) * counts[label]) for label in labels], dtype=np.float64)
    return weights / weights.mean()


def fit_projection(features: np.ndarray, settings: HeadSettings) -> tuple[np.ndarray, np.ndarray]:
    """(offset, projection): PCA of the embedding columns, the trailing spectral columns kept as they are."""
    spectral = min(settings.spectral_count, features.shape[1])
    embedding = features[:, : features.shape[1] - spectral].astype(np.float64)
    offset = np.concatenate([embedding.mean(axis=0), np.zeros(spectral)])
    components = min(settings.pca_components, *embedding.shape) if settings.pca_components else 0
    if components:
        _, _, vt = np.linalg.svd(embedding - offset[: embedding.shape[1]], full_matrices=False)
        # Fix each component's sign so the projection is deterministic.
        signs = np.sign(vt[:components, np.argmax(np.abs(vt[:components]), axis=1)].diagonal())
        basis = (vt[:components] * signs[:, None]).T
    else:
        basis = np.eye(embedding.shape[1])
    projection = np.zeros((features.shape[1], basis.shape[1] + spectral))
    projection[: embedding.shape[1], : basis.shape[1]] = basis
    projection[embedding.shape[1] :, basis.shape[1] :] = np.eye(spectral)
    return offset, projection


def train_head(
    features: np.ndarray,
    labels: np.ndarray,
    seed: int = 42,
    settings: HeadSettings | None = None,
    sample_weights: np.ndarray | None = None,
) -> Head:
    """Fit a softmax head by full-batch Adam on projected, standardised features; deterministic.

    ``sample_weights`` (optional, one per row) multiply the class weights: analysts' review labels
    count more than annotated ones. None trains exactly as without it.
    """
    settings = settings or HeadSettings()
    codes = sorted(int(c) for c in np.unique(labels))
    if len(codes) < 2:
        raise InputError(f"training needs at least two classes, got {codes}")
    offset, projection = fit_projection(features, settings)
    x = (features.astype(np.float64) - offset) @ projection
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    x = (x - mean) / scale
    y = np.zeros((len(labels), len(codes)))
    y[np.arange(len(labels)), np.searchsorted(codes, labels)] = 1.0
    sample_weight = class_weights(labels, codes) if settings.class_weighting else np.ones(len(labels))
    if sample_weights is not None:
        if len(sample_weights) != len(labels):
            raise InputError(f"{len(sample_weights)} sample weights for {len(labels)} training rows")
        sample_weight = sample_weight * np.asarray(sample_weights, dtype=np.float64)
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, 0.01, size=(x.shape[1], len(codes)))
    bias = np.zeros(len(codes))
    moments = [np.zeros_like(weights), np.zeros_like(weights), np.zeros_like(bias), np.zeros_like(bias)]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, settings.steps + 1):
        scores = x @ weights + bias
        scores -= scores.max(axis=1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=1, keepdims=True)
        error = (probs - y) * sample_weight[:, None] / len(labels)
        grads = (x.T @ error + settings.l2 * weights, error.sum(axis=0))
        for index, (param, grad) in enumerate(zip((weights, bias), grads, strict=True)):
            m, v = moments[2 * index], moments[2 * index + 1]
            m[:] = beta1 * m + (1 - beta1) * grad
            v[:] = beta2 * v + (1 - beta2) * grad**2
            param -= settings.learning_rate * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + eps)
    return Head(
        offset=offset,
        projection=projection,
        mean=mean,
        scale=scale,
        weights=weights,
        bias=bias,
        class_codes=tuple(codes),
    )


def logits(head: Head, features: np.ndarray) -> np.ndarray:
    """The head's raw class scores (before the softmax)."""
    return head.inputs(features) @ head.weights + head.bias


def with_temperature(head: Head, temperature: float) -> Head:
    """``head`` with its scores divided by ``temperature``: same classes, calibrated probabilities,
    same file format."""
    return replace(head, weights=head.weights / temperature, bias=head.bias / temperature)


def cross_year(table: pd.DataFrame, features: np.ndarray, original: np.ndarray, legend: Legend, seed: int, settings):
    """Every direction (train on one year, test on the others' original tiles) and their mean."""
    labels = table["prior_class"].to_numpy()
    years = sorted(int(y) for y in table["year"].unique())
    directions = []
    for year in years:
        train, test = (table["year"] == year).to_numpy(), (table["year"] != year).to_numpy() & original
        head = train_head(features[train], labels[train], seed, settings)
        report = evaluate(labels[test], head.predict(features[test]), legend)
        directions.append({"train_year": year, "test_years": [y for y in years if y != year], **report})
    return {"directions": directions, "mean": mean_of_directions(directions)}


def change_evaluation(
    table: pd.DataFrame,
    features: np.ndarray,
    seed: int,
    settings,
    min_agreement: float,
    rule: tuple[float, float, float],
    temperature: float = 1.0,
) -> dict:
    """Change against the first year's labels by a model trained on the first year only, applied to
    the second year's imagery; truth is where the two years' labels differ. The curve over
    ``min_probability``, with and without bitemporal evidence (the same model on the first year's
    imagery), and the figures at ``rule`` (min_probability, min_prior_agreement, min_prior_support)."""
    first, second = sorted(int(y) for y in table["year"].unique())[:2]
    original = table[table["variant"] == 0]
    before = original[original["year"] == first].set_index(["col", "row"])
    after = original[original["year"] == second].set_index(["col", "row"])
    cells = before.index.intersection(after.index)
    before, after = before.loc[cells], after.loc[cells]
    trainable = ((table["year"] == first) & (table["prior_agreement"] >= min_agreement)).to_numpy()
    trainable &= (table["prior_class"] > 0).to_numpy()
    head = train_head(features[trainable], table["prior_class"].to_numpy()[trainable], seed, settings)
    head = with_temperature(head, temperature)
    probabilities = head.predict_proba(features[after["index"].to_numpy()])
    codes = np.asarray(head.class_codes)
    predicted = codes[probabilities.argmax(axis=1)]
    prior = before["prior_class"].to_numpy()
    prior_probabilities = head.predict_proba(features[before["index"].to_numpy()])
    known = np.isin(prior, codes)
    prior_support = np.where(
        known, prior_probabilities[np.arange(len(prior)), np.searchsorted(codes, prior).clip(0, len(codes) - 1)], 0.0
    )
    curve = change_scores(
        prior,
        after["prior_class"].to_numpy(),
        predicted,
        probabilities.max(axis=1),
        (before["prior_agreement"] >= rule[1]).to_numpy(),
        prior_support,
    )
    at_rule = {
        ("post_classification" if row["min_prior_support"] is None else "bitemporal"): row
        for row in curve
        if row["min_probability"] == rule[0] and row["min_prior_support"] in (None, rule[2])
    }
    return {
        "train_year": first,
        "test_year": second,
        "rule": {"min_probability": rule[0], "min_prior_agreement": rule[1], "min_prior_support": rule[2]},
        "at_rule": at_rule,
        "best_at_recall_0.6": best_operating_point(curve, 0.6),
        "curve": curve,
    }


def evaluate_and_fit(
    table: pd.DataFrame,
    features: np.ndarray,
    legend: Legend,
    seed: int = 42,
    min_agreement: float = 0.6,
    settings: HeadSettings | None = None,
    split: SplitSettings | None = None,
    change_rule: tuple[float, float, float] = CHANGE_RULE,
) -> tuple[Head, Legend, dict]:
    """Honest metrics, then the head on everything, its probabilities calibrated.

    Spatially blocked split (a temperature fitted on its validation blocks calibrates the final
    head); with several years, cross-year validation in every direction and their mean, and the
    change evaluation between the first two years. ``table`` rows align with ``features`` rows and
    carry year, col, row, variant (augmentation index, 0 = original), prior_class and
    prior_agreement. Evaluation uses original tiles only.
    """
    settings = settings or HeadSettings()
    table = table.reset_index(drop=True).assign(index=np.arange(len(table)))
    keep = (table["prior_agreement"] >= min_agreement).to_numpy() & (table["prior_class"] > 0).to_numpy()
    metrics: dict = {"min_agreement": min_agreement, "head": asdict(settings)}
    years = sorted(int(y) for y in table["year"].unique())
    everything, all_features = table, features
    table, features = table[keep].reset_index(drop=True), features[keep]
    original = (table["variant"] == 0).to_numpy()
    labels = table["prior_class"].to_numpy()
    metrics.update(training_tiles=int(original.sum()), training_rows=len(table))
    if len(years) > 1:
        metrics["cross_year"] = cross_year(table, features, original, legend, seed, settings)
    split = split or SplitSettings()
    _, validation_mask = blocked_split(table[original], split.block_tiles, split.validation_share, seed=seed)
    metrics["split"] = {"block_tiles": split.block_tiles, "validation_share": split.validation_share}
    originals = np.flatnonzero(original)
    validation_tiles = set(table.loc[originals[validation_mask], ["year", "col", "row"]].itertuples(index=False))
    in_validation = np.array([t in validation_tiles for t in table[["year", "col", "row"]].itertuples(index=False)])
    head = train_head(features[~in_validation], labels[~in_validation], seed, settings)
    test = in_validation & original
    metrics["spatial_blocks"] = evaluate(labels[test], head.predict(features[test]), legend)
    scores = logits(head, features[test])
    truth_index = np.searchsorted(head.class_codes, labels[test])
    temperature = fit_temperature(scores, truth_index)
    metrics["calibration"] = calibration_report(scores, truth_index, temperature)
    if len(years) > 1:
        metrics["change"] = change_evaluation(
            everything, all_features, seed, settings, min_agreement, change_rule, temperature
        )
    final = with_temperature(train_head(features, labels, seed, settings), temperature)
    headline = metrics["cross_year"]["mean"] if "cross_year" in metrics else metrics["spatial_blocks"]
    metrics["accuracy"], metrics["kappa"] = headline["accuracy"], headline["kappa"]
    per_class = metrics["spatial_blocks"]["per_class"]
    metrics["water_f1"] = headline.get("water_f1", per_class.get("11", {}).get("f1"))
    metrics["herbaceous_f1"] = headline.get("herbaceous_f1", per_class.get("71", {}).get("f1"))
    return final, legend.subset(final.class_codes), metrics


def calibration_report(scores: np.ndarray, truth_index: np.ndarray, temperature: float) -> dict:
    """Reliability of the blocked-validation probabilities before and after temperature scaling."""

    def softmax(values: np.ndarray) -> np.ndarray:
        values = values - values.max(axis=1, keepdims=True)
        exp = np.exp(values)
        return exp / exp.sum(axis=1, keepdims=True)

    correct = scores.argmax(axis=1) == truth_index
    return {
        "temperature": temperature,
        "fitted_on": "spatial_blocks validation tiles",
        "before": reliability(softmax(scores).max(axis=1), correct),
        "after": reliability(softmax(scores / temperature).max(axis=1), correct),
    }
