"""Filling holes in a map from what surrounds them (shared by vision and the engines)."""

from __future__ import annotations

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
