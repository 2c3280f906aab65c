"""The phantom generator draws what its ground truth says it drew."""

from __future__ import annotations

import numpy as np
import pytest

from render.pipeline.phantom import PALETTES, make_bmode, make_phantom
from render.pipeline.types import ANCHOR_NAMES


def test_the_same_seed_gives_the_same_phantom_and_another_seed_does_not() -> None:
    first, again, other = make_phantom(seed=1), make_phantom(seed=1), make_phantom(seed=2)
    assert np.array_equal(first.image, again.image)
    assert not np.array_equal(first.image, other.image)


def test_the_default_phantom_is_a_screen_capture_of_the_requested_size() -> None:
    phantom = make_phantom()
    assert phantom.image.shape == (872, 1280, 3) and phantom.image.dtype == np.uint8
    assert set(phantom.anchors) == set(ANCHOR_NAMES)
    # The render sits on scanner black; the face is lit, the corners of the render are not.
    box = phantom.render_box
    assert phantom.image[box.y1 - 5, box.x0 + 5].max() < 10
    nose_x, nose_y = (int(v) for v in phantom.anchors["nose_tip"])
    assert phantom.image[nose_y, nose_x].mean() > 60


def test_anchors_sit_inside_the_face_box_in_anatomical_order() -> None:
    phantom = make_phantom()
    a, face = phantom.anchors, phantom.face_box
    for x, y in a.values():
        assert face.x0 <= x <= face.x1 and face.y0 <= y <= face.y1
    assert a["eye_left"][0] < a["nose_tip"][0] < a["eye_right"][0]
    assert a["eye_left"][1] < a["nose_tip"][1] < a["mouth"][1] < a["chin"][1]


@pytest.mark.parametrize("palette", PALETTES)
def test_each_palette_colours_the_face_its_own_way(palette: str) -> None:
    phantom = make_phantom(palette=palette)
    x, y = (int(v) for v in phantom.anchors["cheek_left"])
    r, g, b = phantom.image[y - 5 : y + 5, x - 5 : x + 5].reshape(-1, 3).mean(axis=0)
    if palette == "grey":
        assert abs(r - g) < 2 and abs(g - b) < 2
    else:
        assert r > g > b  # warm skin-like ramps: gold, reddish, beige


def test_fake_patient_text_is_drawn_inside_its_boxes() -> None:
    phantom = make_phantom()
    assert len(phantom.text_boxes) >= 5
    for box in phantom.text_boxes:
        patch = phantom.image[box.y0 : box.y1, box.x0 : box.x1]
        assert patch.max() > 150 and patch.min() < 40  # bright strokes on a dark band


def test_without_header_text_there_is_no_header_band() -> None:
    phantom = make_phantom(header_text=False)
    assert phantom.image[:30, :900].max() < 10
    assert all(box.x0 >= phantom.render_box.x1 for box in phantom.text_boxes)  # side panel only


def test_the_hand_covers_the_image_right_eye_and_cheek() -> None:
    plain, covered = make_phantom(), make_phantom(hand=True)
    assert covered.covered_anchors == ("eye_right", "cheek_right")
    x, y = (int(v) for v in plain.anchors["eye_right"])
    assert not np.array_equal(
        plain.image[y - 3 : y + 3, x - 3 : x + 3], covered.image[y - 3 : y + 3, x - 3 : x + 3]
    )
    x, y = (int(v) for v in plain.anchors["eye_left"])
    assert np.array_equal(
        plain.image[y - 3 : y + 3, x - 3 : x + 3], covered.image[y - 3 : y + 3, x - 3 : x + 3]
    )


@pytest.mark.parametrize("panels", [2, 4])
def test_a_multi_panel_screen_puts_the_face_in_its_largest_panel(panels: int) -> None:
    phantom = make_phantom(panels=panels, seed=3)
    box = phantom.render_box
    for x, y in phantom.anchors.values():
        assert box.x0 <= x < box.x1 and box.y0 <= y < box.y1
    # The other panels show grey B-mode speckle: their pixels have no colour.
    outside = phantom.image.copy()
    outside[box.y0 : box.y1, box.x0 : box.x1] = 0
    outside[:60] = 0
    lit = outside.max(axis=2) > 40
    assert lit.sum() > 10_000
    spread = outside[lit].max(axis=1).astype(int) - outside[lit].min(axis=1).astype(int)
    assert np.median(spread) == 0


def test_a_phone_photo_is_warped_and_has_no_true_black() -> None:
    photo = make_phantom(phone_photo=True).image
    assert photo.shape == (872, 1280, 3)
    assert photo[840:, :200].mean() > 8


@pytest.mark.parametrize("tint", ["gold", "grey"])
def test_the_bmode_negative_is_a_fan_of_speckle(tint: str) -> None:
    image = make_bmode(tint=tint)
    assert image.shape == (872, 1280, 3)
    # Inside the fan: speckle; the two top corners of the picture area are outside the fan.
    assert image[100, 30].max() < 10 and image[100, 1100].max() < 10
    fan = image[200:800, 100:1000].max(axis=2).astype(float)
    assert fan[fan > 10].std() > 25
    r, g, b = image[200:800, 100:1000].reshape(-1, 3).astype(float).mean(axis=0)
    if tint == "gold":
        assert r > g > b
    else:
        assert r == g == b
