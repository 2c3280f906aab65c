"""Burned-in patient text: find the lines of it in a frame and blank them.

Scanners draw the patient's name, ID, dates and the clinic on the screen: on the black border,
on a dark header band, and sometimes over the render itself (small, coloured, or on a
semi-transparent bar). Ingest calls this before any later stage or stored derivative sees the
frame. Pure NumPy/OpenCV: no Django.

Text is found as lines of glyphs: thin strokes far brighter than what is round them, in any
one colour channel (yellow or green text on a gold render shows in its own channel), grouped
along a line. A line on a dark, flat ground is text at once; on the render's textured ground
it must also look like type: several glyphs as tall as the line, drawn with thin strokes. The
face's own bright marks (a lip highlight over a dark mouth, speckle along a lid) fail both.
"""

from __future__ import annotations

import cv2
import numpy as np

from render.pipeline.types import Box

_TOPHAT = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
_STROKE = 50  # how much brighter than its surround a glyph's stroke is
_DARK = 70  # grey level under which a ground counts as dark


def _tophat(rgb: np.ndarray) -> np.ndarray:
    """Per pixel, how much brighter it is than its 9 px surround, in its brightest channel."""
    channels = [
        cv2.morphologyEx(np.ascontiguousarray(rgb[..., c]), cv2.MORPH_TOPHAT, _TOPHAT)
        for c in range(3)
    ]
    return np.maximum(np.maximum(channels[0], channels[1]), channels[2])


def _strokes(tophat: np.ndarray) -> np.ndarray:
    strokes = (tophat > _STROKE).astype(np.uint8)
    # Panel borders and scale ticks are long straight lines: no glyph is 41 px straight.
    for kernel in ((41, 1), (1, 41)):
        straight = cv2.morphologyEx(
            strokes, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, kernel)
        )
        strokes[straight > 0] = 0
    return strokes


def _line_boxes(strokes: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x, y, width, height) of each line of strokes.

    The glyphs of a line are joined sideways only, so lines above each other stay apart; a
    tight column whose lines still touch (anti-aliasing, descenders) is cut at its row
    profile's valleys.
    """
    joined = cv2.dilate(strokes, cv2.getStructuringElement(cv2.MORPH_RECT, (15, 1)))
    lines: list[tuple[int, int, int, int]] = []
    for x, y, w, h in _component_boxes(joined):
        _split_lines(strokes, x, y, w, h, lines)
    return lines


def _split_lines(
    strokes: np.ndarray, x: int, y: int, w: int, h: int, out: list[tuple[int, int, int, int]]
) -> None:
    """Cut a block taller than one line at the emptiest row of its middle, recursively."""
    if h > 16:
        profile = strokes[y : y + h, x : x + w].sum(axis=1)
        lo, hi = int(0.3 * h), int(np.ceil(0.7 * h))
        row = lo + int(np.argmin(profile[lo:hi]))
        if profile[row] <= 0.25 * np.median(profile[profile > 0]):
            for top, bottom in ((0, row), (row + 1, h)):
                rows = np.flatnonzero(profile[top:bottom])
                if rows.size == 0:
                    continue
                y0, y1 = top + int(rows[0]), top + int(rows[-1]) + 1
                cols = np.flatnonzero(strokes[y + y0 : y + y1, x : x + w].any(axis=0))
                _split_lines(
                    strokes, x + int(cols[0]), y + y0, int(cols[-1] - cols[0]) + 1, y1 - y0, out
                )
            return
    out.append((x, y, w, h))


def _component_boxes(binary: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x, y, width, height) of each 8-connected component of a sparse binary image.

    The outer contours (two-level hierarchy, so components inside another's hole count too)
    give the same boxes as connected-component labelling at a fraction of the cost on a
    full-resolution frame that is almost all background.
    """
    contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    return [
        cv2.boundingRect(contour)
        for contour, (_, _, _, parent) in zip(contours, hierarchy[0], strict=True)
        if parent < 0
    ]


def _on_dark_ground(grey: np.ndarray, strokes: np.ndarray, box: Box, pad: int) -> bool:
    """The line sits on a dark, flat ground that also surrounds it (a screen border, a header
    band): a lip highlight inside a dark mouth has the dark ground but lips round it."""
    h, w = grey.shape
    y0, y1 = max(0, box.y0 - pad), min(h, box.y1 + pad)
    x0, x1 = max(0, box.x0 - pad), min(w, box.x1 + pad)
    near = cv2.dilate(strokes[y0:y1, x0:x1], np.ones((5, 5), np.uint8)).astype(bool)
    ground = grey[y0:y1, x0:x1][~near]
    if ground.size == 0:
        return False
    inner = grey[box.y0 : box.y1, box.x0 : box.x1]
    floor = cv2.erode(inner, cv2.getStructuringElement(cv2.MORPH_RECT, (11, 11)))
    return (
        float(np.median(ground)) <= _DARK
        and float((ground <= _DARK).mean()) >= 0.85
        and float(floor.mean()) <= _DARK
    )


