"""Spark job: frozen-backbone embeddings of planned tiles, for training and comparing heads.

Same arguments as score_tiles.py (it always emits features; add --augment for the 8
flips/rotations). The model version only supplies the backbone and its preprocessing spec.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from score_tiles import main

if __name__ == "__main__":
    sys.exit(main([*sys.argv[1:], "--features"]))
