"""Spark job: score every planned tile of a region-vintage with a registered model version.

Usage: spark-submit jobs/score_tiles.py --lake-root ROOT --tiles TILES_URI --out OUT_URI \
    --model-name NAME --model-version VERSION --crs EPSG:n --tile-size-m 224 [--batch-size 64]
    [--precision float32|mixed_float16|mixed_bfloat16] [--xla]
(``landshift.scoring.spark.score_parser`` lists every argument.)
"""

import sys

from landshift.scoring.spark import main

if __name__ == "__main__":
    sys.exit(main("score_tiles", sys.argv[1:]))
