"""The compose deployment on this machine, without Docker: Postgres, Airflow's four components, a
Spark standalone master and two workers, each started from its own service in docker-compose.yaml.

Every process runs in its own session (process group); :meth:`Deployment.stop` stops them all.
"""

from __future__ import annotations

import base64
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from support.harness import ManagedProcess, free_port, session_members, wait_for

from cluster import compose

REPO_ROOT = compose.REPO_ROOT
VENV_BIN = Path(sys.executable).parent
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
SPARK_WORKERS = 2
REGION_DAG = "landshift_region_nd-pothole"
# Test-only timing knobs (production keeps Airflow's defaults): notice a killed scheduler's tasks
# within a minute instead of five.
TEST_TIMINGS = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "30",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "20",
}


def pg_bin() -> Path:
    """The Postgres binaries shipped by the ``pgserver`` wheel."""
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def base_environment() -> dict[str, str]:
    """What every service process inherits: no AIRFLOW_, LANDSHIFT_ or AZURE_ settings of this shell."""
    keep = ("HOME", "LANG", "LC_ALL", "TMPDIR", "JAVA_HOME", "USER")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    env.update(
        {
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
        }
    )
    return env


def fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@dataclass
class Deployment:
    """Ports, paths and processes of one local deployment under ``root``."""

    root: Path
    lake_settings: dict[str, str]
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.home = self.root / "airflow-home"
        self.logs = self.root / "logs"
        for folder in (self.home / "logs", self.root / "local-lake"):  # the compose volumes
            folder.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.ports = {name: free_port() for name in ("postgres", "api", "master", "master_ui")}
        self.worker_ui_ports = [free_port() for _ in range(SPARK_WORKERS)]
        self.env_file = self.root / ".env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.dotenv().items()))
        self.compose = compose.load(compose.read_env_file(self.env_file))
        self.mapping = compose.LocalMapping(
            hosts={
                "postgres:5432": f"127.0.0.1:{self.ports['postgres']}",
                "airflow-apiserver:8080": f"127.0.0.1:{self.ports['api']}",
                "spark-master:7077": f"127.0.0.1:{self.ports['master']}",
            },
            paths={
                "/opt/landshift": str(REPO_ROOT),
                "/opt/airflow": str(self.home),
                "/usr/local/bin/python": sys.executable,
                "/lake": str(self.root / "local-lake"),
            },
        )
        self.pg_dir: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    def dotenv(self) -> dict[str, str]:
        """The generated test .env: .env.example with fresh secrets, the lake and small Spark sizes."""
        values = compose.read_env_file(compose.ENV_EXAMPLE)
        values.update(
            {
                "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
                "AIRFLOW_FERNET_KEY": fernet_key(),
                "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW_API_SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW_API_WORKERS": "1",
                "AIRFLOW_PARALLELISM": "4",
                "LANDSHIFT_SPARK_POOL_SLOTS": "2",
                "SPARK_WORKER_CORES": "1",
                "SPARK_WORKER_MEMORY": "1536m",
                "SPARK_EXECUTOR_CORES": "1",
                "SPARK_EXECUTOR_MEMORY": "1g",
                **self.lake_settings,
            }
        )
        return values

    # -- processes ----------------------------------------------------------------------------------
    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> ManagedProcess:
        process = ManagedProcess(argv, env, self.logs / f"{name}.log", cwd=cwd or self.root)
        self.processes[name] = process
        return process

    def stop(self) -> list[int]:
        """Stop every process this deployment started; return the pids that survived."""
        survivors: list[int] = []
        for name in reversed(list(self.processes)):
            survivors += self.processes[name].stop()
        self.processes.clear()
        if self.pg_dir is not None:
            shutil.rmtree(self.pg_dir, ignore_errors=True)
        return survivors

    def alive_pids(self) -> list[int]:
        return sorted(pid for p in self.processes.values() for pid in session_members(p.sid))

    # -- Postgres -----------------------------------------------------------------------------------
    def start_postgres(self) -> None:
        """A real Postgres 16 server (from the pgserver wheel) on loopback, user and db ``airflow``."""
        env = compose.read_env_file(self.env_file)
        user = None
        self.pg_dir = Path(tempfile.mkdtemp(prefix="landshift-pg-"))  # outside pytest's 0700 tmp
        data, pwfile = self.pg_dir / "data", self.pg_dir / "pw"
        pwfile.write_text(env["POSTGRES_PASSWORD"])
        if os.geteuid() == 0:  # postgres refuses to run as root: pgserver's own system user
            user = "pgserver"
            try:
                pwd.getpwnam(user)
            except KeyError:
                subprocess.run(["useradd", "--system", user], check=True)
            os.chmod(self.pg_dir, 0o755)
            shutil.chown(self.pg_dir, user)
            shutil.chown(pwfile, user)
        subprocess.run(
            [str(pg_bin() / "initdb"), "-D", str(data), "-U", "airflow", f"--pwfile={pwfile}", "--auth=scram-sha-256"],
            check=True,
            capture_output=True,
            user=user,
            timeout=120,
        )
        port = self.ports["postgres"]
        argv = [str(pg_bin() / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(self.pg_dir)]
        log_path = self.logs / "postgres.log"
        if user:
            self.processes["postgres"] = _UserProcess(argv, user, log_path, self.pg_dir)
        else:
            self.processes["postgres"] = ManagedProcess(argv, base_environment(), log_path, cwd=self.pg_dir)
        wait_for(lambda: _listening(port), 60, 0.5, "postgres")
        pg_env = {**base_environment(), "PGPASSWORD": env["POSTGRES_PASSWORD"]}
        wait_for(
            lambda: (
                subprocess.run(
                    [str(pg_bin() / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow"],
                    capture_output=True,
                    env=pg_env,
                ).returncode
                == 0
            ),
            60,
            0.5,
            "postgres ready",
        )
        subprocess.run(
            [str(pg_bin() / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "airflow"],
            check=True,
            env=pg_env,
            capture_output=True,
        )

    # -- Airflow ------------------------------------------------------------------------------------
    def airflow_environment(self, service: compose.LocalService) -> dict[str, str]:
        env = {**base_environment(), **service.environment, **TEST_TIMINGS}
        env["AIRFLOW__API__HOST"] = "127.0.0.1"  # the listen address: loopback instead of 0.0.0.0
        env["AIRFLOW__API__PORT"] = str(self.ports["api"])
        return env

    def run_init(self) -> subprocess.CompletedProcess:
        """The airflow-init service's command: migrate, pool, connections."""
        service = compose.service(self.compose, "airflow-init", self.mapping)
        return subprocess.run(
            service.argv,
            env=self.airflow_environment(service),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def start_airflow(self, name: str) -> ManagedProcess:
        service = compose.service(self.compose, name, self.mapping)
        return self.start(name, service.argv, self.airflow_environment(service), cwd=self.home)

    def healthcheck(self, name: str) -> subprocess.CompletedProcess:
        service = compose.service(self.compose, name, self.mapping)
        argv = [
            part.replace("localhost:8080", f"127.0.0.1:{self.ports['api']}")
            for part in compose.healthcheck(self.compose, name, self.mapping)
        ]
        return subprocess.run(argv, env=self.airflow_environment(service), capture_output=True, text=True, timeout=180)

    # -- Spark --------------------------------------------------------------------------------------
    def spark_argv(self, name: str, ports: dict[str, int]) -> compose.LocalService:
        service = compose.service(self.compose, name, self.mapping)
        argv = []
        for previous, part in zip(["", *service.argv[:-1]], service.argv, strict=True):
            if previous in ("--port", "--webui-port") and part in ports:
                part = str(ports[part])
            argv.append("127.0.0.1" if part == "spark-master" else part)
        return compose.LocalService(name, argv, service.environment)

    def start_spark(self) -> None:
        master = self.spark_argv("spark-master", {"7077": self.ports["master"], "8080": self.ports["master_ui"]})
        self.start("spark-master", master.argv, base_environment())
        wait_for(lambda: _listening(self.ports["master"]), 120, 1, "spark master")
        for index in range(SPARK_WORKERS):
            self.start_worker(index)

    def start_worker(self, index: int) -> ManagedProcess:
        worker = self.spark_argv("spark-worker", {"8081": self.worker_ui_ports[index]})
        env = {**base_environment(), **worker.environment}
        env["SPARK_WORKER_DIR"] = str(self.root / f"spark-work-{index}")
        return self.start(f"spark-worker-{index}", worker.argv, env)

    def spark_workers_alive(self) -> int:
        import requests

        state = requests.get(f"http://127.0.0.1:{self.ports['master_ui']}/json/", timeout=10).json()
        return sum(1 for worker in state.get("workers", []) if worker.get("state") == "ALIVE")


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class _UserProcess(ManagedProcess):
    """ManagedProcess started as another system user (postgres will not run as root)."""

    def __init__(self, command: list[str], user: str, log_path: Path, cwd: Path):
        self.command = command
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            env=base_environment(),
            cwd=cwd,
            user=user,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.sid = self.process.pid
