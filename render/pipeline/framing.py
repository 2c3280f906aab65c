"""Framing: a portrait is framed on the baby's head, not on the scan's render area.

A 3D render often shows the face small, off to one side, beside the placenta or the uterine
wall: painted in the scan's own frame, everything but the baby turned to empty paper and the
baby sat small in a corner of the picture. Before anything is painted the crop is narrowed to
the head (as the portrait paints it: continued round where the placenta cut it, with any hand
on it), with the room a photographer leaves: a little above the crown and at the sides, more
below the chin for the wrap, as far as the scan has it. The frame is only ever narrowed, never
padded; it never cuts the head (centring gives way first, then the scan keeps its frame), and
a head that already fills its frame keeps it.

The framed cues keep the scan's coordinates: ``crop_box`` is narrowed and the anchors and face
box stay as they are, so what is measured on them still maps back to the scan.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from render.pipeline.fill import painted_head
from render.pipeline.types import Box, StructuralCues

# Room round the head, as a share of its height (above, below) and width (each side).
_ABOVE, _BELOW, _SIDES = 0.15, 0.35, 0.2
# A portrait is no wider than square, and no taller than 4:5 (width over height).
_MIN_ASPECT, _MAX_ASPECT = 0.8, 1.0
# Narrowed only when the framed portrait loses at least this share of the frame's area: a
# trim of a few per cent changes nothing a parent would see.
_WORTH_IT = 0.2
# Centring the head keeps at least this share of its width as room at each side, and of its
# height below the chin (else the head stays where it is in the frame).
_MIN_SIDE = 0.1
_MIN_BELOW = 0.1


def _head(cues: StructuralCues) -> np.ndarray:
    """The head as the portrait paints it (``fill.painted_head``), with a hand on it."""
    contact = None if cues.contact is None else cues.contact > 0.3
    head = painted_head(cues.subject > 0.5, contact, cues.eye_row)
    if cues.hands is not None:
        head = head | (cues.hands > 0.5)
    return head


def _span(low: float, high: float, length: float, limit: int) -> tuple[float, float]:
    """[low, high) grown about its centre to ``length`` (where it is shorter), then slid and
    clipped to lie within 0..``limit``."""
    if high - low < length:
        middle = (low + high) / 2.0
        low, high = middle - length / 2.0, middle + length / 2.0
    if low < 0.0:
        high, low = high - low, 0.0
    if high > limit:
        low, high = max(0.0, low - (high - limit)), float(limit)
    return low, high


def _centred(low: float, high: float, head: tuple[float, float]) -> tuple[float, float]:
    """[low, high) trimmed on its wider side so ``head`` sits in its middle, as far as the
    narrower side's room (at least ``_MIN_SIDE`` of the head) allows."""
    centre, half_head = (head[0] + head[1]) / 2.0, (head[1] - head[0]) / 2.0
    room = min(centre - low, high - centre)
    room = max(room, half_head * (1.0 + 2.0 * _MIN_SIDE))
    return max(low, centre - room), min(high, centre + room)


def portrait_frame(cues: StructuralCues) -> Box | None:
    """The frame for the portrait in ``cues``' own pixels (0, 0 at ``crop_box``'s corner), or
    None when the scan's frame is kept (no head, or one that already fills it)."""
    height, width = cues.subject.shape
    ys, xs = np.nonzero(_head(cues))
    if xs.size == 0:
        return None
    x0, x1 = float(xs.min()), float(xs.max()) + 1.0
    y0, y1 = float(ys.min()), float(ys.max()) + 1.0
    head_w, head_h = x1 - x0, y1 - y0
    left, right = x0 - _SIDES * head_w, x1 + _SIDES * head_w
    top, bottom = y0 - _ABOVE * head_h, y1 + _BELOW * head_h
    frame_w, frame_h = right - left, bottom - top
    frame_w = max(frame_w, _MIN_ASPECT * frame_h)
    frame_h = max(frame_h, frame_w / _MAX_ASPECT)
    fx0, fx1 = _span(left, right, frame_w, width)
    fy0, fy1 = _span(top, bottom, frame_h, height)
    # Centred where the scan leaves room: a narrower frame stays no taller than 4:5, so it
    # gives up room below the chin (the crown's is kept), never the head itself.
    cx0, cx1 = _centred(fx0, fx1, (x0, x1))
    cy1 = min(fy1, fy0 + (cx1 - cx0) / _MIN_ASPECT)
    if cy1 >= min(y1 + _MIN_BELOW * head_h, float(height)):
        fx0, fx1, fy1 = cx0, cx1, cy1
    if fx0 > x0 or fx1 < x1 or fy0 > y0 or fy1 < y1:
        return None  # the scan's frame cannot hold the head with room: it keeps its own
    off_centre = abs((fx0 + fx1) / 2.0 - (x0 + x1) / 2.0) / max(fx1 - fx0, 1.0)
    if (fx1 - fx0) * (fy1 - fy0) > (1.0 - _WORTH_IT) * width * height and off_centre < 0.05:
        return None
    return Box(int(math.floor(fx0)), int(math.floor(fy0)), int(math.ceil(fx1)), int(math.ceil(fy1)))


def framed(cues: StructuralCues) -> StructuralCues:
    """``cues`` narrowed to ``portrait_frame``, or ``cues`` itself when it keeps its frame."""
    frame = portrait_frame(cues)
    if frame is None:
        return cues
    rows, cols = slice(frame.y0, frame.y1), slice(frame.x0, frame.x1)

    def cut(array: np.ndarray | None) -> np.ndarray | None:
        return None if array is None else np.ascontiguousarray(array[rows, cols])

    origin = cues.crop_box
    return replace(
        cues,
        crop_box=Box(
            origin.x0 + frame.x0,
            origin.y0 + frame.y0,
            origin.x0 + frame.x1,
            origin.y0 + frame.y1,
        ),
        image=np.ascontiguousarray(cues.image[rows, cols]),
        depth=np.ascontiguousarray(cues.depth[rows, cols]),
        normals=np.ascontiguousarray(cues.normals[rows, cols]),
        subject=np.ascontiguousarray(cues.subject[rows, cols]),
        low_confidence=np.ascontiguousarray(cues.low_confidence[rows, cols]),
        hands=cut(cues.hands),
        repaired=cut(cues.repaired),
        contact=cut(cues.contact),
        analysis_maps=None,  # the maps changed: what vision measured is not passed on
    )
