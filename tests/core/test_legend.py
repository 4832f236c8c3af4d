"""Legend mapping of NLCD codes to LandShift classes."""

import numpy as np
import pytest

from landshift.core.errors import InputError
from landshift.core.legend import DEFAULT_LEGEND, LandClass, Legend


def test_default_legend_is_the_recipes_six_classes_plus_water():
    assert DEFAULT_LEGEND.names == ["Water", "Developed", "Barren", "Forest", "Shrub", "Herbaceous", "Cultivated"]
    mapped = DEFAULT_LEGEND.map_codes(np.array([11, 21, 24, 31, 41, 43, 90, 51, 52, 71, 74, 95, 81, 82, 0, 12, 250]))
    assert mapped.tolist() == [11, 21, 21, 31, 41, 41, 41, 52, 52, 71, 71, 71, 82, 82, 0, 0, 0]


def test_legend_round_trips_through_json_and_gives_a_palette():
    restored = Legend.from_dict(DEFAULT_LEGEND.to_dict())
    assert restored == DEFAULT_LEGEND
    palette = DEFAULT_LEGEND.colormap()
    assert palette[0] == (0, 0, 0, 0)
    assert palette[11] == (0x46, 0x6B, 0x9F, 255)
    assert DEFAULT_LEGEND.subset([82, 11]).codes == [11, 82]


def test_a_code_claimed_twice_is_an_error():
    with pytest.raises(InputError, match="claimed by both"):
        Legend("bad", (LandClass(11, "A", "#000000", (11, 12)), LandClass(12, "B", "#ffffff", (12,))))


def test_unknown_class_and_bad_codes_are_errors():
    with pytest.raises(InputError):
        DEFAULT_LEGEND.by_code(99)
    with pytest.raises(InputError):
        DEFAULT_LEGEND.map_codes(np.array([300]))
    with pytest.raises(InputError):
        Legend.from_dict({"name": "x"})


def test_a_transition_colour_depends_on_its_two_classes_only():
    import colorsys

    from landshift.core.legend import hex_to_rgba, transition_rgba

    gained_water = {source: transition_rgba(DEFAULT_LEGEND, source, 11) for source in (71, 82, 21)}
    assert len(set(gained_water.values())) == 3  # three sources, three colours
    water_hue = colorsys.rgb_to_hsv(*(v / 255 for v in hex_to_rgba("#466b9f")[:3]))[0]
    for rgba in gained_water.values():  # all of them in water's hue
        assert colorsys.rgb_to_hsv(*(v / 255 for v in rgba[:3]))[0] == pytest.approx(water_hue, abs=0.01)
    assert transition_rgba(DEFAULT_LEGEND, 82, 11) != transition_rgba(DEFAULT_LEGEND, 11, 82)
