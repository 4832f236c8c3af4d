"""Leave-one-vintage-out evaluation on nd-pothole (2009, 2012, 2014): the default recipe and each lever.

Every lever runs the training stage sequence (:data:`landshift.run.training.TRAINING_RUN`) up to the
embeddings in an evaluation lake (embeddings are cached there, keyed by the request, so per vintage
and input size), then :func:`landshift.model.lovo.leave_one_vintage_out`: three folds (train on two
vintages, test on the third), every choice made inside the training vintages by spatially blocked
validation, the test vintage's labels reaching the scoring function only after the fold's model is
frozen; change for every ordered pair of vintages. ``landshift evaluate`` and ``make evaluate`` run it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

log = logging.getLogger(__name__)

YEARS = (2009, 2012, 2014)
HEADER = f"{'lever':<27} {'acc':>6} {'worst':>6} {'water':>6} {'herb':>6} {'conf':>6} {'wMAE':>6} {'change P/R':>11}"


@dataclass(frozen=True)
class Lever:
    """One measured configuration: training-request overrides and protocol overrides."""

    name: str
    request: dict = field(default_factory=dict)
    protocol: dict = field(default_factory=dict)
    note: str = ""


# The default first, then one change at a time (kept or dropped: docs/model.md).
LEVERS = [
    Lever("default", note="64 px, scene-percentile normalisation, NDWI floor 0.15, water rule searched"),
    Lever(
        "class-weighted",
        protocol={"class_weighting_candidates": (True,)},
        note="class-balanced weights (the round-2 head): over-calls grassland",
    ),
    Lever(
        "drop-low-confidence",
        protocol={"low_confidence_weights": (0.0,)},
        note="training labels marked low confidence left out (fixed, not validated)",
    ),
    Lever(
        "searched-low-confidence",
        protocol={"low_confidence_weights": (1.0, 0.3, 0.0), "judge_on_trusted_labels": True},
        note="low-confidence weight 1/0.3/0 chosen by blocked validation on medium/high labels",
    ),
    Lever(
        "change-threshold-validated",
        protocol={"change_threshold_from_training": True},
        note="change min_probability: lowest reaching precision 0.8 on the training vintages' own pairs",
    ),
    Lever("no-water-rule", protocol={"water_rule_thresholds": (None,)}, note="the head decides water"),
    Lever("no-water-floor", request={"spec_overrides": {"water_floor": -1.0}}, note="raw per-scene Otsu threshold"),
    Lever("no-normalisation", request={"spec_overrides": {"normalization": "none"}}, note="no per-scene stretch"),
    Lever("input-96", request={"spec_overrides": {"input_size": 96}}),
    Lever("input-128", request={"spec_overrides": {"input_size": 128}}),
]


def lever_result(lever: Lever, lake_root: str, shared_data: str, gain: bool) -> dict:
    """LOVO metrics of one lever (and, with ``gain``, what each added training vintage buys)."""
    from landshift.core.legend import DEFAULT_LEGEND
    from landshift.labels.prior import reference_table
    from landshift.lake.base import read_json
    from landshift.lake.factory import open_lake
    from landshift.model.heads import HeadSettings, SplitSettings
    from landshift.model.lovo import Protocol, leave_one_vintage_out, split_vintages, vintage_gain
    from landshift.model.spec import ModelSpec
    from landshift.regions.registry import get_region
    from landshift.run.training import TrainingRequest, feature_matrix, run_training

    request = TrainingRequest.from_dict(
        {"lake_root": lake_root, "region": get_region("nd-pothole"), "label_years": YEARS, **lever.request}
    )
    started = time.perf_counter()
    prepared = run_training(request, until="extract_features")
    embedding_seconds = time.perf_counter() - started
    lake = open_lake(lake_root)
    spec = ModelSpec.from_dict(read_json(lake, prepared["spec_uri"]))
    table, features = feature_matrix(lake, prepared)
    references = {
        y: reference_table(str(Path(shared_data) / "labels-nd" / f"labels_{y}.csv"), DEFAULT_LEGEND) for y in YEARS
    }
    vintages = split_vintages(table, features, references)
    protocol = replace(
        Protocol(
            settings=HeadSettings(spectral_count=spec.spectral_count),
            split=SplitSettings(request.split_block_tiles, request.validation_share),
            min_agreement=request.min_agreement,
            seed=request.seed,
        ),
        **lever.protocol,
    )
    started = time.perf_counter()
    result = leave_one_vintage_out(vintages, DEFAULT_LEGEND, spec.spectral_count, protocol)
    row = {
        "lever": lever.name,
        "note": lever.note,
        "request": {**request.to_dict(), "lake_root": None},
        "protocol": {k: list(v) if isinstance(v, tuple) else v for k, v in lever.protocol.items()},
        "embedding_seconds": round(embedding_seconds, 1),
        "lovo_seconds": round(time.perf_counter() - started, 1),
        **result,
    }
    if gain:
        row["vintage_gain"] = vintage_gain(vintages, DEFAULT_LEGEND, spec.spectral_count, protocol)
        row["review_simulation"] = review_simulation(vintages, spec.spectral_count, protocol)
    return row


def review_simulation(vintages: dict, spectral_count: int, protocol) -> dict:
    """The simulated analyst (issue 24) on the default lever's folds: ``landshift.model.review_simulation``."""
    from landshift.core.legend import DEFAULT_LEGEND
    from landshift.model.review_simulation import simulate_review

    started = time.perf_counter()
    result = simulate_review(vintages, DEFAULT_LEGEND, spectral_count, protocol)
    return {**result, "seconds": round(time.perf_counter() - started, 1)}


