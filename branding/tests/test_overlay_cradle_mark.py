"""Growth/Pilot (cobranded) portraits carry a small Cradle mark; white-label Studio ones don't."""

import numpy as np
import pytest

from branding.overlay import (
    CRADLE_MARK_DOT_RGB,
    FRAMES,
    BrandSpec,
    compose,
    overlay_layout,
)

PHOTO_RGB = (58, 110, 165)


def _portrait(cobranded: bool, frame: str):
    photo = np.zeros((1000, 800, 3), np.uint8)
    photo[:] = PHOTO_RGB
    spec = BrandSpec("Bloom", "#7a2e4d", "#f3e6da", "sans", frame, "Hello", None, cobranded)
    image = compose(photo, spec)
    left, top, right, bottom = overlay_layout((800, 1000), frame).cradle_mark_box
    return np.asarray(image)[top:bottom, left:right].astype(int)


@pytest.mark.parametrize("frame", FRAMES)
def test_a_cobranded_portrait_shows_the_cradle_mark(frame):
    region = _portrait(True, frame)
    near_white_plate = (region.min(axis=2) > 180).mean()
    dot = (np.abs(region - np.array(CRADLE_MARK_DOT_RGB)).max(axis=2) < 20).sum()
    dark_lettering = (region.max(axis=2) < 90).sum()
    assert near_white_plate > 0.4
    assert dot > 10
    assert dark_lettering > 50


@pytest.mark.parametrize("frame", FRAMES)
def test_a_white_label_portrait_has_only_photo_where_the_mark_would_be(frame):
    region = _portrait(False, frame)
    assert np.abs(region - np.array(PHOTO_RGB)).max() <= 2
