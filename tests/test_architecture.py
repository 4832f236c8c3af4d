"""The house rules, checked on the source tree: layer contracts, no import cycle, one stage order."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from conftest import REPO_ROOT

LIBRARY = REPO_ROOT / "include" / "landshift"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
SUBPACKAGES = (
    "core",
    "lake",
    "imagery",
    "labels",
    "model",
    "scoring",
    "change",
    "products",
    "regions",
    "review",
    "run",
)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (module -> modules it imports), or None."""
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


def _library_graph() -> dict[str, set[str]]:
    """Every import between library modules, those inside functions included (grimp reads them all)."""
    sys.path.insert(0, str(REPO_ROOT / "include"))
    try:
        graph = grimp.build_graph("landshift", cache_dir=None)
    finally:
        sys.path.remove(str(REPO_ROOT / "include"))
    modules = {m for m in graph.modules if m.startswith("landshift")}
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i in modules} for m in modules}
    # a package's __init__ is its own module: parents are not implicitly imported by their children here
    return edges


def test_no_import_cycle_counting_imports_inside_functions():
    graph = _library_graph()
    assert len(graph) > 40
    assert "landshift.scoring.spark" in graph["landshift.run.pipeline"]  # imported only inside a function
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_layout_is_the_layers_of_the_contract():
    folders = {p.name for p in LIBRARY.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == {*SUBPACKAGES, "cli"}
    assert not [p.name for p in LIBRARY.glob("*.py") if p.name != "__init__.py"], "no flat modules at the top"
    contract = (REPO_ROOT / "pyproject.toml").read_text()
    assert re.search(r'layers = \[\s*"cli",\s*"run",\s*"review",\s*"regions",', contract)


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(root / "include")},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_lint_imports_keeps_every_contract():
    result = _lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("core/grid.py", "from landshift.lake.base import Lake", "Layers"),  # a lower layer imports a higher one
        ("imagery/scenes.py", "    from landshift.run.pipeline import Stage", "Layers"),  # even inside a function
        ("products/stac.py", "import airflow", "imports no Airflow"),
        ("core/legend.py", "import rasterio", "core is pure Python"),
    ],
)
def test_a_broken_contract_fails_the_check(tmp_path: Path, module: str, line: str, contract: str):
    shutil.copytree(LIBRARY, tmp_path / "include" / "landshift", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "include" / "landshift" / module
    source = target.read_text()
    if line.startswith("    "):
        source += f"\n\ndef _broken() -> None:\n{line}\n"
    else:
        source = source.replace(
            "from __future__ import annotations\n", f"from __future__ import annotations\n{line}\n", 1
        )
    target.write_text(source)
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    broken = [ln for ln in result.stdout.splitlines() if ln.strip().endswith("BROKEN")]
    assert any(contract in ln for ln in broken), result.stdout[-2000:]


def test_the_library_imports_no_airflow_and_jobs_edit_no_sys_path():
    for path in LIBRARY.rglob("*.py"):
        assert not re.search(r"^\s*(from|import) airflow", path.read_text(), re.M), path
    for path in (REPO_ROOT / "jobs").glob("*.py"):
        assert "sys.path" not in path.read_text(), path


def test_the_stage_order_is_written_in_one_place():
    """Only run/region_run.py lists the stages; DAGs, tests, bench and the ADLS pipeline run it."""
    names = ("validate_inputs", "plan_tiles", "score_tiles", "detect_change", "publish")
    order = re.compile(".{0,200}".join(f"[\"']{name}[\"']" for name in names), re.S)
    sources = [
        p
        for folder in ("include", "plugins", "dags", "tests", "bench", "jobs")
        for p in (REPO_ROOT / folder).rglob("*.py")
        if p.name != "test_architecture.py"
    ]
    listing = [p for p in sources if order.search(p.read_text())]
    assert [p.relative_to(REPO_ROOT).as_posix() for p in listing] == ["include/landshift/run/region_run.py"]


def test_tests_mirror_the_package():
    for sub in SUBPACKAGES:
        if sub == "review":
            continue
        assert list((REPO_ROOT / "tests" / sub).glob("test_*.py")), f"tests/{sub}/ has no tests"
