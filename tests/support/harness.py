"""Pieces of the e2e harness: a real `airflow standalone`, its REST API v2, and headless Chromium (Selenium).

Every process is started in a new session (its own process group); stopping kills each process
group of that session, so nothing the harness started outlives it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from selenium import webdriver
from selenium.common.exceptions import (
    JavascriptException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.chrome.options import Options as ChromeOptions
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SHARED_DATA = Path(os.environ.get("LANDSHIFT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
TERMINAL_RUN_STATES = {"success", "failed"}


TIMINGS: dict[str, float] = {}  # step -> seconds, printed at the end of the session
# Checks every ``wait_for`` poll runs first: one raises ComponentDied when something the wait
# depends on is gone (an Airflow component exited), so the wait fails at once, not at its timeout.
WATCHDOGS: list[Callable[[], None]] = []


class ComponentDied(RuntimeError):
    """A process a test waits on exited: waiting longer cannot help."""


class Timer:
    """Record the wall time of a block in TIMINGS."""

    def __init__(self, step: str):
        self.step = step

    def __enter__(self) -> Timer:
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        TIMINGS[self.step] = time.monotonic() - self.start


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wait_for(predicate, timeout_s: float, interval_s: float = 2.0, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        for watchdog in list(WATCHDOGS):
            watchdog()
        try:
            value = predicate()
            if value:
                return value
        except (requests.RequestException, OSError, ValueError, KeyError) as exc:
            last_error = exc
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}; last error: {last_error!r}")


# --- processes --------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces and parentheses: the fields after the last ')' are fixed.
    return raw[raw.rindex(")") + 2 :].split()


def session_members(sid: int) -> list[int]:
    """Pids of live (non-zombie) processes in session ``sid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields and fields[0] != "Z" and int(fields[3]) == sid:
            members.append(int(entry.name))
    return members


def leader_children(sid: int) -> list[int]:
    """Pids of live processes that session ``sid``'s leader started itself (not their children)."""
    return [pid for pid in session_members(sid) if (fields := _stat_fields(pid)) and int(fields[1]) == sid]


def command_line(pid: int) -> list[str]:
    """The argv of process ``pid`` (empty when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def runs_airflow_command(argv: list[str], command: str) -> bool:
    """Whether ``argv`` runs ``airflow COMMAND``: as a script argument, or retitled by setproctitle
    (the API server calls itself ``airflow api_server -- host:... port:...``)."""
    names = {command, command.replace("-", "_")}
    if argv and any(f"airflow {name}" in argv[0] for name in names):
        return True
    scripts = [i for i, arg in enumerate(argv) if Path(arg).name == "airflow"]
    return any(argv[i + 1 : i + 2] in ([name] for name in names) for i in scripts)


def processes_with_env(key: str, value: str) -> list[int]:
    """Pids of live processes whose environment holds ``key=value`` (readable ones only)."""
    needle = f"{key}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry.name}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = _stat_fields(int(entry.name))
        if needle in environ and fields and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def process_groups_of_session(sid: int) -> set[int]:
    """Process group ids used by the live members of session ``sid``."""
    groups = set()
    for pid in session_members(sid):
        fields = _stat_fields(pid)
        if fields:
            groups.add(int(fields[2]))
    return groups


def stop_session(sid: int, grace_s: float = 30.0) -> list[int]:
    """SIGTERM every process group of the session, then SIGKILL what is left; return survivors."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        groups = process_groups_of_session(sid)
        if not groups:
            return []
        for group in sorted(groups, key=lambda g: g != sid):  # the leader's group first
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and session_members(sid):
            time.sleep(0.5)
    return session_members(sid)


