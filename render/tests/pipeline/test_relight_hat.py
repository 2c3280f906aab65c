"""The relight engine's knit hat: on some candidates (its own seeded draw) a beanie covers the
crown, where a scan is least sure of the head, and leaves the brows, eyes, nose and mouth as
the scan saw them. It is a prop like the wrap: scoring leaves it out."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines import candidate_seeds
from render.pipeline.engines.relight import RelightEngine
from render.pipeline.engines.relight.face import FaceLayout
from render.pipeline.engines.relight.props import hat_base
from render.pipeline.house_look import srgb_to_oklab
from render.pipeline.scoring import rank
from render.pipeline.types import RenderedCandidate
from render.tests.pipeline.synthetic_cues import ANCHOR_FRACTIONS, synthetic_cues

CUES = synthetic_cues(256, occluded=False)
SIZE = 1024
CONDITIONING = build(CUES, blend_tone([6]), background_hex="#f3ece4")
SEEDS = candidate_seeds(11, 10)
GAP = (ANCHOR_FRACTIONS["eye_right"][0] - ANCHOR_FRACTIONS["eye_left"][0]) * SIZE


@pytest.fixture(scope="module")
def renders() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(with the hat, its props, without the hat) per seed; the wrap on in both."""
    worn = RelightEngine(hat=True).render(CONDITIONING, SEEDS)
    bare = RelightEngine(hat=False).render(CONDITIONING, SEEDS)
    return [(a.image, a.props, b.image) for a, b in zip(worn, bare, strict=True)]


def _hatted(renders) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return [item for item in renders if not np.array_equal(item[0], item[2])]


def test_some_candidates_wear_a_hat_and_some_do_not(renders) -> None:
    hatted = len(_hatted(renders))
    assert 1 <= hatted <= len(SEEDS) - 2  # a choice for the studio, never all alike


