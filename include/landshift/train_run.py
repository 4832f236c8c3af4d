"""Stages of a training run: labelled tiles -> embeddings (Spark job) -> head, evaluation, registry.

Training-run paths are keyed by a hash of the request, so a retry or a re-run with the same
parameters overwrites its own tables and registers the identical model version again (a no-op).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from landshift.errors import InputError, NotFoundError
from landshift.grid import TileGrid
from landshift.lake import Lake, open_lake, read_json, read_table, write_json, write_table
from landshift.legend import DEFAULT_LEGEND
from landshift.regions import LabelSource, Region, resolve_path

log = logging.getLogger(__name__)

SPEC_PARAMS = ("backbone", "input_size", "composite")  # form fields that override the model spec
BACKBONE_FILES = {
    "mobilenet_v2": "mobilenet_v2_0.35_224_no_top.weights.h5",
    "resnet50": "resnet50_no_top.weights.h5",
    "efficientnet_b0": "efficientnet_b0_no_top.weights.h5",
}


@dataclass(frozen=True)
class TrainingRequest:
    """What to train: a region's labelled years, the backbone and head settings."""

    lake_root: str
    region: Region
    label_years: tuple[int, ...]
    model_name: str
    spec_overrides: dict = field(default_factory=dict)
    seed: int = 42
    augment: bool = False
    min_agreement: float = 0.6
    promote_alias: str = "production"
    labels_uri: str = ""
    split_block_tiles: int = 4
    validation_share: float = 0.25

    def __post_init__(self) -> None:
        from landshift.training import SplitSettings

        if not self.label_years:
            raise InputError("label_years is empty")
        if self.labels_uri and len(self.label_years) > 1 and "{year}" not in self.labels_uri:
            raise InputError(f"labels_uri {self.labels_uri!r} needs a {{year}} placeholder for several label years")
        known = {source.year for source in self.label_sources}
        missing = sorted(set(self.label_years) - known)
        if missing:
            raise InputError(f"region {self.region.id} has no training labels for {missing}; it has {sorted(known)}")
        if not 0.0 <= self.min_agreement <= 1.0:
            raise InputError(f"min_agreement must lie in [0, 1], got {self.min_agreement}")
        SplitSettings(self.split_block_tiles, self.validation_share)  # validates

    def to_dict(self) -> dict:
        """A JSON-able dict (XCom); :meth:`from_dict` reverses it."""
        return {**asdict(self), "region": self.region.to_dict(), "label_years": list(self.label_years)}

    @classmethod
    def from_dict(cls, raw: dict) -> TrainingRequest:
        """The request back from :meth:`to_dict`."""
        return cls(**{**raw, "region": Region.from_dict(raw["region"]), "label_years": tuple(raw["label_years"])})

    @classmethod
    def from_trigger(cls, trigger: dict, lake_root: str) -> TrainingRequest:
        """A validated request from the training DAG's trigger form (``trigger["params"]``)."""
        from landshift.regions import get_region

        params = trigger["params"]
        overrides = {key: params[key] for key in SPEC_PARAMS if params.get(key) not in (None, "", 0)}
        try:
            return cls(
                lake_root=lake_root,
                region=get_region(str(params["region"])),
                label_years=tuple(int(y) for y in params["label_years"]),
                model_name=str(params["model_name"]),
                spec_overrides=overrides,
                seed=int(params["seed"]),
                augment=bool(params["augment"]),
                min_agreement=float(params["min_agreement"]),
                promote_alias=str(params.get("promote_alias") or ""),
                labels_uri=str(params.get("labels_uri") or ""),
                split_block_tiles=int(params.get("split_block_tiles", 4)),
                validation_share=float(params.get("validation_share", 0.25)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed training parameters: {exc}") from exc

    @property
    def label_sources(self) -> tuple[LabelSource, ...]:
        """The label rasters trained on: ``labels_uri`` per year when given, else the region's."""
        if not self.labels_uri:
            return tuple(s for s in self.region.training_labels if s.year in self.label_years)
        return tuple(
            LabelSource("labels_uri", year, self.labels_uri.format(year=year, region=self.region.id))
            for year in self.label_years
        )

    @property
    def key(self) -> str:
        """A short hash naming this request's work folder."""
        payload = json.dumps(
            {**asdict(self), "lake_root": None, "region": self.region.id, "promote_alias": None}, sort_keys=True
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    @property
    def work(self) -> str:
        """The run's work folder."""
        return "/".join([self.lake_root.rstrip("/"), "work", "training", self.region.id, self.key])

    @property
    def grid(self) -> TileGrid:
        """The region's tile grid."""
        return TileGrid(self.region.crs, self.region.tile_size_m)


def file_sha256(lake: Lake, uri: str) -> str:
    """sha256 of a lake file."""
    return hashlib.sha256(lake.read_bytes(uri)).hexdigest()


def model_spec_for(request: TrainingRequest, lake: Lake):
    """The ModelSpec of this run: measured defaults, the request's overrides, the lake's weights."""
    from landshift.model import ModelSpec

    overrides = dict(request.spec_overrides)
    backbone = overrides.get("backbone", ModelSpec().backbone)
    if backbone not in BACKBONE_FILES:
        raise InputError(f"unknown backbone {backbone!r}; supported: {sorted(BACKBONE_FILES)}")
    weights_uri = overrides.pop("weights_uri", None) or lake.uri("models", "backbones", BACKBONE_FILES[backbone])
    if not lake.exists(weights_uri):
        raise NotFoundError(f"backbone weights for {backbone} not in the lake: {weights_uri}")
    return ModelSpec.from_dict(
        {
            **ModelSpec().to_dict(),
            **overrides,
            "weights_uri": weights_uri,
            "weights_sha256": file_sha256(lake, weights_uri),
        }
    )


def prepare(request: TrainingRequest) -> dict:
    """Plan labelled tiles for every training year and write the tiles table and the spec."""
    from landshift.labels import aggregate_labels
    from landshift.planning import discover_scenes, plan_tiles

    lake = open_lake(request.lake_root)
    spec = model_spec_for(request, lake)
    for source in request.label_sources:
        if not lake.exists(resolve_path(request.lake_root, source.path)):
            raise NotFoundError(f"training labels for {source.year} not in the lake: {source.path}")
    frames, chunk_base = [], 0
    for source in request.label_sources:
        imagery = resolve_path(request.lake_root, request.region.imagery_prefix(str(source.year)))
        plan = plan_tiles(lake, discover_scenes(lake, imagery), request.grid, None)
        labels = aggregate_labels(
            lake.gdal_path(resolve_path(request.lake_root, source.path)), request.grid, DEFAULT_LEGEND, plan.bounds
        )
        tiles = plan.tiles.merge(labels[["tile_id", "prior_class", "prior_agreement"]], on="tile_id")
        tiles = tiles.assign(year=source.year, chunk=tiles["chunk"] + chunk_base)
        chunk_base = int(tiles["chunk"].max()) + 1
        frames.append(tiles)
        log.info("Training tiles %s %d: %d labelled", request.region.id, source.year, len(tiles))
    tiles = pd.concat(frames, ignore_index=True)
    tiles_uri, spec_uri = f"{request.work}/tiles.parquet", f"{request.work}/spec.json"
    write_table(lake, tiles_uri, tiles)
    write_json(lake, spec_uri, spec.to_dict())
    return {
        "lake_root": request.lake_root,
        "tiles_uri": tiles_uri,
        "spec_uri": spec_uri,
        "features_uri": f"{request.work}/features",
        "crs": request.region.crs,
        "tile_size_m": request.region.tile_size_m,
        "tiles": len(tiles),
        "augment": request.augment,
    }


def feature_job_args(request: TrainingRequest, prepared: dict) -> list[str]:
    """Arguments of ``jobs/extract_features.py`` for the prepared tiles."""
    return [
        "--lake-root",
        request.lake_root,
        "--tiles",
        prepared["tiles_uri"],
        "--out",
        prepared["features_uri"],
        "--spec",
        prepared["spec_uri"],
        "--crs",
        request.region.crs,
        "--tile-size-m",
        str(request.region.tile_size_m),
        *(["--augment"] if request.augment else []),
    ]


def feature_matrix(lake: Lake, prepared: dict) -> tuple[pd.DataFrame, np.ndarray]:
    """Labelled tiles joined with their embeddings (one row per tile and augmentation variant)."""
    features = read_table(lake, prepared["features_uri"])
    features = features[features["status"] == "scored"]
    tiles = read_table(lake, prepared["tiles_uri"])[
        ["tile_id", "scene_uri", "year", "col", "row", "prior_class", "prior_agreement"]
    ]
    table = features[["tile_id", "scene_uri", "variant", "features"]].merge(tiles, on=["tile_id", "scene_uri"])
    table = table.sort_values(["year", "row", "col", "variant"], ascending=[True, False, True, True])
    table = table.reset_index(drop=True)
    return table, np.stack(table["features"].to_numpy()).astype(np.float32)


def train_and_register(request: TrainingRequest, prepared: dict) -> dict:
    """Train the head, evaluate it honestly, register the version and move the alias."""
    from landshift.model import SPECTRAL_FEATURE_NAMES, ModelSpec
    from landshift.registry import register_version, set_alias
    from landshift.training import HeadSettings, SplitSettings, evaluate_and_fit

    lake = open_lake(request.lake_root)
    table, features = feature_matrix(lake, prepared)
    spec = ModelSpec.from_dict(read_json(lake, prepared["spec_uri"]))
    settings = HeadSettings(spectral_count=len(SPECTRAL_FEATURE_NAMES) if spec.spectral_features else 0)
    head, legend, metrics = evaluate_and_fit(
        table,
        features,
        DEFAULT_LEGEND,
        seed=request.seed,
        min_agreement=request.min_agreement,
        settings=settings,
        split=SplitSettings(request.split_block_tiles, request.validation_share),
    )
    training = {
        "region": request.region.id,
        "label_years": list(request.label_years),
        "labels": [s.path for s in request.label_sources],
        "tiles_uri": prepared["tiles_uri"],
        "features_uri": prepared["features_uri"],
        "seed": request.seed,
        "augment": request.augment,
        "min_agreement": request.min_agreement,
    }
    version = register_version(lake, request.model_name, spec, head, legend, metrics, training)
    if request.promote_alias:
        set_alias(lake, request.model_name, request.promote_alias, version.version)
    log.info("Registered %s version %s (alias %s)", request.model_name, version.version, request.promote_alias)
    return {
        "model_name": request.model_name,
        "model_version": version.version,
        "uri": version.uri,
        "alias": request.promote_alias,
        "metrics": _headline(metrics),
    }


def _headline(metrics: dict) -> dict:
    """The few figures worth showing in logs and XCom."""
    return {key: value for key, value in metrics.items() if isinstance(value, int | float | str)}
