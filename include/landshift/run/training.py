"""A training run as data: the request, and the stage sequence every runner runs.

``TRAINING_STAGES`` is the one place the order of a training run is written: plan labelled tiles
-> embeddings (a Spark job in the DAG, in-process in the evaluation and tests) -> head, honest
evaluation, registry. Each stage is a function of the :class:`TrainingRequest` and the previous
stage's small JSON-able result. Training-run paths are keyed by a hash of the request, so a retry
or a re-run with the same parameters overwrites its own tables and registers the identical model
version again (a no-op). Importing this module is cheap (DAG files read the stage names).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from landshift.core.errors import InputError, NotFoundError
from landshift.core.grid import TileGrid
from landshift.lake.base import Lake
from landshift.lake.factory import open_lake
from landshift.regions.layout import resolve_path
from landshift.regions.registry import DEFAULT_MODEL_NAME, LabelSource, Region, get_region
from landshift.run.pipeline import Pipeline, Stage, State

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from landshift.lake.base import Lake

log = logging.getLogger(__name__)


def training_request(trigger: Mapping[str, Any], lake_root: str) -> Any:
    """The training request of the training DAG's trigger form."""

    return TrainingRequest.from_params(trigger["params"], lake_root)


SPEC_PARAMS = ("backbone", "input_size", "composite")  # form fields that override the model spec
BACKBONE_FILES = {
    "mobilenet_v2": "mobilenet_v2_0.35_224_no_top.weights.h5",
    "resnet50": "resnet50_no_top.weights.h5",
    "efficientnet_b0": "efficientnet_b0_no_top.weights.h5",
}
# Model-spec fields a training request may override (the rest are the measured defaults).
SPEC_OVERRIDE_KEYS = (
    "backbone",
    "input_size",
    "composite",
    "normalization",
    "spectral_features",
    "resampling",
    "water_floor",
)


