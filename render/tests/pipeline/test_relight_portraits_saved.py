"""Primaries of six posed fixtures, saved for a person to look at (``test-artifacts/portraits/``).

Frontal, three-quarter and profile faces at a fair and the deepest Monk tone, a hand over the
face before and after Fix Anatomy: what a parent would receive from the CPU engine. The test
checks each file reads back as the render; judging the look is for the eye.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines import candidate_seeds
from render.pipeline.engines.relight import RelightEngine
from render.pipeline.scoring import rank
from render.tests.pipeline.posed_cues import posed_cues, with_hand

PORTRAITS = Path(__file__).resolve().parents[3] / "test-artifacts" / "portraits"

FIXTURES = {
    "frontal-monk3": (posed_cues("frontal"), 3, 0.0),
    "three-quarter-left-monk10": (posed_cues("three-quarter-left"), 10, 0.0),
    "profile-right-monk6": (posed_cues("profile-right"), 6, 0.0),
    "profile-left-monk10": (posed_cues("profile-left"), 10, 0.0),
    "hand-monk8": (with_hand(posed_cues("frontal")), 8, 0.0),
    "hand-fixed-monk8": (with_hand(posed_cues("frontal")), 8, 0.8),
}


def test_the_primaries_of_six_fixtures_are_saved_as_portraits():
    PORTRAITS.mkdir(parents=True, exist_ok=True)
    for name, (cues, monk, correction) in FIXTURES.items():
        conditioning = build(cues, blend_tone([monk]), correction_strength=correction)
        candidates = RelightEngine().render(conditioning, candidate_seeds(3))
        primary = rank(conditioning, candidates)[0].candidate.image
        path = PORTRAITS / f"relight-{name}.png"
        Image.fromarray(primary).save(path)
        assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), primary)
