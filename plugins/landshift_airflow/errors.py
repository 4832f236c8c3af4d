"""Bad input fails a task at once, with its message; only unexpected errors are retried."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def fail_fast_on_bad_input(function: Callable[P, R]) -> Callable[P, R]:
    """Turn LandShift's input errors into AirflowFailException, which Airflow does not retry."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from airflow.sdk.exceptions import AirflowFailException

        from landshift.errors import LandShiftError

        try:
            return function(*args, **kwargs)
        except LandShiftError as exc:
            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc

    return wrapper
