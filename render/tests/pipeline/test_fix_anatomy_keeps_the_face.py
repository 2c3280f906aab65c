"""Fix Anatomy takes away what covers the face and keeps the face.

- A cord across both cheeks left the brow and the mouth as two pieces of the head once it was
  taken away; only the larger was kept, and the "fixed" portrait lost its lower face.
- Speckle only lowers vision's confidence; the dark slit of every closed mouth reads speckled,
  and Fix Anatomy painted it over at a quarter strength, taking the lips' colour away.
- Under a hand over one side of a frontal face, the covered side is the other side's mirror
  image (its orbit, cheek and half the nose), not a flat patch bridged round the hand.
"""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
import pytest
from PIL import Image

from render.pipeline import phantom
from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines.relight.face import Midline, midline
from render.pipeline.engines.relight.subject import fix_anatomy
from render.pipeline.engines.relight.surface import prepare
from render.pipeline.ingest import ingest
from render.pipeline.vision import analyze
from render.tests.pipeline.posed_cues import posed_cues

SHADING = 512


def _surface(scan: phantom.Phantom, strength: float, cues=None):
    if cues is None:
        buffer = io.BytesIO()
        Image.fromarray(scan.image).save(buffer, "PNG")
        cues = analyze(ingest(buffer.getvalue()))
    conditioning = build(cues, blend_tone([5]), correction_strength=strength)
    return cues, prepare(conditioning, SHADING)


def _at(cues, name: str, shape: tuple[int, ...]) -> tuple[int, int]:
    anchor = next(a for a in cues.anchors if a.name == name)
    scale = shape[1] / cues.depth.shape[1]
    return int((anchor.y - cues.crop_box.y0) * scale), int((anchor.x - cues.crop_box.x0) * scale)


@pytest.mark.parametrize("seed", [55, 9])
def test_a_cord_across_the_face_leaves_the_whole_face_once_taken_away(seed: int) -> None:
    cues, plain = _surface(phantom.make_phantom(occluder="cord", seed=seed), 0.0)
    _, fixed = _surface(phantom.make_phantom(occluder="cord", seed=seed), 0.8, cues)
    kept = (fixed.skin_alpha > 0.5).sum() / (plain.skin_alpha > 0.5).sum()
    print(f"\nseed {seed}: the fixed head keeps {kept:.2f} of the head")
    assert kept > 0.9
    for name in ("nose_tip", "mouth"):
        assert fixed.skin_alpha[_at(cues, name, fixed.skin_alpha.shape)] > 0.99, name
    chin = _at(cues, "chin", fixed.skin_alpha.shape)  # on the outline
    assert fixed.skin_alpha[chin] >= plain.skin_alpha[chin] - 0.05


def test_a_closed_mouths_speckle_is_no_occluder() -> None:
    cues, plain = _surface(phantom.make_phantom(seed=4), 0.0)
    _, fixed = _surface(phantom.make_phantom(seed=4), 0.8, cues)
    y, x = _at(cues, "mouth", fixed.painted.shape)
    around = (slice(y - 8, y + 9), slice(x - 8, x + 9))
    assert fixed.painted[around].max() < 0.05
    # The lips are drawn as on the scan without Fix Anatomy.
    assert fixed.feature_trust[around].mean() > 0.9 * plain.feature_trust[around].mean()


def _symmetric_face(size: int, lean: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dome with two eye sockets, symmetric about a line through the middle leaning ``lean``
    degrees: its depth, its normals and the dome's depth alone."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    centre = size / 2
    turn = math.radians(lean)
    # The face's own axes: u across, v down, turned by ``lean``.
    u = (xs - centre) * math.cos(turn) + (ys - centre) * math.sin(turn)
    v = -(xs - centre) * math.sin(turn) + (ys - centre) * math.cos(turn)
    dome = np.clip(1.0 - (u**2 + v**2) / (0.42 * size) ** 2, 0, 1)
    depth = dome.copy()
    for side in (-1, 1):
        socket = np.exp(-(((u - side * 0.18 * size) / 12) ** 2 + ((v + 18) / 7) ** 2))
        depth -= 0.08 * socket
    gy, gx = np.gradient(depth * 60.0)
    normals = np.dstack([-gx, gy, np.ones_like(gx)]).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=2, keepdims=True)
    return depth.astype(np.float32), normals, dome


@pytest.mark.parametrize("lean", [0.0, 15.0])
def test_a_hand_over_one_side_of_a_frontal_face_leaves_that_side_the_others_mirror(
    lean: float,
) -> None:
    size = 256
    depth, normals, dome = _symmetric_face(size, lean)
    subject = (dome > 0.0).astype(np.float32)
    turn = math.radians(lean)
    # The right socket's centre in the picture, and a hand over it.
    sx = size / 2 + 0.18 * size * math.cos(turn) + 18 * math.sin(turn)
    sy = size / 2 + 0.18 * size * math.sin(turn) - 18 * math.cos(turn)
    hands = np.zeros((size, size), np.float32)
    hands[int(sy) - 30 : int(sy) + 40, int(sx) - 14 : int(sx) + 41] = 1.0
    low = np.zeros((size, size), np.float32)
    line = Midline((size / 2, size / 2), (-math.sin(turn), math.cos(turn)))
    bridged = fix_anatomy(subject, depth, normals, hands, low, 0.8, size)
    mirrored = fix_anatomy(subject, depth, normals, hands, low, 0.8, size, midline=line)
    # The socket (0.08 deep) found again with the mirror; bridged round the hand without it,
    # the surface there is a smooth membrane, off by more than the socket's depth.
    socket = (slice(int(sy) - 15, int(sy) + 16), slice(int(sx) - 20, int(sx) + 21))
    off = {
        name: float(np.abs(r.depth - depth)[socket].max())
        for name, r in (("mirrored", mirrored), ("bridged", bridged))
    }
    print(f"\nlean {lean}°: the depth over the socket is off by at most {off}")
    assert off["mirrored"] < 0.01
    assert off["bridged"] > 0.05
    # The normals follow the socket's walls (reflected with the picture).
    error = np.degrees(np.arccos(np.clip((mirrored.normals * normals).sum(axis=2), -1, 1)))
    assert np.median(error[hands > 0]) < 2.0
    assert np.percentile(error[socket], 95) < 8.0


