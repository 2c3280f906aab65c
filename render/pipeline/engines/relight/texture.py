"""Fine, fixed-seed texture: skin grain and mottle, and pores (also the wrap's fibre fuzz).
Fixed, not the candidate's seed: seeds change the light, never the skin."""

from __future__ import annotations

import functools

import cv2
import numpy as np

TEXTURE_SEED = 20240917  # skin grain is the same for every candidate: seeds move only the light


def skin_texture(shape: tuple[int, int], long_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Very fine, low-amplitude skin grain and a faint mottle, from a fixed seed.

    Fixed, not the candidate's seed: seeds change the light, never the skin. Pure noise, band-
    limited, so it can never read as a feature.
    """
    rng = np.random.default_rng(TEXTURE_SEED)
    grain = rng.standard_normal(shape, dtype=np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), 0.8)
    grain *= 1.0 / max(float(grain.std()), 1e-6)
    # Blotches about 3% of the frame across: drawn on a coarse grid, blurred there, enlarged.
    coarse_shape = (max(4, shape[0] // 24), max(4, shape[1] // 24))
    mottle = cv2.GaussianBlur(rng.standard_normal(coarse_shape, dtype=np.float32), (0, 0), 1.0)
    mottle = cv2.resize(mottle, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    mottle *= 1.0 / max(float(mottle.std()), 1e-6)
    return grain, mottle


@functools.lru_cache(maxsize=4)
def pores(shape: tuple[int, int]) -> np.ndarray:
    """Pore-scale skin texture, zero mean and unit spread, from a fixed seed: fine grain with
    small sparse pits. About a pixel across, so a thumbnail averages it away."""
    rng = np.random.default_rng(TEXTURE_SEED + 2)
    fine = cv2.GaussianBlur(rng.standard_normal(shape, dtype=np.float32), (0, 0), 0.7)
    fine *= 1.0 / max(float(fine.std()), 1e-6)
    pits = cv2.GaussianBlur(rng.standard_normal(shape, dtype=np.float32), (0, 0), 0.9)
    pits *= 1.0 / max(float(pits.std()), 1e-6)
    pits = np.clip((pits - 1.8) / 0.8, 0.0, 1.0)  # ~4% of pixels: small shallow pits
    texture = 0.7 * fine - 1.2 * pits
    texture -= float(texture.mean())
    texture.setflags(write=False)
    return texture
