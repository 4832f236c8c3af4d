"""The e2e harness: a wait fails at once, naming the component, when an Airflow component exits
(standalone neither restarts it nor exits itself)."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.harness import (
    AirflowStandalone,
    ComponentDied,
    ManagedProcess,
    command_line,
    runs_airflow_command,
    session_members,
    wait_for,
    watching,
)

# A leader that starts `airflow scheduler` and `airflow triggerer` stand-ins in its session, as
# standalone starts its components, and lives on whatever they do.
LEADER = """
import subprocess, sys, time
for command in ("scheduler", "triggerer"):
    subprocess.Popen([sys.executable, sys.argv[1], command])
time.sleep(120)
"""
# The stand-in `airflow`: the triggerer forks a child with its own command line, as Airflow's does.
FAKE_AIRFLOW = """
import os, sys, time
if sys.argv[1] == "triggerer":
    os.fork()
time.sleep(120)
"""


def test_runs_airflow_command_reads_script_and_retitled_command_lines():
    assert runs_airflow_command(["/venv/bin/python3", "/venv/bin/airflow", "scheduler"], "scheduler")
    assert runs_airflow_command(["airflow scheduler -- DagFileProcessorManager"], "scheduler")
    assert runs_airflow_command(["airflow api_server -- host:127.0.0.1 port:8080", "", ""], "api-server")
    assert runs_airflow_command(["[ready] airflow api-server worker"], "api-server")
    assert not runs_airflow_command(["/venv/bin/python3", "/venv/bin/airflow", "dag-processor"], "scheduler")
    assert not runs_airflow_command(["/venv/bin/python3", "/venv/bin/scheduler", "airflow"], "scheduler")
    assert not runs_airflow_command([], "scheduler")


@pytest.fixture
def stand_ins(tmp_path: Path) -> Iterator[AirflowStandalone]:
    """A stand-in standalone whose scheduler and triggerer (with its forked child) run; every
    process of it stopped after the test."""
    fake_airflow = tmp_path / "airflow"
    fake_airflow.write_text(FAKE_AIRFLOW)
    standalone = AirflowStandalone(tmp_path / "home", tmp_path / "lake", port=1)
    standalone.COMPONENTS = ("scheduler", "triggerer")
    standalone.process = ManagedProcess(
        [sys.executable, "-c", LEADER, str(fake_airflow)], dict(os.environ), tmp_path / "standalone.log"
    )
    try:
        wait_for(lambda: len(session_members(standalone.process.sid)) == 4, 30, 0.1, "the stand-ins")
        standalone.assert_running()
        yield standalone
    finally:
        assert standalone.stop() == []


@pytest.mark.parametrize("component", ["scheduler", "triggerer"])
def test_a_wait_fails_at_once_when_a_component_exits(stand_ins: AirflowStandalone, component: str):
    twins = [
        pid for pid in session_members(stand_ins.process.sid) if runs_airflow_command(command_line(pid), component)
    ]
    [pid] = stand_ins.components()[component]
    os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    with watching(stand_ins), pytest.raises(ComponentDied, match=rf"^airflow {component} exited; the end of "):
        wait_for(lambda: False, 60, 0.2, f"something the {component} would do")
    assert time.monotonic() - started < 30  # not the wait's 60 s
    # the triggerer's forked child lives on with the same command line, and does not count
    alive = [pid for pid in twins if pid in session_members(stand_ins.process.sid)]
    assert len(alive) == (1 if component == "triggerer" else 0)
    wait_for(lambda: True, 1, what="a wait once the block is left")  # the watchdog is gone with it
