"""Spark job: frozen-backbone embeddings of planned tiles, for training and comparing heads.

Same arguments as score_tiles.py (it always emits features; add --augment for the 8
flips/rotations). The model version only supplies the backbone and its preprocessing spec.
"""

import sys

from landshift.scoring.spark import main

if __name__ == "__main__":
    sys.exit(main("extract_features", sys.argv[1:]))
