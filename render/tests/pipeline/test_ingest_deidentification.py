"""Burned-in patient text is blanked before anything else sees the frame; chrome is dropped."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from render.pipeline.ingest import ingest
from render.pipeline.phantom import make_phantom
from render.pipeline.types import Box


def as_png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    return buffer.getvalue()


def ink_covered(image: np.ndarray, drawn: Box, boxes: tuple[Box, ...]) -> float:
    """Share of the text's ink (its bright strokes) that falls inside the found boxes."""
    union = np.zeros(image.shape[:2], bool)
    for box in boxes:
        union[box.y0 : box.y1, box.x0 : box.x1] = True
    ink = image[drawn.y0 : drawn.y1, drawn.x0 : drawn.x1].max(axis=2) > 90
    return float(union[drawn.y0 : drawn.y1, drawn.x0 : drawn.x1][ink].mean())


@pytest.mark.parametrize("kwargs", [{}, {"panels": 4, "seed": 1}, {"hand": True}])
def test_every_fake_patient_text_box_is_found_and_blanked(kwargs: dict) -> None:
    phantom = make_phantom(**kwargs)
    scan = ingest(as_png(phantom.image), face_score=lambda rgb: 0.0)
    for drawn in phantom.text_boxes:
        assert ink_covered(phantom.image, drawn, scan.text_boxes) == 1.0, drawn
        patch = scan.image[drawn.y0 : drawn.y1, drawn.x0 : drawn.x1].astype(int)
        assert patch.max() - patch.min() <= 12  # no stroke of the text survives
    for found in scan.text_boxes:
        patch = scan.image[found.y0 : found.y1, found.x0 : found.x1].reshape(-1, 3)
        assert (patch == patch[0]).all()  # each blanked box is one flat colour


def test_blanking_leaves_the_face_untouched() -> None:
    phantom = make_phantom(panels=4, seed=1)
    scan = ingest(as_png(phantom.image), face_score=lambda rgb: 0.0)
    face = phantom.face_box
    assert np.array_equal(
        scan.image[face.y0 : face.y1, face.x0 : face.x1],
        phantom.image[face.y0 : face.y1, face.x0 : face.x1],
    )
    for found in scan.text_boxes:
        assert (
            found.x1 <= face.x0
            or found.x0 >= face.x1
            or found.y1 <= face.y0
            or (found.y0 >= face.y1)
        )


def test_no_patient_text_is_left_anywhere_in_the_frame() -> None:
    phantom = make_phantom()
    scan = ingest(as_png(phantom.image), face_score=lambda rgb: 0.0)
    header = scan.image[:40]  # the band is 43 px tall on a 872 px screen
    assert header.max() - header.min() <= 12


def test_the_render_area_drops_the_header_and_the_side_panel() -> None:
    phantom = make_phantom()
    scan = ingest(as_png(phantom.image), face_score=lambda rgb: 0.0)
    box, face = scan.render_box, phantom.face_box
    assert box.y0 >= phantom.render_box.y0 and box.x1 <= phantom.render_box.x1
    assert box.x0 <= face.x0 and box.y0 <= face.y0 and face.x1 <= box.x1 and face.y1 <= box.y1


def test_on_a_quad_screen_the_render_area_is_the_panel_with_the_face() -> None:
    phantom = make_phantom(panels=4, seed=1)
    panel = phantom.render_box

    def face_only_in_that_panel(rgb: np.ndarray) -> float:
        return 0.9 if rgb[..., 0].astype(int).mean() > rgb[..., 2].astype(int).mean() + 5 else 0.0

    box = ingest(as_png(phantom.image), face_score=face_only_in_that_panel).render_box
    assert panel.x0 <= box.x0 and box.x1 <= panel.x1 and panel.y0 <= box.y0 and box.y1 <= panel.y1
    face = phantom.face_box
    assert box.x0 <= face.x0 and face.x1 <= box.x1
