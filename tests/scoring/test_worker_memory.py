"""A scoring process keeps freed memory for reuse: the next read's resampling buffers and the
model's activations come from its heap instead of faulting in every page again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

INCLUDE = Path(__file__).resolve().parents[2] / "include"

# Allocates, touches and frees a 64 MB buffer (a 0.6 m row read's resampling buffer is 35-90 MB)
# and counts the pages it faulted in, before and after keep_freed_memory(). numpy's own advice
# for huge pages is off, as GDAL and TensorFlow give none.
SCRIPT = textwrap.dedent(
    """
    import json, resource
    import numpy as np
    from numpy._core.multiarray import _set_madvise_hugepage
    from landshift.scoring.batch import keep_freed_memory

    def faults_of_a_fresh_buffer() -> int:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        np.ones(64 * 2**20 // 8).sum()
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    _set_madvise_hugepage(False)
    faults_of_a_fresh_buffer()
    default = faults_of_a_fresh_buffer()
    kept = keep_freed_memory()
    faults_of_a_fresh_buffer()  # the heap grows once
    print(json.dumps({"kept": kept, "default": default, "tuned": faults_of_a_fresh_buffer()}))
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc: Linux only")
def test_a_scoring_process_reuses_freed_buffers_instead_of_faulting_their_pages_in_again():
    env = {**os.environ, "PYTHONPATH": str(INCLUDE)}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["kept"] is True
    assert figures["default"] >= 8000  # glibc maps a 64 MB block afresh each time: 16,384 pages of 4 kB
    assert figures["tuned"] < 100, figures
