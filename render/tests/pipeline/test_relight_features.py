"""The relight engine draws a sleeping newborn's features crisply, where the scan puts them.

Measured on the rendered pixels of the synthetic face (anchors known exactly): a fine dark
lash line on the scan's own lid line, nostrils and the underside of the nose shaded, a lit nose
tip, a defined cupid's-bow edge to the upper lip, rosy lips and a soft shadow under the lower
lip. Every candidate draws them; none draws a lash line the scan does not show.
"""

import dataclasses

import cv2
import numpy as np
import pytest
from coloraide import Color

from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines import candidate_seeds, get_engine
from render.tests.pipeline.synthetic_cues import ANCHOR_FRACTIONS, synthetic_cues

CUES = synthetic_cues(256, occluded=True)
SIZE = 1024  # the synthetic crop is square, so every render is SIZE×SIZE
GAP = (ANCHOR_FRACTIONS["eye_right"][0] - ANCHOR_FRACTIONS["eye_left"][0]) * SIZE
NOSE_X, NOSE_Y = (f * SIZE for f in ANCHOR_FRACTIONS["nose_tip"])
MOUTH_X, MOUTH_Y = (f * SIZE for f in ANCHOR_FRACTIONS["mouth"])
EYE_X, EYE_Y = (int(f * 256) for f in ANCHOR_FRACTIONS["eye_left"])


def _render(cues=CUES, seeds=(7,), monk: int = 5) -> list[np.ndarray]:
    conditioning = build(cues, blend_tone([monk]), background_hex="#dfe8f0")
    return [c.image for c in get_engine("relight").render(conditioning, list(seeds))]


@pytest.fixture(scope="module")
def five():
    return _render(seeds=candidate_seeds(7))


def _luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)


def _mean(luma: np.ndarray, x: float, y: float, radius: int = 5) -> float:
    return float(
        luma[int(y) - radius : int(y) + radius + 1, int(x) - radius : int(x) + radius + 1].mean()
    )


def _with_lid_line(row_offset: int = 0) -> np.ndarray:
    """The scan with a dark lid line drawn across the left eye, ``row_offset`` px lower."""
    lined = CUES.image.copy()
    y = EYE_Y + row_offset
    cv2.line(lined, (EYE_X - 22, y), (EYE_X + 22, y), (40, 30, 20), 2)
    return lined


def _darkest_row(luma: np.ndarray, y: int) -> int:
    band = luma[y - 40 : y + 41, EYE_X * 4 - 40 : EYE_X * 4 + 40].mean(axis=1)
    return y - 40 + int(np.argmin(band))


def test_the_lash_line_is_a_fine_dark_line_well_below_the_lid_above_it():
    luma = _luma(_render(dataclasses.replace(CUES, image=_with_lid_line()))[0])
    line = _darkest_row(luma, EYE_Y * 4)
    columns = slice(EYE_X * 4 - 40, EYE_X * 4 + 40)
    lid = luma[line - int(0.06 * GAP) : line - int(0.03 * GAP), columns].mean()
    assert luma[line - 1 : line + 2, columns].mean() < lid - 75.0
    # Fine: a few pixels at 1024 px, not a smudge: 0.04 of the eye gap away it is lid again.
    assert luma[line - int(0.04 * GAP), columns].mean() > lid - 12.0


def test_the_lash_line_follows_the_scan_s_own_lid_line():
    # The anchors stay; only the scan's line moves 5 px (20 px rendered) down the lid.
    here = _darkest_row(
        _luma(_render(dataclasses.replace(CUES, image=_with_lid_line()))[0]), EYE_Y * 4
    )
    lower = _darkest_row(
        _luma(_render(dataclasses.replace(CUES, image=_with_lid_line(5)))[0]), EYE_Y * 4 + 20
    )
    assert abs((lower - here) - 20) <= 4


def test_nostrils_are_shaded_darker_than_the_nose_bridge_on_every_candidate(five):
    bridge_y = (NOSE_Y + ANCHOR_FRACTIONS["eye_left"][1] * SIZE) / 2.0
    for image in five:
        luma = _luma(image)
        bridge = _mean(luma, NOSE_X, bridge_y)
        for side in (-1.0, 1.0):
            nostril = _mean(luma, NOSE_X + side * 0.1 * GAP, NOSE_Y + 0.075 * GAP, radius=3)
            assert nostril < bridge - 35.0


def test_the_nose_tip_is_lit_above_its_shaded_underside_on_every_candidate(five):
    for image in five:
        luma = _luma(image)
        tip = _mean(luma, NOSE_X, NOSE_Y - 0.025 * GAP)
        underside = _mean(luma, NOSE_X, NOSE_Y + 0.09 * GAP, radius=3)
        assert tip > underside + 40.0


def _mouth_column(luma: np.ndarray, x: float) -> tuple[np.ndarray, int]:
    """Rows from a fifth of an eye gap above the mouth anchor down, and the parting line's
    row in it (the darkest)."""
    top = int(MOUTH_Y - 0.2 * GAP)
    column = luma[top : int(MOUTH_Y + 0.4 * GAP), int(x) - 3 : int(x) + 4].mean(axis=1)
    parting = int(np.argmin(column[: int(0.3 * GAP)]))
    return column, parting


def test_the_upper_lip_has_a_defined_cupid_s_bow_edge(five):
    for image in five:
        luma = _luma(image)
        for side in (-1.0, 1.0):  # the two peaks of the bow
            column, parting = _mouth_column(luma, MOUTH_X + side * 0.05 * GAP)
            above = column[max(parting - int(0.15 * GAP), 0) : parting - 3]
            # A border a viewer can see: a step of many levels within a pixel or two, not the
            # gentle ramp of a blurred lip.
            assert np.abs(np.diff(above)).max() > 8.0


def test_lips_are_rosier_than_the_skin_above_them(five):
    def hue(pixels: np.ndarray) -> float:
        mean = pixels.reshape(-1, 3).astype(np.float64).mean(axis=0) / 255.0
        return Color("srgb", list(mean)).convert("oklch").coords(nans=False)[2]

    for image in five:
        _, parting = _mouth_column(_luma(image), MOUTH_X)
        y = int(MOUTH_Y - 0.2 * GAP) + parting
        lower_lip = image[y + 6 : y + 16, int(MOUTH_X) - 15 : int(MOUTH_X) + 16]
        upper_skin = image[y - 60 : y - 45, int(MOUTH_X) + 30 : int(MOUTH_X) + 45]
        assert hue(lower_lip) < hue(upper_skin) - 20.0


def test_a_fine_dark_parting_line_runs_between_the_lips(five):
    for image in five:
        column, parting = _mouth_column(_luma(image), MOUTH_X)
        assert column[parting] < column[parting - 12] - 40.0
        assert column[parting] < column[parting + 12] - 40.0


def test_a_soft_shadow_sits_under_the_lower_lip(five):
    for image in five:
        column, parting = _mouth_column(_luma(image), MOUTH_X)
        lower_lip = column[parting + int(0.03 * GAP) : parting + int(0.08 * GAP)].max()
        shadow = column[parting + int(0.12 * GAP) : parting + int(0.22 * GAP)].min()
        chin = column[parting + int(0.3 * GAP) : parting + int(0.35 * GAP)].mean()
        assert shadow < lower_lip - 10.0
        assert shadow < chin - 10.0
