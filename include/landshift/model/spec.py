"""Models: the spec, frozen backbones loaded from weight files, the featurizer and the head.

The :class:`Featurizer` is the one path from a uint8 RGBN tile to a feature vector: training
and scoring both call it, so a tile is preprocessed identically in both. TensorFlow is imported
only when a backbone is built, so importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import asdict, dataclass, fields

import numpy as np

from landshift.core.errors import InputError, IntegrityError
from landshift.imagery.water import GREEN_BAND, NIR_BAND

log = logging.getLogger(__name__)

# Band indexes (0-based) of RGBN tiles mapped onto a backbone's three input channels.
COMPOSITES: dict[str, tuple[int, int, int]] = {"rgb": (0, 1, 2), "nir-r-g": (3, 0, 1)}
NORMALIZATIONS = ("none", "scene-percentile")
RESAMPLINGS = ("bilinear", "nearest", "average")
BACKBONES = ("mobilenet_v2", "resnet50", "efficientnet_b0")
# Keras dtype policies a featurizer may run its backbone under (a device choice, not part of the
# model: the weights stay float32). The mixed ones pay on GPUs with tensor cores.
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# Per-tile shares of pixels whose NDWI exceeds the scene's Otsu water threshold (and +-0.1),
# and the tile's mean NDWI relative to that threshold: radiometry-invariant water evidence.
SPECTRAL_FEATURE_NAMES = ("water_share", "water_share_strict", "water_share_loose", "ndwi_mean_minus_threshold")
SCENE_STATS_LENGTH = 9


@dataclass(frozen=True)
class ModelSpec:
    """How tiles become features: backbone, weights, input size, bands and preprocessing."""

    backbone: str = "mobilenet_v2"
    alpha: float = 0.35
    weights_uri: str = ""
    weights_sha256: str = ""
    input_size: int = 64
    composite: str = "nir-r-g"
    normalization: str = "scene-percentile"
    spectral_features: bool = True
    resampling: str = "bilinear"
    # Floor of each scene's NDWI water threshold (landshift.imagery.water); specs written before
    # the field existed read as -1 (no floor), so their features are unchanged.
    water_floor: float = 0.15

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise InputError(f"unknown backbone {self.backbone!r}; supported: {list(BACKBONES)}")
        if self.composite not in COMPOSITES:
            raise InputError(f"unknown band composite {self.composite!r}; supported: {list(COMPOSITES)}")
        if self.normalization not in NORMALIZATIONS:
            raise InputError(f"unknown normalization {self.normalization!r}; supported: {list(NORMALIZATIONS)}")
        if self.resampling not in RESAMPLINGS:
            raise InputError(f"unknown resampling {self.resampling!r}; supported: {list(RESAMPLINGS)}")
        if not 32 <= int(self.input_size) <= 512:
            raise InputError(f"input_size must lie in 32..512 px, got {self.input_size}")

    @property
    def spectral_count(self) -> int:
        """How many spectral features follow the embedding in each feature vector."""
        return len(SPECTRAL_FEATURE_NAMES) if self.spectral_features else 0

    @property
    def bands_read(self) -> tuple[int, ...]:
        """The scene bands (1-based, of R, G, B, NIR) scoring reads: the composite's, and green and
        NIR for the water share. A NIR-R-G model never reads blue (a quarter of the resampling)."""
        return tuple(sorted({index + 1 for index in COMPOSITES[self.composite]} | {GREEN_BAND, NIR_BAND}))

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> ModelSpec:
        """Rebuild a spec; unknown keys are an error (a spec is a contract)."""
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise InputError(f"unknown model spec fields {sorted(unknown)}")
        return cls(
            **{
                **raw,
                "input_size": int(raw.get("input_size", cls.input_size)),
                "water_floor": raw.get("water_floor", -1.0),
            }
        )


def sha256_of(path: str) -> str:
    """sha256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_backbone(spec: ModelSpec, precision: str = "float32"):
    """The Keras convolutional base of ``spec`` with global average pooling, no weights, its
    layers under the dtype policy ``precision``."""
    import keras

    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; supported: {list(PRECISIONS)}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)  # layers take the policy in force when built
    try:
        return _convolutional_base(spec)
    finally:
        keras.config.set_dtype_policy(previous)


