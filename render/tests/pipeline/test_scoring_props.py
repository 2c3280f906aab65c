"""Scoring leaves the set out: pixels a candidate marks as props (a wrap) are not the face.

A faithful wrapped render must score as a faithful render, a chin the wrap hides is not
measurable (not "moved"), and a candidate without props scores exactly as before.
"""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines.relight import RelightEngine
from render.pipeline.scoring import WEIGHTS, rank, score_candidate
from render.pipeline.types import RenderedCandidate
from render.tests.pipeline.synthetic_cues import ANCHOR_FRACTIONS, synthetic_cues

SEEDS = [1, 2, 3, 4, 5, 6, 7]


@pytest.fixture(scope="module")
def conditioning():
    return build(synthetic_cues(256), blend_tone([4]))


@pytest.fixture(scope="module")
def wrapped(conditioning):
    return RelightEngine(output_long_side=512, wrap=True).render(conditioning, SEEDS)


def test_a_faithful_wrapped_render_is_not_rejected_as_adult_drift(conditioning, wrapped):
    for scored in rank(conditioning, wrapped):
        assert scored.rejected_reason == ""
        assert scored.terms["neonatal"] > 0.8
        assert scored.terms["anchors"] == pytest.approx(1.0)
        assert scored.terms["structure"] > 0.8
        assert scored.terms["delta_e"] < 5.0


def test_the_same_render_without_its_props_would_be_misjudged(conditioning, wrapped):
    # What the props are for: read as face, the wrap's edge lowers the structure agreement
    # (and can pass for a longer jaw).
    with_props = rank(conditioning, wrapped)
    without = rank(conditioning, [replace(c, props=None) for c in wrapped])
    worst_with = min(s.terms["structure"] for s in with_props)
    worst_without = min(s.terms["structure"] for s in without)
    assert worst_without < worst_with - 0.1


def test_noise_under_the_props_does_not_change_the_score(conditioning, wrapped):
    rng = np.random.default_rng(3)
    for candidate in wrapped[:3]:
        noisy = candidate.image.copy()
        hidden = candidate.props >= 0.5
        noisy[hidden] = rng.integers(0, 256, (int(hidden.sum()), 3), dtype=np.uint8)
        # Make the props crisp so the noise is exactly where they say the set is.
        crisp = hidden.astype(np.float32)
        before = score_candidate(conditioning, replace(candidate, props=crisp))
        after = score_candidate(conditioning, replace(candidate, image=noisy, props=crisp))
        assert after.total == pytest.approx(before.total, abs=1e-9)
        assert after.terms == pytest.approx(before.terms, abs=1e-9)
        # The same noise, not marked as the set, is judged as the face and costs the score.
        unmarked = score_candidate(conditioning, replace(candidate, image=noisy, props=None))
        assert unmarked.total < before.total - 0.05


def test_a_chin_hidden_by_a_prop_is_not_measurable_not_moved(conditioning, wrapped):
    # A prop over the whole lower face: the chin cannot be re-found, and that is no evidence
    # of drift; the anchors still visible are all re-found.
    candidate = wrapped[0]
    height, width = candidate.image.shape[:2]
    props = candidate.props.copy()  # its own wrap and any hat, and ...
    props[int((ANCHOR_FRACTIONS["mouth"][1] + 0.04) * height) :] = 1.0
    scored = score_candidate(conditioning, replace(candidate, props=props))
    assert scored.rejected_reason == ""
    assert scored.terms["neonatal"] == 1.0  # nothing measurable: no drift either way
    assert scored.terms["anchors"] == pytest.approx(1.0)


def test_all_zero_props_score_exactly_as_no_props(conditioning, wrapped):
    bare = RelightEngine(output_long_side=512, wrap=False).render(conditioning, SEEDS[:2])
    for candidate in bare:
        zero = np.zeros(candidate.image.shape[:2], np.float32)
        a = score_candidate(conditioning, candidate)
        b = score_candidate(conditioning, replace(candidate, props=zero))
        assert a.total == b.total and a.terms == b.terms


def test_a_damaged_or_upside_down_wrapped_candidate_still_ranks_last(conditioning, wrapped):
    smeared = RenderedCandidate(
        999, cv2.GaussianBlur(wrapped[0].image, (0, 0), 20), "relight", props=wrapped[0].props
    )
    flipped = RenderedCandidate(
        7, np.ascontiguousarray(wrapped[0].image[::-1]), "relight", props=wrapped[0].props[::-1]
    )
    for bad in (smeared, flipped):
        ranking = rank(conditioning, [bad, *wrapped])
        assert ranking[-1].candidate.seed == bad.seed
        assert ranking[-1].terms["structure"] < ranking[0].terms["structure"] - 0.3


def test_props_of_the_wrong_size_are_refused(conditioning, wrapped):
    candidate = replace(wrapped[0], props=np.zeros((10, 10), np.float32))
    with pytest.raises(ValueError, match="props are 10x10 px but the image is"):
        score_candidate(conditioning, candidate)


def test_every_term_stays_in_0_to_1_with_props(conditioning, wrapped):
    for scored in rank(conditioning, wrapped):
        assert all(0.0 <= scored.terms[name] <= 1.0 for name in WEIGHTS)
