"""Nothing is drawn where the scan did not see it: each feature only at its own sure anchor.

What the engine drew is measured as the pixels that differ from a render with the features
off (same seed, no wrap): lash lines, lids, nostrils, lips and the flush and sheen that come
with them. Every such pixel must lie within 3% of the face diagonal of a supporting anchor's
segment: the anchor widened across the face to the feature's own newborn width (an eye's
fissure, the mouth, the nostrils), so a lash may run along its lid but never stray above,
below or away from it. A supporting anchor is at least 0.6 sure (the engine's threshold) and
on a side the pose shows; a mouth down to 0.45 where the scan shows its line clearly.
"""

import dataclasses
import io
import math

import numpy as np
import pytest
from PIL import Image

from render.pipeline import phantom
from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines.relight import RelightEngine
from render.pipeline.ingest import ingest
from render.pipeline.types import POSES, StructuralCues
from render.pipeline.vision import analyze
from render.tests.pipeline.posed_cues import (
    hand_mask,
    posed_cues,
    turned_anchor,
    with_anchor,
    with_hand,
    without_anchors,
)

SIZE = 1024  # the posed crops are square: every render is SIZE×SIZE
CROP = 256
SURE = 0.6
REACH = 0.03  # of the face diagonal
# Half the width across the face of each feature on a newborn, over the face diagonal: an
# eye's fissure (~17 mm), the closed mouth (~20 mm) and the nostrils (~13 mm) in a face box
# of ~125 mm diagonal.
HALF_WIDTH = {"eye_left": 0.07, "eye_right": 0.07, "mouth": 0.08, "nose_tip": 0.05}
LEVELS = 3  # a change of more than this many 8-bit levels in any channel counts as drawn


def _render(cues: StructuralCues, features: bool) -> np.ndarray:
    conditioning = build(cues, blend_tone([5]), background_hex="#dfe8f0")
    engine = RelightEngine(wrap=False, features=features)
    return engine.render(conditioning, [7])[0].image


def _drawn(cues: StructuralCues, levels: int = LEVELS) -> np.ndarray:
    """H×W bool: where the features changed the render."""
    on = _render(cues, features=True).astype(np.int16)
    off = _render(cues, features=False).astype(np.int16)
    return np.abs(on - off).max(axis=2) > levels


def _diagonal(cues: StructuralCues) -> float:
    box = cues.face_box
    return math.hypot(box.width, box.height) * SIZE / cues.crop_box.width


def _visible(name: str, pose: str) -> bool:
    if pose == "profile-left":
        return name in ("eye_right", "nose_tip", "mouth")
    if pose == "profile-right":
        return name in ("eye_left", "nose_tip", "mouth")
    return True


