"""A synthetic newborn face as ``StructuralCues``, for tests that must not depend on vision.

The face is an analytic height field (head dome, full cheeks, small button nose, closed-eye
lids, a mouth groove, a small receding chin) so every test knows exactly where the structure
is. Proportions follow a neonate: eyes a little below the middle of the head, a short mid-face
and a short lower face.
"""

from __future__ import annotations

import numpy as np

from render.pipeline.types import Anchor, Box, StructuralCues

# Anchor positions as fractions of the crop (x, y), y downwards.
ANCHOR_FRACTIONS: dict[str, tuple[float, float]] = {
    "eye_left": (0.37, 0.50),
    "eye_right": (0.63, 0.50),
    "nose_tip": (0.50, 0.61),
    "mouth": (0.50, 0.71),
    "chin": (0.50, 0.81),
    "cheek_left": (0.30, 0.64),
    "cheek_right": (0.70, 0.64),
}


def _bump(xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    return np.exp(-(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2))


def baby_height_field(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (depth 0..1, subject 0..1) for a size×size crop."""
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    xx, yy = np.meshgrid(coords, coords)
    # Head: an ellipsoid slightly taller than wide.
    head_r = ((xx - 0.5) / 0.36) ** 2 + ((yy - 0.55) / 0.40) ** 2
    subject = np.clip((1.0 - head_r) * 12.0, 0.0, 1.0).astype(np.float32)
    dome = np.sqrt(np.clip(1.0 - head_r, 0.0, 1.0))
    depth = 0.55 * dome
    depth += 0.10 * _bump(xx, yy, 0.31, 0.65, 0.10, 0.09)  # cheeks
    depth += 0.10 * _bump(xx, yy, 0.69, 0.65, 0.10, 0.09)
    depth += 0.16 * _bump(xx, yy, 0.50, 0.60, 0.045, 0.05)  # button nose
    depth += 0.05 * _bump(xx, yy, 0.50, 0.55, 0.03, 0.06)  # nose bridge
    for eye_x in (0.37, 0.63):  # sockets, then the closed lids bulging out of them
        depth -= 0.07 * _bump(xx, yy, eye_x, 0.49, 0.075, 0.04)
        depth += 0.03 * _bump(xx, yy, eye_x, 0.505, 0.05, 0.02)
    depth -= 0.05 * _bump(xx, yy, 0.50, 0.71, 0.06, 0.012)  # mouth groove
    depth += 0.03 * _bump(xx, yy, 0.50, 0.735, 0.05, 0.02)  # lower lip
    depth += 0.04 * _bump(xx, yy, 0.50, 0.80, 0.06, 0.035)  # chin
    depth = np.clip(depth, 0.0, None) * subject
    depth = depth / max(float(depth.max()), 1e-6)
    return depth.astype(np.float32), subject


def normals_from_depth(depth: np.ndarray, relief: float = 0.45) -> np.ndarray:
    """Unit normals (x right, y up, z toward the viewer) of ``depth`` scaled to ``relief``×width."""
    size = depth.shape[1]
    height = depth * relief * size
    dh_dy_img, dh_dx = np.gradient(height)
    normals = np.dstack([-dh_dx, dh_dy_img, np.ones_like(height)])
    normals /= np.linalg.norm(normals, axis=2, keepdims=True)
    return normals.astype(np.float32)


def ultrasound_look(depth: np.ndarray, normals: np.ndarray, seed: int = 0) -> np.ndarray:
    """A sepia, speckled, top-lit surface render like a 3D/4D scanner's output."""
    rng = np.random.default_rng(seed)
    light = np.array([0.3, 0.4, 0.87], dtype=np.float32)
    shade = np.clip(normals @ (light / np.linalg.norm(light)), 0.0, 1.0)
    shade = shade * (depth > 0.01)
    speckle = rng.gamma(4.0, 0.25, size=depth.shape).astype(np.float32)
    value = np.clip(shade * (0.75 + 0.25 * speckle), 0.0, 1.0)
    sepia = np.array([255, 190, 130], dtype=np.float32)
    return (value[..., None] * sepia).astype(np.uint8)


def synthetic_cues(
    size: int = 256,
    *,
    occluded: bool = True,
    seed: int = 0,
) -> StructuralCues:
    """StructuralCues for a size×size synthetic newborn face.

    With ``occluded`` a hand-like blob over the lower right cheek is marked low-confidence and
    drawn as a flat, bright, speckled shape in the scan (structure the renderer must not trust).
    """
    depth, subject = baby_height_field(size)
    normals = normals_from_depth(depth)
    image = ultrasound_look(depth, normals, seed=seed)
    low_confidence = np.zeros((size, size), dtype=np.float32)
    if occluded:
        coords = (np.arange(size, dtype=np.float32) + 0.5) / size
        xx, yy = np.meshgrid(coords, coords)
        blob = _bump(xx, yy, 0.74, 0.74, 0.10, 0.08)
        low_confidence = np.clip(blob * 2.0 - 0.5, 0.0, 1.0).astype(np.float32)
        rng = np.random.default_rng(seed + 1)
        noise = rng.integers(0, 80, size=(size, size, 1))
        occluder = np.clip(np.array([220, 170, 120]) - noise, 0, 255)
        image = np.where(low_confidence[..., None] > 0.3, occluder, image).astype(np.uint8)
    anchors = tuple(
        Anchor(name=name, x=fx * size, y=fy * size, confidence=0.9)
        for name, (fx, fy) in ANCHOR_FRACTIONS.items()
    )
    face = Box(int(0.16 * size), int(0.18 * size), int(0.84 * size), int(0.92 * size))
    return StructuralCues(
        crop_box=Box(0, 0, size, size),
        image=image,
        depth=depth,
        normals=normals,
        subject=subject,
        low_confidence=low_confidence,
        light_dir=(0.3, 0.4, 0.87),
        face_box=face,
        anchors=anchors,
    )
