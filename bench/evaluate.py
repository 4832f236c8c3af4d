"""Model evaluation on nd-pothole: the training run's own evaluation, for the default and each lever.

Usage: python bench/evaluate.py [--out bench/evaluation.json] [--configs default|all]

Every row runs the training stage sequence (``landshift.run.training.TRAINING_STAGES``) up to the
embeddings in a lake under ``bench/out/`` (git-ignored; embeddings are cached there, keyed by the
request), then the same ``evaluate_and_fit`` that writes each model version's ``metrics.json``:
cross-year in both directions and their mean, spatially blocked validation, calibration, and the
change precision/recall curve (trained on 2009 only, 2014 imagery, truth where the labels differ).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LANDSHIFT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
LAKE = REPO_ROOT / "bench" / "out" / "evaluation-lake"


@dataclass(frozen=True)
class Lever:
    """One measured configuration: request overrides, head settings, and test-time augmentation
    (the mean embedding over these flip/rotation variants, in training and scoring alike)."""

    name: str
    request: dict = field(default_factory=dict)
    head: dict = field(default_factory=dict)
    tta_variants: tuple[int, ...] = ()


# The default first, then the alternatives measured (kept or dropped: see the README). Input size,
# composite, spectral features and label years were measured without training augmentation (their
# baseline is the row no-training-augmentation): extracting 8 variants of each costs 8x.
LEVERS = [
    Lever("default"),
    Lever("input-96", request={"augment": False, "spec_overrides": {"input_size": 96}}),
    Lever("input-128", request={"augment": False, "spec_overrides": {"input_size": 128}}),
    Lever("rgb", request={"augment": False, "spec_overrides": {"composite": "rgb"}}),
    Lever("no-spectral", request={"augment": False, "spec_overrides": {"spectral_features": False}}),
    Lever("no-class-weighting", head={"class_weighting": False}),
    Lever("no-pca", request={"augment": False}, head={"pca_components": 0}),
    Lever("no-training-augmentation", request={"augment": False}),
    Lever("tta-2-rot180", request={"augment": True}, tta_variants=(0, 2)),
    Lever("tta-8", request={"augment": True}, tta_variants=tuple(range(8))),
    Lever("previous-default-96", request={"augment": False, "spec_overrides": {"input_size": 96}}),
    Lever("label-years-2009-only", request={"augment": False, "label_years": (2009,)}),
]


def averaged_variants(table, features: np.ndarray, variants: tuple[int, ...]):
    """One row per tile: the mean of its features over ``variants`` (as variant 0)."""
    chosen = table["variant"].isin(variants).to_numpy()
    table, features = table[chosen].reset_index(drop=True), features[chosen]
    keys = table[["year", "col", "row"]].astype(str).agg("_".join, axis=1)
    codes, index = np.unique(keys.to_numpy(), return_inverse=True)
    sums = np.zeros((len(codes), features.shape[1]))
    np.add.at(sums, index, features)
    counts = np.bincount(index, minlength=len(codes))[:, None]
    first = ~keys.duplicated().to_numpy()
    rows = table[first].assign(variant=0).reset_index(drop=True)
    return rows, (sums / counts)[index[first]].astype(np.float32)


def evaluate_lever(lever: Lever, lake_root: str) -> dict:
    """The training run's own metrics for one lever."""
    from landshift.core.legend import DEFAULT_LEGEND
    from landshift.lake.base import read_json
    from landshift.lake.factory import open_lake
    from landshift.model.heads import HeadSettings, SplitSettings, evaluate_and_fit
    from landshift.model.spec import ModelSpec
    from landshift.regions.registry import get_region
    from landshift.run.training import TrainingRequest, evaluate_and_fit_run, feature_matrix, run_training

    request = TrainingRequest.from_dict({"lake_root": lake_root, "region": get_region("nd-pothole"), **lever.request})
    started = time.perf_counter()
    prepared = run_training(request, until="extract_features")
    seconds = time.perf_counter() - started
    if not lever.head and not lever.tta_variants:
        _, _, metrics = evaluate_and_fit_run(request, prepared)
    else:
        lake = open_lake(lake_root)
        spec = ModelSpec.from_dict(read_json(lake, prepared["spec_uri"]))
        table, features = feature_matrix(lake, prepared)
        if lever.tta_variants:
            table, features = averaged_variants(table, features, lever.tta_variants)
        _, _, metrics = evaluate_and_fit(
            table,
            features,
            DEFAULT_LEGEND,
            seed=request.seed,
            min_agreement=request.min_agreement,
            settings=HeadSettings(**{"spectral_count": spec.spectral_count, **lever.head}),
            split=SplitSettings(request.split_block_tiles, request.validation_share),
        )
    return {
        "lever": lever.name,
        "request": {**request.to_dict(), "lake_root": None},
        "head_overrides": lever.head,
        "tta_variants": list(lever.tta_variants),
        "stages_seconds": round(seconds, 1),
        "metrics": metrics,
    }


