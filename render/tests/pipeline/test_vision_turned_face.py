"""A turned face keeps its far cheek, and its mouth is where its lips part.

On a three-quarter view the cheek beyond the nose shows, darker, parted from the face by the
nose's edge and shaded by it, and outside the detector's face outline: vision dropped it as a
wall's sliver and left a notch in the nose's shadow, so the portrait had a profile's hooked
outline on a turned face.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from render.pipeline import phantom
from render.pipeline.ingest import ingest
from render.pipeline.vision import analyze


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pose": "three-quarter-right", "seed": 9},
        {"pose": "three-quarter-left"},
        {"pose": "three-quarter-right", "seed": 9, "occluder": "placenta"},
    ],
)
def test_the_cheek_beyond_the_nose_stays_with_the_face(kwargs: dict) -> None:
    scan = phantom.make_phantom(**kwargs)
    buffer = io.BytesIO()
    Image.fromarray(scan.image).save(buffer, "PNG")
    cues = analyze(ingest(buffer.getvalue()))
    box = cues.crop_box
    truth = scan.subject[box.y0 : box.y1, box.x0 : box.x1]
    nose = cues.anchor("nose_tip")
    assert nose is not None
    side = 1 if kwargs["pose"].endswith("right") else -1
    columns = np.arange(truth.shape[1])[None, :] + box.x0
    beyond = truth & ((columns - nose.x) * side > 0)
    kept = beyond & (cues.subject > 0.5)
    # 0.16 on the right-turned scans before (0.77 on the left-turned one), 0.8-0.89 of the
    # whole head is kept.
    assert kept.sum() >= 0.7 * beyond.sum()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pose": "profile-right", "palette": "surface-smooth", "seed": 1},
        {"pose": "profile-right", "palette": "hdlive-skin", "seed": 34},
    ],
)
def test_a_profile_turned_from_the_light_keeps_its_outline(kwargs: dict) -> None:
    # The scanner's light from the left leaves a right-facing profile's face in shade, which
    # read as acoustic shadow over the nose tip, lips and chin: the scan was refused "no face".
    scan = phantom.make_phantom(**kwargs)
    buffer = io.BytesIO()
    Image.fromarray(scan.image).save(buffer, "PNG")
    cues = analyze(ingest(buffer.getvalue()))
    assert cues.pose == "profile-right"
    for name in ("nose_tip", "mouth", "chin"):
        anchor = cues.anchor(name)
        assert anchor is not None, cues.dropped_anchors
        truth = scan.anchors[name]
        diagonal = np.hypot(
            scan.face_box.x1 - scan.face_box.x0, scan.face_box.y1 - scan.face_box.y0
        )
        assert np.hypot(anchor.x - truth[0], anchor.y - truth[1]) < 0.06 * diagonal, name


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pose": "profile-right", "palette": "realisticvue", "seed": 0},
        {"pose": "profile-right", "palette": "hdlive-skin", "seed": 1},
    ],
)
def test_a_profile_the_mesh_squeezes_into_a_three_quarter_is_read_as_a_profile(
    kwargs: dict,
) -> None:
    # The face mesh fitted these profiles as three-quarter faces with the nose 135 px inside
    # the real one, and the portrait drew nostrils on the cheek.
    scan = phantom.make_phantom(**kwargs)
    buffer = io.BytesIO()
    Image.fromarray(scan.image).save(buffer, "JPEG", quality=90)
    cues = analyze(ingest(buffer.getvalue()))
    assert cues.pose == "profile-right"
    nose = cues.anchor("nose_tip")
    assert nose is not None
    truth = scan.anchors["nose_tip"]
    diagonal = np.hypot(scan.face_box.x1 - scan.face_box.x0, scan.face_box.y1 - scan.face_box.y0)
    assert np.hypot(nose.x - truth[0], nose.y - truth[1]) < 0.06 * diagonal


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pose": "three-quarter-left", "seed": 2},
        {"pose": "three-quarter-left", "seed": 9, "palette": "hdlive-skin"},
        {"pose": "three-quarter-left", "seed": 2, "occluder": "hand"},
        {"pose": "three-quarter-left", "seed": 9, "occluder": "fingers", "palette": "hdlive-skin"},
    ],
)
def test_a_turned_face_s_mouth_is_on_its_lips(kwargs: dict) -> None:
    # The mesh fits an adult's turned mouth 0.03-0.047 of the face's diagonal toward the nose
    # on these (the lips were drawn off the mouth by as much); the lips' parting line beside it
    # now places it, within 0.02. (Turned right, the line shows less clearly on the phantoms
    # and the mesh's place is mostly kept.)
    scan = phantom.make_phantom(**kwargs)
    buffer = io.BytesIO()
    Image.fromarray(scan.image).save(buffer, "JPEG", quality=90)
    cues = analyze(ingest(buffer.getvalue()))
    mouth = cues.anchor("mouth")
    # Sure enough for its lips to be drawn (from 0.45 where their line shows clearly).
    assert mouth is not None and mouth.confidence >= 0.45
    box = scan.face_box
    diagonal = math.hypot(box.x1 - box.x0, box.y1 - box.y0)
    truth = scan.anchors["mouth"]
    assert math.hypot(mouth.x - truth[0], mouth.y - truth[1]) <= 0.02 * diagonal


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pose": "three-quarter-right", "seed": 1},
        {"pose": "three-quarter-right", "seed": 3},
        {"pose": "three-quarter-right", "seed": 9, "occluder": "placenta"},
        {"pose": "three-quarter-right", "seed": 2, "occluder": "fist"},
    ],
)
def test_a_turned_face_s_lips_and_chin_in_its_own_shade_stay_with_the_face(kwargs: dict) -> None:
    # Keyed from the side it turns from, the face's lower side toward its nose is dimmer than
    # the subject's level: the lips' corner and the chin under it were left out, a notch the
    # portrait painted over (no lips; 0.2-0.84 of the ground round the mouth was kept).
    scan = phantom.make_phantom(**kwargs)
    buffer = io.BytesIO()
    Image.fromarray(scan.image).save(buffer, "JPEG", quality=90)
    cues = analyze(ingest(buffer.getvalue()))
    box = cues.crop_box
    subject = np.zeros(scan.subject.shape, bool)
    subject[box.y0 : box.y1, box.x0 : box.x1] = (
        np.asarray(
            Image.fromarray((cues.subject * 255).astype(np.uint8)).resize(
                (box.x1 - box.x0, box.y1 - box.y0)
            )
        )
        > 127
    )
    face = scan.face_box
    reach = int(0.03 * math.hypot(face.x1 - face.x0, face.y1 - face.y0))
    x, y = (int(v) for v in scan.anchors["mouth"])
    assert subject[y - reach : y + reach + 1, x - reach : x + reach + 1].mean() >= 0.95
    # Nothing beyond the baby comes with it.
    assert (subject & scan.other).sum() <= 0.005 * subject.sum()
    mouth = cues.anchor("mouth")
    assert mouth is not None and mouth.confidence >= 0.45  # its lips are drawn from there
