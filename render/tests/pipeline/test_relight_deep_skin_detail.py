"""Deep skin's fine detail: its lights are raised so a ridge reads in steps of lightness as on
fair skin, its shadows are not. Raised, every shallow dip the scan leaves (ripple, speckle
pits, the socket round an eye) turned to grime and bruises on a Monk 10 face."""

from __future__ import annotations

import numpy as np

from render.pipeline.conditioning import blend_tone
from render.pipeline.engines.relight.colour import skin_look
from render.pipeline.engines.relight.light import raise_detail_lights


def _skin_with_a_dip_and_a_ridge() -> np.ndarray:
    """Even light 0.6 with a narrow dip 20% darker and a narrow ridge 20% brighter."""
    luminance = np.full((200, 400), 0.6, np.float32)
    luminance[:, 100:103] *= 0.8
    luminance[:, 300:303] *= 1.2
    return luminance


def _ratio(image: np.ndarray, column: int) -> float:
    return float(image[100, column + 1]) / float(image[100, column - 40])


def test_deep_skin_raises_the_lights_of_the_fine_detail_and_keeps_its_shadows() -> None:
    look = skin_look(blend_tone([10]).hex)
    assert look.detail_lights > 3.0
    luminance = _skin_with_a_dip_and_a_ridge()
    before_dip, before_ridge = _ratio(luminance, 100), _ratio(luminance, 300)
    raise_detail_lights(luminance, look.detail_lights)
    assert _ratio(luminance, 300) > before_ridge**2  # the ridge reads brighter still
    # The dip is no deeper (the blur round it lifts it a shade): a power of 3 would have
    # made it 0.8**3 = 0.51 of the skin beside it.
    assert _ratio(luminance, 100) >= before_dip - 0.01
    assert _ratio(luminance, 100) < 0.9  # and still there


def test_fair_skin_keeps_its_detail_as_it_is() -> None:
    assert skin_look(blend_tone([1]).hex).detail_lights == 1.0
    assert skin_look(blend_tone([3]).hex).detail_lights < 1.001  # the reference tone