def test_the_midline_follows_a_leaning_face_and_is_not_guessed_without_its_eyes() -> None:
    cues = posed_cues("frontal")
    upright = midline(cues, 1.0)
    assert upright is not None and upright.down[1] == pytest.approx(1.0, abs=0.02)
    x0, y0 = cues.crop_box.x0, cues.crop_box.y0
    cx, cy = x0 + cues.depth.shape[1] / 2, y0 + cues.depth.shape[0] / 2
    turn = math.radians(20)  # under the 20° vision turns upright: painted as it lies
    leaning = tuple(
        dataclasses.replace(
            a,
            x=cx + (a.x - cx) * math.cos(turn) - (a.y - cy) * math.sin(turn),
            y=cy + (a.x - cx) * math.sin(turn) + (a.y - cy) * math.cos(turn),
        )
        for a in cues.anchors
    )
    line = midline(dataclasses.replace(cues, anchors=leaning), 1.0)
    assert line is not None
    assert line.down == pytest.approx((-math.sin(turn), math.cos(turn)), abs=0.02)
    # Without both eyes the nose, mouth and chin do not say the lean well: none is guessed.
    one_eye = tuple(a for a in leaning if a.name != "eye_right")
    assert midline(dataclasses.replace(cues, anchors=one_eye), 1.0) is None


def test_painting_on_to_the_midline_keeps_off_a_feature_vision_saw() -> None:
    size = 256
    depth, normals, dome = _symmetric_face(size)
    subject = (dome > 0.0).astype(np.float32)
    hands = np.zeros((size, size), np.float32)
    hands[100:140, 150:190] = 1.0  # a fist beside the nose
    low = np.zeros((size, size), np.float32)
    line = Midline((size / 2, size / 2), (0.0, 1.0))
    eye = (136.0, 108.0)  # a feature vision saw between the fist and the midline
    plain = fix_anatomy(subject, depth, normals, hands, low, 0.8, size, midline=line)
    kept = fix_anatomy(
        subject, depth, normals, hands, low, 0.8, size, midline=line, seen={"mouth": eye}
    )
    assert plain.painted[108, 136] > 0.9  # painted over with the fist's rows
    assert kept.painted[108, 136] < 0.3
    assert kept.painted[132, 136] > 0.9  # the rest of the way still is


def test_the_margin_round_a_fist_keeps_off_an_eye_vision_saw_beside_it() -> None:
    size = 256
    depth, normals, dome = _symmetric_face(size)
    subject = (dome > 0.0).astype(np.float32)
    hands = np.zeros((size, size), np.float32)
    hands[120:170, 40:80] = 1.0  # a fist by the cheek, just under the left eye
    low = np.zeros((size, size), np.float32)
    eye = (60.0, 116.0)  # the eye above it, which vision saw
    plain = fix_anatomy(subject, depth, normals, hands, low, 0.8, size)
    kept = fix_anatomy(subject, depth, normals, hands, low, 0.8, size, seen={"eye_left": eye})
    assert plain.painted[116, 60] > 0.5  # the margin took the eye: no lash line drawn there
    assert kept.painted[116, 60] < 0.05
    assert kept.painted[125:165, 45:75].min() > 0.99  # the fist itself still goes
    # An eye under the occluder itself goes with it.
    under = fix_anatomy(
        subject, depth, normals, hands, low, 0.8, size, seen={"eye_left": (60.0, 140.0)}
    )
    assert under.painted[140, 60] > 0.99 and under.painted[116, 60] > 0.5


def test_the_margin_round_an_occluder_is_round() -> None:
    # The margin was grown with a square kernel step by step: a speck the occluder map held
    # became a square patch of painted skin (by a cord, one took an eye with it).
    size = 256
    depth, normals, dome = _symmetric_face(size)
    subject = (dome > 0.0).astype(np.float32)
    hands = np.zeros((size, size), np.float32)
    hands[126:130, 126:130] = 1.0
    low = np.zeros((size, size), np.float32)
    painted = fix_anatomy(subject, depth, normals, hands, low, 0.8, size).painted > 0.5
    along = np.flatnonzero(painted[128])  # across the row through the speck
    diagonal = [i for i in range(-60, 61) if painted[128 + i, 128 + i]]
    # As far along the diagonal as along the row: a diagonal pixel step is √2 long, so a
    # round patch has 1/√2 as many on it (a square had as many, reaching √2 as far).
    assert len(diagonal) <= 0.8 * len(along)