def _distance_to_support(cues: StructuralCues, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Per pixel, px to the nearest supporting anchor's segment (inf without one)."""
    diagonal = _diagonal(cues)
    nearest = np.full(xs.shape, np.inf)
    for anchor in cues.anchors:
        if anchor.name not in HALF_WIDTH or anchor.confidence < SURE:
            continue
        if not _visible(anchor.name, cues.pose):
            continue
        ax, ay = anchor.x * SIZE / CROP, anchor.y * SIZE / CROP
        half = HALF_WIDTH[anchor.name] * diagonal
        dx = np.maximum(np.abs(xs - ax) - half, 0.0)
        nearest = np.minimum(nearest, np.hypot(dx, ys - ay))
    return nearest


@pytest.mark.parametrize("pose", POSES)
def test_every_drawn_pixel_lies_at_a_supporting_anchor(pose):
    cues = posed_cues(pose)
    drawn = _drawn(cues)
    ys, xs = np.nonzero(drawn)
    assert xs.size > 200, "the sure, visible features are drawn"
    distance = _distance_to_support(cues, xs.astype(float), ys.astype(float))
    allowed = REACH * _diagonal(cues) + 2.0  # two pixels for the shading's resampling
    assert distance.max() <= allowed, f"{(distance > allowed).sum()} pixels off their anchor"


@pytest.mark.parametrize("pose", ["frontal", "three-quarter-left", "profile-right"])
def test_each_sure_visible_eye_and_the_mouth_are_drawn(pose):
    cues = posed_cues(pose)
    drawn = _drawn(cues)
    reach = REACH * _diagonal(cues)
    for anchor in cues.anchors:
        if anchor.name not in ("eye_left", "eye_right", "mouth"):
            continue
        x, y = int(anchor.x * SIZE / CROP), int(anchor.y * SIZE / CROP)
        near = drawn[int(y - reach) : int(y + reach), int(x - reach) : int(x + reach)]
        assert near.sum() > 30, anchor.name


@pytest.mark.parametrize("pose", ["profile-left", "profile-right"])
def test_a_profile_draws_one_eye_and_nothing_for_the_hidden_one(pose):
    cues = posed_cues(pose)
    hidden = "eye_left" if pose == "profile-left" else "eye_right"
    x, y, _ = turned_anchor(hidden, pose, CROP)
    # Even when an anchor for the far eye comes through as sure, nothing is drawn for it.
    told = with_anchor(cues, hidden, x=x, y=y, confidence=0.95)
    assert np.array_equal(_render(told, features=True), _render(cues, features=True))
    # One eye: the marks along the eye's row span one eye's width, not two.
    drawn = _drawn(told)
    eye_row = int(y * SIZE / CROP)
    band = drawn[eye_row - 40 : eye_row + 40]
    columns = np.nonzero(band.any(axis=0))[0]
    assert columns.size > 0
    assert columns.max() - columns.min() <= 2 * 0.07 * _diagonal(cues)


@pytest.mark.parametrize("pose", ["profile-left", "profile-right"])
def test_on_a_profile_the_lips_run_back_from_the_mouth_s_front(pose):
    cues = posed_cues(pose)
    mouth = cues.anchor("mouth")
    # Not even faintly: the upper lip's shade ran on past their front as a line 2-3 levels
    # deep, and a change in the skin's colour made it show.
    drawn = _drawn(cues, levels=1)
    mx, my = mouth.x * SIZE / CROP, mouth.y * SIZE / CROP
    reach = REACH * _diagonal(cues)
    rows = slice(int(my - reach), int(my + reach))
    ys, xs = np.nonzero(drawn[rows])
    # The lips' front rounds off within a hair of the anchor (1.5% of the face diagonal).
    ahead = 0.015 * _diagonal(cues)
    forward = (xs < mx - ahead) if pose == "profile-left" else (xs > mx + ahead)
    assert xs.size > 20 and not forward.any()


def test_unsure_anchors_draw_nothing():
    cues = posed_cues("frontal", confidence=0.4)
    assert np.array_equal(_render(cues, features=True), _render(cues, features=False))


def test_a_half_sure_mouth_is_drawn_on_its_clear_line_and_nothing_else():
    # Speckle lowers a mouth's confidence most: 0.45-0.6 on 13 of 56 phantom scans whose lips
    # show clearly, which were painted without lips. Eyes and nose this unsure stay undrawn.
    cues = posed_cues("frontal", confidence=0.5)
    drawn = _drawn(cues)
    ys, xs = np.nonzero(drawn)
    assert xs.size > 100
    mouth = cues.anchor("mouth")
    mx, my = mouth.x * SIZE / CROP, mouth.y * SIZE / CROP
    diagonal = _diagonal(cues)
    off = np.hypot(np.maximum(np.abs(xs - mx) - HALF_WIDTH["mouth"] * diagonal, 0.0), ys - my)
    assert off.max() <= REACH * diagonal + 2.0


def test_missing_anchors_draw_nothing_in_their_place():
    full = posed_cues("frontal")
    cues = without_anchors(full, "mouth", "eye_right")
    drawn = _drawn(cues)
    reach = REACH * _diagonal(cues)
    for name in ("mouth", "eye_right"):
        anchor = full.anchor(name)
        x, y = anchor.x * SIZE / CROP, anchor.y * SIZE / CROP
        half = HALF_WIDTH[name] * _diagonal(cues) + reach
        assert not drawn[int(y - reach) : int(y + reach), int(x - half) : int(x + half)].any()
    # The mouth is not placed by proportion from the eyes and nose either: nothing below the
    # nose's own marks.
    nose_y = full.anchor("nose_tip").y * SIZE / CROP
    assert not drawn[int(nose_y + reach) + 4 :].any()


def test_nothing_is_drawn_on_a_hand_even_over_a_sure_eye():
    hand_centre = (0.6, 0.52)
    cues = with_hand(posed_cues("frontal"), hand_centre)  # eye_right stays 0.9 sure
    drawn = _drawn(cues)
    on_hand = np.repeat(np.repeat(hand_mask(CROP, hand_centre) > 0.05, 4, axis=0), 4, axis=1)
    assert on_hand.sum() > 0
    assert not (drawn & on_hand).any()
    # And the eye under it is not drawn in part beside the fingers.
    eye = cues.anchor("eye_right")
    x, y = eye.x * SIZE / CROP, eye.y * SIZE / CROP
    reach = REACH * _diagonal(cues)
    half = HALF_WIDTH["eye_right"] * _diagonal(cues) + reach
    assert not drawn[int(y - reach) : int(y + reach), int(x - half) : int(x + half)].any()
    # The other eye still is.
    other = cues.anchor("eye_left")
    x, y = other.x * SIZE / CROP, other.y * SIZE / CROP
    assert drawn[int(y - reach) : int(y + reach), int(x - half) : int(x + half)].sum() > 30


def test_nothing_is_drawn_on_an_unsure_region():
    cues = posed_cues("frontal")
    low = np.zeros((CROP, CROP), np.float32)
    mouth = cues.anchor("mouth")
    low[int(mouth.y) - 14 : int(mouth.y) + 14, int(mouth.x) - 30 : int(mouth.x) + 30] = 1.0
    drawn = _drawn(dataclasses.replace(cues, low_confidence=low))
    unsure = np.repeat(np.repeat(low > 0.5, 4, axis=0), 4, axis=1)
    assert not (drawn & unsure).any()


def test_features_are_scaled_to_the_face():
    small = posed_cues("frontal", size=128)
    large = posed_cues("frontal", size=256)
    widths = []
    for cues, crop in ((small, 128), (large, 256)):
        drawn = _drawn(cues)
        eye = cues.anchor("eye_left")
        y = int(eye.y * SIZE / crop)
        columns = np.nonzero(drawn[y - 30 : y + 30, : SIZE // 2].any(axis=0))[0]
        widths.append((columns.max() - columns.min()) / _diagonal(cues))
    # The same face framed the same way: the same eye width over the face's diagonal,
    # whatever the scan's resolution.
    assert abs(widths[0] - widths[1]) < 0.02
    assert 0.08 < widths[1] < 0.16


@pytest.mark.parametrize("pose", ["profile-left", "profile-right"])
def test_a_profile_scan_s_lips_are_drawn_at_the_notch_of_its_outline(pose):
    # A profile's nose tip and lips are points of its outline, which vision reads as sure;
    # the engine read their trust on the outline itself (the subject's edge: none), and the
    # face turned from the scanner's light lies in its own shade there: no profile scan got
    # its lips drawn, nor its nose (0 of 12 phantoms; 12 of 12 now).
    scan = phantom.make_phantom(pose=pose, palette="surface-smooth", seed=5)
    buffer = io.BytesIO()
    Image.fromarray(scan.image).save(buffer, "JPEG", quality=90)
    cues = analyze(ingest(buffer.getvalue()))
    assert cues.pose == pose
    mouth = cues.anchor("mouth")
    assert mouth is not None and mouth.confidence >= SURE
    drawn = _drawn(cues)
    scale = drawn.shape[1] / cues.crop_box.width
    mx, my = (mouth.x - cues.crop_box.x0) * scale, (mouth.y - cues.crop_box.y0) * scale
    diagonal = math.hypot(cues.face_box.width, cues.face_box.height) * scale
    reach = REACH * diagonal
    ys, xs = np.nonzero(drawn[int(my - reach) : int(my + reach)])
    assert xs.size > 30
    # ... behind its front, the notch: nothing past the outline.
    ahead = 0.015 * diagonal
    forward = (xs < mx - ahead) if pose == "profile-left" else (xs > mx + ahead)
    assert not forward.any()
    # And the nose: its tip's light and the shadow under it, as strong as the relief at its
    # tip (on this left-facing scan too faint to count; 6 of 6 right-facing phantoms and 3 of
    # 6 left-facing ones show it).
    tip = cues.anchor("nose_tip")
    assert tip is not None and tip.confidence >= SURE
    if pose == "profile-right":
        tx, ty = (tip.x - cues.crop_box.x0) * scale, (tip.y - cues.crop_box.y0) * scale
        near = drawn[int(ty - reach) : int(ty + reach), int(tx - 2 * reach) : int(tx + 2 * reach)]
        assert near.sum() > 30
