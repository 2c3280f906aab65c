"""Five candidates of one job give the studio a real choice, and each looks photographed.

Seeds change the set — the paper's shade of the brand colour, where its light pools, the key's
side and softness — never the face: its drawn structure stays put. The skin carries pore-scale
texture a viewer sees at full size but a thumbnail averages away, and its shadows run warm.
"""

import cv2
import numpy as np
import pytest
from coloraide import Color

from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines import candidate_seeds, get_engine
from render.tests.pipeline.synthetic_cues import synthetic_cues

CUES = synthetic_cues(256, occluded=True)
SIZE = 1024
BRAND = "#dfe8f0"


@pytest.fixture(scope="module")
def rendered() -> list:
    conditioning = build(CUES, blend_tone([5]), background_hex=BRAND)
    # Bare-headed: the skin's texture is measured on the forehead a hat would cover.
    return get_engine("relight", hat=False).render(conditioning, candidate_seeds(7))


@pytest.fixture(scope="module")
def five(rendered) -> list[np.ndarray]:
    return [c.image for c in rendered]


def _clear_of_the_wrap(*candidates) -> np.ndarray:
    """Pixels no candidate's wrap (nor its edge's shadow) reaches, with a margin for blurs."""
    props = np.zeros((SIZE, SIZE), np.uint8)
    for candidate in candidates:
        if candidate.props is not None:
            props |= (candidate.props > 0.0).astype(np.uint8)
    return cv2.dilate(props, np.ones((9, 9), np.uint8)) == 0


def _luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)


def _face() -> np.ndarray:
    """Confident face pixels well inside the outline, at render size."""
    face = ((CUES.subject > 0.95) & (CUES.low_confidence < 0.05)).astype(np.uint8)
    face = cv2.erode(face, np.ones((15, 15), np.uint8))
    return cv2.resize(face, (SIZE, SIZE), interpolation=cv2.INTER_NEAREST) > 0


def test_candidates_stand_on_different_shades_of_the_brand_paper(five):
    corners = [
        Color("srgb", list(image[:40, :40].reshape(-1, 3).mean(axis=0) / 255.0)) for image in five
    ]
    differences = [
        corners[i].delta_e(corners[j], method="2000")
        for i in range(len(corners))
        for j in range(i + 1, len(corners))
    ]
    # Seeded draws: two may land close, but the set is a real choice of papers.
    assert min(differences) > 0.5
    assert sum(d > 1.5 for d in differences) >= 7


def test_the_face_s_structure_is_the_same_in_every_candidate(five, rendered):
    # Measured on the face the seeded wraps leave bare in every candidate: the wrap's folds
    # differ by seed on purpose, the face under the light must not.
    face = _face() & _clear_of_the_wrap(*rendered)
    assert face.sum() > 0.5 * _face().sum()

    def edges(image: np.ndarray) -> np.ndarray:
        smooth = cv2.GaussianBlur(_luma(image), (0, 0), 1.5)
        return np.abs(cv2.Laplacian(smooth, cv2.CV_32F))[face]

    maps = [edges(image) for image in five]
    for i in range(len(maps)):
        for j in range(i + 1, len(maps)):
            assert np.corrcoef(maps[i], maps[j])[0, 1] > 0.95


def test_skin_texture_shows_at_full_size_and_averages_away_in_a_thumbnail(five):
    forehead_y, forehead_x = int(0.30 * SIZE), SIZE // 2

    def fine_detail(luma: np.ndarray, y: int, x: int, half: int) -> float:
        detail = np.abs(luma - cv2.GaussianBlur(luma, (0, 0), 2.0))
        return float(detail[y - half : y + half, x - half : x + half].mean())

    for image in five:
        full = fine_detail(_luma(image), forehead_y, forehead_x, 60)
        thumbnail = cv2.resize(image, (SIZE // 4, SIZE // 4), interpolation=cv2.INTER_AREA)
        small = fine_detail(_luma(thumbnail), forehead_y // 4, forehead_x // 4, 15)
        assert full > 1.4 * small


def test_shadowed_skin_is_warmer_than_lit_skin(five, rendered):

    def hue(pixels: np.ndarray) -> float:
        mean = pixels.astype(np.float64).mean(axis=0) / 255.0
        return Color("srgb", list(mean)).convert("oklch").coords(nans=False)[2]

    for image, candidate in zip(five, rendered, strict=True):
        pixels = image[_face() & _clear_of_the_wrap(candidate)]  # skin, not the fabric
        luma = _luma(pixels[None])[0]
        low, high = np.percentile(luma, [15.0, 85.0])
        assert hue(pixels[luma < low]) < hue(pixels[luma > high]) - 8.0
