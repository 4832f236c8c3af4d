"""docker-compose.yaml read as compose reads it, and turned into commands for this machine.

The cluster test starts each service's own ``command`` with its own ``environment``, after
compose's variable interpolation from an ``.env`` file. Only what cannot be the same outside
containers is mapped: service host names become 127.0.0.1, container ports become free loopback
ports, and container paths (``/opt/landshift``, ``/opt/airflow``, ...) become local ones.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, $NAME; $$ is a literal $.
VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class ComposeError(ValueError):
    """The compose file cannot be interpolated (a required variable is unset)."""


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of an ``.env`` file (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ComposeError(f"{path}: not KEY=value: {line!r}")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def variables_used(text: str) -> set[str]:
    """Names of the variables the compose text interpolates."""
    return {m["braced"] or m["bare"] for m in VARIABLE.finditer(text) if m["braced"] or m["bare"]}


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's interpolation of every string in ``value`` (recursively)."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"] or "", match["arg"] or ""
        present = name in env
        current = env.get(name, "")
        if op == ":-":
            return current if current else arg
        if op == "-":
            return current if present else arg
        if op in (":?", "?") and (not present or (op == ":?" and not current)):
            raise ComposeError(f"required variable {name} is not set: {arg}")
        return current

    return VARIABLE.sub(substitute, value)


def load(env: Mapping[str, str]) -> dict[str, Any]:
    """The compose file, YAML anchors and merges resolved, variables interpolated from ``env``."""
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text()), env)


@dataclass
class LocalMapping:
    """How the containers' names, ports and paths map onto this machine."""

    hosts: dict[str, str] = field(default_factory=dict)  # "postgres:5432" -> "127.0.0.1:54012"
    paths: dict[str, str] = field(default_factory=dict)  # "/opt/landshift" -> "/work/repo"

    def apply(self, text: str) -> str:
        """``text`` with every mapped host:port and container path replaced."""
        for container, local in sorted(self.hosts.items(), key=lambda item: -len(item[0])):
            text = text.replace(container, local)
        for container, local in sorted(self.paths.items(), key=lambda item: -len(item[0])):
            text = re.sub(rf"(?<![\w/]){re.escape(container)}(?=$|[/:\s\"',])", local, text)
        return text


@dataclass(frozen=True)
class LocalService:
    """One compose service as a local command: argv and environment."""

    name: str
    argv: list[str]
    environment: dict[str, str]


def service(compose: Mapping[str, Any], name: str, mapping: LocalMapping) -> LocalService:
    """The service ``name`` with its command and environment mapped onto this machine."""
    spec = compose["services"][name]
    command = spec.get("command")
    if command is None:
        raise ComposeError(f"service {name} has no command")
    argv = shlex.split(command) if isinstance(command, str) else [str(part) for part in command]
    environment = {key: "" if value is None else str(value) for key, value in (spec.get("environment") or {}).items()}
    return LocalService(
        name,
        [mapping.apply(part) for part in argv],
        {key: mapping.apply(value) for key, value in environment.items()},
    )


def healthcheck(compose: Mapping[str, Any], name: str, mapping: LocalMapping) -> list[str]:
    """The service's healthcheck ``test`` as a local argv (``CMD`` form only)."""
    test = compose["services"][name]["healthcheck"]["test"]
    if not isinstance(test, list) or test[0] != "CMD":
        raise ComposeError(f"service {name}: healthcheck must use the CMD form, got {test!r}")
    return [mapping.apply(str(part)) for part in test[1:]]
