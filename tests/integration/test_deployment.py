"""The production files: docker-compose.yaml against the compose spec, .env.example, Dockerfile, README."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cluster.compose import COMPOSE_FILE, ENV_EXAMPLE, ComposeError, load, read_env_file, variables_used

REPO_ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
SECRETS = ("POSTGRES_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY")


def filled_env() -> dict[str, str]:
    return {**read_env_file(ENV_EXAMPLE), **{name: f"test-{name.lower()}" for name in SECRETS}}


def test_the_compose_file_validates_against_the_compose_spec():
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_env_example_lists_every_variable_and_holds_no_secret():
    example = read_env_file(ENV_EXAMPLE)
    assert variables_used(COMPOSE_FILE.read_text()) <= set(example)
    assert all(example[name] == "" for name in (*SECRETS, "ADLS_ACCOUNT_KEY", "ADLS_SAS_TOKEN", "AZURE_CLIENT_SECRET"))
    with pytest.raises(ComposeError, match="AIRFLOW_FERNET_KEY"):
        load(example)  # compose refuses to start without the secrets


def test_every_airflow_component_shares_the_secrets_and_the_execution_api():
    compose = load(filled_env())
    services = compose["services"]
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "test-airflow_jwt_secret"
        assert env["AIRFLOW__CORE__FERNET_KEY"] == "test-airflow_fernet_key"
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert "postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert "airflow-logs:/opt/airflow/logs" in services[name]["volumes"]
        assert services[name]["image"] == "landshift:latest" and "build" not in services[name]
    long_running = [n for n, s in services.items() if n != "airflow-init"]
    assert [n for n in long_running if "healthcheck" not in services[n]] == []
    built = [n for n, s in services.items() if "build" in s]
    assert built == ["airflow-init", "spark-worker-gpu"]
    assert services["spark-worker-gpu"]["profiles"] == ["gpu"]
    assert "spark-worker" in services


def test_the_dockerfile_sets_up_the_image_as_the_makefile_does():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "openjdk-17" in dockerfile
    assert "sed -n 's/^pyspark==//p' requirements.txt" in dockerfile and "s/^pyspark==//p" in makefile
    assert "--force-reinstall --no-deps" in dockerfile
    dev_pins = (REPO_ROOT / "requirements-dev.txt").read_text().split()
    for driver in ("psycopg2-binary", "asyncpg"):  # the Postgres drivers the cluster test runs with
        assert next(pin for pin in dev_pins if pin.startswith(f"{driver}==")) in dockerfile
    assert "PYTHONPATH=/opt/landshift/plugins:/opt/landshift/include" in dockerfile
    assert re.search(r"^FROM base AS gpu$", dockerfile, re.M) and "requirements-gpu.txt" in dockerfile


def test_the_deployment_docs_document_every_service_profile_and_variable():
    readme = (REPO_ROOT / "docs" / "deployment.md").read_text()  # moved out of the README
    section = readme[readme.index("## Deployment") :]
    section = section[: section.find("\n## ", 4)] if "\n## " in section[4:] else section
    compose = load(filled_env())
    missing = [name for name in compose["services"] if f"`{name}`" not in section]
    missing += [name for name in read_env_file(ENV_EXAMPLE) if f"`{name}`" not in section]
    assert missing == []
    assert "--profile gpu" in section


def test_lake_credentials_travel_to_executors_inside_the_pickled_closure():
    from pyspark import cloudpickle

    from landshift.lake.adls import carry_credentials
    from landshift.scoring.batch import ScoringConfig

    root = "abfss://fs@acct.dfs.core.windows.net/lake"
    driver_env = {"AZURE_STORAGE_ACCOUNT_NAME": "acct", "AZURE_STORAGE_ACCOUNT_KEY": "s3cret-key"}
    carried = carry_credentials(root, driver_env)
    assert carried == root and repr(carried) == repr(root) and f"{carried}" == root
    assert carry_credentials("/local/lake", driver_env) == "/local/lake"
    assert type(carry_credentials(root, {})) is str  # nothing to carry: the plain root
    config = ScoringConfig(carried, "m", "1", "EPSG:26914", 224.0)
    # An executor's Python worker: a fresh process with no lake settings unpickles the closure.
    executor = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, pickle, sys; config = pickle.loads(sys.stdin.buffer.read()); "
            "print(type(config.lake_root).__name__, config.lake_root, os.environ['AZURE_STORAGE_ACCOUNT_KEY'])",
        ],
        input=cloudpickle.dumps(config),
        capture_output=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("AZURE_")},
        timeout=120,
    )
    assert executor.returncode == 0, executor.stderr.decode()[-2000:]
    assert executor.stdout.decode().split() == ["str", root, "s3cret-key"]
