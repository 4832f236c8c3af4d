"""Class legends: LandShift classes, the NLCD codes they gather, their names and colours."""

from __future__ import annotations

import colorsys
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np

from landshift.core.errors import InputError

NODATA_CODE = 0


@dataclass(frozen=True)
class LandClass:
    """One class: its published NLCD code, the NLCD source codes it gathers, name and colour."""

    code: int
    name: str
    color: str
    source_codes: tuple[int, ...]

    def __post_init__(self) -> None:
        if not 1 <= self.code <= 99:
            raise InputError(f"class code must be an NLCD code in 1..99, got {self.code}")
        if self.code not in self.source_codes:
            raise InputError(f"class {self.name}: code {self.code} must be one of its source codes")


@dataclass(frozen=True)
class Legend:
    """An ordered set of classes; the order is the model's output order."""

    name: str
    classes: tuple[LandClass, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        seen: dict[int, str] = {}
        for land_class in self.classes:
            for source in land_class.source_codes:
                if source in seen:
                    raise InputError(f"NLCD code {source} is claimed by both {seen[source]} and {land_class.name}")
                seen[source] = land_class.name

    @property
    def codes(self) -> list[int]:
        """Published codes in model output order."""
        return [c.code for c in self.classes]

    @property
    def names(self) -> list[str]:
        """Class names in model output order."""
        return [c.name for c in self.classes]

    def by_code(self, code: int) -> LandClass:
        """The class published as ``code``."""
        for land_class in self.classes:
            if land_class.code == code:
                return land_class
        raise InputError(f"code {code} is not a class of legend {self.name!r}")

    def index_of(self, code: int) -> int:
        """Model output index of the class published as ``code``."""
        return self.codes.index(self.by_code(code).code)

    def source_lookup(self) -> np.ndarray:
        """A 256-entry table mapping any NLCD source code to its class code (0 if unmapped)."""
        lookup = np.zeros(256, dtype=np.uint8)
        for land_class in self.classes:
            for source in land_class.source_codes:
                lookup[source] = land_class.code
        return lookup

    def map_codes(self, nlcd_codes: np.ndarray) -> np.ndarray:
        """Map an array of NLCD codes to class codes; unmapped codes become 0."""
        codes = np.asarray(nlcd_codes)
        if codes.size and (codes.min() < 0 or codes.max() > 255):
            raise InputError("NLCD codes must lie in 0..255")
        return self.source_lookup()[codes.astype(np.intp)]

    def subset(self, codes: Iterable[int]) -> Legend:
        """A legend holding only the classes published as ``codes`` (in this legend's order)."""
        wanted = set(codes)
        return Legend(self.name, tuple(c for c in self.classes if c.code in wanted))

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {"name": self.name, "classes": [asdict(c) for c in self.classes]}

    def to_json(self) -> str:
        """A JSON string of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, raw: dict) -> Legend:
        """Rebuild a legend from :meth:`to_dict` output."""
        try:
            classes = tuple(
                LandClass(
                    code=int(c["code"]),
                    name=str(c["name"]),
                    color=str(c["color"]),
                    source_codes=tuple(int(s) for s in c["source_codes"]),
                )
                for c in raw["classes"]
            )
            return cls(name=str(raw["name"]), classes=classes)
        except (KeyError, TypeError) as exc:
            raise InputError(f"malformed legend: {exc}") from exc

    def colormap(self) -> dict[int, tuple[int, int, int, int]]:
        """GDAL colour table entries for the class codes (nodata transparent)."""
        entries = {NODATA_CODE: (0, 0, 0, 0)}
        for land_class in self.classes:
            entries[land_class.code] = hex_to_rgba(land_class.color)
        return entries


# (saturation, value) of a transition by the position of its *from* class in the legend: spread
# far apart so two transitions into the same class (82->11, 71->11) tell apart at a glance.
TRANSITION_SHADES = ((1.0, 0.45), (0.55, 0.95), (0.9, 0.7), (0.35, 0.55), (0.75, 1.0), (1.0, 0.6), (0.6, 0.8))


def transition_rgba(legend: Legend, from_code: int, to_code: int) -> tuple[int, int, int, int]:
    """The colour of a from-to transition, fixed by its two classes alone.

    The hue is the *to* class's (what the ground became: gained water is blue); saturation and
    brightness come from the *from* class. No other transition, product or order of appearance
    changes it.
    """
    red, green, blue, _ = hex_to_rgba(legend.by_code(to_code).color)
    hue, _, _ = colorsys.rgb_to_hsv(red / 255.0, green / 255.0, blue / 255.0)
    saturation, value = TRANSITION_SHADES[legend.index_of(from_code) % len(TRANSITION_SHADES)]
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
    return round(r * 255), round(g * 255), round(b * 255), 255


def rgba_to_hex(rgba: tuple[int, ...]) -> str:
    """(r, g, b[, a]) to '#rrggbb'."""
    return "#{:02x}{:02x}{:02x}".format(*rgba[:3])


def hex_to_rgba(color: str) -> tuple[int, int, int, int]:
    """'#rrggbb' to an (r, g, b, 255) tuple."""
    value = color.lstrip("#")
    if len(value) != 6:
        raise InputError(f"colour must be #rrggbb, got {color!r}")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16), 255


# The 2017 recipe's six classes plus open water; colours from the NLCD legend.
DEFAULT_LEGEND = Legend(
    name="landshift-nlcd-7",
    classes=(
        LandClass(11, "Water", "#466b9f", (11,)),
        LandClass(21, "Developed", "#d99282", (21, 22, 23, 24)),
        LandClass(31, "Barren", "#b3ac9f", (31,)),
        LandClass(41, "Forest", "#68ab5f", (41, 42, 43, 90)),
        LandClass(52, "Shrub", "#ccb879", (51, 52)),
        LandClass(71, "Herbaceous", "#dfdfc2", (71, 72, 73, 74, 95)),
        LandClass(82, "Cultivated", "#ab6c28", (81, 82)),
    ),
)

# The 2017 recipe's regrouping for its three-class score.
RECIPE_GROUPS: dict[str, tuple[int, ...]] = {
    "Developed": (21,),
    "Cultivated": (82,),
    "Undeveloped": (11, 31, 41, 52, 71),
}
