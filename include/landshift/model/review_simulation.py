"""Simulated analyst (issue 24): what answering the review queue of a held-out vintage buys.

In each leave-one-vintage-out fold, the fold's model maps the held-out vintage; an analyst answers
the first N tiles of its review queue from the vintage's reference labels (:meth:`Fold.reveal`, the
only way a test label leaves a fold); the fold's model is refitted with those answers added,
weighted like review labels; accuracy is measured on the tiles not reviewed (:meth:`Fold.score`
leaves every revealed tile out). The queue's order (least confident first, ties by tile id, as
``landshift review queue`` orders it) is compared with random orders of the same size.

Reviewing removes the least confident tiles from the scored set, which raises accuracy on what is
left even without refitting; so each point also carries ``accuracy_without_answers``: the fold's
unchanged model on the same unreviewed tiles. Their difference is what the answers taught.

The reviewed product's change precision: for every forward pair (prior vintage -> held-out
vintage) the product's queue holds every reported change and the least confident other tiles;
after the first N answers are applied to the map (as ``landshift review apply`` does), precision of
the change map (:meth:`Fold.change` with ``reviewed=True``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from landshift.core.grid import tile_ids
from landshift.core.legend import Legend
from landshift.model.heads import CHANGE_RULE
from landshift.model.lovo import REVIEW_LABEL_WEIGHT, Fold, FrozenModel, Protocol, Vintage, fit_frozen

REVIEW_COUNTS = (0, 10, 30, 60)
RANDOM_SEEDS = (0, 1, 2)
QUEUE_UNCERTAIN = 30  # unchanged tiles the product's queue adds to the reported changes (review.queue)
GOAL_GAIN_AT = 30
GOAL_GAIN = 0.03


def queue_order(model: FrozenModel, fold: Fold) -> np.ndarray:
    """Positions of the fold's test tiles in review-queue order: the model's probability, lowest
    first, ties by tile id. Uses the model's predictions only, never a label."""
    predicted = model.predict(fold.inputs)
    tiles = fold.inputs.tiles.reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "position": np.arange(len(tiles)),
            "probability": np.round(predicted["probability"], 6),
            "tile_id": tile_ids(tiles["col"], tiles["row"]),
        }
    )
    return frame.sort_values(["probability", "tile_id"], kind="stable")["position"].to_numpy()


def random_order(count: int, seed: int) -> np.ndarray:
    """A random order of ``count`` positions (fixed ``seed``)."""
    return np.random.default_rng(seed).permutation(count)


def answered_point(
    vintages: dict[int, Vintage],
    test_year: int,
    base: FrozenModel,
    positions: np.ndarray,
    legend: Legend,
    spectral_count: int,
    protocol: Protocol,
    weight: float = REVIEW_LABEL_WEIGHT,
) -> dict:
    """One curve point: the answers for ``positions`` revealed in a fresh fold, the model refitted
    with them, scored on the unreviewed tiles (and the unchanged model on the same tiles)."""
    fold = Fold(vintages, test_year)
    answers = fold.reveal(positions, weight)
    # The answers train only the final head, so the choices validated without them stand.
    narrowed = replace(
        protocol,
        l2_candidates=(base.choices["l2"],),
        class_weighting_candidates=(base.choices["class_weighting"],),
        low_confidence_weights=(base.choices["low_confidence_weight"],),
        water_rule_thresholds=(base.choices["water_rule_threshold"],),
    )
    model = fit_frozen(fold.training, spectral_count, narrowed, extra=answers) if len(positions) else base
    after, before = fold.score(model, legend), fold.score(base, legend)
    answered = answers.tiles
    correct = round(after["accuracy"] * after["tiles"])
    return {
        "reviewed": len(positions),
        "answered": answered,
        "tiles_scored": after["tiles"],
        "accuracy": after["accuracy"],
        "accuracy_without_answers": before["accuracy"],
        "map_accuracy": round((correct + answered) / (after["tiles"] + answered), 4),
    }


def mean_points(points: list[dict]) -> dict:
    """The mean of several orders' points of the same size."""
    keys = ("answered", "tiles_scored", "accuracy", "accuracy_without_answers", "map_accuracy")
    return {
        "reviewed": points[0]["reviewed"],
        **{key: round(float(np.mean([p[key] for p in points])), 4) for key in keys},
        "orders": len(points),
    }


def fold_curves(
    vintages: dict[int, Vintage],
    test_year: int,
    legend: Legend,
    spectral_count: int,
    protocol: Protocol,
    counts: tuple[int, ...] = REVIEW_COUNTS,
    seeds: tuple[int, ...] = RANDOM_SEEDS,
) -> dict:
    """Queue-order and random-order curves of one fold, and the reviewed change of its forward pairs."""
    fold = Fold(vintages, test_year)
    base = fit_frozen(fold.training, spectral_count, protocol)
    queue = queue_order(base, fold)
    tiles = len(queue)
    counts = tuple(n for n in counts if n <= tiles)

    def point(positions: np.ndarray) -> dict:
        return answered_point(vintages, test_year, base, positions, legend, spectral_count, protocol)

    return {
        "test_year": test_year,
        "tiles": tiles,
        "queue": [point(queue[:n]) for n in counts],
        "random": [mean_points([point(random_order(tiles, seed)[:n]) for seed in seeds]) for n in counts],
        "reviewed_change": [
            reviewed_change(vintages, test_year, base, prior, counts) for prior in sorted(vintages) if prior < test_year
        ],
    }


