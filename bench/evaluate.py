"""Cross-year evaluation of the land-use model on nd-pothole: train on 2009 labels, test on 2014.

Usage: python bench/evaluate.py [--out bench/evaluation.json] [--configs default|all]

Features come from the same Featurizer the Spark jobs call; the head is trained exactly as the
training DAG trains it. Also reports a spatially blocked validation inside 2009.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LANDSHIFT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
SCENES = {2009: "m_4709963_se_14_1_20090818.tif", 2014: "m_4709963_se_14_1_20140720.tif"}
BACKBONE_WEIGHTS = {
    "mobilenet_v2": SHARED_DATA / "backbones" / "mobilenet_v2_0.35_224_no_top.weights.h5",
    "resnet50": SHARED_DATA / "backbones" / "resnet50_no_top.weights.h5",
    "efficientnet_b0": SHARED_DATA / "backbones" / "efficientnet_b0_no_top.weights.h5",
}
# (name, spec overrides, head overrides, flip/rotate augmentation of the training tiles, precision
# the 2014 test tiles are scored with): the default first, then the alternatives measured.
CONFIGS = [
    ("default", {}, {}, False, "float32"),
    ("rgb", {"composite": "rgb"}, {}, False, "float32"),
    ("no-normalisation", {"normalization": "none"}, {}, False, "float32"),
    ("no-spectral", {"spectral_features": False}, {"spectral_count": 0}, False, "float32"),
    ("no-pca", {}, {"pca_components": 0}, False, "float32"),
    ("input-224", {"input_size": 224}, {}, False, "float32"),
    ("nearest", {"resampling": "nearest"}, {}, False, "float32"),
    ("augment-8x", {}, {}, True, "float32"),
    ("score-float16", {}, {}, False, "mixed_float16"),
    ("score-bfloat16", {}, {}, False, "mixed_bfloat16"),
]


def year_data(year: int, size: int, grid, legend, resampling: str) -> tuple:
    """Labels, tiles and scene stats of one year."""
    from landshift.imagery import open_on_grid, read_tiles, scene_stats
    from landshift.labels import aggregate_labels

    scene = str(SHARED_DATA / "naip-nd" / SCENES[year])
    labels = aggregate_labels(str(SHARED_DATA / "labels-nd" / f"labels_{year}_5m.tif"), grid, legend)
    stats = np.asarray(scene_stats(scene, grid), dtype=np.float32)
    with open_on_grid(scene, grid) as src:
        cells = [grid.tile(c, r) for c, r in zip(labels["col"], labels["row"], strict=True)]
        tiles = np.stack([pixels for pixels, _ in read_tiles(src, cells, size, resampling=resampling)])
    return labels, tiles, np.repeat(stats[None], len(tiles), axis=0)


def run_config(
    name: str,
    spec_overrides: dict,
    head_overrides: dict,
    augmented: bool,
    score_precision: str,
    backbone: str,
    min_agreement: float,
) -> dict:
    """Metrics of one configuration."""
    from landshift.evaluation import evaluate
    from landshift.grid import TileGrid
    from landshift.legend import DEFAULT_LEGEND
    from landshift.model import Featurizer, ModelSpec, augment, sha256_of
    from landshift.training import HeadSettings, blocked_split, train_head

    weights = BACKBONE_WEIGHTS[backbone]
    if not weights.is_file():
        return {"config": name, "backbone": backbone, "status": f"not loadable: no weights file {weights.name}"}
    spec = ModelSpec(
        **{
            **spec_overrides,
            "backbone": backbone,
            "weights_uri": str(weights),
            "weights_sha256": sha256_of(str(weights)),
        }
    )
    settings = HeadSettings(**head_overrides)
    grid = TileGrid("EPSG:26914", 224)
    featurizer = Featurizer(spec, str(weights))
    started = time.perf_counter()
    data = {year: year_data(year, spec.input_size, grid, DEFAULT_LEGEND, spec.resampling) for year in SCENES}
    features = {year: featurizer.features(tiles, stats) for year, (_, tiles, stats) in data.items()}
    seconds = time.perf_counter() - started
    _, train_tiles, train_stats = data[2009]
    variants = augment(train_tiles) if augmented else [train_tiles]
    # Rows: every training tile in each variant (variant 0 is the original, whose features exist).
    train_features = np.concatenate([features[2009]] + [featurizer.features(v, train_stats) for v in variants[1:]])
    train_labels = data[2009][0]
    classes = np.tile(train_labels["prior_class"].to_numpy(), len(variants))
    keep = np.tile((train_labels["prior_agreement"] >= min_agreement).to_numpy(), len(variants))
    head = train_head(train_features[keep], classes[keep], 42, settings)
    if score_precision != "float32":  # the head trained on float32 features scores mixed-precision ones
        _, test_tiles, test_stats = data[2014]
        features[2014] = Featurizer(spec, str(weights), precision=score_precision).features(test_tiles, test_stats)
    cross = evaluate(data[2014][0]["prior_class"].to_numpy(), head.predict(features[2014]), DEFAULT_LEGEND)
    train_mask, validation_mask = blocked_split(train_labels, seed=42)
    in_train = np.tile(train_mask, len(variants)) & keep
    blocked_head = train_head(train_features[in_train], classes[in_train], 42, settings)
    blocked = evaluate(
        train_labels["prior_class"].to_numpy()[validation_mask],
        blocked_head.predict(features[2009][validation_mask]),
        DEFAULT_LEGEND,
    )
    return {
        "config": name,
        "backbone": backbone,
        "spec": {k: v for k, v in spec.to_dict().items() if k not in ("weights_uri",)},
        "head": settings.__dict__,
        "augmented": augmented,
        "score_precision": score_precision,
        "train": "nd-pothole 2009 labels",
        "test": "nd-pothole 2014 labels",
        "cross_year": cross,
        "spatial_blocks_2009": blocked,
        "featurize_tiles_per_second": round(600 / seconds, 1),
    }


def main(argv: list[str]) -> int:
    """Run the evaluation and write the metrics JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO_ROOT / "bench" / "evaluation.json"))
    parser.add_argument("--configs", choices=["default", "all"], default="all")
    parser.add_argument("--min-agreement", type=float, default=0.6)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    configs = CONFIGS if args.configs == "all" else CONFIGS[:1]
    results = [run_config(*config, "mobilenet_v2", args.min_agreement) for config in configs]
    results += [
        run_config("default", {}, {}, False, "float32", backbone, args.min_agreement)
        for backbone in ("resnet50", "efficientnet_b0")
    ]
    print(f"{'config':<18} {'backbone':<16} {'accuracy':>8} {'water F1':>8} {'kappa':>6} {'3-class':>7} {'blocked':>7}")
    for row in results:
        if "cross_year" not in row:
            print(f"{row['config']:<18} {row['backbone']:<16} {row['status']}")
            continue
        cross = row["cross_year"]
        print(
            f"{row['config']:<18} {row['backbone']:<16} {cross['accuracy']:>8.3f} "
            f"{cross['per_class'].get('11', {}).get('f1', 0):>8.3f} {cross['kappa']:>6.3f} "
            f"{cross['recipe_3class']['accuracy']:>7.3f} {row['spatial_blocks_2009']['accuracy']:>7.3f}"
        )
    default = results[0]["cross_year"]
    print("default confusion (rows true, columns predicted):", default["confusion_matrix"])
    Path(args.out).write_text(json.dumps({"default": results[0], "all": results}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
