"""Scoring's array maths give the figures the per-placement and per-pixel versions gave.

The masked correlation (a candidate with props) is built from ``cv2.matchTemplate`` sums and
skin colour converts whole arrays; the reference versions below are the ones they replaced
(4-D sliding windows; coloraide one pixel at a time).
"""

import numpy as np
import pytest
from coloraide import Color

from render.pipeline import scoring
from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines.relight import RelightEngine
from render.tests.pipeline.synthetic_cues import synthetic_cues


def _masked_match_sliding(region, template, hidden):
    th, tw = template.shape
    windows = np.lib.stride_tricks.sliding_window_view(region, (th, tw))
    visible = np.lib.stride_tricks.sliding_window_view(~hidden, (th, tw)).astype(np.float32)
    count = visible.sum(axis=(2, 3))
    safe = np.maximum(count, 1.0)
    t_mean = (visible * template).sum(axis=(2, 3)) / safe
    r_mean = (visible * windows).sum(axis=(2, 3)) / safe
    t_dev = (template - t_mean[..., None, None]) * visible
    r_dev = (windows - r_mean[..., None, None]) * visible
    dot = (t_dev * r_dev).sum(axis=(2, 3))
    norm = np.sqrt((t_dev**2).sum(axis=(2, 3)) * (r_dev**2).sum(axis=(2, 3)))
    response = np.where(norm > 1e-9, dot / np.maximum(norm, 1e-9), 0.0)
    response[count < scoring._MIN_VISIBLE * th * tw] = -np.inf
    return response.astype(np.float32)


def _skin_delta_e_per_pixel(image, target_hex, face):
    pixels = image[face]
    grey = pixels.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    low, high = np.percentile(grey, [25.0, 85.0])
    mid = pixels[(grey >= low) & (grey <= high)]
    step = max(1, mid.shape[0] // 400)
    labs = np.array(
        [Color("srgb", list(p / 255.0)).convert("lab-d65").coords() for p in mid[::step]]
    )
    median = np.median(labs, axis=0)
    return float(Color("lab-d65", list(median)).delta_e(Color(target_hex), method="2000"))


@pytest.fixture(scope="module")
def conditioning():
    return build(synthetic_cues(256), blend_tone([6]))


@pytest.fixture(scope="module")
def wrapped(conditioning):
    return RelightEngine(output_long_side=512, wrap=True).render(conditioning, [1, 2, 3, 4, 5])


def test_the_masked_correlation_matches_the_sliding_window_one():
    rng = np.random.default_rng(4)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(60, 40)), axis=0), axis=1).astype(np.float32)
    region = (smooth - smooth.min()) / np.ptp(smooth)
    template = region[20:41, 10:31].copy()
    hidden = np.zeros(region.shape, bool)
    hidden[35:, :] = True  # a wrap over the lower part
    hidden[:, 30:33] = True
    fast = scoring._masked_match(region, template, hidden)
    slow = _masked_match_sliding(region, template, hidden)
    assert fast.shape == slow.shape
    assert np.array_equal(np.isinf(fast), np.isinf(slow))
    seen = np.isfinite(slow)
    assert seen.sum() > 100
    assert np.abs(fast[seen] - slow[seen]).max() < 1e-4
    assert np.unravel_index(np.argmax(fast), fast.shape) == np.unravel_index(
        np.argmax(slow), slow.shape
    )


def test_wrapped_candidates_rank_and_score_as_before(conditioning, wrapped, monkeypatch):
    assert all(c.props is not None and c.props.any() for c in wrapped)
    now = scoring.rank(conditioning, wrapped)
    monkeypatch.setattr(scoring, "_masked_match", _masked_match_sliding)
    monkeypatch.setattr(scoring, "skin_delta_e", _skin_delta_e_per_pixel)
    before = scoring.rank(conditioning, wrapped)
    assert [s.candidate.seed for s in now] == [s.candidate.seed for s in before]
    for fast, slow in zip(now, before, strict=True):
        assert fast.rejected_reason == slow.rejected_reason
        assert fast.terms["delta_e"] == pytest.approx(slow.terms["delta_e"], abs=0.01)
        for name in scoring.WEIGHTS:
            assert fast.terms[name] == pytest.approx(slow.terms[name], abs=1e-4), name
        assert fast.total == pytest.approx(slow.total, abs=1e-4)


def test_skin_delta_e_matches_coloraide_pixel_by_pixel(wrapped):
    face = np.zeros(wrapped[0].image.shape[:2], bool)
    face[150:400, 150:380] = True
    for candidate in wrapped:
        for target in ("#a07e56", "#3b2219", "#f1d3bc"):
            assert scoring.skin_delta_e(candidate.image, target, face) == pytest.approx(
                _skin_delta_e_per_pixel(candidate.image, target, face), abs=0.01
            )


def test_lab_of_every_grey_and_primary_matches_coloraide():
    pixels = np.array(
        [[v, v, v] for v in range(0, 256, 5)] + [[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 3, 1]],
        np.uint8,
    )
    expected = [Color("srgb", list(p / 255.0)).convert("lab-d65").coords() for p in pixels]
    assert np.abs(scoring.srgb_to_lab(pixels) - np.array(expected)).max() < 1e-9


def test_the_normal_equations_fit_what_lstsq_fits_and_fall_back_when_columns_repeat() -> None:
    rng = np.random.default_rng(4)
    basis = rng.normal(size=(40_000, 9)).astype(np.float32)
    values = (basis @ rng.normal(size=(9, 3)) + rng.normal(scale=0.1, size=(40_000, 3))).astype(
        np.float32
    )
    reference = np.linalg.lstsq(basis, values, rcond=None)[0]
    assert np.allclose(scoring._least_squares(basis, values), reference, atol=1e-5)
    # A column twice: the normal matrix is singular.
    repeated = np.concatenate([basis, basis[:, :1]], axis=1)
    fitted = repeated @ scoring._least_squares(repeated, values)
    expected = repeated @ np.linalg.lstsq(repeated, values, rcond=None)[0]
    assert np.allclose(fitted, expected, atol=1e-3)
