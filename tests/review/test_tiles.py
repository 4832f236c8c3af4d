"""What the review page shows of a tile: chips from the real imagery, classes, water share."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from landshift.core.errors import InputError
from landshift.review.queue import review_queue
from landshift.review.tiles import chip_png, tile_details

from .conftest import REGION, VINTAGE

pytestmark = pytest.mark.data


def test_chips_before_and_after_are_pngs_of_the_tile_with_context(lake):
    tile = review_queue(lake, REGION, VINTAGE)[0].tile_id
    for side in ("before", "after"):
        png = chip_png(lake, REGION, VINTAGE, tile, side)
        image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        assert image.shape[0] == image.shape[1] >= 60  # 2 tiles of 224 m at 5 m: ~90 px
        assert image.std() > 5
        assert (image == [255, 230, 0]).all(axis=-1).sum() > 100  # the tile's yellow outline
    assert chip_png(lake, REGION, VINTAGE, tile, "before") != chip_png(lake, REGION, VINTAGE, tile, "after")


def test_water_share_follows_the_change_from_crop_to_water(lake):
    gained = [i for i in review_queue(lake, REGION, VINTAGE) if i.reason == "change" and i.predicted == 11]
    assert gained, "the 2014 labels gain water over the 2009 ones"
    shares = [tile_details(lake, REGION, VINTAGE, i.tile_id)["water_share"] for i in gained[:5]]
    assert np.mean([s["after"] for s in shares]) > np.mean([s["before"] for s in shares]) + 0.2


def test_details_carry_prior_prediction_and_confidence(lake):
    item = review_queue(lake, REGION, VINTAGE)[0]
    details = tile_details(lake, REGION, VINTAGE, item.tile_id, with_water=False)
    assert (details["prior"], details["predicted"], details["confidence"]) == (
        item.prior,
        item.predicted,
        item.confidence,
    )
    with pytest.raises(InputError, match="unknown tile"):
        tile_details(lake, REGION, VINTAGE, "E1_N1")
    with pytest.raises(InputError, match="side"):
        chip_png(lake, REGION, VINTAGE, item.tile_id, "../x")
