"""A profile is read on its whole outline: membrane strands standing out of it are no nose,
and its lips and chin in shadow are part of it.

A profile is read from the silhouette, whose furthest point is the nose. Strands leaving the
head past its outline hid the face's own outline (profiles under membranes were refused "no
face"), and on a three-quarter face the silhouette took a strand's end for a profile's nose,
which replaced the mesh's reading: the portrait became a small blob on empty paper. The
silhouette is now read without the strands' loose ends, and a profile replaces the mesh's
three-quarter reading only when its closed lid shows where a profile's eye would be.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from render.pipeline import phantom
from render.pipeline.ingest import ingest
from render.pipeline.types import ScanRejected
from render.pipeline.vision import analyze


def cues_of(scan: phantom.Phantom):
    buffer = io.BytesIO()
    Image.fromarray(scan.image).save(buffer, "JPEG", quality=90)
    return analyze(ingest(buffer.getvalue()))


def error(anchor, scan: phantom.Phantom) -> float:
    """How far ``anchor`` lies from the scan's own, over the face's diagonal."""
    x, y = scan.anchors[anchor.name]
    box = scan.face_box
    diagonal = float(np.hypot(box.x1 - box.x0, box.y1 - box.y0))
    return float(np.hypot(anchor.x - x, anchor.y - y)) / diagonal


CASES = {
    "membrane over a right profile": {"occluder": "membrane", "pose": "profile-right"},
    # Its strands run off the frame behind the head: the outline there is the picture's edge.
    "membrane off the frame behind a right profile": {
        "occluder": "membrane",
        "pose": "profile-right",
        "seed": 2,
        "palette": "surface-smooth",
    },
    "membrane over a left profile": {"occluder": "membrane", "pose": "profile-left"},
    "membrane across a three-quarter face": {
        "occluder": "membrane",
        "pose": "three-quarter-right",
        "seed": 2,
    },
}


@pytest.mark.parametrize("name", CASES)
def test_the_face_under_membrane_strands_is_read_in_its_pose(name: str) -> None:
    scan = phantom.make_phantom(**CASES[name])
    cues = cues_of(scan)

    assert cues.pose == scan.pose
    assert len(cues.anchors) >= 3
    # The eyes and the nose, where lids and nostrils are drawn, are where the scan shows them.
    # (A profile's chin, read on the outline, lies lower than the silhouette's bump: a gap
    # vision_eval prints, with or without strands.)
    for anchor in cues.anchors:
        if anchor.name in ("eye_left", "eye_right", "nose_tip") and anchor.confidence >= 0.6:
            assert error(anchor, scan) <= 0.05, anchor
    # The portrait's head is the baby's whole head, not a piece of it between two strands.
    painted = (cues.subject > 0.5).sum()
    head = scan.subject[
        cues.crop_box.y0 : cues.crop_box.y1, cues.crop_box.x0 : cues.crop_box.x1
    ].sum()
    assert painted >= 0.7 * head


SHADOWED_PROFILES = {
    "right": {"pose": "profile-right"},
    "left, reddish": {"pose": "profile-left", "seed": 1, "palette": "realisticvue"},
}


@pytest.mark.parametrize("name", SHADOWED_PROFILES)
def test_a_profile_lit_from_above_keeps_its_lips_and_chin(name: str) -> None:
    """Below the nose a profile turns from the scanner's light: its lips and chin are dimmer
    than the rest of the head but plainly above the black. The outline they are read from,
    and the head the portrait paints, reach them (the jaw receded, the lips were placed on
    the cheek)."""
    scan = phantom.make_phantom(**SHADOWED_PROFILES[name])
    cues = cues_of(scan)

    assert cues.pose == scan.pose
    box = cues.crop_box
    lower = scan.subject[box.y0 : box.y1, box.x0 : box.x1].copy()
    lower[: int(scan.anchors["nose_tip"][1]) - box.y0] = False
    assert ((cues.subject > 0.5) & lower).sum() >= 0.83 * lower.sum()  # was 0.76
    mouth = next(a for a in cues.anchors if a.name == "mouth")
    assert error(mouth, scan) <= 0.045  # was 0.07 (right)


HAND_BESIDE_A_PROFILE = {
    "hand behind a left profile": {"occluder": "hand", "pose": "profile-left", "seed": 1},
    "fist beside a right profile": {"occluder": "fist", "pose": "profile-right", "seed": 2},
}


@pytest.mark.parametrize("name", HAND_BESIDE_A_PROFILE)
def test_a_profile_with_a_hand_beside_it_is_not_read_as_a_face_looking_out(name: str) -> None:
    """The mesh fitted a face looking at the viewer (or turned the other way) to the side of
    a profile's head, beside a hand or fist there: the portrait then drew two eyes on the
    cheek. The profile's clear silhouette, its closed lid showing, is read instead."""
    spec = HAND_BESIDE_A_PROFILE[name]
    scan = phantom.make_phantom(**spec, palette=phantom.PALETTES[spec["seed"] % 6])
    cues = cues_of(scan)

    assert cues.pose == scan.pose
    found = {a.name: a for a in cues.anchors}
    for part in ("nose_tip", "eye_left" if scan.pose.endswith("right") else "eye_right"):
        assert error(found[part], scan) <= 0.035


NOT_A_NOSE = {
    # A cord leaving the back of a right profile's head: its end was the "nose" of a left
    # profile, and the portrait grew a horn.
    "cord behind a right profile": {"occluder": "cord", "pose": "profile-right"},
    # A fist at a left-turned face's mouth: the mesh does not fit the face, and the fist was
    # the "nose" of a left profile, painted as one.
    "fist at a turned face's mouth": {"occluder": "fist", "pose": "three-quarter-left"},
}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", NOT_A_NOSE)
def test_what_stands_out_of_the_head_is_no_profile_nose(name: str, seed: int) -> None:
    """A cord's end stands out far more than a nose, a fist far less: the scan is read in its
    own pose, or refused with the reason, never as a profile it is not."""
    scan = phantom.make_phantom(**NOT_A_NOSE[name], seed=seed, palette=phantom.PALETTES[seed])
    try:
        cues = cues_of(scan)
    except ScanRejected as refused:
        assert refused.code == "no-face"
        return
    assert cues.pose == scan.pose
