"""Run the installed `landshift` console script as a script would (stdout not a terminal)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LANDSHIFT = str(Path(sys.executable).with_name("landshift"))


def landshift(*args: str, lake: Path | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed console script, as a script would (stdout not a terminal)."""
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(Path.home())}
    if lake is not None:
        env["LANDSHIFT_LAKE_ROOT"] = str(lake)
    return subprocess.run([LANDSHIFT, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
