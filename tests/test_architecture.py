"""Import rules and single sources of truth, checked on the source tree (no data needed)."""

from __future__ import annotations

import ast
import re

from conftest import REPO_ROOT

PACKAGES = {
    "landshift": REPO_ROOT / "include" / "landshift",
    "landshift_airflow": REPO_ROOT / "plugins" / "landshift_airflow",
}


def _module_imports() -> dict[str, set[str]]:
    """Module -> first-party modules it imports at module level (lazy imports inside functions excluded)."""
    graph: dict[str, set[str]] = {}
    for package, folder in PACKAGES.items():
        for path in folder.glob("*.py"):
            name = f"{package}.{path.stem}" if path.stem != "__init__" else package
            tree = ast.parse(path.read_text())
            imported: set[str] = set()
            for node in tree.body:  # top level only: imports inside functions cannot form load-time cycles
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
                    imported.add(node.module)
                elif isinstance(node, ast.Import):
                    imported |= {a.name for a in node.names if a.name.split(".")[0] in PACKAGES}
            graph[name] = imported
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_first_party_imports_form_no_cycle():
    graph = _module_imports()
    assert len(graph) > 20
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_library_imports_no_airflow_and_jobs_edit_no_sys_path():
    for path in (REPO_ROOT / "include" / "landshift").glob("*.py"):
        assert not re.search(r"^\s*(from|import) airflow", path.read_text(), re.M), path
    for path in (REPO_ROOT / "jobs").glob("*.py"):
        assert "sys.path" not in path.read_text(), path


def test_the_stage_order_is_written_in_one_place():
    """Only landshift/pipeline.py lists the stages; DAGs, tests, bench and the ADLS pipeline run it."""
    names = ("validate_inputs", "plan_tiles", "score_tiles", "detect_change", "publish")
    order = re.compile(".{0,200}".join(f"[\"']{name}[\"']" for name in names), re.S)
    sources = [
        p
        for folder in ("include", "plugins", "dags", "tests", "bench", "jobs")
        for p in (REPO_ROOT / folder).rglob("*.py")
        if p.name != "test_architecture.py"
    ]
    listing = [p for p in sources if order.search(p.read_text())]
    assert [p.relative_to(REPO_ROOT).as_posix() for p in listing] == ["include/landshift/pipeline.py"]


def test_plugins_stay_an_adapter():
    lines = sum(len(p.read_text().splitlines()) for p in PACKAGES["landshift_airflow"].glob("*.py"))
    assert lines < 350, f"plugins/ has {lines} lines of Python"
