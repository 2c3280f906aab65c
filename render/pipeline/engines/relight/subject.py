"""The subject as a studio would cut it out (one clean body with a feathered edge) and the
head's volume inflated from that outline."""

from __future__ import annotations

import math

import cv2
import numpy as np

from render.pipeline.engines.relight.raster import wide_blur

_DOME_RELIEF = 0.8  # the dome's height over a true sphere's: a newborn's face is a little flat


DOME_WEIGHT = 0.6  # of the head's low-frequency shape taken from the dome rather than the scan


def clean_matte(subject: np.ndarray, long_side: int) -> tuple[np.ndarray, np.ndarray]:
    """The subject as a studio would cut it out: one body, no holes, a smooth feathered edge.

    Vision's mask follows speckle and shadow, so its contour is ragged and it can have holes
    (a dark eye slit, a shadowed nostril). Holes are filled, only the largest body is kept,
    and the contour is smoothed by blurring the binary mask and reading its 0.5 level with a
    steep ramp: the edge lands at sub-pixel positions, about 1.5 px wide. Returns the matte
    and the distance (px) from each inside pixel to the edge.
    """
    binary = (subject > 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if count > 2:
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        binary = (labels == largest).astype(np.uint8)
    # Fill holes: everything the outside cannot reach is inside.
    padded = np.pad(binary, 1)
    outside = padded.copy()
    cv2.floodFill(
        outside, np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8), (0, 0), 2
    )
    binary = (outside[1:-1, 1:-1] != 2).astype(np.uint8)
    sigma = 0.018 * long_side
    smooth = wide_blur(binary.astype(np.float32), sigma)
    # The blurred step's slope at its 0.5 level is 1 / (sqrt(2π) σ) per pixel.
    gain = math.sqrt(2.0 * math.pi) * sigma / 1.5
    matte = np.clip((smooth - 0.5) * gain + 0.5, 0.0, 1.0)
    distance = cv2.distanceTransform((matte > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    return matte.astype(np.float32), distance


def roundness(distance: np.ndarray, long_side: int) -> np.ndarray:
    """Darken towards the silhouette, where a round head turns away from every light.

    Vision's normals flatten out near the outline (its depth is partly shading), so the turn is
    taken from the distance to the outline instead.
    """
    ramp = np.clip(distance / (0.07 * long_side), 0.0, 1.0)
    return 0.8 + 0.2 * (1.0 - (1.0 - ramp) ** 2)


def dome_normals(distance: np.ndarray, long_side: int) -> np.ndarray:
    """Normals of the head as a dome inflated from its outline.

    A sphere of radius R seen from the front has height sqrt(d (2R - d)) at distance d inside
    its outline; the same profile over the matte's distance map gives any head shape its
    volume. Vision's low-frequency normals follow the scanner's shading (flat where its light
    was flat), so the dome supplies the head's roundness and vision the face on it.
    """
    smooth = wide_blur(distance, 0.02 * long_side)
    radius = max(float(smooth.max()), 1.0)
    height = np.sqrt(np.clip(smooth * (2.0 * radius - smooth), 0.0, None)) * _DOME_RELIEF
    slope_x = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    slope_y = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    # Capped: at the very edge a sphere's slope is infinite, a photographed head shows a rim.
    np.clip(slope_x, -2.5, 2.5, out=slope_x)
    np.clip(slope_y, -2.5, 2.5, out=slope_y)
    # Normals' y points up, rows go down.
    dome = np.dstack([-slope_x, slope_y, np.ones_like(slope_x)])
    dome /= np.linalg.norm(dome, axis=2, keepdims=True)
    return dome
