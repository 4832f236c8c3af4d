"""Start and stop the ADLS test servers: the dfs test double and Azurite (blob), loopback only.

Each server runs in its own process group (``start_new_session``) and is stopped by signalling
that group, so nothing outlives the test session. Used by ``tests/test_adls_lake.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.adls_double.dfs_server import ACCOUNT, DEV_ACCOUNT_KEY

REPO_ROOT = Path(__file__).resolve().parents[3]
AZURITE_PREFIX = Path(os.environ.get("LANDSHIFT_AZURITE_PREFIX", REPO_ROOT / ".cache" / "azurite"))
AZURITE_BIN = AZURITE_PREFIX / "node_modules" / ".bin" / "azurite-blob"
INSTALL_SCRIPT = Path(__file__).with_name("install_azurite.sh")
LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 30


@dataclass(frozen=True)
class Server:
    """A running loopback server: its endpoint for ``ACCOUNT`` and its process."""

    endpoint: str
    port: int
    process: subprocess.Popen


def stop(process: subprocess.Popen) -> None:
    """Terminate the process group of ``process`` (SIGTERM, then SIGKILL after 5 s)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    except ProcessLookupError:
        pass


def _wait_for_port(process: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        try:
            socket.create_connection((LOOPBACK, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    stop(process)
    raise RuntimeError(f"server not listening on {LOOPBACK}:{port} after {START_TIMEOUT_S} s")


@contextmanager
def dfs_double(account_key: str = DEV_ACCOUNT_KEY, page_size: int = 1000) -> Iterator[Server]:
    """The dfs test double in a child process on a free loopback port (``page_size`` paths per list)."""
    command = [sys.executable, "-m", "support.adls_double.dfs_server", "--port", "0", "--account-key", account_key]
    with tempfile.NamedTemporaryFile(prefix="dfs-double-", suffix=".log") as log_file:  # tracebacks, if any
        process = subprocess.Popen(
            [*command, "--page-size", str(page_size)],
            cwd=REPO_ROOT / "tests",
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "tests")},
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            start_new_session=True,
        )
        try:
            line = process.stdout.readline()  # "READY <port>" is all the double prints; "" if it died
            if not line.startswith("READY "):
                process.wait(timeout=5)
                raise RuntimeError(f"dfs double failed to start: {Path(log_file.name).read_text()[-2000:]}")
            port = int(line.split()[1])
            yield Server(f"http://{LOOPBACK}:{port}/{ACCOUNT}", port, process)
        finally:
            stop(process)
            process.stdout.close()


def have_node() -> bool:
    """Whether Node.js is on PATH (Azurite needs it)."""
    return shutil.which("node") is not None


def ensure_azurite() -> Path:
    """The azurite-blob launcher, installed from the npm registry by the install script if missing."""
    if not AZURITE_BIN.exists():
        subprocess.run(["bash", str(INSTALL_SCRIPT), str(AZURITE_PREFIX)], check=True, timeout=300)
    return AZURITE_BIN


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


@contextmanager
def azurite() -> Iterator[Server]:
    """Azurite's blob service, in memory, on a free loopback port (retries if the port was taken)."""
    launcher = ensure_azurite()
    with tempfile.TemporaryDirectory(prefix="azurite-") as workdir:
        log_path = Path(workdir, "azurite.log")
        for attempt in range(3):
            port = _free_port()
            with log_path.open("w") as log_file:
                process = subprocess.Popen(
                    [
                        str(launcher),
                        "--blobHost",
                        LOOPBACK,
                        "--blobPort",
                        str(port),
                        "--inMemoryPersistence",
                        "--disableTelemetry",
                        "--skipApiVersionCheck",
                        "--silent",
                    ],
                    cwd=workdir,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                _wait_for_port(process, port, log_path)
                break
            except RuntimeError:
                stop(process)
                if attempt == 2:
                    raise
        try:
            yield Server(f"http://{LOOPBACK}:{port}/{ACCOUNT}", port, process)
        finally:
            stop(process)
