"""Patient text drawn over the render itself is found and removed; the face is never blanked."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bench.vision_eval import _text_left
from render.pipeline import phantom, phi
from render.pipeline.types import Box


def jpeg_round_trip(rgb: np.ndarray) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=90)
    return np.asarray(Image.open(buffer).convert("RGB"))


def over_the_head(p: phantom.Phantom) -> Box:
    box = p.face_box
    return Box(box.x0, box.y0 + box.height // 6, box.x1, box.y1 - box.height // 10)


def changed_on_head(before: np.ndarray, after: np.ndarray, p: phantom.Phantom, text: list[Box]):
    """Share of the head's pixels the blanking changed away from the drawn text."""
    changed = np.any(before != after, axis=2)
    for box in text:
        changed[max(0, box.y0 - 8) : box.y1 + 8, max(0, box.x0 - 8) : box.x1 + 8] = False
    return float((changed & p.subject).sum() / p.subject.sum())


@pytest.mark.parametrize("style", phantom.TEXT_STYLES)
def test_text_over_the_render_leaves_no_glyph_and_spares_the_face(style: str) -> None:
    p = phantom.make_phantom(seed=100, palette="hdlive-skin", occluder="placenta")
    drawn = p.image.copy()
    lines = phantom.overlay_text(drawn, over_the_head(p), np.random.default_rng(3), style)
    image = jpeg_round_trip(drawn)
    assert all(_text_left(image, box) for box in lines)  # the measure sees the text first

    blanked = phi.blank_text(image, phi.find_text_boxes(image))

    assert not any(_text_left(blanked, box) for box in lines)
    assert changed_on_head(image, blanked, p, [*lines, *p.text_boxes]) < 0.001


def test_a_tight_right_aligned_column_is_found_line_by_line() -> None:
    p = phantom.make_phantom(seed=104, palette="hdlive-skin")
    image = p.image.copy()
    lines = phantom.overlay_text(image, over_the_head(p), np.random.default_rng(0), "column")
    found = phi.find_text_boxes(jpeg_round_trip(image))
    column = [b for b in found if any(b.y0 < line.y1 and line.y0 < b.y1 for line in lines)]
    assert len(column) >= len(lines)
    assert all(box.height <= 2 * lines[0].height for box in column)  # not one tall block


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pose": "three-quarter-right", "tilt": 20, "seed": 47},
        {"tilt": 15, "roll": -15, "seed": 45},
        {"contrast": "crushed", "seed": 21},
        {"pose": "three-quarter-right", "seed": 31, "palette": "hdlive-skin"},
    ],
)
def test_a_lip_highlight_over_a_dark_mouth_is_not_text(kwargs: dict) -> None:
    p = phantom.make_phantom(**kwargs)
    image = jpeg_round_trip(p.image)
    blanked = phi.blank_text(image, phi.find_text_boxes(image))
    assert changed_on_head(image, blanked, p, list(p.text_boxes)) == 0.0


def test_text_on_the_render_is_painted_over_from_its_texture_not_with_a_dark_patch() -> None:
    p = phantom.make_phantom(seed=102, palette="hdlive-skin")
    image = p.image.copy()
    lines = phantom.overlay_text(image, over_the_head(p), np.random.default_rng(2), "small")
    image = jpeg_round_trip(image)
    blanked = phi.blank_text(image, phi.find_text_boxes(image))
    on_skin = [line for line in lines if p.subject[line.y0 : line.y1, line.x0 : line.x1].all()]
    assert on_skin
    for line in on_skin:
        region = (slice(line.y0, line.y1), slice(line.x0, line.x1))
        before = p.image[region].astype(float).mean()  # the skin before the text was drawn
        assert abs(blanked[region].astype(float).mean() - before) < 0.1 * before
