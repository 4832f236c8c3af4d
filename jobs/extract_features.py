"""Spark job: frozen-backbone embeddings of planned tiles, for training and comparing heads.

Same arguments as score_tiles.py (it always emits features; add --augment for the 8
flips/rotations). The model version only supplies the backbone and its preprocessing spec.
The training run's ``extract_features`` stage (``landshift.training_run``) is this job in the DAG.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    # The sibling job's main, loaded from its file: no import-path edits.
    score_tiles = runpy.run_path(str(Path(__file__).with_name("score_tiles.py")), run_name="landshift_score_tiles")
    sys.exit(score_tiles["main"]([*sys.argv[1:], "--features"]))
