"""Vision reads a scan from the face points a sonographer placed where it found no face.

Her points stand in for the detector's reading: the face's outline is drawn round them by a
newborn's proportions, its turn comes from where the nose lies between the eyes, the baby's
head is cut out as on a detected face, and each point comes back as a sure anchor.
"""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image

from render.pipeline import phantom
from render.pipeline.ingest import ingest
from render.pipeline.types import Anchor, ScanRejected
from render.pipeline.vision import analyze, anchor_roll, placed_in_order


def _ingested(scan: phantom.Phantom):
    buffer = io.BytesIO()
    Image.fromarray(scan.image).save(buffer, "PNG")
    return ingest(buffer.getvalue())


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        # The detector finds no face: membranes across a face turned left.
        (
            {"occluder": "membrane", "pose": "three-quarter-left", "seed": 3},
            ("eye_left", "eye_right", "nose_tip", "chin"),
        ),
        ({"pose": "three-quarter-right", "seed": 4}, ("eye_left", "eye_right", "nose_tip")),
        ({"seed": 2}, ("eye_left", "eye_right", "nose_tip", "mouth", "chin")),
        # Profiles: the near eye alone (a profile looking left shows its right eye as seen).
        (
            {"occluder": "fist", "pose": "profile-left", "seed": 0},
            ("eye_right", "nose_tip", "chin"),
        ),
        # Two points are enough: a profile's eye and nose tip.
        ({"occluder": "fist", "pose": "profile-left", "seed": 0}, ("eye_right", "nose_tip")),
        (
            {"occluder": "placenta", "pose": "profile-right", "seed": 1, "palette": "realisticvue"},
            ("eye_left", "nose_tip", "mouth", "chin"),
        ),
    ],
)
def test_placed_points_give_the_pose_the_head_and_sure_anchors(kwargs: dict, names) -> None:
    scan = phantom.make_phantom(**kwargs)
    ingested = _ingested(scan)
    if kwargs.get("occluder"):
        with pytest.raises(ScanRejected):
            analyze(ingested)
    placed = {name: scan.anchors[name] for name in names}
    cues = analyze(ingested, placed)
    assert cues.pose == scan.pose
    assert {a.name for a in cues.anchors} == set(names)
    for anchor in cues.anchors:
        assert anchor.confidence == 1.0
        assert (anchor.x, anchor.y) == pytest.approx(placed[anchor.name], abs=0.5)
    box = cues.crop_box
    head = scan.subject[box.y0 : box.y1, box.x0 : box.x1]
    other = scan.other[box.y0 : box.y1, box.x0 : box.x1] if scan.other is not None else None
    found = cues.subject > 0.5
    assert (found & head).sum() > 0.85 * head.sum()
    if other is not None:
        drawn = found & (cues.low_confidence < 0.5)
        assert (drawn & other).sum() < 0.02 * drawn.sum()


def test_placed_eyes_and_nose_alone_say_which_way_is_up() -> None:
    # A face lying tilted 30°: her eyes and nose tip are enough to stand it upright.
    turn = math.radians(30)

    def at(u: float, v: float) -> tuple[float, float]:
        return 300 + u * math.cos(turn) - v * math.sin(turn), 300 + u * math.sin(
            turn
        ) + v * math.cos(turn)

    names = {"eye_left": at(-50, 0), "eye_right": at(50, 0), "nose_tip": at(0, 40)}
    roll = anchor_roll([Anchor(name, x, y, 1.0) for name, (x, y) in names.items()])
    assert roll == pytest.approx(30.0, abs=0.5)
    swapped = placed_in_order(
        {**names, "eye_left": names["eye_right"], "eye_right": names["eye_left"]}
    )
    assert swapped == names
    # A profile's one eye is the near one whatever she called it: the nose points its way.
    assert placed_in_order({"eye_left": (100.0, 100.0), "nose_tip": (60.0, 120.0)}) == {
        "eye_right": (100.0, 100.0),
        "nose_tip": (60.0, 120.0),
    }