def change_queue(base: FrozenModel, fold: Fold, prior: Vintage, rule=CHANGE_RULE) -> np.ndarray:
    """The product's review queue of the held-out vintage against ``prior``'s labels: every reported
    change and the :data:`QUEUE_UNCERTAIN` least confident other tiles, least confident first."""
    predicted = base.predict(fold.inputs)
    before, _ = prior.originals()
    tiles = fold.inputs.tiles.reset_index(drop=True).assign(position=np.arange(len(fold.inputs.tiles)))
    joined = tiles.merge(before[["col", "row", "reference_class", "prior_agreement"]], on=["col", "row"], how="left")
    joined = joined.sort_values("position")
    prior_class = joined["reference_class"].fillna(0).to_numpy()
    reported = (
        (predicted["class"] != prior_class)
        & (prior_class > 0)
        & (joined["prior_agreement"].fillna(0).to_numpy() >= rule[1])
        & (predicted["probability"] >= rule[0])
    )
    order = queue_order(base, fold)
    others = [p for p in order if not reported[p]][:QUEUE_UNCERTAIN]
    members = set(np.flatnonzero(reported).tolist()) | set(others)
    return np.array([p for p in order if p in members], dtype=np.int64)


def reviewed_change(
    vintages: dict[int, Vintage], test_year: int, base: FrozenModel, prior_year: int, counts: tuple[int, ...]
) -> dict:
    """Change precision of the reviewed product (``prior_year`` -> ``test_year``) after the first N
    answers of the product's queue are applied; the unreviewed tiles keep the model's class."""
    queue = change_queue(base, Fold(vintages, test_year), vintages[prior_year])
    points = []
    for n in counts:
        fold = Fold(vintages, test_year)
        fold.reveal(queue[:n], REVIEW_LABEL_WEIGHT)
        change = fold.change(base, vintages[prior_year], reviewed=True)
        points.append(
            {
                "reviewed": n,
                "answered": min(n, len(queue)),
                "precision": change["precision"],
                "recall": change["recall"],
                "reported": change["reported"],
                "right": change["right"],
            }
        )
    return {"from": prior_year, "to": test_year, "queue_length": len(queue), "points": points}


def simulate_review(
    vintages: dict[int, Vintage],
    legend: Legend,
    spectral_count: int,
    protocol: Protocol | None = None,
    counts: tuple[int, ...] = REVIEW_COUNTS,
    seeds: tuple[int, ...] = RANDOM_SEEDS,
) -> dict:
    """Every fold's curves, the worst fold's gain at :data:`GOAL_GAIN_AT` answers, whether the
    queue's order beats random, and the reviewed products' change precision."""
    protocol = protocol or Protocol()
    folds = [fold_curves(vintages, year, legend, spectral_count, protocol, counts, seeds) for year in sorted(vintages)]
    worst = min(folds, key=lambda f: f["queue"][0]["accuracy"])
    return {
        "protocol": "leave-one-vintage-out; the first N tiles of the held-out vintage's review queue answered "
        "from its reference labels, the fold's model refitted with them (weighted), accuracy on the tiles not "
        "reviewed",
        "counts": list(counts),
        "answer_weight": REVIEW_LABEL_WEIGHT,
        "random_seeds": list(seeds),
        "folds": folds,
        "worst_fold": worst["test_year"],
        "worst_fold_gain": gains(worst, GOAL_GAIN_AT),
        "queue_beats_random": {str(f["test_year"]): beats(f) for f in folds},
        "reviewed_change_precision": pooled_precision(folds),
    }


def _at(curve: list[dict], n: int) -> dict | None:
    return next((p for p in curve if p["reviewed"] == n), None)


def gains(fold: dict, n: int) -> dict:
    """Accuracy gained with ``n`` answers over none, by order, and what refitting alone added."""
    queue, random = _at(fold["queue"], n), _at(fold["random"], n)
    start = fold["queue"][0]["accuracy"]
    if queue is None or random is None:
        return {"reviewed": n, "available": False}
    gain = round(queue["accuracy"] - start, 4)
    return {
        "reviewed": n,
        "queue": gain,
        "random": round(random["accuracy"] - start, 4),
        "queue_from_refitting": round(queue["accuracy"] - queue["accuracy_without_answers"], 4),
        "random_from_refitting": round(random["accuracy"] - random["accuracy_without_answers"], 4),
        "goal": GOAL_GAIN,
        "met": gain >= GOAL_GAIN,
    }


def beats(fold: dict) -> dict:
    """Per N > 0: does the queue's order reach a higher accuracy on the unreviewed tiles than random?"""
    return {
        str(q["reviewed"]): bool(q["accuracy"] > r["accuracy"])
        for q, r in zip(fold["queue"], fold["random"], strict=True)
        if q["reviewed"]
    }


def pooled_precision(folds: list[dict]) -> list[dict]:
    """Per N: the reviewed change maps' pooled precision over every forward pair."""
    pairs = [pair for fold in folds for pair in fold["reviewed_change"]]
    if not pairs:
        return []
    rows = []
    for index, n in enumerate(p["reviewed"] for p in pairs[0]["points"]):
        reported = sum(pair["points"][index]["reported"] for pair in pairs)
        right = sum(pair["points"][index]["right"] for pair in pairs)
        rows.append({"reviewed": n, "pairs": len(pairs), "precision": round(right / reported, 4) if reported else 0.0})
    return rows
