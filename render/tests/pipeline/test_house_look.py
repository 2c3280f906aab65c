"""The studio's house look: measured from the references' frames, laid over the backdrop only."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from coloraide import Color

from render.pipeline.house_look import (
    house_look_apply,
    house_look_measure,
    oklab_to_srgb,
    srgb_to_oklab,
)

SKIN = (196, 150, 118)


def _portrait(backdrop: tuple[int, int, int], size: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """A skin-coloured disc (the baby) on a textured backdrop, and its subject mask."""
    yy, xx = np.mgrid[:size, :size]
    subject = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size * 0.3) ** 2).astype(np.float32)
    rng = np.random.default_rng(3)
    image = np.empty((size, size, 3), np.uint8)
    texture = rng.normal(0, 6, (size, size, 1))
    image[:] = np.clip(np.array(backdrop) + texture, 0, 255).astype(np.uint8)
    image[subject > 0] = SKIN
    return image, subject


def _delta_e(a: np.ndarray, b: tuple[int, int, int]) -> float:
    mean = a.reshape(-1, 3).mean(axis=0) / 255.0
    return Color("srgb", list(mean)).delta_e(Color("srgb", [c / 255 for c in b]), method="2000")


def test_oklab_round_trip_is_exact_to_one_level() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    back = oklab_to_srgb(srgb_to_oklab(rgb))
    assert np.abs(back.astype(int) - rgb.astype(int)).max() <= 1
    white = srgb_to_oklab(np.array([[255, 255, 255]], np.uint8))[0]
    assert white[0] == pytest.approx(1.0, abs=1e-3) and abs(white[1]) < 1e-3


def test_the_look_is_read_from_the_references_frames_never_their_faces() -> None:
    sage = (142, 160, 132)
    reference, _ = _portrait(sage)
    reference[90:110, 90:110] = (255, 0, 0)  # whatever is in the middle does not count
    look = house_look_measure([reference, reference])
    assert look is not None and look.references == 2
    measured = oklab_to_srgb(np.array([look.backdrop], np.float32))[0]
    assert np.abs(measured.astype(int) - np.array(sage)).max() <= 3
    assert house_look_measure([]) is None


def test_the_backdrop_moves_to_the_house_look_and_the_baby_keeps_every_pixel() -> None:
    sage = (142, 160, 132)
    look = house_look_measure([_portrait(sage)[0]])
    portrait, subject = _portrait((236, 226, 214))
    graded = house_look_apply(portrait, subject, look, strength=1.0)
    frame = np.ones(subject.shape, bool)
    frame[20:-20, 20:-20] = False
    assert _delta_e(graded[frame], sage) < 4 < _delta_e(portrait[frame], sage)
    # The baby's core keeps every pixel; its rim keeps the skin; no ring of old backdrop.
    core = cv2.erode(subject.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert np.array_equal(graded[core], portrait[core])
    rim = (subject > 0) & ~core
    assert np.abs(graded[rim].astype(int) - portrait[rim].astype(int)).max() <= 2
    ring = (cv2.dilate(subject, np.ones((7, 7), np.uint8)) > 0) & (subject == 0)
    assert _delta_e(graded[ring], sage) < 6
    # The backdrop keeps its texture: still grainy, not a flat fill.
    assert graded[frame].astype(float).std(axis=0).mean() > 2


def test_strength_zero_changes_nothing_and_bad_strength_is_refused() -> None:
    look = house_look_measure([_portrait((60, 60, 90))[0]])
    portrait, subject = _portrait((236, 226, 214))
    assert (
        np.abs(house_look_apply(portrait, subject, look, strength=0.0).astype(int) - portrait).max()
        <= 1
    )
    with pytest.raises(ValueError, match="strength"):
        house_look_apply(portrait, subject, look, strength=1.5)


def test_a_far_away_reference_moves_the_backdrop_only_so_far() -> None:
    look = house_look_measure([_portrait((0, 0, 0))[0]])
    portrait, subject = _portrait((250, 250, 250))
    graded = house_look_apply(portrait, subject, look, strength=1.0)
    frame = subject == 0
    lightness = srgb_to_oklab(graded[frame])[:, 0].mean()
    assert 0.55 < lightness < 0.75  # moved a long way towards black, but not to black


def test_a_wrap_marked_as_props_takes_the_house_look_with_the_backdrop() -> None:
    # The lower third of the disc is a wrap (a prop of the set, over the subject mask).
    image, subject = _portrait((230, 230, 230))
    wrap_colour = (150, 170, 190)
    props = np.zeros(subject.shape, np.float32)
    props[140:] = 1.0
    wrapped = image.copy()
    wrapped[140:] = wrap_colour
    look = house_look_measure([_portrait((200, 175, 150))[0]])
    graded = house_look_apply(wrapped, subject, look, strength=1.0, props=props)
    bare = house_look_apply(wrapped, subject, look, strength=1.0)
    inner = (subject > 0) & (props > 0)
    inner = cv2.erode(inner.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    # Without props the wrap over the baby keeps its pixels; as props it is graded as set...
    assert np.array_equal(bare[inner], wrapped[inner])
    assert _delta_e(graded[inner], wrap_colour) > 5.0
    # ... towards the house look's warmth, as the paper is, and the baby's skin is untouched.
    assert graded[inner][:, 0].mean() - graded[inner][:, 2].mean() > wrap_colour[0] - wrap_colour[2]
    skin = cv2.erode(((subject > 0) & (props == 0)).astype(np.uint8), np.ones((9, 9), np.uint8))
    assert np.array_equal(graded[skin > 0], wrapped[skin > 0])