def _convolutional_base(spec: ModelSpec):
    """The keras.applications model of ``spec``."""
    import keras

    shape = (spec.input_size, spec.input_size, 3)
    if spec.backbone == "mobilenet_v2":
        return keras.applications.MobileNetV2(
            input_shape=shape, alpha=spec.alpha, include_top=False, weights=None, pooling="avg"
        )
    if spec.backbone == "resnet50":
        return keras.applications.ResNet50(input_shape=shape, include_top=False, weights=None, pooling="avg")
    return keras.applications.EfficientNetB0(input_shape=shape, include_top=False, weights=None, pooling="avg")


def load_backbone(spec: ModelSpec, weights_path: str, precision: str = "float32"):
    """The frozen backbone with its weights, after checking the file's sha256 against the spec."""
    actual = sha256_of(weights_path)
    if spec.weights_sha256 and actual != spec.weights_sha256:
        raise IntegrityError(
            f"backbone weights {weights_path} have sha256 {actual}, the model spec expects {spec.weights_sha256}"
        )
    model = build_backbone(spec, precision)
    model.load_weights(weights_path)
    model.trainable = False
    return model


def preprocess_input(spec: ModelSpec, channels):
    """The backbone's own input scaling of 0-255 float channels (numpy or tensors)."""
    import keras

    module = {
        "mobilenet_v2": keras.applications.mobilenet_v2,
        "resnet50": keras.applications.resnet50,
        "efficientnet_b0": keras.applications.efficientnet,
    }[spec.backbone]
    return module.preprocess_input(channels)


def backbone_input(spec: ModelSpec, tiles, scene_stats):
    """The backbone's input batch for uint8 RGBN tiles [N, S, S, 4], as TensorFlow ops: the band
    composite, the per-scene percentile stretch, then the backbone's own scaling.

    Traced into the featurizer's graph, so only uint8 tiles travel to the device and the float
    work runs there (or on TensorFlow's CPU threads).
    """
    import tensorflow as tf

    bands = list(COMPOSITES[spec.composite])
    values = tf.cast(tf.gather(tiles, bands, axis=-1), tf.float32)
    if spec.normalization == "scene-percentile":
        percentiles = tf.gather(tf.reshape(scene_stats[:, :8], (-1, 4, 2)), bands, axis=1)
        low, high = percentiles[:, None, None, :, 0], percentiles[:, None, None, :, 1]
        values = tf.clip_by_value((values - low) / tf.maximum(high - low, 1.0) * 255.0, 0.0, 255.0)
    return preprocess_input(spec, values)


def check_scene_stats(scene_stats: np.ndarray, count: int) -> np.ndarray:
    """Scene stats as float32 [N, 9]: (p2, p98) of R, G, B, NIR, then the NDWI water threshold."""
    stats = np.asarray(scene_stats, dtype=np.float32)
    if stats.shape != (count, SCENE_STATS_LENGTH):
        raise InputError(f"scene stats must be [N, {SCENE_STATS_LENGTH}], got {stats.shape}")
    return stats


def spectral_ops(tiles, scene_stats, water_floor: float = -1.0):
    """Water evidence per tile from raw NDWI against each scene's own Otsu threshold (raised to
    ``water_floor``), as TensorFlow ops on uint8 RGBN tiles [N, S, S, 4] (traced into the
    featurizer's graph); the first is :func:`landshift.imagery.water.tile_water_share`."""
    import tensorflow as tf

    green, nir = tf.cast(tiles[..., GREEN_BAND - 1], tf.float32), tf.cast(tiles[..., NIR_BAND - 1], tf.float32)
    ndwi = (green - nir) / tf.maximum(green + nir, 1.0)
    valid = tf.cast(tf.reduce_any(tiles != 0, axis=-1), tf.float32)
    count = tf.maximum(tf.reduce_sum(valid, axis=(1, 2)), 1.0)
    threshold = tf.maximum(scene_stats[:, 8], water_floor)[:, None, None]

    def share(above: float):
        return tf.reduce_sum(tf.cast(ndwi > threshold + above, tf.float32) * valid, axis=(1, 2)) / count

    relative = tf.reduce_sum((ndwi - threshold) * valid, axis=(1, 2)) / count
    return tf.stack([share(0.0), share(0.1), share(-0.1), relative], axis=1)


