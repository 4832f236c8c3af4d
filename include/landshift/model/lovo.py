"""Leave-one-vintage-out (LOVO) evaluation: train on the other labelled vintages, test on one.

The map's job is the next vintage, whose labels nobody has yet, so every fold hides one labelled
vintage and every choice (head regularisation, the water rule's threshold, calibration) is made
inside the training vintages by spatially blocked validation. The protocol is enforced, not
documented: a :class:`Fold` gives its fitting code the training vintages' labelled tables and
only the imagery features of its test vintage (:class:`Inputs`, no label columns); the test
labels stay inside the fold and reach :func:`landshift.model.evaluation.vintage_scores` only
through :meth:`Fold.score`, which accepts nothing but a :class:`FrozenModel` (an immutable head
whose choices are already made).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from landshift.core.errors import InputError
from landshift.core.legend import Legend
from landshift.model.evaluation import change_scores, fit_temperature, mean_of_folds, vintage_scores
from landshift.model.heads import (
    CHANGE_RULE,
    HeadSettings,
    SplitSettings,
    logits,
    spatial_blocks,
    train_head,
    with_temperature,
)
from landshift.model.spec import Head

# Columns that carry a vintage's labels: never handed to a model of a fold that tests that vintage.
LABEL_COLUMNS = ("prior_class", "prior_agreement", "prior_water_share", "reference_class", "confidence")
# Candidate thresholds of the measured water share at which a tile is water (None: the head decides).
WATER_RULE_THRESHOLDS: tuple[float | None, ...] = (None, 0.3, 0.4, 0.5, 0.6)
WATER_RULE_SCALE = 0.05
L2_CANDIDATES = (1e-2, 1e-1)
# Class-balanced sample weights or none: balancing lifts a rare class's recall but over-calls it
# on a vintage whose class mix differs (nd-pothole 2009: 57 crop tiles called grassland).
CLASS_WEIGHTING_CANDIDATES = (False, True)
# Weight of training labels their annotator marked low confidence (where the labels carry one):
# crop or grassland is the weakest call, and two annotators split on it. Searched (1.0, 0.3, 0.0)
# inside the training vintages it picks erratically (docs/model.md), so the default keeps them all.
LOW_CONFIDENCE_WEIGHTS = (1.0,)
# min_probability values of every change curve; the lowest reaching the target precision on the
# training vintages' own pairs is the validated change threshold (a lever).
CHANGE_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
CHANGE_TARGET_PRECISION = 0.8
# An analyst's decision, as a training label, weighs this many annotated labels: a person looked
# at that tile (review.labels reads the decisions, model.review_simulation simulates them).
REVIEW_LABEL_WEIGHT = 2.0
VALIDATION_GROUPS = 4  # the training vintages' spatial blocks are cut into this many validation groups


@dataclass(frozen=True)
class Vintage:
    """One labelled vintage: rows per tile and augmentation variant (col, row, variant and the
    label columns) aligned with their feature vectors."""

    year: int
    table: pd.DataFrame
    features: np.ndarray

    def originals(self) -> tuple[pd.DataFrame, np.ndarray]:
        """The un-augmented rows (variant 0) and their features."""
        mask = (self.table["variant"] == 0).to_numpy()
        return self.table[mask].reset_index(drop=True), self.features[mask]


@dataclass(frozen=True)
class Inputs:
    """What a model may see of a vintage it is tested on: tile positions and imagery features."""

    year: int
    tiles: pd.DataFrame  # col, row only
    features: np.ndarray


@dataclass(frozen=True)
class ExtraLabels:
    """Labelled rows from outside the training vintages' label rasters (analysts' answers), each
    with its weight: :func:`fit_frozen` adds them to the final head's training rows (no choice is
    validated on them). ``table`` holds col, row, variant (and position, for a fold's answers)."""

    table: pd.DataFrame
    features: np.ndarray
    labels: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        sizes = {len(self.table), len(self.features), len(self.labels), len(self.weights)}
        if len(sizes) != 1:
            raise InputError(f"extra labels: table, features, labels and weights differ in length {sorted(sizes)}")

    @property
    def tiles(self) -> int:
        """Distinct tiles among the rows."""
        return int((self.table["variant"] == 0).sum())


@dataclass(frozen=True)
class FrozenModel:
    """A head whose every choice is made: what a fold scores. ``choices`` records them."""

    head: Head
    water_column: int
    choices: dict = field(default_factory=dict)
    training_years: tuple[int, ...] = ()

    def predict(self, inputs: Inputs) -> dict[str, np.ndarray]:
        """Class, its probability, all probabilities and the measured water share per tile."""
        probabilities = self.head.predict_proba(inputs.features)
        best = probabilities.argmax(axis=1)
        return {
            "class": np.asarray(self.head.class_codes)[best],
            "probability": probabilities[np.arange(len(best)), best],
            "probabilities": probabilities,
            "water_share": np.clip(inputs.features[:, self.water_column], 0.0, 1.0),
        }


class Fold:
    """One LOVO fold: the training vintages' labelled data, the test vintage's inputs, and the
    test vintage's labels held back until :meth:`score` is given a frozen model."""

    def __init__(self, vintages: dict[int, Vintage], test_year: int, training_years: tuple[int, ...] = ()) -> None:
        if test_year not in vintages:
            raise InputError(f"no labelled vintage {test_year}; have {sorted(vintages)}")
        years = training_years or tuple(y for y in sorted(vintages) if y != test_year)
        if test_year in years:
            raise InputError(f"fold testing {test_year} cannot train on it")
        self.test_year = test_year
        self.training = {year: vintages[year] for year in years}
        table, features = vintages[test_year].originals()
        self._test_labels = table[list(LABEL_COLUMNS)].copy()
        self.inputs = Inputs(test_year, table[["col", "row"]].copy(), features)
        every = vintages[test_year]
        self._variants = (every.table[["col", "row", "variant"]].reset_index(drop=True), every.features)
        self._answers: dict[int, int] = {}  # position -> the reference class revealed (0: none)

    @property
    def revealed(self) -> tuple[int, ...]:
        """Positions (rows of ``inputs``) whose reference label has been revealed, in order."""
        return tuple(self._answers)

    def reveal(self, positions, weight: float) -> ExtraLabels:
        """An analyst's answers for the test tiles at ``positions`` (rows of ``inputs``): their
        reference class, as training rows (every augmentation variant) weighted ``weight``. The
        tiles are recorded as revealed: :meth:`score` leaves them out from then on."""
        positions = [int(p) for p in positions]
        if any(not 0 <= p < len(self.inputs.tiles) for p in positions):
            raise InputError(f"positions must lie in 0..{len(self.inputs.tiles) - 1}")
        reference = self._test_labels["reference_class"].to_numpy()
        for position in positions:
            self._answers[position] = int(reference[position])
        asked = set(positions)
        answered = {p: c for p, c in self._answers.items() if p in asked and c > 0}
        cells = self.inputs.tiles.iloc[list(answered)].assign(
            position=np.array(list(answered), dtype=np.int64), label=np.array(list(answered.values()), dtype=np.int64)
        )
        variants, features = self._variants
        rows = variants.reset_index().merge(cells, on=["col", "row"]).sort_values(["position", "variant"])
        index = rows["index"].to_numpy(dtype=np.int64)
        return ExtraLabels(
            rows[["col", "row", "variant", "position"]].reset_index(drop=True),
            features[index],
            rows["label"].to_numpy(dtype=np.int64),
            np.full(len(rows), float(weight)),
        )

    def score(self, model: FrozenModel, legend: Legend) -> dict:
        """The test vintage's metrics for a frozen model trained without its labels."""
        if not isinstance(model, FrozenModel):
            raise InputError("a fold scores only a FrozenModel (fit first, then freeze)")
        if self.test_year in model.training_years:
            raise InputError(f"model was trained on {self.test_year}, the fold's test vintage")
        predicted = model.predict(self.inputs)
        labels = self._test_labels
        labelled = (labels["reference_class"] > 0).to_numpy()
        labelled[list(self._answers)] = False  # revealed tiles are never scored
        return vintage_scores(
            labels["reference_class"].to_numpy()[labelled],
            predicted["class"][labelled],
            labels["confidence"].to_numpy()[labelled],
            labels["prior_water_share"].to_numpy()[labelled],
            predicted["water_share"][labelled],
            legend,
        )

    def change(
        self,
        model: FrozenModel,
        prior: Vintage,
        rule: tuple[float, float, float] = CHANGE_RULE,
        reviewed: bool = False,
    ) -> dict:
        """Change from ``prior``'s labels to this fold's test vintage, mapped by a frozen model
        trained without the test vintage's labels; truth is where the two vintages' labels differ.
        ``reviewed``: the reviewed product's change, the revealed answers applied to the map (the
        analyst's class, certain) as ``landshift review apply`` applies decisions."""
        if not isinstance(model, FrozenModel) or self.test_year in model.training_years:
            raise InputError("change is scored only for a FrozenModel trained without the later vintage")
        predicted = model.predict(self.inputs)
        if reviewed:
            predicted = _with_answers(predicted, {p: c for p, c in self._answers.items() if c > 0})
        before, _ = prior.originals()
        after = pd.concat([self.inputs.tiles.reset_index(drop=True), self._test_labels.reset_index(drop=True)], axis=1)
        curve = pair_curve(before, after, predicted, "reference_class", rule[1])
        at_rule = next(row for row in curve if row["min_probability"] == rule[0])
        return {
            "from": prior.year,
            "to": self.test_year,
            "precision": at_rule["precision"],
            "recall": at_rule["recall"],
            "reported": at_rule["reported"],
            "right": at_rule["right"],
            "true_changes": at_rule["true_changes"],
            "rule": {"min_probability": rule[0], "min_prior_agreement": rule[1]},
            "curve": curve,
        }


@dataclass(frozen=True)
class Protocol:
    """How a fold's model is fitted: head settings, the candidates searched by blocked validation."""

    settings: HeadSettings = field(default_factory=HeadSettings)
    split: SplitSettings = field(default_factory=SplitSettings)
    min_agreement: float = 0.6
    seed: int = 42
    water_rule_thresholds: tuple[float | None, ...] = WATER_RULE_THRESHOLDS
    l2_candidates: tuple[float, ...] = L2_CANDIDATES
    class_weighting_candidates: tuple[bool, ...] = CLASS_WEIGHTING_CANDIDATES
    low_confidence_weights: tuple[float, ...] = LOW_CONFIDENCE_WEIGHTS
    judge_on_trusted_labels: bool = False
    # The change rule's min_probability chosen inside the training vintages (change_threshold), or
    # the production default (ChangeRule: 0.9).
    change_threshold_from_training: bool = False


def labelled_rows(vintages: dict[int, Vintage], min_agreement: float) -> tuple[pd.DataFrame, np.ndarray]:
    """All rows of ``vintages`` whose 5 m majority label is clear enough to train on."""
    tables, features = [], []
    for year, vintage in sorted(vintages.items()):
        keep = (vintage.table["prior_class"] > 0).to_numpy() & (vintage.table["prior_agreement"] >= min_agreement)
        tables.append(vintage.table[keep].assign(year=year))
        features.append(vintage.features[keep])
    return pd.concat(tables, ignore_index=True), np.concatenate(features)


def validation_groups(table: pd.DataFrame, split: SplitSettings, seed: int, groups: int) -> np.ndarray:
    """Validation group (0..groups-1) of each row: whole spatial blocks, the same place in every
    training vintage going to the same group (so a place never validates its own twin)."""
    blocks = spatial_blocks(table, split.block_tiles).to_numpy()
    unique = np.array(sorted(set(blocks)))
    order = np.random.default_rng(seed).permutation(len(unique))
    group_of = {block: int(rank % groups) for rank, block in zip(order, unique, strict=True)}
    return np.array([group_of[b] for b in blocks])


@dataclass(frozen=True)
class HeadChoice:
    """One candidate of the blocked-validation search (the water rule is searched per head)."""

    l2: float
    class_weighting: bool
    low_confidence_weight: float

    def key(self, threshold: float | None) -> str:
        """The candidate and a water-rule threshold as a readable key."""
        return (
            f"l2={self.l2}|class_weighting={self.class_weighting}|"
            f"low_confidence_weight={self.low_confidence_weight}|water_rule={threshold}"
        )


def head_choices(protocol: Protocol, has_confidence: bool) -> list[HeadChoice]:
    """Every candidate, in tie-break order (smaller l2, unweighted classes, low labels kept first)."""
    low_weights = protocol.low_confidence_weights if has_confidence else (1.0,)
    return [
        HeadChoice(l2, weighted, low)
        for l2, weighted, low in itertools.product(
            sorted(protocol.l2_candidates),
            sorted(protocol.class_weighting_candidates),
            sorted(low_weights, reverse=True),
        )
    ]


def trusted_labels(table: pd.DataFrame) -> np.ndarray:
    """Rows whose label may judge a choice: all, or those not marked low confidence where the
    labels carry a confidence (a noisy label would reward fitting its noise)."""
    if "confidence" not in table.columns:
        return np.ones(len(table), dtype=bool)
    return table["confidence"].astype(str).to_numpy() != "low"


def confidence_weights(table: pd.DataFrame, low_weight: float) -> np.ndarray | None:
    """Per-row weight: ``low_weight`` for labels their annotator marked low confidence, else 1
    (None when the labels carry no confidence or nothing is down-weighted)."""
    if "confidence" not in table.columns or low_weight == 1.0:
        return None
    return np.where(table["confidence"].astype(str).to_numpy() == "low", low_weight, 1.0)


def fit_frozen(
    training: dict[int, Vintage],
    spectral_count: int,
    protocol: Protocol = Protocol(),
    *,
    extra: ExtraLabels | None = None,
) -> FrozenModel:
    """Choose the head's candidate and the water rule by blocked validation inside ``training``,
    then train the head on all of it (and on the weighted ``extra`` rows, when given), calibrate
    its temperature on the validation predictions and freeze it."""
    if spectral_count < 1:
        raise InputError("the LOVO protocol needs the spectral features (the measured water share)")
    table, features = labelled_rows(training, protocol.min_agreement)
    water_column = features.shape[1] - spectral_count
    labels = table["prior_class"].to_numpy()
    groups = validation_groups(table, protocol.split, protocol.seed, VALIDATION_GROUPS)
    original = (table["variant"] == 0).to_numpy()
    judged = trusted_labels(table) if protocol.judge_on_trusted_labels else np.ones(len(table), dtype=bool)
    candidates = head_choices(protocol, "confidence" in table.columns)
    scores: dict[tuple[HeadChoice, float | None], float] = {}
    held_out_logits: dict[HeadChoice, tuple[list, list]] = {}
    for candidate in candidates:
        settings = replace(protocol.settings, l2=candidate.l2, class_weighting=candidate.class_weighting)
        weights = confidence_weights(table, candidate.low_confidence_weight)
        collected_logits, collected_truth = [], []
        for group in range(VALIDATION_GROUPS):
            # Validation heads train on the un-augmented rows (8x cheaper); the final head on all.
            fit, check = (groups != group) & original, (groups == group) & original
            if not check.any() or len(np.unique(labels[fit])) < 2:
                continue
            head = train_head(
                features[fit], labels[fit], protocol.seed, settings, None if weights is None else weights[fit]
            )
            known = np.isin(labels[check], head.class_codes)
            collected_logits.append(logits(head, features[check][known]))
            collected_truth.append(np.searchsorted(head.class_codes, labels[check][known]))
            for threshold in protocol.water_rule_thresholds:
                predicted = _with_rule(head, water_column, threshold).predict(features[check])
                key = (candidate, threshold)
                right = (predicted == labels[check]) & judged[check]
                scores[key] = scores.get(key, 0.0) + float(right.sum())
        held_out_logits[candidate] = (collected_logits, collected_truth)
    if not scores:
        raise InputError("blocked validation found no group to validate on")
    validated = int((original & judged).sum())
    # Best validation accuracy; ties go to the earlier candidate, then the lower threshold.
    order = {candidate: rank for rank, candidate in enumerate(candidates)}
    chosen, threshold = min(scores, key=lambda key: (-scores[key], order[key[0]], -1 if key[1] is None else key[1]))
    settings = replace(protocol.settings, l2=chosen.l2, class_weighting=chosen.class_weighting)
    held_out = held_out_logits[chosen]
    temperature = fit_temperature(np.concatenate(held_out[0]), np.concatenate(held_out[1]))
    rows, targets, row_weights = _with_extra(
        features, labels, extra, confidence_weights(table, chosen.low_confidence_weight)
    )
    head = with_temperature(train_head(rows, targets, protocol.seed, settings, row_weights), temperature)
    choices = {
        "l2": chosen.l2,
        "class_weighting": chosen.class_weighting,
        "low_confidence_weight": chosen.low_confidence_weight,
        "water_rule_threshold": threshold,
        "temperature": temperature,
        "validation_accuracy": {
            candidate.key(rule): round(correct / validated, 4) for (candidate, rule), correct in scores.items()
        },
        "training_tiles": validated,
    }
    if extra is not None:
        choices["extra_labels"] = {"tiles": extra.tiles, "rows": len(extra.labels)}
    return FrozenModel(_with_rule(head, water_column, threshold), water_column, choices, tuple(sorted(training)))


def _with_extra(
    features: np.ndarray, labels: np.ndarray, extra: ExtraLabels | None, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The final head's rows: the labelled rows (``weights``, None: unweighted), then ``extra``'s
    with their weights."""
    if extra is None or not len(extra.labels):
        return features, labels, weights
    return (
        np.concatenate([features, extra.features.astype(features.dtype)]),
        np.concatenate([labels, extra.labels.astype(labels.dtype)]),
        np.concatenate([np.ones(len(labels)) if weights is None else weights, extra.weights]),
    )


def _with_answers(predicted: dict[str, np.ndarray], answers: dict[int, int]) -> dict[str, np.ndarray]:
    """``predicted`` with the analyst's class (probability 1) at the answered positions."""
    if not answers:
        return predicted
    positions, classes = list(answers), list(answers.values())
    result = {key: value.copy() for key, value in predicted.items()}
    result["class"][positions] = classes
    result["probability"][positions] = 1.0
    return result


def _with_rule(head: Head, water_column: int, threshold: float | None) -> Head:
    """``head`` deciding water from the measured share at ``threshold`` (unchanged for None)."""
    if threshold is None:
        return replace(head, water_rule=())
    return replace(head, water_rule=(float(water_column), float(threshold), WATER_RULE_SCALE))


def leave_one_vintage_out(
    vintages: dict[int, Vintage], legend: Legend, spectral_count: int, protocol: Protocol = Protocol()
) -> dict:
    """Every fold (train on the other vintages, test on one), their mean and worst, and change for
    every ordered pair of vintages (the fold that never saw the later vintage maps it)."""
    if len(vintages) < 2:
        raise InputError(f"leave-one-vintage-out needs at least two labelled vintages, got {sorted(vintages)}")
    folds, models, reports = {}, {}, []
    for year in sorted(vintages):
        folds[year] = Fold(vintages, year)
        models[year] = fit_frozen(folds[year].training, spectral_count, protocol)
        reports.append(
            {
                "test_year": year,
                "train_years": sorted(folds[year].training),
                **folds[year].score(models[year], legend),
                "choices": models[year].choices,
            }
        )
    thresholds = {
        year: change_threshold(folds[year].training, spectral_count, protocol)
        if protocol.change_threshold_from_training
        else {"min_probability": CHANGE_RULE[0], "fixed": True}
        for year in folds
    }
    change = [
        folds[later].change(models[later], vintages[earlier], (thresholds[later]["min_probability"], *CHANGE_RULE[1:]))
        for earlier, later in itertools.permutations(sorted(vintages), 2)
    ]
    for report in reports:
        report["choices"]["change_threshold"] = thresholds[report["test_year"]]
    return {"folds": reports, "mean": mean_of_folds(reports), "change": change, "change_mean": change_mean(change)}


def change_threshold(
    training: dict[int, Vintage], spectral_count: int, protocol: Protocol, target: float = CHANGE_TARGET_PRECISION
) -> dict:
    """The change rule's min_probability, chosen inside the training vintages: for every ordered
    pair of them, a model fitted on the earlier one alone maps the later one against the earlier
    one's labels (their 5 m majority labels as truth); pooled over the pairs, the lowest threshold
    whose precision reaches ``target`` (most recall), else the most precise one."""
    pooled = {threshold: np.zeros(3, dtype=np.int64) for threshold in CHANGE_THRESHOLDS}
    for earlier, later in itertools.permutations(sorted(training), 2):
        for row in _training_change_curve(training[earlier], training[later], spectral_count, protocol):
            pooled[row["min_probability"]] += (row["reported"], row["right"], row["true_changes"])
    precision = {t: right / reported if reported else 0.0 for t, (reported, right, _) in pooled.items()}
    reaching = [t for t in CHANGE_THRESHOLDS if precision[t] >= target]
    chosen = reaching[0] if reaching else max(CHANGE_THRESHOLDS, key=lambda t: (precision[t], -t))
    return {
        "min_probability": chosen,
        "target_precision": target,
        "validation": {
            str(t): {
                "precision": round(float(precision[t]), 4),
                "recall": round(int(right) / int(true), 4) if true else 0.0,
            }
            for t, (_, right, true) in pooled.items()
        },
    }


def _training_change_curve(before: Vintage, after: Vintage, spectral_count: int, protocol: Protocol) -> list[dict]:
    """Change from ``before``'s labels to ``after`` mapped by a model fitted on ``before`` alone."""
    model = fit_frozen({before.year: before}, spectral_count, protocol)
    earlier, _ = before.originals()
    later, features = after.originals()
    predicted = model.predict(Inputs(after.year, later[["col", "row"]], features))
    return pair_curve(earlier, later, predicted, "prior_class", CHANGE_RULE[1])


def pair_curve(
    before: pd.DataFrame, after: pd.DataFrame, predicted: dict[str, np.ndarray], truth: str, min_agreement: float
) -> list[dict]:
    """The change curve from ``before``'s ``truth`` labels to ``after``'s (rows aligned with
    ``predicted``, the map of ``after``), on the tiles both hold; reportable where ``before``'s
    label covers at least ``min_agreement`` of the tile."""
    keys = ["col", "row"]
    joined = after[[*keys, truth]].assign(position=np.arange(len(after)))
    joined = joined.merge(before[[*keys, truth, "prior_agreement"]], on=keys, suffixes=("", "_before"))
    index = joined["position"].to_numpy()
    return change_scores(
        joined[f"{truth}_before"].to_numpy(),
        joined[truth].to_numpy(),
        predicted["class"][index],
        predicted["probability"][index],
        (joined["prior_agreement"] >= min_agreement).to_numpy(),
        thresholds=CHANGE_THRESHOLDS,
    )


def change_mean(pairs: list[dict]) -> dict:
    """Mean precision and recall over ordered pairs, and the pooled figures (all pairs' tiles)."""
    reported, right, true = (sum(p[k] for p in pairs) for k in ("reported", "right", "true_changes"))
    return {
        "precision": round(float(np.mean([p["precision"] for p in pairs])), 4),
        "recall": round(float(np.mean([p["recall"] for p in pairs])), 4),
        "pooled_precision": round(right / reported, 4) if reported else 0.0,
        "pooled_recall": round(right / true, 4) if true else 0.0,
        "pairs": len(pairs),
    }


def vintage_gain(vintages: dict[int, Vintage], legend: Legend, spectral_count: int, protocol: Protocol) -> dict:
    """What each added training vintage buys: every test vintage mapped by models trained on each
    single other vintage and on all the others together."""
    rows = []
    for test in sorted(vintages):
        others = tuple(y for y in sorted(vintages) if y != test)
        for training in [(y,) for y in others] + ([others] if len(others) > 1 else []):
            fold = Fold(vintages, test, training)
            report = fold.score(fit_frozen(fold.training, spectral_count, protocol), legend)
            rows.append({"test_year": test, "train_years": list(training), **_headline(report)})
    by_count: dict[int, list[dict]] = {}
    for row in rows:
        by_count.setdefault(len(row["train_years"]), []).append(row)
    return {
        "runs": rows,
        "mean_by_training_vintages": {
            str(count): {
                key: round(float(np.mean([r[key] for r in group])), 4)
                for key in ("accuracy", "water_f1", "confident_accuracy")
            }
            for count, group in sorted(by_count.items())
        },
    }


def _headline(report: dict) -> dict:
    """The few figures of a fold report."""
    return {
        key: report[key] for key in ("accuracy", "water_f1", "herbaceous_f1", "confident_accuracy", "water_share_mae")
    }


def split_vintages(
    table: pd.DataFrame, features: np.ndarray, references: dict[int, pd.DataFrame]
) -> dict[int, Vintage]:
    """Per labelled year, its rows (joined with that year's reference labels: reference_class,
    confidence) and features. ``table`` rows align with ``features`` and carry year, col, row,
    variant, prior_class, prior_agreement and prior_water_share."""
    vintages = {}
    table = table.reset_index(drop=True).assign(position=np.arange(len(table)))
    for year, reference in sorted(references.items()):
        rows = table[table["year"] == year].merge(
            reference[["col", "row", "reference_class", "confidence"]], on=["col", "row"], how="left"
        )
        if rows.empty:
            raise InputError(f"no feature rows for labelled vintage {year}")
        rows = rows.assign(
            reference_class=rows["reference_class"].fillna(0).astype(np.int32),
            confidence=rows["confidence"].fillna("low").astype(str),
        ).sort_values("position")
        positions = rows["position"].to_numpy()
        vintages[year] = Vintage(year, rows.drop(columns=["position"]).reset_index(drop=True), features[positions])
    return vintages


def by_year(table: pd.DataFrame, features: np.ndarray) -> dict[int, Vintage]:
    """The training rows of each year as a :class:`Vintage` (labels from the 5 m rasters only)."""
    table = table.reset_index(drop=True)
    years = table["year"].to_numpy()
    return {
        int(year): Vintage(int(year), table[years == year].reset_index(drop=True), features[years == year])
        for year in sorted(set(years.tolist()))
    }
