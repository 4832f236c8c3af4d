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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LANDSHIFT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
SCENES = {
    2009: "m_4709963_se_14_1_20090818.tif",
    2010: "m_4709963_se_14_1_20100629.tif",
    2012: "m_4709963_se_14_1_20120731.tif",
    2014: "m_4709963_se_14_1_20140720.tif",
}
TRAIN_YEAR, TEST_YEAR = 2009, 2014
BACKBONE_WEIGHTS = {
    "mobilenet_v2": SHARED_DATA / "backbones" / "mobilenet_v2_0.35_224_no_top.weights.h5",
    "resnet50": SHARED_DATA / "backbones" / "resnet50_no_top.weights.h5",
    "efficientnet_b0": SHARED_DATA / "backbones" / "efficientnet_b0_no_top.weights.h5",
}


@dataclass(frozen=True)
class Config:
    """One measured configuration: spec and head overrides, 8x flip/rotate augmentation of the
    training tiles, imagery of other vintages trained on with the same labels, and the precision
    the test tiles are scored with (the head always trains on float32 features)."""

    name: str
    spec: dict = field(default_factory=dict)
    head: dict = field(default_factory=dict)
    augment: bool = False
    extra_imagery: tuple[int, ...] = ()
    score_precision: str = "float32"


# The default first, then the alternatives measured.
CONFIGS = [
    Config("default"),
    Config("rgb", spec={"composite": "rgb"}),
    Config("no-normalisation", spec={"normalization": "none"}),
    Config("no-spectral", spec={"spectral_features": False}, head={"spectral_count": 0}),
    Config("no-pca", head={"pca_components": 0}),
    Config("input-224", spec={"input_size": 224}),
    Config("nearest", spec={"resampling": "nearest"}),
    Config("augment-8x", augment=True),
    Config("multi-vintage", extra_imagery=(2010, 2012)),
    Config("score-float16", score_precision="mixed_float16"),
    Config("score-bfloat16", score_precision="mixed_bfloat16"),
]


def year_labels(year: int, grid, legend):
    """Majority labels per tile of one year's 5 m label raster."""
    from landshift.labels import aggregate_labels

    return aggregate_labels(str(SHARED_DATA / "labels-nd" / f"labels_{year}_5m.tif"), grid, legend)


def scene_tiles(year: int, labels, size: int, grid, resampling: str) -> tuple[np.ndarray, np.ndarray]:
    """Tiles of one vintage's scene at the labelled cells (in the labels' order), and scene stats."""
    from landshift.imagery import open_on_grid, read_tiles, scene_stats

    scene = str(SHARED_DATA / "naip-nd" / SCENES[year])
    stats = np.asarray(scene_stats(scene, grid), dtype=np.float32)
    with open_on_grid(scene, grid) as src:
        cells = [grid.tile(c, r) for c, r in zip(labels["col"], labels["row"], strict=True)]
        tiles = np.stack([pixels for pixels, _ in read_tiles(src, cells, size, resampling=resampling)])
    return tiles, np.repeat(stats[None], len(tiles), axis=0)


def run_config(config: Config, backbone: str, min_agreement: float) -> dict:
    """Metrics of one configuration."""
    from landshift.evaluation import evaluate
    from landshift.grid import TileGrid
    from landshift.legend import DEFAULT_LEGEND
    from landshift.model import Featurizer, ModelSpec, augment, sha256_of
    from landshift.training import HeadSettings, blocked_split, train_head

    weights = BACKBONE_WEIGHTS[backbone]
    if not weights.is_file():
        return {"config": config.name, "backbone": backbone, "status": f"not loadable: no weights file {weights.name}"}
    spec = ModelSpec(
        **{**config.spec, "backbone": backbone, "weights_uri": str(weights), "weights_sha256": sha256_of(str(weights))}
    )
    settings = HeadSettings(**config.head)
    grid = TileGrid("EPSG:26914", 224)
    featurizer = Featurizer(spec, str(weights))
    train_labels = year_labels(TRAIN_YEAR, grid, DEFAULT_LEGEND)
    test_labels = year_labels(TEST_YEAR, grid, DEFAULT_LEGEND)
    started = time.perf_counter()
    test_tiles, test_stats = scene_tiles(TEST_YEAR, test_labels, spec.input_size, grid, spec.resampling)
    test_features = Featurizer(spec, str(weights), precision=config.score_precision).features(test_tiles, test_stats)
    # Training rows: the labelled cells in each training vintage's imagery, in each augmentation.
    train_features = []
    for year in (TRAIN_YEAR, *config.extra_imagery):
        tiles, stats = scene_tiles(year, train_labels, spec.input_size, grid, spec.resampling)
        variants = augment(tiles) if config.augment else [tiles]
        train_features += [featurizer.features(variant, stats) for variant in variants]
    seconds = time.perf_counter() - started
    repeats = len(train_features)
    train_features = np.concatenate(train_features)
    classes = np.tile(train_labels["prior_class"].to_numpy(), repeats)
    keep = np.tile((train_labels["prior_agreement"] >= min_agreement).to_numpy(), repeats)
    head = train_head(train_features[keep], classes[keep], 42, settings)
    cross = evaluate(test_labels["prior_class"].to_numpy(), head.predict(test_features), DEFAULT_LEGEND)
    # Blocked validation on the training year's original tiles; a validation cell is held out of
    # every vintage and augmentation, so nothing of it leaks into training.
    train_mask, validation_mask = blocked_split(train_labels, seed=42)
    in_train = np.tile(train_mask, repeats) & keep
    blocked_head = train_head(train_features[in_train], classes[in_train], 42, settings)
    originals = train_features[: len(train_labels)]
    blocked = evaluate(
        train_labels["prior_class"].to_numpy()[validation_mask],
        blocked_head.predict(originals[validation_mask]),
        DEFAULT_LEGEND,
    )
    return {
        "config": config.name,
        "backbone": backbone,
        "spec": {k: v for k, v in spec.to_dict().items() if k not in ("weights_uri",)},
        "head": settings.__dict__,
        "augmented": config.augment,
        "training_imagery": [TRAIN_YEAR, *config.extra_imagery],
        "score_precision": config.score_precision,
        "train": f"nd-pothole {TRAIN_YEAR} labels",
        "test": f"nd-pothole {TEST_YEAR} labels",
        "cross_year": cross,
        "spatial_blocks_2009": blocked,
        "featurize_tiles_per_second": round((len(test_tiles) + len(train_features)) / seconds, 1),
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
    results = [run_config(config, "mobilenet_v2", args.min_agreement) for config in configs]
    results += [run_config(CONFIGS[0], backbone, args.min_agreement) for backbone in ("resnet50", "efficientnet_b0")]
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
