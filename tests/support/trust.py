"""A lake of real GeoTIFF copies for the trust suite (issue 26): the nd-pothole 2020 scene, the 2009
labels, a registered model version aliased ``production`` and a published 2020 product, plus
helpers to fingerprint everything published (the suites assert nothing published changed)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from conftest import LABELS_DIR, NAIP_2020, REPO_ROOT, SHARED_DATA
from landshift.core.legend import DEFAULT_LEGEND
from landshift.lake.base import LocalLake
from landshift.lake.publishing import publish_dir
from landshift.model.registry import EMBEDDING_WIDTH, register_version, set_alias
from landshift.model.spec import Head, ModelSpec
from landshift.regions.registry import get_region
from landshift.regions.requests import RunRequest

MODEL = "landshift-mobilenetv2"
SCENE = f"raw/imagery/nd-pothole/2020/{NAIP_2020.name}"
PRIOR = "raw/labels/nd-pothole/2009/labels_2009_5m.tif"
NAIP = SHARED_DATA / "naip-nd"


def checksums(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def register_model(lake: LocalLake) -> str:
    """Register a version whose files verify (backbone weights digest, head width); returns its id.

    The weights are bytes of the real backbone file; nothing here loads them into TensorFlow.
    """
    weights = lake.uri("models", "backbones", "w.h5")
    data = (SHARED_DATA / "backbones" / "mobilenet_v2_0.35_224_no_top.weights.h5").read_bytes()
    lake.write_bytes(weights, data)
    spec = ModelSpec(weights_uri=weights, weights_sha256=hashlib.sha256(data).hexdigest())
    width = EMBEDDING_WIDTH[spec.backbone] + spec.spectral_count
    rng = np.random.default_rng(7)
    head = Head(
        offset=np.zeros(width),
        projection=rng.normal(size=(width, 4)),
        mean=np.zeros(4),
        scale=np.ones(4),
        weights=rng.normal(size=(4, 3)),
        bias=np.zeros(3),
        class_codes=(11, 71, 82),
    )
    legend = DEFAULT_LEGEND.subset([11, 71, 82])
    version = register_version(lake, MODEL, spec, head, legend, {"accuracy": 0.9}, {"region": "nd-pothole"})
    set_alias(lake, MODEL, "production", version.version)
    return version.version


def build_lake(tmp_path: Path, monkeypatch) -> LocalLake:
    """The trust suite's lake (see the module docstring), with the registry and lake settings set."""
    lake = LocalLake(str(tmp_path / "lake"))
    root = Path(lake.root)
    for source, target in ((NAIP_2020, SCENE), (LABELS_DIR / "labels_2009_5m.tif", PRIOR)):
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, root / target)
    register_model(lake)
    product = tmp_path / "product"
    product.mkdir()
    shutil.copyfile(LABELS_DIR / "labels_2009_tiles.tif", product / "landuse.tif")
    (product / "summary.json").write_text(json.dumps({"region": "nd-pothole", "vintage": "2020"}))
    publish_dir(lake, str(product), lake.uri("published", "nd-pothole", "2020"))
    regions = tmp_path / "regions"
    regions.mkdir()
    shutil.copyfile(REPO_ROOT / "include" / "regions" / "nd-pothole.json", regions / "nd-pothole.json")
    monkeypatch.setenv("LANDSHIFT_REGIONS_DIR", str(regions))
    monkeypatch.setenv("LANDSHIFT_LAKE_ROOT", lake.root)
    monkeypatch.delenv("LANDSHIFT_ALLOWED_LAKE_ROOTS", raising=False)
    return lake


def request_2020(lake: LocalLake, **region_changes) -> RunRequest:
    """A run request of nd-pothole 2020 on ``lake`` (region fields replaced by ``region_changes``)."""
    from dataclasses import replace

    return RunRequest(lake.root, replace(get_region("nd-pothole"), **region_changes), "2020")


def write_scene(path: Path, transform: Affine, crs: str, width: int = 64, height: int = 64, sparse=False) -> Path:
    """A real 4-band uint8 GeoTIFF: a crop of the 2020 NAIP pixels (or, ``sparse``, a header with
    no pixel blocks written, as large as claimed and a few KB on disk) with the given geometry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 4,
        "dtype": "uint8",
        "crs": crs,
        "transform": transform,
        "nodata": 0,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    if sparse:
        with rasterio.open(path, "w", **profile, SPARSE_OK="TRUE"):
            pass
        return path
    with rasterio.open(NAIP_2020) as src:
        pixels = src.read(window=((200, 200 + height), (200, 200 + width)))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(pixels)
    return path
