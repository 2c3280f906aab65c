"""The relight engine's wrap: a seeded knit or muslin rising round the cheeks and chin.

It is part of the set, like the paper: it hides the head's lower outline and fills the
frame's bottom, but never touches the eyes, nose or mouth, which only the scan may show.
"""

import math

import cv2
import numpy as np
import pytest
from coloraide import Color

from render.pipeline import phantom
from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines import candidate_seeds
from render.pipeline.engines.relight import RelightEngine
from render.pipeline.engines.relight.colour import hex_to_linear
from render.pipeline.engines.relight.props import _WRAP_DARKEST, _wrap_albedo
from render.pipeline.ingest import ingest
from render.pipeline.vision import analyze
from render.tests.pipeline.synthetic_cues import ANCHOR_FRACTIONS, synthetic_cues
from render.tests.pipeline.test_portraits_from_phantom_scans import jpeg

CUES = synthetic_cues(256, occluded=False)
SIZE = 1024
CONDITIONING = build(CUES, blend_tone([5]), background_hex="#f3ece4")
SEEDS = candidate_seeds(7)


@pytest.fixture(scope="module")
def wrapped() -> list[np.ndarray]:
    # The hat some candidates wear is tested on its own (test_relight_hat.py).
    return [c.image for c in RelightEngine(wrap=True, hat=False).render(CONDITIONING, SEEDS)]


@pytest.fixture(scope="module")
def bare() -> list[np.ndarray]:
    return [c.image for c in RelightEngine(wrap=False).render(CONDITIONING, SEEDS)]


def _difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pixel, how far two renders differ, the weave's fine pattern averaged out."""
    a = cv2.GaussianBlur(a.astype(np.float32), (0, 0), 1.5)
    b = cv2.GaussianBlur(b.astype(np.float32), (0, 0), 1.5)
    return np.abs(a - b).max(axis=2)


