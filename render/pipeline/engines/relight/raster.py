"""Array helpers shared by the relight modules: sizes, resizing, wide blurs, Gaussian spots
and stroke windows."""

from __future__ import annotations

import cv2
import numpy as np

from render.pipeline.types import (
    StructuralCues,
)


def odd(value: float) -> int:
    return max(3, int(value) // 2 * 2 + 1)


def output_size(cues: StructuralCues, long_side: int) -> tuple[int, int]:
    height, width = cues.depth.shape
    scale = long_side / max(height, width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (array.shape[1], array.shape[0]) == size:
        return array
    return cv2.resize(array, size, interpolation=cv2.INTER_LINEAR)


def spot(
    shape: tuple[int, ...], centre: tuple[float, float], radius_x: float, radius_y: float
) -> np.ndarray:
    """An axis-aligned Gaussian spot, built as an outer product (one H×W multiply)."""
    ys = np.arange(shape[0], dtype=np.float32)
    xs = np.arange(shape[1], dtype=np.float32)
    column = np.exp(-((ys - centre[1]) ** 2) / (2.0 * radius_y**2))
    row = np.exp(-((xs - centre[0]) ** 2) / (2.0 * radius_x**2))
    return np.outer(column, row).astype(np.float32)


def window(
    shape: tuple[int, ...], cx: float, cy: float, rx: float, ry: float
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
    """A box of ``shape`` around (cx, cy) and its pixel-centre coordinates (column, row)."""
    y0, y1 = max(int(cy - ry), 0), min(int(cy + ry) + 2, shape[0])
    x0, x1 = max(int(cx - rx), 0), min(int(cx + rx) + 2, shape[1])
    if y1 <= y0 or x1 <= x0:
        return None
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    return (slice(y0, y1), slice(x0, x1)), xs, ys


def band(distance: np.ndarray, half_thickness: np.ndarray | float) -> np.ndarray:
    """Anti-aliased coverage of a stroke: 1 within ``half_thickness`` px, a 1 px edge ramp."""
    return np.clip(half_thickness + 0.5 - np.abs(distance), 0.0, 1.0)


def gauss(value: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * (value / sigma) ** 2)


def layer_max(target: np.ndarray, where: tuple[slice, slice], values: np.ndarray) -> None:
    np.maximum(target[where], values, out=target[where])


def wide_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of large sigma, computed on a downsampled copy (same look, ~50x faster)."""
    factor = int(sigma // 3)
    if factor < 2:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    height, width = image.shape[:2]
    small = cv2.resize(
        image, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA
    )
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def normalise(vectors: np.ndarray) -> np.ndarray:
    """H×W×3 vectors scaled to unit length, in place (and returned); a zero vector stays 0.
    Several times faster than ``np.linalg.norm`` over the last axis."""
    length = np.einsum("ijk,ijk->ij", vectors, vectors)
    np.sqrt(length, out=length)
    np.maximum(length, 1e-6, out=length)
    vectors /= length[..., None]
    return vectors
