"""The change rule: when a difference from the prior label is reported as a change (light: no pandas).

The rule travels with every run request and fills the trigger form, so DAG files import it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from landshift.core.errors import InputError


@dataclass(frozen=True)
class ChangeRule:
    """When a class difference is reported as change: a confident model and a clear prior.

    The defaults here are the only place the thresholds are written down.
    """

    min_probability: float = 0.9  # precision 0.87 at recall 0.67 on 2009 -> 2014 (make evaluate)
    min_prior_agreement: float = 0.6

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise InputError(f"{name} must lie in [0, 1], got {value!r}")


def change_param_schemas() -> dict[str, dict[str, Any]]:
    """JSON-schema of the trigger form's model and change-rule fields, defaults from :class:`ChangeRule`."""
    rule, share = ChangeRule(), {"type": "number", "minimum": 0, "maximum": 1}
    return {
        "model_ref": {
            "default": "",
            "type": ["null", "string"],
            "title": "Model version or alias",
            "description": "Empty: the region's alias (e.g. production).",
        },
        "min_probability": {
            "default": rule.min_probability,
            **share,
            "title": "Change: min model probability",
            "description": "A differing tile is reported as change only if the model is this sure.",
        },
        "min_prior_agreement": {
            "default": rule.min_prior_agreement,
            **share,
            "title": "Change: min prior label agreement",
            "description": "...and its prior label covers at least this share of the tile.",
        },
    }
