"""Seed a lake with the shared nd-pothole data (imagery, labels, backbone weights).

Usage: python -m landshift.run.demo SHARED_DATA_DIR LAKE_ROOT
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from pathlib import Path

from landshift.core.errors import NotFoundError
from landshift.lake.base import Lake
from landshift.lake.factory import open_lake

log = logging.getLogger(__name__)

REGION_ID = "nd-pothole"
NAIP_NAME = re.compile(r"^m_\d+_[ns][ew]_\d+_\d+_(\d{4})(\d{4})\.tif$")
LABEL_NAME = re.compile(r"^labels_(\d{4})_(5m|tiles)\.tif$")
BACKBONE_FILE = "mobilenet_v2_0.35_224_no_top.weights.h5"
BACKBONE_SHA256 = "04af0032331eca800a501cbd14b1861ef1d07bfa5728325084bbe295e7ffaecb"


def seed_plan(shared_data: Path) -> list[tuple[Path, str]]:
    """(source file, lake-relative path) pairs that make up the demo lake."""
    if not (shared_data / "naip-nd").is_dir():
        raise NotFoundError(f"shared data not found at {shared_data} (expected naip-nd/, labels-nd/, backbones/)")
    plan: list[tuple[Path, str]] = []
    for scene in sorted((shared_data / "naip-nd").glob("*.tif")):
        match = NAIP_NAME.match(scene.name)
        if match:
            plan.append((scene, f"raw/imagery/{REGION_ID}/{match.group(1)}/{scene.name}"))
    for labels in sorted((shared_data / "labels-nd").glob("labels_*.tif")):
        match = LABEL_NAME.match(labels.name)
        if match:
            plan.append((labels, f"raw/labels/{REGION_ID}/{match.group(1)}/{labels.name}"))
    plan.append((shared_data / "backbones" / BACKBONE_FILE, f"models/backbones/{BACKBONE_FILE}"))
    return plan


def seed_lake(shared_data: Path, lake: Lake) -> int:
    """Copy the demo inputs into ``lake`` where missing or different; returns files written."""
    written = 0
    for source, relative in seed_plan(shared_data):
        uri = lake.uri(*relative.split("/"))
        data = source.read_bytes()
        if lake.exists(uri) and hashlib.sha256(lake.read_bytes(uri)).digest() == hashlib.sha256(data).digest():
            continue
        lake.write_bytes(uri, data)
        written += 1
    log.info(
        "Seeded %s: %d file(s) written, %d already there", lake.root, written, len(seed_plan(shared_data)) - written
    )
    return written


def main(argv: list[str]) -> int:
    """Command-line entry point."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    seed_lake(Path(argv[0]), open_lake(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
