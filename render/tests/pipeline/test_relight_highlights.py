"""The highlight shoulder: fair skin metered to its tone has its lit side far into the roll-off
that keeps highlights off white. Rolled off as a whole, a lid line or a lip border there lost
more than half its depth; the shoulder bends the broad light only and keeps the lines."""

from __future__ import annotations

import numpy as np

from render.pipeline.engines.relight.light import _highlight_shoulder

CEILING = 1.2


def _lit_face_with_lines() -> tuple[np.ndarray, dict[int, float]]:
    """Broad light rising from the shade into the shoulder, crossed by three lines 15% darker
    than the skin beside them; each line's column and the broad light there."""
    ramp = np.repeat(np.linspace(0.5, 1.4, 600, dtype=np.float32)[None, :], 120, axis=0)
    lines = np.ones_like(ramp)
    columns = (100, 450, 560)
    for column in columns:
        lines[:, column - 2 : column + 2] = 0.85
    return ramp * lines, {column: float(ramp[0, column]) for column in columns}


def _depth(image: np.ndarray, column: int) -> float:
    beside = (image[60, column - 8] + image[60, column + 8]) / 2.0
    return 1.0 - float(image[60, column]) / float(beside)


def test_a_line_deep_in_the_highlights_keeps_its_depth() -> None:
    luminance, light_at = _lit_face_with_lines()
    shouldered = _highlight_shoulder(luminance.copy(), CEILING)
    assert light_at[560] > CEILING  # broad light past the ceiling itself
    assert _depth(shouldered, 560) > 0.8 * 0.15  # a plain roll-off left 0.058 of it
    assert _depth(shouldered, 450) > 0.85 * 0.15


def test_the_shade_is_untouched_and_nothing_passes_the_ceiling() -> None:
    luminance, _ = _lit_face_with_lines()
    shouldered = _highlight_shoulder(luminance.copy(), CEILING)
    assert shouldered.max() <= CEILING
    shade = luminance[:, :150]  # under the knee (0.8 of the ceiling) with the blur's reach
    assert np.allclose(shouldered[:, :150], shade, atol=1e-4)
    assert abs(_depth(shouldered, 100) - 0.15) < 1e-3
    # Brighter skin never renders darker: the broad light alone keeps its order.
    ramp = np.repeat(np.linspace(0.5, 1.4, 600, dtype=np.float32)[None, :], 120, axis=0)
    assert np.all(np.diff(_highlight_shoulder(ramp, CEILING)[60]) >= -1e-4)
