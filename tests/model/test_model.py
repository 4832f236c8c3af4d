"""The model spec, the frozen backbone from its weights file, the featurizer and the head."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import NAIP_2009, ND_CRS, SHARED_DATA
from landshift.core.errors import InputError, IntegrityError
from landshift.core.grid import TileGrid
from landshift.imagery.scenes import open_on_grid, read_tile, scene_stats
from landshift.model.spec import SPECTRAL_FEATURE_NAMES, Featurizer, Head, ModelSpec, augment, spectral_features

pytestmark = pytest.mark.data

WEIGHTS = SHARED_DATA / "backbones" / "mobilenet_v2_0.35_224_no_top.weights.h5"
SHA256 = "04af0032331eca800a501cbd14b1861ef1d07bfa5728325084bbe295e7ffaecb"
GRID = TileGrid(ND_CRS, 224)


@pytest.fixture(scope="module")
def tiles():
    stats = np.asarray(scene_stats(str(NAIP_2009), GRID), dtype=np.float32)
    cells = [GRID.tile(2170, 23254), GRID.tile(2175, 23248), GRID.tile(2180, 23245)]  # water, crop, crop
    with open_on_grid(str(NAIP_2009), GRID) as src:
        pixels = np.stack([read_tile(src, cell, ModelSpec().input_size)[0] for cell in cells])
    return pixels, np.repeat(stats[None], len(cells), axis=0)


def test_spec_round_trips_and_rejects_unknown_values():
    spec = ModelSpec(weights_uri="x", weights_sha256=SHA256)
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(InputError, match="unknown model spec fields"):
        ModelSpec.from_dict({**spec.to_dict(), "dropout": 0.5})
    with pytest.raises(InputError, match="unknown backbone"):
        ModelSpec(backbone="vgg16")
    with pytest.raises(InputError, match="composite"):
        ModelSpec(composite="swir")


def test_featurizer_loads_the_imagenet_weights_and_embeds_tiles(tiles):
    pixels, stats = tiles
    featurizer = Featurizer(ModelSpec(weights_sha256=SHA256), str(WEIGHTS))
    assert featurizer.backbone.count_params() == 410_208
    features = featurizer.features(pixels, stats)
    assert features.shape == (3, 1280 + len(SPECTRAL_FEATURE_NAMES))
    assert np.isfinite(features).all()
    water_share = features[:, 1280]
    assert water_share[0] > 0.3 > water_share[1]  # the pond tile reads as water, the crop tile not
    assert np.array_equal(featurizer.features(pixels, stats), features)  # deterministic
    # Other batch sizes (a scene's tail, nodata tiles left out) run the same graph, to the same bits.
    assert np.array_equal(featurizer.features(pixels[1:], stats[1:]), features[1:])
    assert np.array_equal(featurizer.features(pixels[:1], stats[:1]), features[:1])
    assert featurizer.traced_graphs == 1


def test_a_weights_file_with_another_sha256_is_refused():
    with pytest.raises(IntegrityError, match="expects 0000"):
        Featurizer(ModelSpec(weights_sha256="0" * 64), str(WEIGHTS))


def test_wrong_tile_shapes_are_rejected(tiles):
    pixels, stats = tiles
    featurizer = Featurizer(ModelSpec(weights_sha256=SHA256), str(WEIGHTS))
    with pytest.raises(InputError, match=f"expects {ModelSpec().input_size}"):
        featurizer.features(pixels[:, :48, :48], stats)
    with pytest.raises(InputError, match="RGBN"):
        featurizer.features(pixels[..., :3], stats)
    with pytest.raises(InputError, match="scene stats"):
        featurizer.features(pixels, stats[:, :8])
    with pytest.raises(InputError, match="uint8"):
        featurizer.features(pixels.astype(np.float32), stats)


def test_augment_gives_the_8_dihedral_variants(tiles):
    pixels, _ = tiles
    variants = augment(pixels)
    assert len(variants) == 8
    assert np.array_equal(variants[0], pixels)
    assert len({v.tobytes() for v in variants}) == 8
    assert all(v.shape == pixels.shape for v in variants)


def test_spectral_water_share_adapts_to_the_scene_threshold(tiles):
    pixels, stats = tiles
    raised = stats.copy()
    raised[:, 8] += 0.5
    assert (spectral_features(pixels, raised)[:, 0] <= spectral_features(pixels, stats)[:, 0]).all()


def test_head_round_trips_through_bytes():
    rng = np.random.default_rng(0)
    head = Head(
        offset=rng.normal(size=5),
        projection=rng.normal(size=(5, 3)),
        mean=rng.normal(size=3),
        scale=np.ones(3),
        weights=rng.normal(size=(3, 2)),
        bias=np.zeros(2),
        class_codes=(11, 82),
    )
    restored = Head.from_bytes(head.to_bytes())
    features = rng.normal(size=(4, 5))
    assert np.allclose(restored.predict_proba(features), head.predict_proba(features), atol=1e-5)
    assert restored.class_codes == (11, 82)
    assert head.to_bytes() == restored.to_bytes()


def test_mixed_precision_and_xla_keep_the_features(tiles):
    import keras

    pixels, stats = tiles
    reference = Featurizer(ModelSpec(weights_sha256=SHA256), str(WEIGHTS)).features(pixels, stats)

    def cosines(features: np.ndarray) -> np.ndarray:
        return (features * reference).sum(axis=1) / np.linalg.norm(features, axis=1) / np.linalg.norm(reference, axis=1)

    half = Featurizer(ModelSpec(weights_sha256=SHA256), str(WEIGHTS), precision="mixed_float16").features(pixels, stats)
    assert half.dtype == np.float32 and cosines(half).min() > 0.999
    brain = Featurizer(ModelSpec(weights_sha256=SHA256), str(WEIGHTS), precision="mixed_bfloat16")
    assert cosines(brain.features(pixels, stats)).min() > 0.95  # 8-bit mantissa: coarser
    assert keras.config.dtype_policy().name == "float32"  # the policy is set only while building
    compiled = Featurizer(ModelSpec(weights_sha256=SHA256), str(WEIGHTS), xla=True).features(pixels, stats)
    assert np.allclose(compiled, reference, rtol=1e-3, atol=1e-4)
    with pytest.raises(InputError, match="unknown precision"):
        Featurizer(ModelSpec(weights_sha256=SHA256), str(WEIGHTS), precision="float8")