def _glyphs(patch_strokes: np.ndarray, *, thin: bool) -> int:
    """How many marks in a line are glyph-like: about as tall as the line, not much wider, and
    (``thin``) drawn with strokes no thicker than type's."""
    bh = patch_strokes.shape[0]
    count, labels, stats, _ = cv2.connectedComponentsWithStats(patch_strokes, connectivity=8)
    thickness = cv2.distanceTransform(patch_strokes, cv2.DIST_L2, 3) if thin else None
    found = 0
    for label in range(1, count):
        _, _, w, h, _ = stats[label]
        if h < 0.6 * bh or w > 1.5 * bh:
            continue
        if thickness is None or thickness[labels == label].max() <= max(2.0, 0.2 * bh):
            found += 1
    return found


def find_text_boxes(rgb: np.ndarray, grey: np.ndarray | None = None) -> list[Box]:
    """The lines of burned-in text in a frame (patient name, ID, dates, clinic, parameters).

    ``grey`` is ``rgb`` in grey when the caller already has it.
    """
    if grey is None:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    strokes = _strokes(_tophat(rgb))
    h, w = grey.shape
    boxes, maybe = [], []
    for x, y, bw, bh in _line_boxes(strokes):
        if not (6 <= bh <= 48 and bw >= 8 and bw >= 0.8 * bh):
            continue
        # The box holds the strokes and the rim JPEG rings round them.
        box = Box(max(0, x - 3), max(0, y - 4), min(w, x + bw + 3), min(h, y + bh + 4))
        patch = strokes[box.y0 : box.y1, box.x0 : box.x1]
        if not 0.05 <= patch.mean() <= 0.7:
            continue
        # A line of text is several glyphs; a lone bright streak (a lip highlight) is not.
        glyphs = cv2.connectedComponents(patch, connectivity=8)[0] - 1
        if glyphs < 2 or (bw > 4 * bh and glyphs < 3):
            continue
        line = strokes[y : y + bh, x : x + bw]
        # On a dark ground two glyphs make a line ("ID"); over the render it takes four thin ones.
        if (
            _glyphs(line, thin=False) >= 2 and _on_dark_ground(grey, strokes, box, max(3, bh // 2))
        ) or (bh >= 8 and _glyphs(line, thin=True) >= 4):
            boxes.append(box)
        else:
            maybe.append(box)
    # A line stacked right above or below a found line belongs to the same block of text (a
    # parameter column, a date over a time), even when its glyphs touch its neighbour's.
    grown = True
    while grown and maybe:
        grown = False
        for box in list(maybe):
            if any(_stacked(box, found) for found in boxes):
                boxes.append(box)
                maybe.remove(box)
                grown = True
    return boxes


def _stacked(a: Box, b: Box) -> bool:
    overlap = min(a.x1, b.x1) - max(a.x0, b.x0)
    gap = max(a.y0, b.y0) - min(a.y1, b.y1)
    return overlap >= 0.5 * min(a.width, b.width) and gap <= 0.5 * min(a.height, b.height)


def blank_text(rgb: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """Each text box is emptied of its strokes.

    On a dark, flat ground the box is filled with that ground's colour; where any of the box
    lies on the render, the strokes (with their anti-aliased and JPEG-rung rims, so no ghost of
    a glyph is left) are painted over from the texture round them: no dark patch on the baby.
    """
    out = rgb.copy()
    height, width = rgb.shape[:2]
    pad = 6
    marks = np.zeros((height, width), np.uint8)
    for box in boxes:
        y0, y1 = max(0, box.y0 - pad), min(height, box.y1 + pad)
        x0, x1 = max(0, box.x0 - pad), min(width, box.x1 + pad)
        inner = (slice(box.y0 - y0, box.y1 - y0), slice(box.x0 - x0, box.x1 - x0))
        near = np.zeros((y1 - y0, x1 - x0), np.uint8)
        near[inner] = _tophat(np.ascontiguousarray(rgb[y0:y1, x0:x1]))[inner] > _STROKE // 4
        near = cv2.dilate(near, np.ones((7, 7), np.uint8))
        ground = rgb[box.y0 : box.y1, box.x0 : box.x1][near[inner] == 0]
        if ground.size == 0 or (
            np.percentile(ground.max(axis=1), 99) <= _DARK and ground.std(axis=0).max() <= 28
        ):
            fill = np.median(ground, axis=0) if ground.size else rgb[box.y0, box.x0]
            out[box.y0 : box.y1, box.x0 : box.x1] = fill.astype(np.uint8)
        else:
            marks[y0:y1, x0:x1] |= near
    if marks.any():
        # One pass over every line on the render, so no line is painted from its neighbour's
        # glyphs (a date over a time, a column of parameters).
        ys, xs = np.nonzero(marks)
        y0, y1 = max(0, ys.min() - pad), min(height, ys.max() + pad + 1)
        x0, x1 = max(0, xs.min() - pad), min(width, xs.max() + pad + 1)
        out[y0:y1, x0:x1] = cv2.inpaint(
            np.ascontiguousarray(out[y0:y1, x0:x1]), marks[y0:y1, x0:x1], 3, cv2.INPAINT_TELEA
        )
    return out