def spectral_features(tiles: np.ndarray, scene_stats: np.ndarray, water_floor: float = -1.0) -> np.ndarray:
    """:func:`spectral_ops` run eagerly on numpy tiles and stats: float32 [N, 4]."""
    stats = np.asarray(scene_stats, dtype=np.float32)
    return np.asarray(spectral_ops(tiles, stats, water_floor), dtype=np.float32)


class Featurizer:
    """Tiles to feature vectors: preprocessing, the frozen backbone, optional spectral features."""

    def __init__(self, spec: ModelSpec, weights_path: str, precision: str = "float32", xla: bool = False) -> None:
        """``precision``: the backbone's Keras dtype policy (see PRECISIONS); ``xla``: compile the
        graph with XLA. Both are device choices for scoring; features stay float32."""
        import tensorflow as tf

        self.spec = spec
        self.precision = precision
        self.backbone = load_backbone(spec, weights_path, precision)
        # A traced graph runs the backbone ~3.5x faster than eager calls on CPU (measured: 0.84 vs
        # 3.1 ms per 96 px tile on 2 cores). Its signature leaves the batch open, so it is traced
        # once for any batch size: traced at 64 tiles, the graph was traced again at the first
        # other size (a scene's tail, a batch with nodata tiles left out), 1.0-1.1 s per worker.
        size = spec.input_size
        signature = [
            tf.TensorSpec([None, size, size, 4], tf.uint8, name="tiles"),
            tf.TensorSpec([None, SCENE_STATS_LENGTH], tf.float32, name="scene_stats"),
        ]
        self._forward = tf.function(self._graph, input_signature=signature, autograph=False, jit_compile=xla or None)

    @property
    def spectral_count(self) -> int:
        """How many spectral features follow the embedding in each feature vector."""
        return len(SPECTRAL_FEATURE_NAMES) if self.spec.spectral_features else 0

    @property
    def traced_graphs(self) -> int:
        """How many graphs the featurizer has traced so far (one serves every batch size)."""
        return self._forward.experimental_get_tracing_count()

    def features(self, tiles: np.ndarray, scene_stats: np.ndarray) -> np.ndarray:
        """Feature vectors [N, D] of uint8 RGBN tiles [N, S, S, 4] and their scenes' stats [N, 9]."""
        if tiles.ndim != 4 or tiles.shape[-1] != 4:
            raise InputError(f"tiles must be [N, S, S, 4] RGBN, got shape {tiles.shape}")
        if tiles.dtype != np.uint8:
            raise InputError(f"tiles must be uint8 RGBN, got {tiles.dtype}")
        if tiles.shape[1:3] != (self.spec.input_size, self.spec.input_size):
            raise InputError(f"tiles are {tiles.shape[1:3]} px, the model expects {self.spec.input_size}")
        stats = check_scene_stats(scene_stats, len(tiles))
        return np.asarray(self._forward(np.ascontiguousarray(tiles), stats), dtype=np.float32)

    def _graph(self, tiles, stats):
        """uint8 tiles and scene stats in, feature vectors out: one traced graph, preprocessing
        included, so only uint8 pixels travel to the device."""
        import tensorflow as tf

        embeddings = tf.cast(self.backbone(backbone_input(self.spec, tiles, stats), training=False), tf.float32)
        if not self.spec.spectral_features:
            return embeddings
        return tf.concat([embeddings, spectral_ops(tiles, stats, self.spec.water_floor)], axis=1)


