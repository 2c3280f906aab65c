"""A head cut straight where it pressed on the placenta or a wall is continued round.

Vision keeps the baby alone, so where the head touched other tissue its outline follows the
contact: the portrait's head had a flat side. The relight engine replaces that stretch of the
outline with the ellipse the rest of it fits, and paints the head's surface into what it adds.
"""

from __future__ import annotations

import numpy as np

from render.pipeline.engines.relight.subject import round_where_cut

SIZE, RADIUS, CENTRE = 400, 150.0, (200.0, 200.0)


def _disc() -> np.ndarray:
    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    return np.hypot(xs - CENTRE[0], ys - CENTRE[1]) <= RADIUS


def _cut_head() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A round head cut straight on its left (pressed on the placenta), the contact marked
    along the cut as vision marks it; depth a dome, normals facing the viewer."""
    disc = _disc()
    xs = np.arange(SIZE)[None, :].repeat(SIZE, axis=0)
    cut_at = CENTRE[0] - 0.7 * RADIUS
    subject = disc & (xs >= cut_at)
    repaired = subject & (xs < cut_at + 0.12 * RADIUS)
    ys = np.arange(SIZE)[:, None].repeat(SIZE, axis=1)
    dome = np.sqrt(np.clip(RADIUS**2 - (xs - CENTRE[0]) ** 2 - (ys - CENTRE[1]) ** 2, 0, None))
    depth = (dome / RADIUS * subject).astype(np.float32)
    normals = np.zeros((SIZE, SIZE, 3), np.float32)
    normals[..., 2] = 1.0
    return subject.astype(np.float32), depth, normals, repaired.astype(np.float32)


def test_the_cut_side_is_continued_round_and_nothing_else_grows() -> None:
    subject, depth, normals, repaired = _cut_head()
    rounded = round_where_cut(subject, depth, normals, repaired, repaired, SIZE)
    assert rounded is not None
    disc = _disc()
    missing = disc & (subject < 0.5)
    grown = (rounded.subject > 0.5) & (subject < 0.5)
    assert (grown & missing).sum() >= 0.8 * missing.sum()  # the flat side is round again
    assert (grown & ~disc).sum() <= 0.03 * missing.sum()  # and no bigger than the head
    # What was added is painted (no scan detail there) and carries the head's surface on.
    assert (rounded.added[grown] > 0.5).all()
    assert rounded.depth[grown].min() > 0.05
    assert np.allclose(np.linalg.norm(rounded.normals[grown], axis=1), 1.0, atol=1e-3)


def test_a_head_with_no_contact_or_too_much_of_it_is_left_as_it_is() -> None:
    subject, depth, normals, repaired = _cut_head()
    none = np.zeros_like(repaired)
    # A strand or a shadow vision continued the face over is repaired, but no cut.
    assert round_where_cut(subject, depth, normals, none, repaired, SIZE) is None
    # Contact all round the outline leaves nothing to fit the ellipse to.
    assert round_where_cut(subject, depth, normals, subject.copy(), subject.copy(), SIZE) is None


def test_the_band_along_the_cut_is_painted_with_what_is_added_without_a_seam() -> None:
    """Vision's band along the cut carries what the placenta left (here a surface sunk 0.3):
    kept as it was, it met the continued surface in a straight step down the cheek."""
    subject, depth, normals, repaired = _cut_head()
    depth[repaired > 0.5] -= 0.3
    rounded = round_where_cut(subject, depth, normals, repaired, repaired, SIZE)
    assert rounded is not None
    # Clear of the rim, where the dome itself falls steeply to the paper.
    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    head = np.hypot(xs - CENTRE[0], ys - CENTRE[1]) <= RADIUS - 10
    inner = head[:, 1:] & head[:, :-1]
    steps = np.abs(np.diff(rounded.depth, axis=1))[inner]
    assert steps.max() < 0.05  # the dome's own slope, and no step
    assert (rounded.added[repaired > 0.5] > 0.5).all()  # and it is painted, not the scan's