def test_the_hat_covers_the_crown_and_counts_as_a_prop(renders) -> None:
    subject = cv2.resize(CUES.subject, (SIZE, SIZE)) > 0.5
    rows = np.nonzero(subject.any(axis=1))[0]
    assert _hatted(renders)
    crown = (
        slice(int(rows.min()) + 10, int(rows.min()) + 60),
        slice(SIZE // 2 - 60, SIZE // 2 + 60),
    )
    for image, props, bare in _hatted(renders):
        assert (props[crown] >= 0.5).mean() > 0.95
        difference = np.abs(image.astype(np.int16) - bare.astype(np.int16)).max(axis=2)
        assert (difference[crown] > 12).mean() > 0.9  # knit, not the skin it hides


def test_eyes_nose_and_mouth_stay_as_without_it(renders) -> None:
    eye_y = ANCHOR_FRACTIONS["eye_left"][1] * SIZE
    assert _hatted(renders)
    for image, props, bare in _hatted(renders):
        # From a quarter of the eye gap above the lids down (the lids, the eyes, the nose, the
        # mouth), not a pixel changes: neither the knit nor its shadow reaches them. The brim
        # may shade the brows above that, as a real one does.
        below = slice(int(eye_y - 0.25 * GAP), SIZE)
        centre = slice(int(0.3 * SIZE), int(0.7 * SIZE))
        assert np.array_equal(image[below, centre], bare[below, centre])
        for name in ("eye_left", "eye_right"):
            x = int(ANCHOR_FRACTIONS[name][0] * SIZE)
            brow = (slice(int(eye_y - 0.3 * GAP), int(eye_y) + 20), slice(x - 40, x + 41))
            assert not (props[brow] >= 0.5).any(), name  # no knit over a brow


def test_the_same_seed_wears_the_same_hat(renders) -> None:
    index = next(i for i, item in enumerate(renders) if not np.array_equal(item[0], item[2]))
    again = RelightEngine().render(CONDITIONING, [SEEDS[index]])[0]
    assert np.array_equal(again.image, renders[index][0])


def test_a_profile_wears_it_clear_of_its_near_eye_and_none_without_one() -> None:
    near = ("nose_tip", "mouth", "chin", "eye_right")
    profile = replace(
        CUES, pose="profile-left", anchors=tuple(a for a in CUES.anchors if a.name in near)
    )
    conditioning = build(profile, blend_tone([6]))
    worn = RelightEngine(hat=True).render(conditioning, SEEDS[:6])
    bare = RelightEngine(hat=False).render(conditioning, SEEDS[:6])
    hatted = [
        (a, b) for a, b in zip(worn, bare, strict=True) if not np.array_equal(a.image, b.image)
    ]
    assert hatted
    eye_x, eye_y = (f * SIZE for f in ANCHOR_FRACTIONS["eye_right"])
    window = (
        slice(int(eye_y - 0.25 * GAP), int(eye_y + 0.3 * GAP)),
        slice(int(eye_x - 0.3 * GAP), int(eye_x + 0.3 * GAP)),
    )
    for a, b in hatted:
        assert np.array_equal(a.image[window], b.image[window])
    # Without its near eye a profile has no brow to keep the brim above: no hat.
    eyeless = replace(profile, anchors=tuple(a for a in profile.anchors if a.name != "eye_right"))
    conditioning = build(eyeless, blend_tone([6]))
    for a, b in zip(
        RelightEngine(hat=True).render(conditioning, SEEDS[:6]),
        RelightEngine(hat=False).render(conditioning, SEEDS[:6]),
        strict=True,
    ):
        assert np.array_equal(a.image, b.image)


def test_a_hat_does_not_win_the_ranking_by_hiding_the_forehead(renders) -> None:
    # Ranked together, a hatted candidate and the same seed bare are judged on the same
    # pixels above the eyes: the hat can neither help nor hurt its face's score.
    assert _hatted(renders)
    for image, props, bare in _hatted(renders)[:2]:
        seed = next(s for s, item in zip(SEEDS, renders, strict=True) if item[0] is image)
        worn = RenderedCandidate(seed=seed, image=image, engine="relight", props=props)
        bare_props = RelightEngine(hat=False).render(CONDITIONING, [seed])[0].props
        plain = RenderedCandidate(seed=seed, image=bare, engine="relight", props=bare_props)
        ranked = rank(CONDITIONING, [worn, plain])
        assert abs(ranked[0].total - ranked[1].total) < 0.02, [r.terms for r in ranked]
        assert {r.candidate.image is image for r in ranked} == {True, False}  # returned as given


def test_a_hand_apart_from_the_head_above_the_eyes_is_not_knitted_over() -> None:
    # The outline the hat follows is the subject's: a raised hand beside the head, apart from
    # it, is in the subject too. The hat is laid on the head's own piece only.
    size = 400
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    head = np.hypot(xx - 200, yy - 220) < 130
    hand = np.hypot(xx - 30, yy - 120) < 22
    inside = (head | hand).astype(np.uint8)
    outline = cv2.distanceTransform(inside, cv2.DIST_L2, 5) - cv2.distanceTransform(
        1 - inside, cv2.DIST_L2, 5
    )
    layout = FaceLayout(
        eye_left=(160.0, 210.0),
        eye_right=(240.0, 210.0),
        nose=(200.0, 250.0),
        mouth=(200.0, 285.0),
        cheek_left=(140.0, 260.0),
        cheek_right=(260.0, 260.0),
        eye_gap=80.0,
    )
    base = hat_base(outline, layout)
    assert base is not None
    assert base.outline[120, 30] < -80  # the hand: far outside what the hat may cover
    assert base.outline[110, 200] > 0  # the crown: inside


def _oklab_lightness(pixels: np.ndarray) -> float:
    """Median OKLab L of ``pixels`` (N×3 uint8 sRGB)."""
    return float(np.median(srgb_to_oklab(pixels.reshape(-1, 1, 3))[..., 0]))


@pytest.mark.parametrize("monk", [1, 6, 10])
def test_the_hat_and_wrap_stand_apart_from_the_skin_at_every_tone(monk: int) -> None:
    # A relative step vanished on deep skin: a dark hat and wrap made one shape with the head.
    conditioning = build(CUES, blend_tone([monk]), background_hex="#f3ece4")
    subject = cv2.resize(CUES.subject, (SIZE, SIZE)) > 0.5
    for candidate in RelightEngine(hat=True).render(conditioning, SEEDS[:6]):
        assert candidate.props is not None
        skin = subject & (candidate.props <= 0.0)
        cloth = candidate.props >= 0.99
        step = _oklab_lightness(candidate.image[cloth]) - _oklab_lightness(candidate.image[skin])
        assert abs(step) > 0.08, (monk, candidate.seed, step)