class ManagedProcess:
    """A command started in its own session, with its output in a log file."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path, cwd: Path | None = None):
        self.command = command
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.sid = self.process.pid

    def alive(self) -> bool:
        """True while the leader has not exited."""
        return self.process.poll() is None

    def log_tail(self, chars: int = 6000) -> str:
        """The end of the process's output."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> list[int]:
        """Stop every process of the session; return pids that survived SIGKILL (should be none)."""
        survivors = stop_session(self.sid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._log.close()
        return survivors


# --- airflow standalone -----------------------------------------------------------------------


def airflow_env(home: Path, lake: Path, port: int, regions: Path | None = None) -> dict[str, str]:
    """The Makefile's embedded-Airflow environment, isolated in ``home`` and serving on ``port``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LANDSHIFT_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": base64.b64encode(os.urandom(24)).decode(),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_SPARK_DEFAULT": '{"conn_type": "spark", "host": "local[2]"}',
            "LANDSHIFT_LAKE_ROOT": str(lake),
            "LANDSHIFT_SHARED_DATA": str(SHARED_DATA),
            **({"LANDSHIFT_REGIONS_DIR": str(regions)} if regions else {}),
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "PYTHONPATH": f"{REPO_ROOT / 'plugins'}:{REPO_ROOT / 'include'}",
            "PYTHONUNBUFFERED": "1",
            "SPARK_LOCAL_IP": "127.0.0.1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "NO_COLOR": "1",
        }
    )
    return env


class AirflowStandalone:
    """`airflow standalone` (scheduler, DAG processor, triggerer, API server) in its own session.

    Standalone neither restarts a component that exits nor exits itself (a scheduler crashed on
    SQLite once, and every later wait ran to its timeout): ``assert_running`` notices.
    """

    COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")

    def __init__(self, home: Path, lake: Path, port: int | None = None, regions: Path | None = None):
        self.home = home
        self.lake = lake
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = airflow_env(home, lake, self.port, regions)
        self.process: ManagedProcess | None = None

    def start(self) -> None:
        """Start it; returns at once (see ``wait_healthy``)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            [str(VENV_BIN / "airflow"), "standalone"], self.env, self.home / "standalone.log", cwd=self.home
        )

    def health(self) -> dict:
        """GET /api/v2/monitor/health (no auth needed)."""
        return requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=10).json()

    def wait_healthy(self, timeout_s: float = 300) -> dict:
        """Wait until the metadatabase, scheduler, triggerer and DAG processor report healthy."""

        def healthy():
            if self.process and not self.process.alive():
                raise RuntimeError(f"airflow standalone exited:\n{self.process.log_tail()}")
            report = self.health()
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            return report if all((report.get(p) or {}).get("status") == "healthy" for p in parts) else None

        return wait_for(healthy, timeout_s, what=f"airflow standalone health at {self.base_url}")

    def components(self) -> dict[str, list[int]]:
        """The pids running each of ``COMPONENTS`` among standalone's own children: a child a
        component forked with the same command line (the triggerer does) is not one."""
        children = {pid: command_line(pid) for pid in leader_children(self.process.sid)} if self.process else {}
        return {c: [pid for pid, argv in children.items() if runs_airflow_command(argv, c)] for c in self.COMPONENTS}

    def assert_running(self) -> None:
        """ComponentDied, with the end of the log, when standalone or one of its components exited."""
        if self.process is None:
            return
        gone = [component for component, pids in self.components().items() if not pids]
        if not self.process.alive() or gone:
            what = ", ".join(f"airflow {c}" for c in gone) or "airflow standalone"
            raise ComponentDied(f"{what} exited; the end of {self.process.log_path}:\n{self.process.log_tail()}")

    def admin_password(self) -> str:
        """The generated password of ``admin`` (SimpleAuthManager writes it into AIRFLOW_HOME)."""
        path = self.home / "simple_auth_manager_passwords.json.generated"
        return wait_for(lambda: json.loads(path.read_text()).get("admin"), 120, 1, f"admin password in {path}")

    def stop(self) -> list[int]:
        """Stop every process it started; return survivors (should be none)."""
        return self.process.stop() if self.process else []

    def own_processes(self) -> list[int]:
        """Live processes still running with this AIRFLOW_HOME, or in its session."""
        pids = set(processes_with_env("AIRFLOW_HOME", str(self.home)))
        if self.process:
            pids.update(session_members(self.process.sid))
        return sorted(pids)


# Airflow's API answers 503 "Database is locked" (backfill creation, on SQLite only) while the
# scheduler holds SQLite's write lock; it asks the caller to retry, as a user would click again.
SQLITE_LOCK_RETRIES = 20
SQLITE_LOCK_WAIT_S = 3.0


