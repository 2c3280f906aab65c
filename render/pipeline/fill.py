"""Filling holes in a map from what surrounds them, and a cut head's outline continued round
(shared by vision, the engines and scoring)."""

from __future__ import annotations

import math

import cv2
import numpy as np


def fill_from_around(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``values`` (H×W or H×W×C) with the unknown pixels filled smoothly from the known ones
    around them (``known``: H×W weights 0..1): a push-pull pyramid, each level's holes taken
    from the coarser level's weighted averages, so a hole is bridged by a smooth membrane
    that continues the surface round it, not a flat patch."""
    weight = np.clip(known.astype(np.float32), 0.0, 1.0)
    stack = values.astype(np.float32)
    if stack.ndim == 2:
        stack = stack[..., None]
    levels: list[tuple[np.ndarray, np.ndarray]] = []
    sums, weights = stack * weight[..., None], weight
    while min(weights.shape[:2]) > 4:
        levels.append((sums, weights))
        sums = cv2.pyrDown(sums)
        if sums.ndim == 2:
            sums = sums[..., None]
        weights = cv2.pyrDown(weights)
    filled = sums / np.maximum(weights, 1e-6)[..., None]
    for sums, weights in reversed(levels):
        height, width = weights.shape
        coarse = cv2.pyrUp(filled, dstsize=(width, height))
        if coarse.ndim == 2:
            coarse = coarse[..., None]
        here = sums / np.maximum(weights, 1e-6)[..., None]
        # Trust this level where it has weight, the coarser one where it has none.
        share = np.clip(weights * 4.0, 0.0, 1.0)[..., None]
        filled = here * share + coarse * (1.0 - share)
    return filled[..., 0] if values.ndim == 2 else filled


# How far from the cut the outline is continued, of the head's radius (about 0.12 of the
# crop's long side on a head that fills two thirds of it).
_ROUND_REACH = 0.35


def continued_round(inside: np.ndarray, contact: np.ndarray) -> np.ndarray | None:
    """Where a head cut by a wall or the placenta continues, round: H×W bool, outside
    ``inside`` (the head vision kept), or None when there is nothing to round.

    Vision keeps the baby alone: where the head touched other tissue its outline follows the
    contact (``contact``, H×W bool), often a straight cut. A head is round: the stretch of
    outline along the contact is replaced by the ellipse that fits the rest of the outline, on
    that side only. None when the outline has no stretch of contact to round, too little free
    outline to fit, or the ellipse would add more than a fifth of the head. The engines paint
    the head into it, scoring counts it as the baby's and framing frames it: each at its own
    resolution, so how far it reaches from the cut is a share of the head's own size.
    """
    contours, _ = cv2.findContours(
        inside.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
    )
    if not contours:
        return None
    outline = max(contours, key=cv2.contourArea)[:, 0, :]
    cut = contact[outline[:, 1], outline[:, 0]]
    if not 0.05 <= cut.mean() <= 0.6 or (~cut).sum() < 20:
        return None
    (cx, cy), (width, height), angle = cv2.fitEllipse(outline[~cut].astype(np.float32))
    ellipse = np.zeros(inside.shape, np.uint8)
    cv2.ellipse(ellipse, ((cx, cy), (width, height), angle), 1, -1)
    # Only beside the cut: elsewhere the outline is the head's own (a profile's nose and lips
    # stand out of any ellipse, a chin may sit inside it).
    along = np.ones(inside.shape, np.uint8)
    along[outline[cut, 1], outline[cut, 0]] = 0
    radius = math.sqrt(float(inside.sum()) / math.pi)
    beside = cv2.distanceTransform(along, cv2.DIST_L2, 3) < _ROUND_REACH * radius
    added = (ellipse > 0) & ~inside & beside
    if not added.any() or added.sum() > 0.2 * inside.sum():
        return None
    return added


def crown_notches(inside: np.ndarray, eye_row: float) -> np.ndarray | None:
    """Notches bitten out of a head's crown: H×W bool outside ``inside`` (the head vision
    kept), or None when there are none to fill.

    A crown has no notch: where vision's outline dips into it (its dim rim read as
    background, a shadow or a piece of wall cut away with a bite of the head) the portrait's
    head had a corner bitten off. Above the brow (a tenth of the head's height over
    ``eye_row``) the head is its convex hull; below it the outline is the face's own (a
    profile's nose and lips, a chin, a hand) and is left as it is. None when nothing is
    bitten out, or so much (over a tenth of the head) that it is no notch.
    """
    contours, _ = cv2.findContours(
        inside.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
    )
    if not contours:
        return None
    rows = np.flatnonzero(inside.any(axis=1))
    head_height = float(rows[-1] - rows[0] + 1)
    hull = np.zeros(inside.shape, np.uint8)
    cv2.fillPoly(hull, [cv2.convexHull(max(contours, key=cv2.contourArea))], 1)
    notches = (hull > 0) & ~inside
    notches[max(0, int(eye_row - 0.1 * head_height)) :] = False
    # Slivers along a smooth outline are the hull's straight chords, not notches.
    sliver = max(3, int(0.01 * head_height) | 1)
    notches = (
        cv2.morphologyEx(notches.astype(np.uint8), cv2.MORPH_OPEN, np.ones((sliver, sliver))) > 0
    )
    if not notches.any() or notches.sum() > 0.1 * inside.sum():
        return None
    return notches


def painted_head(
    inside: np.ndarray, contact: np.ndarray | None, eye_row: float | None
) -> np.ndarray:
    """The head as a portrait paints it, H×W bool: ``inside`` (the head vision kept) continued
    round where ``contact`` marks a cut (``continued_round``), with the notches above the brow
    filled (``crown_notches``, when ``eye_row`` is known). Framing frames it and scoring counts
    it as the baby's; the relight engine paints into the same two in turn."""
    head = inside
    if contact is not None:
        added = continued_round(head, contact)
        if added is not None:
            head = head | added
    if eye_row is not None:
        notches = crown_notches(head, eye_row)
        if notches is not None:
            head = head | notches
    return head