def _lower_outline() -> list[tuple[int, int]]:
    """Points on the head's outline beside the jaw and under the chin, at render size."""
    subject = cv2.resize(CUES.subject, (SIZE, SIZE)) > 0.5
    points = []
    for fraction in (0.84, 0.88):
        row = int(fraction * SIZE)
        cols = np.nonzero(subject[row])[0]
        points += [(row, int(cols.min())), (row, int(cols.max()))]
    rows = np.nonzero(subject.any(axis=1))[0]
    points.append((int(rows.max()), SIZE // 2))
    return points


def test_the_wrap_fills_the_bottom_corners_and_hides_the_lower_outline(wrapped, bare):
    for on, off in zip(wrapped, bare, strict=True):
        changed = _difference(on, off) > 12
        for corner in (changed[-60:, :60], changed[-60:, -60:]):
            assert corner.mean() > 0.95
        assert changed[-20:].mean() > 0.95  # the whole bottom edge
        difference = _difference(on, off)
        for row, col in _lower_outline():
            # Fabric over the outline: on average far from the bare render's skin and paper.
            assert difference[row - 6 : row + 7, col - 6 : col + 7].mean() > 20.0
        # ... and it stays off the top of the head.
        assert not (_difference(on[: int(0.45 * SIZE)], off[: int(0.45 * SIZE)]) > 0).any()


def test_eyes_nose_and_mouth_are_pixel_identical_to_a_render_without_it(wrapped, bare):
    gap = (ANCHOR_FRACTIONS["eye_right"][0] - ANCHOR_FRACTIONS["eye_left"][0]) * SIZE
    half = int(0.12 * gap)
    for on, off in zip(wrapped, bare, strict=True):
        for name in ("eye_left", "eye_right", "nose_tip", "mouth"):
            fx, fy = ANCHOR_FRACTIONS[name]
            x, y = int(fx * SIZE), int(fy * SIZE)
            window = (slice(y - half, y + half + 1), slice(x - half, x + half + 1))
            assert np.array_equal(on[window], off[window]), name
        # A clear margin below the lips too.
        mouth_y = int(ANCHOR_FRACTIONS["mouth"][1] * SIZE)
        below = (slice(mouth_y, mouth_y + int(0.2 * gap)), slice(SIZE // 2 - 20, SIZE // 2 + 20))
        assert np.array_equal(on[below], off[below])


def _wrap_colour(image: np.ndarray) -> Color:
    strip = image[-90:-30, 40:-40].reshape(-1, 3).astype(np.float64)
    return Color("srgb", list(np.median(strip, axis=0) / 255.0))


def test_seeds_give_different_wrap_colours_and_folds(wrapped):
    colours = [_wrap_colour(image) for image in wrapped]
    differences = [
        colours[i].delta_e(colours[j], method="2000")
        for i in range(len(colours))
        for j in range(i + 1, len(colours))
    ]
    assert sum(d > 3.0 for d in differences) >= 7
    # The folds: the fabric's broad shading differs between seeds, not just its colour.
    shading = []
    for image in wrapped:
        luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        broad = cv2.GaussianBlur(luma, (0, 0), 6.0)[-200:, 100:-100]
        shading.append((broad - broad.mean()).ravel())
    for i in range(len(shading)):
        for j in range(i + 1, len(shading)):
            assert np.corrcoef(shading[i], shading[j])[0, 1] < 0.9


def test_the_same_seed_renders_an_identical_wrap(wrapped):
    again = RelightEngine(wrap=True, hat=False).render(CONDITIONING, SEEDS[:2])
    for first, second in zip(wrapped[:2], again, strict=True):
        assert np.array_equal(first, second.image)


def test_the_wrap_is_a_shade_of_the_studio_palette():
    hue = Color("#f3ece4").convert("oklch").coords(nans=False)[2]
    for image in [c.image for c in RelightEngine(wrap=True).render(CONDITIONING, SEEDS)]:
        wrap_hue = _wrap_colour(image).convert("oklch").coords(nans=False)[2]
        turn = abs((wrap_hue - hue + 180.0) % 360.0 - 180.0)
        assert turn < 45.0


def test_the_fabric_has_a_weave_visible_at_full_size(wrapped, bare):
    for on, off in zip(wrapped, bare, strict=True):
        covered = _difference(on, off) > 12
        covered[-int(0.2 * SIZE) :] = False  # the defocused bottom is soft on purpose
        luma = cv2.cvtColor(on, cv2.COLOR_RGB2GRAY).astype(np.float32)
        fine = luma - cv2.GaussianBlur(luma, (0, 0), 2.0)
        assert math.sqrt(float((fine[covered] ** 2).mean())) > 2.0
        # The bottom edge is out of focus: less fine detail there than up by the face.
        bottom = fine[-40:, 40:-40]
        assert float(np.abs(bottom).mean()) < float(np.abs(fine[covered]).mean())


@pytest.fixture(scope="module")
def wrapped_candidates():
    return RelightEngine(wrap=True, hat=False).render(CONDITIONING, SEEDS)


def test_the_props_mask_covers_the_wrap_and_is_empty_above_the_mouth(wrapped_candidates, bare):
    mouth_y = int(ANCHOR_FRACTIONS["mouth"][1] * SIZE)
    left = int(ANCHOR_FRACTIONS["eye_left"][0] * SIZE)
    right = int(ANCHOR_FRACTIONS["eye_right"][0] * SIZE)
    for candidate, off in zip(wrapped_candidates, bare, strict=True):
        props = candidate.props
        assert props is not None and props.dtype == np.float32
        assert props.shape == candidate.image.shape[:2]
        assert 0.0 <= props.min() and props.max() <= 1.0
        # Everything the wrap changed (fabric, and its shadow on skin and paper) is marked;
        # the fabric itself at 0.5 or more, a shadow or soft edge only below that.
        changed = _difference(candidate.image, off) > 12
        assert changed.sum() > 0.15 * SIZE * SIZE
        assert (props[changed] > 0.0).all()
        fabric = _difference(candidate.image, off) > 40
        assert np.mean(props[fabric] >= 0.5) > 0.9
        assert (props[-60:] > 0.99).all()  # the fabric filling the frame's bottom
        # Nothing of the face above the mouth, nor the top of the head, is called the set.
        assert not props[:mouth_y, left:right].any()
        assert not props[: int(0.45 * SIZE)].any()


def test_without_the_wrap_there_are_no_props():
    for candidate in RelightEngine(wrap=False).render(CONDITIONING, SEEDS[:2]):
        assert candidate.props is None


def test_the_wrap_is_on_by_default(wrapped):
    default = RelightEngine(hat=False).render(CONDITIONING, SEEDS[:1])[0]
    assert np.array_equal(default.image, wrapped[0]) and default.props is not None


def test_no_island_of_paper_opens_between_a_turned_chin_and_the_wrap() -> None:
    # A three-quarter face's nose and mouth sit near its outline: the wrap keeps clear of them
    # on the face, but past the outline it must close round the chin, or the paper shows
    # through a hole (seen at every tone before: a loop of backdrop under the mouth).
    scan = phantom.make_phantom(pose="three-quarter-left", palette="hdlive-skin")
    conditioning = build(analyze(ingest(jpeg(scan.image))), blend_tone([10]))
    for candidate in RelightEngine().render(conditioning, candidate_seeds(3)):
        grey = cv2.cvtColor(candidate.image, cv2.COLOR_RGB2GRAY)
        paper = (grey > 170).astype(np.uint8)  # the cream set; skin and wrap are dark at tone 10
        count, labels, stats, _ = cv2.connectedComponentsWithStats(paper, connectivity=8)
        height, width = grey.shape
        islands = [
            int(stats[i, cv2.CC_STAT_AREA])
            for i in range(1, count)
            if stats[i, cv2.CC_STAT_AREA] > 40
            and stats[i, cv2.CC_STAT_LEFT] > 0
            and stats[i, cv2.CC_STAT_TOP] > 0
            and stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH] < width
            and stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT] < height
        ]
        assert islands == [], f"paper enclosed by the head and the wrap: {islands} px"


@pytest.mark.parametrize("pose", ["three-quarter-left", "three-quarter-right"])
def test_a_turned_face_keeps_its_profile_clear_of_the_wrap(pose: str) -> None:
    # On the side a turned face looks to, its outline is its profile: brow, nose, lips, chin.
    # The wrap rises high only round the back of the head there; before, it rose to the cheek
    # on both sides and covered the lips and chin from the side.
    scan = phantom.make_phantom(pose=pose, palette="hdlive-skin", seed=5)
    conditioning = build(analyze(ingest(jpeg(scan.image))), blend_tone([4]))
    cues = conditioning.cues
    mouth, chin = cues.anchor("mouth"), cues.anchor("chin")
    assert mouth is not None and chin is not None
    facing = -1 if pose.endswith("left") else 1
    for candidate in RelightEngine().render(conditioning, candidate_seeds(3)):
        props = candidate.props > 0.5
        scale = props.shape[0] / cues.depth.shape[0]
        # The lips and the chin's front, halfway to the chin point (the wrap may close round
        # the chin itself), from the feature out past the outline on the side it looks to.
        for name, t in (("lips", 0.0), ("chin's front", 0.5)):
            row = int((mouth.y + t * (chin.y - mouth.y) - cues.crop_box.y0) * scale)
            x = int((mouth.x + t * (chin.x - mouth.x) - cues.crop_box.x0) * scale)
            band = props[row, x:] if facing > 0 else props[row, : x + 1]
            assert band.mean() < 0.1, (name, float(band.mean()))


def test_the_wraps_edge_meets_the_face_without_a_notch() -> None:
    # Where the ellipse kept clear round a cheek met the neckline, a hard maximum cut a notch
    # into the fabric's edge beside the chin (its edge jumped 30-70 px from one column to the
    # next); a smooth one rounds it, as cloth lies.
    scan = phantom.make_phantom(palette="voluson-gold", seed=10)
    conditioning = build(analyze(ingest(jpeg(scan.image))), blend_tone([3]))
    for candidate in RelightEngine(hat=False).render(conditioning, candidate_seeds(7)):
        wrap = candidate.props >= 0.5
        height, width = wrap.shape
        top = np.array(
            [np.argmax(wrap[:, x]) if wrap[:, x].any() else height for x in range(width)]
        )
        bend = np.abs(top[2:] - 2 * top[1:-1] + top[:-2])
        assert bend.max() < 20, (candidate.seed, int(bend.max()), int(np.argmax(bend)))


@pytest.mark.parametrize("paper", ["#f3ece4", "#8a7a6a", "#1a2238"])
def test_the_wrap_is_a_visible_step_from_the_skin_and_never_near_black(paper: str) -> None:
    # On a dark studio paper the full step taken the one way with room sank deep tones' wraps
    # to near-black; a light paper kept them under it.
    backdrop = hex_to_linear(paper)
    for monk in range(1, 11):
        tone = blend_tone([monk]).hex
        skin = Color(tone).convert("oklch").coords(nans=False)[0]
        for seed in range(20):
            albedo = _wrap_albedo(paper, tone, backdrop, np.random.default_rng(seed))
            shade = Color("srgb-linear", [float(c) for c in albedo]).convert("oklch")
            lightness = shade.coords(nans=False)[0]
            assert abs(lightness - skin) >= 0.11, (paper, monk, seed, lightness, skin)
            assert lightness >= _WRAP_DARKEST - 0.02, (paper, monk, seed, lightness)