class AirflowApi:
    """A small client of the REST API v2 with a JWT from the SimpleAuthManager token endpoint."""

    def __init__(self, base_url: str, username: str, password: str):
        self.base_url = base_url
        self.username = username
        self.password = password
        self.session = requests.Session()
        self.login()

    def login(self) -> None:
        """POST /auth/token and use the JWT as a bearer token."""
        response = requests.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=30,
        )
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def request(self, method: str, path: str, expect: tuple[int, ...] = (200,), **kwargs) -> Any:
        """Call /api/v2/<path>; assert the status; return the JSON body (or text)."""
        url = f"{self.base_url}/api/v2/{path.lstrip('/')}"
        for _ in range(SQLITE_LOCK_RETRIES):
            response = self.session.request(method, url, timeout=60, **kwargs)
            if response.status_code == 401:
                self.login()
                response = self.session.request(method, url, timeout=60, **kwargs)
            if not (response.status_code == 503 and "Database is locked" in response.text):
                break
            time.sleep(SQLITE_LOCK_WAIT_S)  # SQLite: the scheduler holds the write lock; Airflow says retry
        assert response.status_code in expect, f"{method} {url}: {response.status_code} {response.text[:2000]}"
        if "json" in response.headers.get("content-type", ""):
            return response.json()
        return response.text

    def get(self, path: str, **kwargs) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: dict, expect: tuple[int, ...] = (200, 201)) -> Any:
        return self.request("POST", path, expect=expect, json=body)

    def patch(self, path: str, body: dict) -> Any:
        return self.request("PATCH", path, json=body)

    def dag_ids(self, pattern: str = "landshift") -> set[str]:
        """Ids of the parsed DAGs whose id contains ``pattern``."""
        return {d["dag_id"] for d in self.get("dags", params={"dag_id_pattern": pattern, "limit": 100})["dags"]}

    def import_errors(self) -> list[dict]:
        return self.get("importErrors")["import_errors"]

    def ensure_pool(self, name: str, slots: int, description: str) -> dict:
        """Create the pool, or set its slots when it exists."""
        existing = self.request("GET", f"pools/{name}", expect=(200, 404))
        if isinstance(existing, dict) and existing.get("name") == name:
            return self.patch(f"pools/{name}", {"name": name, "slots": slots, "description": description})
        return self.post("pools", {"name": name, "slots": slots, "description": description})

    def unpause(self, dag_id: str) -> None:
        self.patch(f"dags/{dag_id}", {"is_paused": False})

    def pause(self, dag_id: str) -> None:
        self.patch(f"dags/{dag_id}", {"is_paused": True})

    def trigger(self, dag_id: str, conf: dict, run_id: str | None = None) -> str:
        """Trigger a manual run now; return its run id."""
        body: dict[str, Any] = {"logical_date": None, "conf": conf}
        if run_id:
            body["dag_run_id"] = run_id
        return self.post(f"dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.get(f"dags/{dag_id}/dagRuns/{run_id}")

    def wait_run(self, dag_id: str, run_id: str, timeout_s: float = 900) -> dict:
        """Wait until the run succeeds or fails; return it."""
        return wait_for(
            lambda: (lambda r: r if r["state"] in TERMINAL_RUN_STATES else None)(self.run(dag_id, run_id)),
            timeout_s,
            3,
            f"run {dag_id} {run_id}",
        )

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict]:
        """Task instances of a run, by task id."""
        listed = self.get(f"dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        return {ti["task_id"]: ti for ti in listed["task_instances"]}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        """The full log of one try of a task (``map_index`` for a mapped one), as text."""
        body = self.request(
            "GET",
            f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true", "map_index": map_index},
            headers={"Accept": "application/json"},
        )
        if isinstance(body, str):
            return body
        content = body.get("content")
        if isinstance(content, list):
            lines = []
            for item in content:
                if isinstance(item, dict):
                    lines.append(" ".join(str(item.get(k, "")) for k in ("event", "error_detail") if item.get(k)))
                else:
                    lines.append(str(item))
            return "\n".join(lines)
        return str(content)

    def runs(self, dag_id: str) -> list[dict]:
        return self.get(f"dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "run_after"})["dag_runs"]


# --- headless chromium through Selenium and chromedriver ---------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1440,1200",
]
CHROMEDRIVER_CANDIDATES = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
# What a poll may meet while the page re-renders or navigates: try again until the wait's deadline.
TRANSIENT_PAGE_ERRORS = (NoSuchElementException, StaleElementReferenceException, JavascriptException)


def chromium_binary() -> str | None:
    """Path of the Debian chromium, if installed."""
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(candidate).is_file():
            return candidate
    return None


def chromedriver_binary() -> str | None:
    """Path of the Debian chromedriver (package chromium-driver), if installed."""
    return next((c for c in CHROMEDRIVER_CANDIDATES if Path(c).is_file()), None)


class Browser:
    """A headless Chromium driven by Selenium through the Debian chromedriver.

    chromedriver starts in its own session (process group), and Chromium under it, so
    :meth:`close` can stop every process the browser started. Every wait is a WebDriverWait
    that polls through the errors a page meets while it navigates or re-renders, and
    ``driver.get`` returns only once the new document has loaded.
    """

    def __init__(self, binary: str, driver_binary: str, profile_dir: Path, log_path: Path, timeout_s: float = 60):
        profile_dir.mkdir(parents=True, exist_ok=True)
        options = ChromeOptions()
        options.binary_location = binary
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}"):
            options.add_argument(flag)
        options.page_load_strategy = "normal"
        service = ChromeService(
            executable_path=driver_binary,
            log_output=str(log_path),
            env={**os.environ, "HOME": str(profile_dir)},
            popen_kw={"start_new_session": True},
        )
        self.service = service
        self.timeout_s = timeout_s
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(120)
        self.sid = service.process.pid

    def wait(self, condition, what: str, timeout_s: float | None = None, poll_s: float = 0.3):
        """Poll ``condition(driver)`` until truthy (transient page errors retried); TimeoutException naming ``what``."""
        waiter = WebDriverWait(
            self.driver, timeout_s or self.timeout_s, poll_frequency=poll_s, ignored_exceptions=TRANSIENT_PAGE_ERRORS
        )
        return waiter.until(condition, message=f"waiting for {what} at {self.driver.current_url}")

    def navigate(self, url: str) -> None:
        """Load ``url``; returns once its document is complete."""
        self.driver.get(url)
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete", f"load of {url}")

    def url(self) -> str:
        return self.driver.current_url

    def text(self) -> str:
        """The page's visible text."""
        return self.driver.find_element(By.TAG_NAME, "body").text

    def wait_text(self, needle: str, timeout_s: float | None = None) -> None:
        """Wait until the page's visible text contains ``needle``."""
        self.wait(lambda d: needle in self.text(), f"page text {needle!r}", timeout_s)

    def element(self, css: str, timeout_s: float | None = None) -> WebElement:
        """The first element matching ``css``, once it is present and visible."""
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, css)), f"element {css!r}", timeout_s)

    def click(self, css: str, timeout_s: float | None = None) -> None:
        """Click the element matching ``css`` once it is visible and enabled (re-found if the page re-renders)."""

        def clicked(driver) -> bool:
            found = EC.element_to_be_clickable((By.CSS_SELECTOR, css))(driver)
            if not found:
                return False
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", found)
            found.click()
            return True

        self.wait(clicked, f"{css!r} to be clickable", timeout_s)

    def type_into(self, css: str, text: str) -> None:
        """Select what the input matching ``css`` holds and type ``text`` over it, like a keyboard would."""

        def typed(driver) -> bool:
            field = driver.find_element(By.CSS_SELECTOR, css)
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
            field.click()
            field.send_keys(Keys.CONTROL, "a")
            field.send_keys(text)
            return True

        self.wait(typed, f"typing into {css!r}")
        self.wait(lambda d: d.find_element(By.CSS_SELECTOR, css).get_attribute("value") == text, f"{css!r} == {text!r}")

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the whole page (beyond the viewport when it scrolls)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> list[int]:
        """Quit the browser and stop every process of chromedriver's session; return survivors."""
        with contextlib.suppress(Exception):
            self.driver.quit()
        return stop_session(self.sid)