def augment(tiles: np.ndarray) -> list[np.ndarray]:
    """The 8 flips and rotations of a batch of tiles (aerial imagery has no 'up')."""
    variants = []
    for flipped in (tiles, tiles[:, :, ::-1]):
        for quarter_turns in range(4):
            variants.append(np.ascontiguousarray(np.rot90(flipped, quarter_turns, axes=(1, 2))))
    return variants


@dataclass(frozen=True)
class Head:
    """A softmax head: project features (PCA of the embedding, spectral features passed through),
    standardise, then a linear layer. Pure numpy to apply.

    ``water_rule`` (feature column, threshold, scale), when set, decides water from the tile's
    measured water share (that feature column) instead of the linear layer: a tile is labelled by
    its largest class, so P(water) = sigmoid((share - threshold) / scale) and the other classes
    share the rest in the linear layer's proportions.
    """

    offset: np.ndarray
    projection: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    class_codes: tuple[int, ...]
    water_rule: tuple[float, ...] = ()

    def inputs(self, features: np.ndarray) -> np.ndarray:
        """The standardised projected features the linear layer sees."""
        return ((features - self.offset) @ self.projection - self.mean) / self.scale

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities [N, C] in ``class_codes`` order."""
        scores = self.inputs(features) @ self.weights + self.bias
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        probabilities = exp / exp.sum(axis=1, keepdims=True)
        if self.water_rule and WATER_CODE in self.class_codes:
            probabilities = apply_water_rule(probabilities, self.class_codes, features, self.water_rule)
        return probabilities

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The most probable class code per row."""
        return np.asarray(self.class_codes)[self.predict_proba(features).argmax(axis=1)]

    def to_bytes(self) -> bytes:
        """An .npz serialisation (deterministic for identical heads)."""
        buffer = io.BytesIO()
        arrays = {name: getattr(self, name).astype(np.float32) for name in HEAD_ARRAYS}
        if self.water_rule:
            arrays["water_rule"] = np.asarray(self.water_rule, dtype=np.float64)
        np.savez(buffer, **arrays, class_codes=np.asarray(self.class_codes, dtype=np.int32))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Head:
        """Load a head written by :meth:`to_bytes`."""
        with np.load(io.BytesIO(data)) as arrays:
            rule = tuple(float(v) for v in arrays["water_rule"]) if "water_rule" in arrays.files else ()
            return cls(
                **{name: arrays[name] for name in HEAD_ARRAYS},
                class_codes=tuple(int(c) for c in arrays["class_codes"]),
                water_rule=rule,
            )


HEAD_ARRAYS = ("offset", "projection", "mean", "scale", "weights", "bias")
WATER_CODE = 11


def apply_water_rule(
    probabilities: np.ndarray, class_codes: tuple[int, ...], features: np.ndarray, rule: tuple[float, ...]
) -> np.ndarray:
    """Probabilities with P(water) from the measured water share in feature column ``rule[0]``
    (a logistic step at ``rule[1]`` of width ``rule[2]``), the other classes rescaled to the rest."""
    if len(rule) != 3 or rule[2] <= 0:
        raise InputError(f"water_rule must be (feature column, threshold, scale > 0), got {rule}")
    water = class_codes.index(WATER_CODE)
    share = features[:, int(rule[0])].astype(np.float64)
    p_water = 1.0 / (1.0 + np.exp(-np.clip((share - rule[1]) / rule[2], -50.0, 50.0)))
    land = probabilities.astype(np.float64).copy()
    land[:, water] = 0.0
    total = land.sum(axis=1, keepdims=True)
    uniform = np.where(np.arange(len(class_codes)) == water, 0.0, 1.0 / max(1, len(class_codes) - 1))
    land = np.where(total > 1e-12, land / np.maximum(total, 1e-12), uniform[None, :])
    out = land * (1.0 - p_water)[:, None]
    out[:, water] = p_water
    return out.astype(probabilities.dtype)
