"""Publish a local folder into a lake, in its own process (driven by tests/test_faults.py).

Usage: ``python tests/support/publish_worker.py <lake-root> <local-folder> <dest-uri>``; the fault tests
set ``LANDSHIFT_PUBLISH_PAUSE_AT`` to stop it at a named step and kill it there.
"""

from __future__ import annotations

import sys

from landshift.lake.factory import open_lake
from landshift.lake.publishing import publish_dir


def main(root: str, source: str, dest: str) -> None:
    publish_dir(open_lake(root), source, dest)


if __name__ == "__main__":
    main(*sys.argv[1:4])
