"""Membranes across the head leave the crown on the baby.

Strands crossing the brow cut the bright mask into bands. The crown above the top strand was
dropped three ways: its piece, strand and all, reached out to the frame's edge and so lay
mostly off where the head can be; that region had slid sideways off the crown on a round face
(the fitted ellipse's axes lay either way); and the notches where the strand crosses each side
of the outline were cut between as a wall's contact. The portrait's head was cut flat along the
strand.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from render.pipeline import phantom
from render.pipeline.ingest import ingest
from render.pipeline.vision import analyze


def _in_crop(cues, mask: np.ndarray) -> np.ndarray:
    box = cues.crop_box
    return mask[box.y0 : box.y1, box.x0 : box.x1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"occluder": "membrane", "seed": 3},
        {"occluder": "membrane", "pose": "three-quarter-left", "seed": 5},
    ],
)
def test_the_crown_above_a_membrane_stays_on_the_head(kwargs: dict) -> None:
    scan = phantom.make_phantom(**kwargs)
    buffer = io.BytesIO()
    Image.fromarray(scan.image).save(buffer, "PNG")
    cues = analyze(ingest(buffer.getvalue()))
    head = _in_crop(cues, scan.subject)
    found = cues.subject > 0.5
    eyes = min(y for name, (_, y) in scan.anchors.items() if name.startswith("eye"))
    crown = head.copy()
    crown[int(eyes) - cues.crop_box.y0 :] = False  # the head above the eyes
    kept = (found & crown).sum() / crown.sum()
    # What an engine takes from the scan (as ``vision_eval`` measures it): the strands over
    # the head are marked unsure and painted as the face continued, never copied.
    drawn = found & (cues.low_confidence < 0.5)
    leak = (drawn & _in_crop(cues, scan.other)).sum() / drawn.sum()
    print(f"\n{kwargs}: crown kept {kept:.2f}, head kept {(found & head).sum() / head.sum():.2f}")
    assert kept > 0.9  # 0.55 and 0.62 before
    assert (found & head).sum() > 0.85 * head.sum()
    assert leak < 0.02