def featurizer_throughput(lake_root: str) -> dict:
    """Bare Featurizer tiles/s on 512 tiles of the 2020 scene: 96 px (the previous default), 64 px,
    and 64 px with 2-variant test-time augmentation (two backbone passes)."""
    from landshift.core.grid import TileGrid
    from landshift.imagery.scenes import open_on_grid, read_tiles, scene_stats
    from landshift.model.spec import Featurizer, ModelSpec, augment, sha256_of

    weights = str(SHARED_DATA / "backbones" / "mobilenet_v2_0.35_224_no_top.weights.h5")
    scene = str(SHARED_DATA / "naip-nd" / "m_4709963_se_14_1_20200831.tif")
    grid = TileGrid("EPSG:26914", 224)
    stats = np.repeat(np.asarray(scene_stats(scene, grid), dtype=np.float32)[None], 512, axis=0)
    cells = [grid.tile(2170 + i % 20, 23240 + (i // 20) % 15) for i in range(512)]
    result = {}
    for size, passes in ((96, 1), (64, 1), (64, 2)):
        featurizer = Featurizer(ModelSpec(input_size=size, weights_sha256=sha256_of(weights)), weights)
        with open_on_grid(scene, grid) as src:
            tiles = np.stack([pixels for pixels, _ in read_tiles(src, cells, size)])
        variants = [augment(tiles[:64])[v] for v in (0, 2)][:passes]
        for variant in variants:
            featurizer.features(variant, stats[:64])  # trace
        best = np.inf
        for _ in range(3):
            started = time.perf_counter()
            for start in range(0, 512, 64):
                batch = tiles[start : start + 64]
                for variant in [batch, np.ascontiguousarray(np.rot90(batch, 2, axes=(1, 2)))][:passes]:
                    featurizer.features(variant, stats[start : start + 64])
            best = min(best, time.perf_counter() - started)
        result[f"{size}px_x{passes}"] = round(512 / best, 1)
    result["ratio_64_vs_96"] = round(result["64px_x1"] / result["96px_x1"], 2)
    result["ratio_64_tta2_vs_96"] = round(result["64px_x2"] / result["96px_x1"], 2)
    return result


def summary_row(row: dict) -> str:
    """One printed line per lever."""
    metrics = row["metrics"]
    cross = metrics.get("cross_year", {}).get("mean", {})
    change = metrics.get("change", {}).get("at_rule", {})
    post, bi = change.get("post_classification", {}), change.get("bitemporal", {})
    return (
        f"{row['lever']:<38} {cross.get('accuracy', 0):>6.3f} {cross.get('water_f1', 0):>6.3f} "
        f"{cross.get('herbaceous_f1', 0):>6.3f} {metrics['spatial_blocks']['accuracy']:>7.3f} "
        f"{post.get('precision', 0):>5.2f}/{post.get('recall', 0):<5.2f} "
        f"{bi.get('precision', 0):>5.2f}/{bi.get('recall', 0):<5.2f}"
    )


def main(argv: list[str]) -> int:
    """Run the evaluation and write the metrics JSON."""
    from landshift.lake.factory import open_lake
    from landshift.run.demo import seed_lake

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO_ROOT / "bench" / "evaluation.json"))
    parser.add_argument("--configs", choices=["default", "all"], default="all")
    parser.add_argument("--lake", default=str(LAKE))
    parser.add_argument("--only", default="", help="comma-separated levers to re-measure into an existing --out")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    lake = open_lake(args.lake)
    seed_lake(SHARED_DATA, lake)
    levers = LEVERS if args.configs == "all" else LEVERS[:1]
    only = [name for name in args.only.split(",") if name]
    previous = json.loads(Path(args.out).read_text()) if only else {}
    kept = {row["lever"]: row for row in previous.get("levers", [])}
    rows = [
        evaluate_lever(lever, lake.root) if not only or lever.name in only else kept[lever.name] for lever in levers
    ]
    print(f"{'lever':<38} {'acc':>6} {'water':>6} {'herb':>6} {'blocked':>7} {'change P/R':>11} {'bitemporal P/R':>14}")
    for row in rows:
        print(summary_row(row))
    throughput = previous.get("featurizer_tiles_per_second") or (
        featurizer_throughput(lake.root) if args.configs == "all" else {}
    )
    print("featurizer tiles/s:", throughput)
    default = rows[0]["metrics"]
    print("default per direction:", [(d["train_year"], d["accuracy"]) for d in default["cross_year"]["directions"]])
    print(
        "calibration:",
        default["calibration"]["temperature"],
        default["calibration"]["before"]["ece"],
        "->",
        default["calibration"]["after"]["ece"],
    )
    Path(args.out).write_text(
        json.dumps({"default": rows[0], "levers": rows, "featurizer_tiles_per_second": throughput}, indent=2) + "\n"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
