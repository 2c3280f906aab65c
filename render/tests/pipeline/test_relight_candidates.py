import cv2
import numpy as np
import pytest
from coloraide import Color

from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines import candidate_seeds, get_engine
from render.pipeline.scoring import skin_delta_e
from render.pipeline.types import RenderCancelled
from render.tests.pipeline.synthetic_cues import synthetic_cues

CUES = synthetic_cues(256, occluded=True)


@pytest.fixture(scope="module")
def conditioning():
    return build(CUES, blend_tone([5]), background_hex="#dfe8f0")


@pytest.fixture(scope="module")
def candidates(conditioning):
    return get_engine("relight").render(conditioning, candidate_seeds(7))


def _at_cue_size(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA)


def test_it_renders_five_candidates_with_a_long_side_of_at_least_1024(candidates):
    assert len(candidates) == 5
    for candidate in candidates:
        assert max(candidate.image.shape[:2]) >= 1024
        assert candidate.image.dtype == np.uint8 and candidate.image.shape[2] == 3
        assert candidate.engine == "relight"


def test_candidates_differ_across_seeds_on_the_face(candidates):
    face = CUES.subject > 0.95
    images = [_at_cue_size(c.image).astype(np.int16)[face] for c in candidates]
    # Seeds are drawn at random, so two may land on similar light; all must differ, and the
    # set as a whole must show clearly different light.
    differences = [
        np.abs(images[i] - images[j]).mean()
        for i in range(len(images))
        for j in range(i + 1, len(images))
    ]
    assert min(differences) > 0.3
    assert np.mean(differences) > 2.5


def test_the_same_seed_renders_identical_pixels(conditioning, candidates):
    again = get_engine("relight").render(conditioning, [candidates[2].seed])
    assert np.array_equal(again[0].image, candidates[2].image)


@pytest.mark.parametrize("monk", [1, 5, 10])
def test_rendered_skin_is_close_to_the_target_tone(monk):
    tone = blend_tone([monk])
    rendered = get_engine("relight").render(build(CUES, tone), [11])[0].image
    face = (CUES.subject > 0.95) & (CUES.low_confidence < 0.05)
    assert skin_delta_e(_at_cue_size(rendered), tone.hex, face) < 5.0


def test_every_background_is_a_shade_of_the_brand_colour(candidates):
    # Each seed takes its own roll of the studio's palette: lighter or deeper, softer or
    # richer, never another colour.
    brand = Color("#dfe8f0")
    for candidate in candidates:
        corner = candidate.image[:40, :40].reshape(-1, 3).mean(axis=0) / 255.0
        paper = Color("srgb", list(corner))
        assert paper.delta_e(brand, method="2000") < 7.0
        hue_turn = (paper.convert("oklch")["h"] - brand.convert("oklch")["h"] + 180.0) % 360.0
        assert abs(hue_turn - 180.0) < 20.0


def test_low_confidence_regions_carry_no_more_detail_than_the_scan(candidates):
    occluded = CUES.low_confidence > 0.9
    scan = cv2.cvtColor(CUES.image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    for candidate in candidates:
        rendered = cv2.cvtColor(_at_cue_size(candidate.image), cv2.COLOR_RGB2GRAY)
        rendered = rendered.astype(np.float32)
        scan_detail = (
            np.abs(cv2.Laplacian(scan, cv2.CV_32F))[occluded].mean() / scan[occluded].mean()
        )
        rendered_detail = (
            np.abs(cv2.Laplacian(rendered, cv2.CV_32F))[occluded].mean() / rendered[occluded].mean()
        )
        assert rendered_detail < scan_detail * 0.5


def test_the_black_and_white_style_renders_grey(conditioning):
    mono = build(CUES, blend_tone([5]), style="black-and-white")
    image = get_engine("relight").render(mono, [3])[0].image.astype(np.int16)
    assert np.abs(image[..., 0] - image[..., 2]).max() <= 1


def test_progress_is_reported_after_each_candidate(conditioning):
    fractions: list[float] = []
    get_engine("relight", output_long_side=256).render(
        conditioning, [1, 2, 3], progress=fractions.append
    )
    assert fractions == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_cancel_between_candidates_raises_render_cancelled(conditioning):
    fractions: list[float] = []
    with pytest.raises(RenderCancelled):
        get_engine("relight", output_long_side=256).render(
            conditioning, [1, 2, 3, 4, 5], progress=fractions.append, cancel=lambda: bool(fractions)
        )
    assert fractions == pytest.approx([0.2])


def test_candidate_seeds_are_distinct_and_reproducible():
    seeds = candidate_seeds(1234)
    assert len(set(seeds)) == 5 and seeds == candidate_seeds(1234)
    assert seeds != candidate_seeds(1235)
    assert all(0 <= seed < 2**31 for seed in seeds)


def test_an_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="unknown render engine"):
        get_engine("dalle")


def test_fix_anatomy_paints_the_problem_areas_as_skin_and_barely_touches_the_rest():
    # The synthetic occluder only marks the scan's picture (its depth and normals are the
    # face's): the fix paints it as skin with no structure of its own, and elsewhere only
    # evens the skin's relief a little. (A hand that changes the geometry too is tested in
    # ``test_relight_regenerate_and_fix``.)
    tone = blend_tone([5])
    engine = get_engine("relight", wrap=False)
    first = engine.render(build(CUES, tone), [4])[0].image
    fixed = engine.render(build(CUES, tone, correction_strength=1.0), [4])[0].image
    bare = engine.render(build(synthetic_cues(256, occluded=False), tone), [4])[0].image
    problem = CUES.low_confidence > 0.3
    inside = cv2.erode((CUES.subject > 0.99).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0

    def detail(image: np.ndarray, where: np.ndarray) -> float:
        image = _at_cue_size(image).astype(np.float32)
        return float(np.abs(image - cv2.GaussianBlur(image, (0, 0), 2.0))[where].mean())

    # No more fine structure over the occluder than the face without one has.
    assert detail(fixed, problem & inside) <= 1.1 * detail(bare, problem & inside)
    # Far from it: a level or two.
    far = (cv2.dilate(problem.astype(np.uint8), np.ones((81, 81), np.uint8)) == 0) & inside
    difference = np.abs(_at_cue_size(fixed).astype(np.int16) - _at_cue_size(first))
    assert float(difference.max(axis=2)[far].mean()) < 2.5
