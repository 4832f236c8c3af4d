"""Leave-one-vintage-out evaluation (``make evaluate``): a door onto :mod:`landshift.run.evaluation`.

Usage: python bench/evaluate.py [--out bench/evaluation.json] [--lake DIR] [--only lever,lever]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LANDSHIFT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
LAKE = REPO_ROOT / "bench" / "out" / "evaluation-lake"


def main(argv: list[str]) -> int:
    """Run the evaluation, write the metrics JSON and print the summary."""
    from landshift.run.evaluation import evaluate, summary_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO_ROOT / "bench" / "evaluation.json"))
    parser.add_argument("--lake", default=str(LAKE))
    parser.add_argument("--only", default="", help="comma-separated levers to re-measure into an existing --out")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    only = tuple(name for name in args.only.split(",") if name)
    print(summary_text(evaluate(args.out, args.lake, str(SHARED_DATA), only)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
