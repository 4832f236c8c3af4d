"""Moved to ``tests/support/harness.py`` (shared by the e2e and cluster suites); kept for old imports."""

from support.harness import *  # noqa: F403
