import cv2
import numpy as np
import pytest

from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines import get_engine
from render.pipeline.scoring import WEIGHTS, rank
from render.pipeline.types import RenderedCandidate
from render.tests.pipeline.synthetic_cues import ANCHOR_FRACTIONS, synthetic_cues


@pytest.fixture(scope="module")
def conditioning():
    return build(synthetic_cues(256), blend_tone([4]))


@pytest.fixture(scope="module")
def rendered(conditioning):
    return get_engine("relight", output_long_side=512).render(conditioning, [1, 2, 3])


def _stretch_lower_face(image: np.ndarray, factor: float) -> np.ndarray:
    """Lengthen everything below the mouth, the way a model drifting to an adult face does."""
    height = image.shape[0]
    mouth = int(ANCHOR_FRACTIONS["mouth"][1] * height)
    lower = cv2.resize(image[mouth:], (image.shape[1], int((height - mouth) * factor)))
    stretched = image.copy()
    stretched[mouth:] = lower[: height - mouth]
    return stretched


def test_every_candidate_gets_per_term_scores_and_a_total_in_0_to_1(conditioning, rendered):
    for scored in rank(conditioning, rendered):
        assert set(WEIGHTS) <= set(scored.terms)
        assert all(0.0 <= scored.terms[name] <= 1.0 for name in WEIGHTS)
        assert 0.0 <= scored.total <= 1.0
        assert scored.rejected_reason == ""


def test_faithful_renders_re_find_the_anchors_and_keep_the_tone(conditioning, rendered):
    for scored in rank(conditioning, rendered):
        assert scored.terms["anchors"] == pytest.approx(1.0)
        assert scored.terms["structure"] > 0.8
        assert scored.terms["delta_e"] < 5.0


def test_a_damaged_candidate_ranks_last(conditioning, rendered):
    smeared = cv2.GaussianBlur(rendered[0].image, (0, 0), 20)
    damaged = RenderedCandidate(seed=999, image=smeared, engine="relight")
    ranking = rank(conditioning, [*rendered, damaged])
    assert ranking[-1].candidate.seed == 999
    assert ranking[-1].terms["structure"] < ranking[0].terms["structure"] - 0.3


def test_an_upside_down_face_scores_badly_on_structure_and_ranks_below_faithful_renders(
    conditioning, rendered
):
    flipped = RenderedCandidate(7, np.ascontiguousarray(rendered[0].image[::-1]), "relight")
    ranking = rank(conditioning, [flipped, *rendered])
    assert ranking[-1].candidate.seed == 7
    assert ranking[-1].terms["structure"] < 0.3


def test_adult_drift_is_rejected_and_ranked_last_whatever_its_total(conditioning, rendered):
    adult = RenderedCandidate(500, _stretch_lower_face(rendered[0].image, 1.4), "relight")
    ranking = rank(conditioning, [adult, *rendered])
    assert ranking[-1].candidate.seed == 500
    assert "adult drift" in ranking[-1].rejected_reason
    assert ranking[-1].terms["neonatal"] < 0.5


def test_a_render_in_the_wrong_tone_scores_lower_on_tone(conditioning, rendered):
    wrong = build(conditioning.cues, blend_tone([9]))
    dark = get_engine("relight", output_long_side=512).render(wrong, [1])[0]
    right, off = rank(conditioning, [rendered[0]])[0], rank(conditioning, [dark])[0]
    assert off.terms["delta_e"] > right.terms["delta_e"] + 20
    assert off.terms["tone"] < right.terms["tone"]
