"""Burned-in patient text: find the lines of it in a frame and blank them.

Scanners draw the patient's name, ID, dates and the clinic on the screen: on the black border,
on a dark header band, and sometimes over the render itself (small, coloured, or on a
semi-transparent bar). Ingest calls this before any later stage or stored derivative sees the
frame. Pure NumPy/OpenCV: no Django.
"""

from __future__ import annotations

import cv2
import numpy as np

from render.pipeline.types import Box


def find_text_boxes(rgb: np.ndarray, grey: np.ndarray | None = None) -> list[Box]:
    """Burned-in text: thin bright strokes on a dark, flat background, grouped into lines.

    Scanner text (patient name, ID, dates, clinic) is drawn on the black screen or a dark header
    band; a render's highlights sit on textured mid-tones, so the "flat dark surround" test keeps
    the face out of it. ``grey`` is ``rgb`` in grey when the caller already has it.
    """
    if grey is None:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    tophat = cv2.morphologyEx(
        grey, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
    )
    strokes = (tophat > 60).astype(np.uint8)
    # Panel borders and scale ticks are long straight lines: no glyph is 41 px straight.
    for kernel in ((41, 1), (1, 41)):
        straight = cv2.morphologyEx(
            strokes, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, kernel)
        )
        strokes[straight > 0] = 0
    # Merge the characters of one line, but not lines above each other.
    lines = cv2.dilate(strokes, cv2.getStructuringElement(cv2.MORPH_RECT, (15, 3)))
    floor_kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (11, 11))
    h, w = grey.shape
    boxes = []
    for x, y, bw, bh in _component_boxes(lines):
        if not (6 <= bh <= 48 and bw >= 8 and bw >= 0.8 * bh):
            continue
        x0, y0, x1, y1 = max(0, x - 3), max(0, y - 3), min(w, x + bw + 3), min(h, y + bh + 3)
        patch_strokes = strokes[y0:y1, x0:x1].astype(bool)
        fill = patch_strokes.mean()
        if not 0.05 <= fill <= 0.7:
            continue
        # A line of text is several glyphs; a lone bright streak (a lip highlight) is not.
        glyphs = cv2.connectedComponents(patch_strokes.astype(np.uint8), connectivity=8)[0] - 1
        if glyphs < 2 or (bw > 4 * bh and glyphs < 3):
            continue
        ring = grey[y0:y1, x0:x1][
            ~cv2.dilate(patch_strokes.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        ]
        floor = cv2.erode(grey[y0:y1, x0:x1], floor_kernel)  # the ground under the strokes
        if ring.size == 0 or np.median(ring) > 70 or ring.std() > 28 or floor.mean() > 70:
            continue
        boxes.append(Box(int(x0), int(y0), int(x1), int(y1)))
    return boxes


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


def blank_text(rgb: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """Each text box is filled with the flat colour around it, so no stroke survives."""
    out = rgb.copy()
    for box in boxes:
        patch = rgb[box.y0 : box.y1, box.x0 : box.x1].reshape(-1, 3)
        # The darkest quarter of the box is its background: text is the bright part. (The
        # channel sum orders pixels as their mean does; the element at the 25th percentile's
        # lower rank selects the same pixels as the interpolated percentile.)
        lum = patch.sum(axis=1, dtype=np.int32)
        rank = int(0.25 * (lum.size - 1))
        quarter = np.partition(lum, rank)[rank]
        fill = np.median(patch[lum <= quarter], axis=0)
        out[box.y0 : box.y1, box.x0 : box.x1] = fill.astype(np.uint8)
    return out