def review_simulation_lines(simulation: dict) -> list[str]:
    """The simulated analyst as a person reads it: accuracy on unreviewed tiles per N, queue vs random."""
    lines = []
    for fold in simulation["folds"]:
        queue = " ".join(f"{p['reviewed']}:{p['accuracy']:.3f}" for p in fold["queue"])
        random = " ".join(f"{p['reviewed']}:{p['accuracy']:.3f}" for p in fold["random"])
        lines.append(f"analyst {fold['test_year']}: queue {queue} | random {random}")
    gain = simulation["worst_fold_gain"]
    lines.append(
        f"analyst worst fold {simulation['worst_fold']}: +{gain.get('queue')} at {gain['reviewed']} answers "
        f"(random +{gain.get('random')}; from refitting {gain.get('queue_from_refitting')}); goal +{gain.get('goal')}"
    )
    precision = " ".join(f"{p['reviewed']}:{p['precision']}" for p in simulation["reviewed_change_precision"])
    lines.append(f"reviewed change precision (pooled forward pairs) by answers: {precision}")
    return lines


def summary_row(row: dict) -> str:
    """One printed line per lever."""
    mean, change = row["mean"], row["change_mean"]
    return (
        f"{row['lever']:<27} {mean['accuracy']:>6.3f} {mean['worst_accuracy']:>6.3f} {mean['water_f1']:>6.3f} "
        f"{mean['herbaceous_f1']:>6.3f} {mean['confident_accuracy']:>6.3f} {mean['water_share_mae']:>6.3f} "
        f"{change['precision']:>5.2f}/{change['recall']:<5.2f}"
    )


GOALS = {
    "accuracy": (">=", 0.92),
    "worst_accuracy": (">=", 0.90),
    "water_f1": (">=", 0.95),
    "confident_accuracy": (">=", 0.96),
    "water_share_mae": ("<=", 0.05),
    # The same goal on land tiles only: a water-class tile's 5 m label pixels are all water by construction.
    "water_share_mae_land_tiles": ("<=", 0.05),
}


def goal_gaps(row: dict) -> dict:
    """Each goal with the measured figure and its shortfall (0 when met)."""
    figures = {**row["mean"], "change_precision": row["change_mean"]["precision"]}
    figures["change_recall"] = row["change_mean"]["recall"]
    goals = {**GOALS, "change_precision": (">=", 0.8), "change_recall": (">=", 0.6)}
    return {
        name: {
            "goal": f"{op} {target}",
            "measured": figures[name],
            "short_by": round(max(0.0, target - figures[name]) if op == ">=" else max(0.0, figures[name] - target), 4),
        }
        for name, (op, target) in goals.items()
    }


def write_results(path: Path, rows: list[dict]) -> None:
    """The evaluation JSON: the protocol, the default's figures against the goals, every lever."""
    document = {
        "protocol": "leave-one-vintage-out",
        "years": list(YEARS),
        "default": rows[0],
        "goals": goal_gaps(rows[0]),
        "levers": rows,
    }
    simulation = rows[0].get("review_simulation")
    if simulation:
        document["review_simulation"] = {
            key: simulation[key]
            for key in ("worst_fold", "worst_fold_gain", "queue_beats_random", "reviewed_change_precision")
        }
    path.write_text(json.dumps(document, indent=2) + "\n")


def evaluate(out: str, lake_root: str, shared_data: str, only: tuple[str, ...] = ()) -> dict:
    """Measure the default and every lever (``only``: re-measure these into an existing ``out``); the document."""
    from landshift.lake.factory import open_lake
    from landshift.run.demo import seed_lake

    lake = open_lake(lake_root)
    seed_lake(Path(shared_data), lake)
    previous = json.loads(Path(out).read_text()) if only and Path(out).exists() else {}
    kept = {row["lever"]: row for row in previous.get("levers", [])}
    rows: list[dict] = []
    for lever in LEVERS:
        if only and lever.name not in only and lever.name in kept:
            rows.append(kept[lever.name])
            continue
        rows.append(lever_result(lever, lake.root, shared_data, gain=lever.name == "default"))
        log.info("LandShift evaluation: measured %s: %s", lever.name, summary_row(rows[-1]))
        write_results(Path(out), rows)
    write_results(Path(out), rows)
    return json.loads(Path(out).read_text())


def summary_text(document: dict) -> str:
    """The evaluation as a person reads it: one line per lever, the default's folds, change pairs, goal gaps."""
    rows, default = document["levers"], document["default"]
    lines = [HEADER, *(summary_row(row) for row in rows)]
    for fold in default["folds"]:
        choices = fold["choices"]
        lines.append(
            f"fold {fold['test_year']}: accuracy {fold['accuracy']} water F1 {fold['water_f1']} "
            f"l2 {choices['l2']} class weighting {choices.get('class_weighting')} "
            f"water rule {choices['water_rule_threshold']}"
        )
    lines += [f"change {p['from']}->{p['to']}: P {p['precision']} R {p['recall']}" for p in default["change"]]
    lines.append(f"goals (short by): { {name: gap['short_by'] for name, gap in document['goals'].items()} }")
    if default.get("review_simulation"):
        lines += review_simulation_lines(default["review_simulation"])
    return "\n".join(lines)