# What every suite that starts servers shares: signals, timings, a seeded lake, the marker of its folder.


def interrupt_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so fixture teardown still stops the servers a suite started."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def mark_folder(items: list, conftest_file: str, marker: Any) -> None:
    """Add ``marker`` to every collected test under the folder of ``conftest_file``."""
    here = Path(conftest_file).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(marker)


def report_timings(terminalreporter, title: str) -> None:
    """Print how long each timed step took, under ``title``."""
    if TIMINGS:
        terminalreporter.section(title)
        for step, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{step:55s} {seconds:8.1f}")


def seed_demo_lake(lake_root: Path) -> Path:
    """A lake seeded from the shared data (imagery 2009-2020, labels, backbone) by the product's own seeding."""
    with Timer("seed lake"):
        subprocess.run(
            [str(Path(sys.executable).with_name("landshift")), "seed-demo", str(SHARED_DATA), "--lake", str(lake_root)],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return lake_root


@contextlib.contextmanager
def watching(standalone: AirflowStandalone):
    """Every ``wait_for`` in the block fails at once if ``standalone`` or a component of it exits."""
    WATCHDOGS.append(standalone.assert_running)
    try:
        yield standalone
    finally:
        WATCHDOGS.remove(standalone.assert_running)


@contextlib.contextmanager
def running(standalone: AirflowStandalone, label: str):
    """``standalone`` started and healthy for the block; stopped after, with no process left."""
    import atexit

    atexit.register(standalone.stop)  # belt and braces if the session dies before teardown
    with Timer(f"{label}: airflow standalone start -> healthy"):
        standalone.start()
        try:
            standalone.wait_healthy(timeout_s=300)
        except BaseException:
            standalone.stop()
            raise
    with watching(standalone):
        yield standalone
    survivors = standalone.stop()
    left = standalone.own_processes()
    assert not survivors and not left, f"processes of this Airflow still running: {survivors or left}"
