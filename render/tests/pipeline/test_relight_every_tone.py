"""The CPU look holds at every Monk tone: features as legible on deep skin as on fair, skin
that reads as warm skin rather than an ashy grey, the scan's ripple smoothed while its forms
stay, and the look offered under its honest name, "Studio light".

Legibility is the fairness measure (``bench.engines.face_contrast``): the RMS of the
OKLab lightness band-passed at the scale of lash lines, creases and lip borders, over the
face's own skin. OKLab steps are equally visible at any lightness, so deep skin must show
about the same steps as fair skin, not the same ratios of light.
"""

import dataclasses

import cv2
import numpy as np
import pytest
from coloraide import Color

from bench.engines import FAIRNESS_GOAL_CONTRAST_RATIO, face_contrast, face_region
from render.pipeline.conditioning import MONK_SKIN_TONES, STYLES, blend_tone, build, engine_look
from render.pipeline.engines.relight import RelightEngine
from render.pipeline.scoring import skin_delta_e
from render.tests.pipeline.posed_cues import posed_cues
from render.tests.pipeline.synthetic_cues import normals_from_depth, synthetic_cues

CUES = synthetic_cues(256, occluded=False)
SEEDS = [1, 2, 3]
SIZE = 512


def _candidates(cues, monk: int, **options) -> list:
    return RelightEngine(output_long_side=SIZE, **options).render(
        build(cues, blend_tone([monk])), SEEDS
    )


def _contrast(cues, monk: int) -> float:
    region = face_region(cues, (SIZE, SIZE))
    values = []
    for candidate in _candidates(cues, monk):
        clear = region if candidate.props is None else region & (candidate.props <= 0.0)
        values.append(face_contrast(candidate.image, clear)[0])
    return float(np.median(values))


@pytest.fixture(scope="module")
def contrasts() -> dict[int, float]:
    return {monk: _contrast(CUES, monk) for monk in MONK_SKIN_TONES}


def test_features_are_as_legible_at_every_tone_as_at_tone_3(contrasts):
    reference = contrasts[3]
    ratios = {monk: round(value / reference, 2) for monk, value in contrasts.items()}
    print(f"\nface contrast over tone 3's: {ratios}")
    assert min(ratios.values()) >= FAIRNESS_GOAL_CONTRAST_RATIO, ratios


def test_every_tone_keeps_the_parents_colour():
    face = (
        cv2.resize(
            ((CUES.subject > 0.95) & (CUES.low_confidence < 0.05)).astype(np.uint8), (SIZE, SIZE)
        )
        > 0
    )
    for monk in (1, 3, 6, 8, 9, 10):
        tone = blend_tone([monk])
        for candidate in _candidates(CUES, monk):
            clear = face if candidate.props is None else face & (candidate.props <= 0.0)
            assert skin_delta_e(candidate.image, tone.hex, clear) < 4.0, monk


def _oklch(pixels: np.ndarray) -> np.ndarray:
    return np.array(
        [Color("srgb", list(p / 255.0)).convert("oklch").coords(nans=False) for p in pixels]
    )


@pytest.mark.parametrize("monk", [9, 10])
def test_deep_skin_reads_as_warm_skin_not_ash(monk):
    # The lit skin (the upper third of the face's lightness) of the deepest, near-neutral
    # swatches: a warm brown with a skin's chroma, not a grey film over it.
    region = face_region(CUES, (SIZE, SIZE))
    swatch = Color(MONK_SKIN_TONES[monk]).convert("oklch").coords(nans=False)
    # Bare-headed: the best-lit skin is the forehead, which a hat (test_relight_hat.py) covers.
    for candidate in _candidates(CUES, monk, hat=False):
        pixels = candidate.image[region & (candidate.props <= 0.0)]
        luma = pixels.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)
        lit = pixels[luma >= np.percentile(luma, 67)][::25]
        lightness, chroma, hue = np.median(_oklch(lit.astype(np.float64)), axis=0)
        assert chroma > max(swatch[1] * 1.5, 0.025), (monk, chroma)
        assert 25.0 < hue < 85.0  # orange-brown, neither grey-green nor pink
        assert lightness > swatch[0]


def _rippled(cues, amplitude: float = 0.012, seed: int = 4):
    """The scan's depth with the ripple and speckle a scanner adds at skin scale."""
    rng = np.random.default_rng(seed)
    size = cues.depth.shape[0]
    ripple = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 1.5)
    ripple *= amplitude / float(ripple.std())
    depth = np.clip(cues.depth + ripple * (cues.subject > 0.5), 0.0, 1.0).astype(np.float32)
    return dataclasses.replace(cues, depth=depth, normals=normals_from_depth(depth))


def test_ripple_is_smoothed_at_skin_scale_and_the_forms_stay():
    clean = _candidates(CUES, 5, wrap=False)[0].image.astype(np.float32)
    rippled = _candidates(_rippled(CUES), 5, wrap=False)[0].image.astype(np.float32)
    luma = np.array([0.2126, 0.7152, 0.0722], np.float32)
    clean, rippled = clean @ luma, rippled @ luma
    # Open skin (the forehead): the ripple the scan added is almost all gone.
    forehead = (
        slice(int(0.22 * SIZE), int(0.38 * SIZE)),
        slice(int(0.38 * SIZE), int(0.62 * SIZE)),
    )

    def fine(image: np.ndarray) -> np.ndarray:
        return image - cv2.GaussianBlur(image, (0, 0), 4.0)

    added = np.abs(fine(rippled) - fine(clean))[forehead].mean()
    assert added < 1.0, added  # under a level of 8-bit detail
    # Forms: the nose's shaded side is as strong as without the ripple.
    nose = (slice(int(0.52 * SIZE), int(0.64 * SIZE)), slice(int(0.42 * SIZE), int(0.58 * SIZE)))
    edges = [
        np.abs(cv2.Sobel(cv2.GaussianBlur(i, (0, 0), 2.0), cv2.CV_32F, 1, 0))[nose].mean()
        for i in (clean, rippled)
    ]
    assert edges[1] > 0.8 * edges[0]


def test_the_look_is_offered_as_studio_light_for_every_style():
    look = engine_look(RelightEngine.name)
    assert look.name == "Studio light" and not look.photoreal
    labels = {offer.key: offer.label for offer in look.styles}
    assert set(labels) == set(STYLES)
    assert labels["classic"] == "Studio light"
    assert all(label.startswith("Studio light") for label in labels.values())
    assert len(set(labels.values())) == len(labels)


def test_a_profile_keeps_most_of_its_legibility_at_tone_10():
    # Short of the frontal goal (0.7): a profile's face region is mostly the plain side of
    # the head, whose skin grain is kept softer on deep skin than on fair (raised by the tone
    # as much, it reads as rough), and one eye and half a mouth carry less of the contrast.
    profile = posed_cues("profile-left")
    ratio = _contrast(profile, 10) / _contrast(profile, 3)
    print(f"\nprofile: tone 10's face contrast {ratio:.2f}× tone 3's")
    assert ratio >= 0.6
