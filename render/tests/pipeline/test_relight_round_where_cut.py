"""A head cut straight where it pressed on the placenta or a wall is continued round.

Vision keeps the baby alone, so where the head touched other tissue its outline follows the
contact: the portrait's head had a flat side. The relight engine replaces that stretch of the
outline with the ellipse the rest of it fits, and paints the head's surface into what it adds;
a corner vision bit out of the crown is filled to the head's hull the same way.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines.relight import RelightEngine
from render.pipeline.engines.relight.subject import round_the_crown, round_where_cut
from render.pipeline.scoring import score_candidate
from render.tests.pipeline.synthetic_cues import synthetic_cues

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


def test_a_bite_out_of_the_crown_is_filled_round_and_nothing_below_the_brow() -> None:
    """Vision's outline dipped into the crown (a dim rim read as background): the portrait's
    head had a corner bitten off. Above the brow the head is its hull; a chin or a hand's
    notch below it is the face's own."""
    disc = _disc()
    _, depth, normals, _ = _cut_head()
    depth = (depth + 0.5 * disc).astype(np.float32)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    crown_bite = np.hypot(xs - 110, ys - 80) < 30  # top left of the crown
    chin_bite = np.hypot(xs - 200, ys - 350) < 25  # bottom: below the eyes
    subject = (disc & ~crown_bite & ~chin_bite).astype(np.float32)
    eye_row = 190.0
    rounded = round_the_crown(subject, depth, normals, eye_row, SIZE)
    assert rounded is not None
    filled = (rounded.subject > 0.5) & (subject < 0.5)
    assert (filled & crown_bite & disc).sum() >= 0.8 * (crown_bite & disc).sum()
    assert not (filled & chin_bite).any()
    assert not (filled & ~disc).any()  # no bigger than the head
    # Painted (no scan detail there) and carrying the head's surface on.
    assert (rounded.added[filled] > 0.5).all()
    assert rounded.depth[filled].min() > 0.3
    # A round head has nothing bitten out.
    assert round_the_crown(disc.astype(np.float32), depth, normals, eye_row, SIZE) is None


def test_a_crown_filled_round_is_scored_as_the_babys_not_as_paint() -> None:
    # Scoring judges the paper against the head as portraits paint it: the filled corner of
    # a deep-toned crown read as paint on the backdrop (leak 0.02, subject 0.81).
    cues = synthetic_cues(size=256, occluded=False)
    ys, xs = np.mgrid[0:256, 0:256]
    subject = cues.subject.copy()
    subject[np.hypot(xs - 70, ys - 60) < 32] = 0.0
    conditioning = build(replace(cues, subject=subject), blend_tone([10]))
    candidate = RelightEngine(output_long_side=256, wrap=False, hat=False).render(conditioning, [3])
    scored = score_candidate(conditioning, candidate[0])
    assert scored.terms["leak"] < 0.005
    assert scored.terms["subject"] == 1.0