@dataclass(frozen=True)
class TrainingRequest:
    """What to train: a region's labelled years, the backbone and head settings.

    The defaults here are the only defaults of a training run: the DAG's form, the evaluation and
    the tests take them from this class. Validated once, on construction.
    """

    lake_root: str
    region: Region
    label_years: tuple[int, ...] = (2009, 2012, 2014)
    model_name: str = DEFAULT_MODEL_NAME
    spec_overrides: dict = field(default_factory=dict)
    seed: int = 42
    augment: bool = True
    min_agreement: float = 0.6
    promote_alias: str = "production"
    labels_uri: str = ""
    split_block_tiles: int = 4
    validation_share: float = 0.25
    use_reviews: bool = True

    def __post_init__(self) -> None:
        from landshift.model.heads import SplitSettings

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
        unknown = sorted(set(self.spec_overrides) - set(SPEC_OVERRIDE_KEYS))
        if unknown:
            raise InputError(f"unknown model spec overrides {unknown}; allowed: {list(SPEC_OVERRIDE_KEYS)}")
        SplitSettings(self.split_block_tiles, self.validation_share)  # validates

    def to_dict(self) -> dict[str, Any]:
        """A small JSON-able dict (the region by id); :meth:`from_dict` rebuilds the request.

        ``use_reviews`` is written only when off: at its default the dict (so the run's key, work
        folder and registered ``training.json``) is what it was before the field existed."""
        raw = {**asdict(self), "region": self.region.id, "label_years": list(self.label_years)}
        if self.use_reviews:
            del raw["use_reviews"]
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainingRequest:
        """Rebuild (and validate) a request; missing keys take the defaults, unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise InputError(f"unknown training request fields {unknown}")
        values = dict(raw)
        region = values.get("region")
        values["region"] = region if isinstance(region, Region) else get_region(str(region))
        if "label_years" in values:
            values["label_years"] = tuple(int(year) for year in values["label_years"])
        return cls(**values)

    @classmethod
    def from_params(cls, params: dict[str, Any], lake_root: str) -> TrainingRequest:
        """A request from a form's flat params: empty / 0 spec fields mean 'the default'."""
        overrides = {k: params[k] for k in SPEC_OVERRIDE_KEYS if params.get(k) not in (None, "", 0)}
        names = {f.name for f in fields(cls)} - {"lake_root", "spec_overrides"}
        values = {k: v for k, v in params.items() if k in names and v is not None}
        values["labels_uri"] = str(values.get("labels_uri") or "")
        values["promote_alias"] = str(values.get("promote_alias") or "")
        return cls.from_dict({**values, "lake_root": lake_root, "spec_overrides": overrides})

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
        payload = json.dumps({**self.to_dict(), "lake_root": None, "promote_alias": None}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    @property
    def work(self) -> str:
        """The run's work folder."""
        return "/".join([self.lake_root.rstrip("/"), "work", "training", self.region.id, self.key])

    @property
    def grid(self) -> TileGrid:
        """The region's tile grid."""
        return TileGrid(self.region.crs, self.region.tile_size_m)


def request_defaults() -> dict[str, Any]:
    """The training request's defaults, for forms (the DAG's params)."""
    return {f.name: f.default for f in fields(TrainingRequest) if f.default is not MISSING}


def file_sha256(lake: Lake, uri: str) -> str:
    """sha256 of a lake file."""
    return hashlib.sha256(lake.read_bytes(uri)).hexdigest()


def model_spec_for(request: TrainingRequest, lake: Lake):
    """The ModelSpec of this run: measured defaults, the request's overrides, the lake's weights."""
    from landshift.model.spec import ModelSpec

    overrides = dict(request.spec_overrides)
    backbone = overrides.get("backbone", ModelSpec().backbone)
    if backbone not in BACKBONE_FILES:
        raise InputError(f"unknown backbone {backbone!r}; supported: {sorted(BACKBONE_FILES)}")
    weights_uri = lake.uri("models", "backbones", BACKBONE_FILES[backbone])
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


def prepare(request: TrainingRequest, _previous: dict | None = None) -> dict:
    """Plan labelled tiles for every training year and write the tiles table and the spec."""
    import pandas as pd

    from landshift.core.legend import DEFAULT_LEGEND
    from landshift.imagery.planning import discover_scenes, plan_tiles
    from landshift.labels.prior import aggregate_labels
    from landshift.lake.base import write_json, write_table

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
        tiles = plan.tiles.merge(
            labels[["tile_id", "prior_class", "prior_agreement", "prior_water_share"]], on="tile_id"
        )
        tiles = tiles.assign(year=source.year, chunk=tiles["chunk"] + chunk_base)
        chunk_base = int(tiles["chunk"].max()) + 1
        frames.append(tiles)
        log.info("Training tiles %s %d: %d labelled", request.region.id, source.year, len(tiles))
    tiles = pd.concat(frames, ignore_index=True)
    reviews = review_label_rows(request, lake)
    tiles, reviews, added = with_reviewed_tiles(request, lake, tiles, reviews)
    tiles_uri, spec_uri = f"{request.work}/tiles.parquet", f"{request.work}/spec.json"
    write_table(lake, tiles_uri, tiles)
    write_json(lake, spec_uri, spec.to_dict())
    prepared = {
        "lake_root": request.lake_root,
        "tiles_uri": tiles_uri,
        "spec_uri": spec_uri,
        "features_uri": f"{request.work}/features{reviewed_features_suffix(added)}",
        "crs": request.region.crs,
        "tile_size_m": request.region.tile_size_m,
        "tiles": len(tiles),
        "augment": request.augment,
    }
    if len(reviews):
        prepared["review_labels_uri"] = f"{request.work}/review-labels.parquet"
        write_table(lake, prepared["review_labels_uri"], reviews)
    return prepared


def review_label_rows(request: TrainingRequest, lake: Lake) -> pd.DataFrame:
    """The analysts' decisions of the region as weighted label rows (none when ``use_reviews`` is off)."""
    from landshift.review.labels import REVIEW_LABEL_COLUMNS, review_labels

    if not request.use_reviews:
        import pandas as pd

        return pd.DataFrame(columns=REVIEW_LABEL_COLUMNS)
    return review_labels(lake, request.region.id)


def with_reviewed_tiles(
    request: TrainingRequest, lake: Lake, tiles: pd.DataFrame, reviews: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(tiles, reviews, added): the planned tiles plus the reviewed tiles of vintages without label
    rasters (planned from that vintage's imagery, no prior label), the review rows that have a
    tile to train on, and the tiles added. Reviews of tiles no imagery covers are left out (logged)."""
    import pandas as pd

    from landshift.imagery.planning import discover_scenes, plan_tiles

    if reviews.empty:
        return tiles, reviews, tiles.iloc[0:0]
    frames, chunk_base = [], int(tiles["chunk"].max()) + 1
    for vintage in sorted(set(reviews["vintage"]) - {str(y) for y in request.label_years}):
        wanted = set(reviews.loc[reviews["vintage"] == vintage, "tile_id"])
        try:
            imagery = resolve_path(request.lake_root, request.region.imagery_prefix(vintage))
            plan = plan_tiles(lake, discover_scenes(lake, imagery), request.grid, None)
        except NotFoundError as exc:
            log.warning("Review labels of %s %s left out: %s", request.region.id, vintage, exc)
            continue
        cut = plan.tiles[plan.tiles["tile_id"].isin(wanted)]
        if cut.empty:
            continue
        cut = cut.assign(
            prior_class=0, prior_agreement=0.0, prior_water_share=float("nan"), year=int(vintage), chunk=cut["chunk"]
        )
        cut = cut.assign(chunk=cut["chunk"].rank(method="dense").astype(int) - 1 + chunk_base)
        chunk_base = int(cut["chunk"].max()) + 1
        frames.append(cut[tiles.columns])
    added = pd.concat(frames, ignore_index=True) if frames else tiles.iloc[0:0]
    tiles = pd.concat([tiles, added], ignore_index=True) if frames else tiles
    planned = set(zip(tiles["year"].astype(str), tiles["tile_id"], strict=True))
    covered = [(v, t) in planned for v, t in zip(reviews["vintage"], reviews["tile_id"], strict=True)]
    if not all(covered):
        log.warning("Review labels of %s: %d tile(s) without imagery left out", request.region.id, covered.count(False))
    log.info("Review labels of %s: %d tile(s), %d added to the embeddings", request.region.id, sum(covered), len(added))
    return tiles, reviews[covered].reset_index(drop=True), added


def reviewed_features_suffix(added: pd.DataFrame) -> str:
    """'' without added tiles (today's features folder), else a digest of the added tiles: the
    request's work folder caches one features table per set of reviewed tiles."""
    if added.empty:
        return ""
    names = sorted(f"{year}/{tile}" for year, tile in zip(added["year"], added["tile_id"], strict=True))
    return "-reviews-" + hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]


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


def extract_features(request: TrainingRequest, prepared: dict) -> dict:
    """Embeddings of the planned tiles, in this process (the DAG runs ``jobs/extract_features.py``
    on Spark instead; both call the same scoring functions). Returns ``prepared`` unchanged.

    A features table already in the run's work folder is kept: it was moved into place whole,
    and the folder is keyed by the request, so evaluations re-use it as a cache.
    """
    import pandas as pd

    from landshift.lake.base import read_table, write_table
    from landshift.scoring.batch import ScoringConfig, score_partitions

    lake = open_lake(request.lake_root)
    target = f"{prepared['features_uri']}/part-00000.parquet"
    if lake.exists(target):
        log.info("Features of %s already extracted: %s", request.key, target)
        return prepared
    config = ScoringConfig(
        lake_root=request.lake_root,
        model_name="",
        model_version="",
        crs=prepared["crs"],
        tile_size_m=prepared["tile_size_m"],
        emit_features=True,
        augment=bool(prepared["augment"]),
        spec_uri=prepared["spec_uri"],
    )
    tiles = read_table(lake, prepared["tiles_uri"])
    table = pd.concat(score_partitions(config)(iter([tiles])), ignore_index=True)
    staging = f"{request.work}/features-staging/part-00000.parquet"
    write_table(lake, staging, table)
    lake.move(f"{request.work}/features-staging", prepared["features_uri"])
    return prepared


def feature_matrix(lake: Lake, prepared: dict) -> tuple[pd.DataFrame, np.ndarray]:
    """Labelled tiles joined with their embeddings (one row per tile and augmentation variant)."""
    import numpy as np

    from landshift.lake.base import read_table

    features = read_table(lake, prepared["features_uri"])
    features = features[features["status"] == "scored"]
    tiles = read_table(lake, prepared["tiles_uri"])[
        ["tile_id", "scene_uri", "year", "col", "row", "prior_class", "prior_agreement", "prior_water_share"]
    ]
    table = features[["tile_id", "scene_uri", "variant", "features"]].merge(tiles, on=["tile_id", "scene_uri"])
    table = table.sort_values(["year", "row", "col", "variant"], ascending=[True, False, True, True])
    table = table.reset_index(drop=True)
    return table, np.stack(table["features"].to_numpy()).astype(np.float32)


def evaluate_and_fit_run(request: TrainingRequest, prepared: dict):
    """(head, legend, metrics) of a run's features: what :func:`train_and_register` registers and
    what ``make evaluate`` reports, from one code path."""
    from landshift.core.legend import DEFAULT_LEGEND
    from landshift.lake.base import read_json
    from landshift.model.heads import HeadSettings, SplitSettings, evaluate_and_fit
    from landshift.model.spec import ModelSpec

    lake = open_lake(request.lake_root)
    table, features = feature_matrix(lake, prepared)
    # The honest evaluation stays on the annotated labels of the label years; the head trains on the
    # annotated rows with the reviewed tiles' labels replaced by the analysts' (weighted).
    annotated, annotated_features, extra, review_source = split_reviewed(table, features, review_table(lake, prepared))
    if extra is not None:
        label_years = table["year"].isin(request.label_years).to_numpy()
        table, features = table[label_years].reset_index(drop=True), features[label_years]
    spec = ModelSpec.from_dict(read_json(lake, prepared["spec_uri"]))
    settings = HeadSettings(spectral_count=spec.spectral_count)
    split = SplitSettings(request.split_block_tiles, request.validation_share)
    frozen = None
    if spec.spectral_count:
        # The registered head is fitted as every leave-one-vintage-out fold fits its own (make
        # evaluate): l2, class weighting, the water rule and the temperature chosen by blocked
        # validation, on all years; the metrics below then describe heads with the same settings.
        from landshift.model.lovo import Protocol, by_year, fit_frozen

        protocol = Protocol(settings=settings, split=split, min_agreement=request.min_agreement, seed=request.seed)
        frozen = fit_frozen(by_year(annotated, annotated_features), spec.spectral_count, protocol, extra=extra)
        settings = replace(settings, l2=frozen.choices["l2"], class_weighting=frozen.choices["class_weighting"])
    head, legend, metrics = evaluate_and_fit(
        table,
        features,
        DEFAULT_LEGEND,
        seed=request.seed,
        min_agreement=request.min_agreement,
        settings=settings,
        split=split,
    )
    if review_source:
        metrics["review_labels"] = review_source
    if frozen is None:
        if extra is not None:
            head = head_with_reviews(head, annotated, annotated_features, extra, request, settings, metrics)
            legend = DEFAULT_LEGEND.subset(head.class_codes)
        return head, legend, metrics
    metrics["production_choices"] = frozen.choices
    return frozen.head, DEFAULT_LEGEND.subset(frozen.head.class_codes), metrics


def review_table(lake: Lake, prepared: dict) -> pd.DataFrame | None:
    """The review label rows ``prepare`` kept for this run, or None."""
    from landshift.lake.base import read_table

    uri = prepared.get("review_labels_uri")
    return read_table(lake, uri) if uri else None


def split_reviewed(table: pd.DataFrame, features: np.ndarray, reviews: pd.DataFrame | None):
    """(table, features, extra, source): the annotated rows minus the reviewed tiles (whose label
    raster the analyst overrules), and the reviewed tiles' rows (every augmentation variant) as
    weighted :class:`~landshift.model.lovo.ExtraLabels` labelled with the analyst's class; ``source``
    describes them for the model card ({} and None without reviews)."""
    import numpy as np

    from landshift.model.lovo import ExtraLabels

    if reviews is None or reviews.empty:
        return table, features, None, {}
    keys = ["year", "col", "row"]
    labels = reviews.assign(year=reviews["vintage"].astype(int))[[*keys, "label_class", "weight", "decision"]]
    joined = table[keys].merge(labels, on=keys, how="left")
    reviewed = joined["label_class"].notna().to_numpy()
    rows = table[reviewed].reset_index(drop=True)
    extra = ExtraLabels(
        rows[["year", "col", "row", "variant"]].assign(reviewed_label=joined["label_class"][reviewed].to_numpy()),
        features[reviewed],
        joined["label_class"][reviewed].to_numpy(dtype=np.int64),
        joined["weight"][reviewed].to_numpy(dtype=np.float64),
    )
    used = labels.merge(rows[keys].drop_duplicates(), on=keys)
    source = {
        "source": "analyst reviews (reviews/<region>/<vintage>/)",
        "tiles": len(used),
        "rows": len(extra.labels),
        "vintages": {str(v): int(n) for v, n in used["year"].value_counts().sort_index().items()},
        "decisions": {str(d): int(n) for d, n in used["decision"].value_counts().sort_index().items()},
        "weight": sorted({float(w) for w in used["weight"]}),
    }
    return table[~reviewed].reset_index(drop=True), features[~reviewed], extra, source


def head_with_reviews(head, table, features, extra, request: TrainingRequest, settings, metrics: dict):
    """Without spectral features the head is ``evaluate_and_fit``'s: refit it on its rows plus the
    weighted review rows, at the same temperature."""
    import numpy as np

    from landshift.model.heads import train_head, with_temperature

    keep = (table["prior_agreement"] >= request.min_agreement).to_numpy() & (table["prior_class"] > 0).to_numpy()
    rows = np.concatenate([features[keep], extra.features.astype(features.dtype)])
    labels = np.concatenate([table["prior_class"].to_numpy()[keep], extra.labels])
    weights = np.concatenate([np.ones(int(keep.sum())), extra.weights])
    temperature = metrics["calibration"]["temperature"]
    return with_temperature(train_head(rows, labels, request.seed, settings, weights), temperature)


def train_and_register(request: TrainingRequest, prepared: dict) -> dict:
    """Train the head, evaluate it honestly, register the version and move the alias."""
    from landshift.lake.base import read_json
    from landshift.model.registry import register_version, set_alias
    from landshift.model.spec import ModelSpec

    lake = open_lake(request.lake_root)
    head, legend, metrics = evaluate_and_fit_run(request, prepared)
    spec = ModelSpec.from_dict(read_json(lake, prepared["spec_uri"]))
    training = {
        "request": {**request.to_dict(), "lake_root": None},
        "region": request.region.id,
        "label_years": list(request.label_years),
        "labels": [s.path for s in request.label_sources],
        "tiles_uri": prepared["tiles_uri"],
        "features_uri": prepared["features_uri"],
        "seed": request.seed,
        "augment": request.augment,
        "min_agreement": request.min_agreement,
    }
    if metrics.get("review_labels"):
        training["review_labels"] = metrics["review_labels"]
    version = register_version(lake, request.model_name, spec, head, legend, metrics, training)
    if request.promote_alias:
        set_alias(lake, request.model_name, request.promote_alias, version.version)
    log.info("Registered %s version %s (alias %s)", request.model_name, version.version, request.promote_alias)
    return {
        "model_name": request.model_name,
        "model_version": version.version,
        "uri": version.uri,
        "alias": request.promote_alias,
        "metrics": headline(metrics),
    }


def headline(metrics: dict) -> dict:
    """The few figures worth showing in logs and XCom."""
    return {key: value for key, value in metrics.items() if isinstance(value, int | float | str)}


def run_training(request: TrainingRequest, until: str = "") -> dict:
    """The training pipeline (:data:`landshift.run.training.TRAINING_RUN`) in this process, embeddings
    included (``until``: stop after that stage); the final state."""
    from landshift.run.pipeline import run_pipeline

    return run_pipeline(TRAINING_RUN, request, spark=None, until=until)


# Training run: labelled tiles -> embeddings (Spark) -> head, evaluation, registry.


def _training_request(raw: dict) -> Any:
    return TrainingRequest.from_dict(raw)


def _prepare_training(request: Any, state: State) -> State:
    return prepare(request)


def _feature_args(request: Any, state: State) -> list[str]:
    return feature_job_args(request, state)


def _extract_features_here(request: Any, state: State) -> State:
    return extract_features(request, state)


def _train_and_register(request: Any, state: State) -> State:
    return train_and_register(request, state)


TRAINING_RUN = Pipeline(
    "training",
    (
        Stage("prepare_training", _prepare_training),
        Stage("extract_features", _extract_features_here, spark_job="extract_features", job_args=_feature_args),
        Stage("train_and_register", _train_and_register),
    ),
    _training_request,
)
