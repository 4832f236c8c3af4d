"""What every `landshift` command shares: the lake option, --json, one-line errors and exit codes.

Exit codes: 0 ok, 2 bad input (the library's one-line error, no traceback), 1 any other failure.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from landshift.core.errors import InputError, LandShiftError, NotFoundError

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
LAKE_ENV = "LANDSHIFT_LAKE_ROOT"
DEFAULT_LAKE = "lake"  # the embedded default that `make demo` seeds
T = TypeVar("T")

LakeOption = Annotated[
    str,
    typer.Option(
        "--lake",
        envvar=LAKE_ENV,
        help="Lake root: a folder or an abfss:// URI (default: ./lake when it exists).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


def fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    """Print one line on stderr and exit with ``code``."""
    typer.echo(f"landshift: error: {message}", err=True)
    raise typer.Exit(code)


def call(function: Callable[[], T]) -> T:
    """Call the library: its errors become one line and exit 2 (bad input) or 1 (other failures)."""
    try:
        return function()
    except (InputError, NotFoundError) as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except LandShiftError as exc:
        fail(f"{type(exc).__name__}: {exc}", EXIT_FAILURE)
    raise AssertionError("unreachable")


def lake_root(lake: str) -> str:
    """The lake root given, else the embedded default ``./lake`` when it exists (``make demo``'s), else exit 2."""
    if lake:
        return lake
    if Path(DEFAULT_LAKE).is_dir():
        return str(Path(DEFAULT_LAKE).resolve())
    fail(f"no lake: pass --lake or set {LAKE_ENV} (or run from a folder holding ./{DEFAULT_LAKE})")
    raise AssertionError("unreachable")


def emit(value: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    """Print ``value`` as JSON or as text."""
    typer.echo(json.dumps(value, indent=2, default=str) if as_json else text(value))


@contextmanager
def progress(description: str) -> Iterator[None]:
    """A spinner on a terminal; nothing when stdout is not a TTY (scripts, CI)."""
    if not sys.stdout.isatty():
        yield
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True) as bar:
        bar.add_task(description, total=None)
        yield
