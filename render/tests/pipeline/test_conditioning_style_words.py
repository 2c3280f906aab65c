"""The studio's style words change the light of the CPU engine too, within the built-in styles'
range, never the baby's skin tone."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from render.pipeline.conditioning import STYLES, blend_tone, build, style_look
from render.pipeline.engines import get_engine
from render.pipeline.scoring import skin_delta_e
from render.tests.pipeline.synthetic_cues import synthetic_cues

CUES = synthetic_cues(192)
LOOK_FIELDS = ("warmth", "fill_ratio", "wrap", "contrast", "key_strength")


def test_words_it_knows_shift_the_light_and_others_leave_it_alone() -> None:
    classic = STYLES["classic"]
    assert style_look("classic", ["Bloom", "heirloom"]) == classic
    assert style_look("classic", ["warmth"]) == classic  # a word, not a part of one
    moody = style_look("classic", ["moody tones"])
    assert moody.contrast > classic.contrast and moody.fill_ratio < classic.fill_ratio
    soft = style_look("classic", ["Soft", "airy"])
    assert soft.fill_ratio > classic.fill_ratio and soft.contrast < classic.contrast
    assert style_look("classic", ["warm"]).warmth > classic.warmth
    assert style_look("classic", ["fine art black and white"]).monochrome


@pytest.mark.parametrize("words", [["warm", "moody", "dramatic"], ["soft", "cool", "pastel"]])
def test_no_word_takes_the_light_past_the_built_in_styles(words: list[str]) -> None:
    for style in STYLES:
        look = style_look(style, words)
        for name in LOOK_FIELDS:
            values = [getattr(other, name) for other in STYLES.values()]
            assert min(values) <= getattr(look, name) <= max(values)


def test_the_relight_engine_renders_the_words_and_keeps_the_parents_tone() -> None:
    tone = blend_tone([6])
    engine = get_engine("relight", output_long_side=384, shading_long_side=256)
    plain = build(CUES, tone)
    moody = build(CUES, tone, brand_tokens=["moody", "dramatic"])
    assert moody.look is not None and moody.look.contrast > STYLES["classic"].contrast
    plain_image = engine.render(plain, [11])[0].image
    moody_image = engine.render(moody, [11])[0].image
    face = cv2.resize(CUES.subject, plain_image.shape[1::-1]) > 0.95
    difference = np.abs(plain_image.astype(np.int16) - moody_image.astype(np.int16))[face]
    assert difference.mean() > 2.0  # the light changed where the baby is
    plain_error = skin_delta_e(plain_image, tone.hex, face)
    assert skin_delta_e(moody_image, tone.hex, face) <= max(6.0, plain_error + 1.0)


def test_a_black_and_white_word_renders_grey() -> None:
    mono = build(CUES, blend_tone([5]), brand_tokens=["black and white"])
    image = get_engine("relight", output_long_side=256).render(mono, [3])[0].image
    image = image.astype(np.int16)
    assert np.abs(image[..., 0] - image[..., 2]).max() <= 1
