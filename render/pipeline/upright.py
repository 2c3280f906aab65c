"""Upright: a face the scan shows lying on its side is painted as a portrait, head up.

A baby lies as she lies in the womb, and a 3D render often shows her face turned a quarter or
more in the picture's plane. A portrait is framed head up, with the wrap beneath the chin; so
before anything is painted, the scan's crop, every map and the anchors are turned by the
face's roll, as vision confirmed it (``StructuralCues.roll``: the face mesh read the picture
turned so and found the face upright). A small tilt is kept: a baby's head leaning a little is
natural.

The turned cues live in the turned crop's own pixels: ``crop_box`` starts at (0, 0) and the
anchors are in that frame. Only conditioning hands them on (to engines and scoring), never to
anything that draws on the scan.
"""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np

from render.pipeline.types import Anchor, Box, StructuralCues

UPRIGHT_FROM_DEG = 20.0  # a face rolled less than this is painted as the scan shows it


def face_roll(cues: StructuralCues) -> float:
    """Degrees to turn the picture counter-clockwise (as shown) to stand the face upright: the
    roll vision confirmed (``StructuralCues.roll``), 0 for a profile (the silhouette reader
    finds only upright ones)."""
    return 0.0 if cues.is_profile else float(cues.roll)


def turning(width: int, height: int, degrees: float) -> tuple[np.ndarray, tuple[int, int]]:
    """The affine matrix turning a ``width`` × ``height`` picture counter-clockwise (as shown)
    by ``degrees`` about its centre onto a canvas that keeps every corner, and that canvas's
    (width, height)."""
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    size = (int(math.ceil(width * cos + height * sin)), int(math.ceil(width * sin + height * cos)))
    matrix[0, 2] += size[0] / 2 - width / 2
    matrix[1, 2] += size[1] / 2 - height / 2
    return matrix, size


def _turned(
    array: np.ndarray, matrix: np.ndarray, size: tuple[int, int], border: float
) -> np.ndarray:
    return cv2.warpAffine(
        array,
        matrix,
        size,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(border, border, border, border),
    )


def _turn_vectors(vectors: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Normals (x right, y up, z out) turned with the picture (whose y points down)."""
    linear = matrix[:, :2]
    x, y_up, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    # In picture axes the in-plane part is (x, -y_up); turn it, then back to y up.
    tx = linear[0, 0] * x - linear[0, 1] * y_up
    ty = linear[1, 0] * x - linear[1, 1] * y_up
    return np.dstack([tx, -ty, z]).astype(np.float32)


_FACE_ASPECT = 0.85  # a face outline's width over its height, brow to chin


def _upright_extent(width: float, height: float, roll: float) -> tuple[float, float]:
    """The face's own width and height from its box in the rolled picture: the box round the
    face outline, an ellipse turned by ``roll`` (a turned box's own box would overstate it by
    up to 40%). The ellipse's width² + height² is the box's; near a quarter or half turn each
    maps back alone, and between them (near 45°, where a box tells nothing of the shape
    inside) a face's usual proportions share it out."""
    c2, s2 = math.cos(math.radians(roll)) ** 2, math.sin(math.radians(roll)) ** 2
    if abs(c2 - s2) > 0.5:
        across2 = (width * width * c2 - height * height * s2) / (c2 - s2)
        down2 = (height * height * c2 - width * width * s2) / (c2 - s2)
        if across2 > 0 and down2 > 0:
            return math.sqrt(across2), math.sqrt(down2)
    down = math.sqrt((width * width + height * height) / (1.0 + _FACE_ASPECT**2))
    return _FACE_ASPECT * down, down


def upright(cues: StructuralCues) -> StructuralCues:
    """``cues`` turned so the face stands upright, or ``cues`` itself when it nearly does."""
    roll = face_roll(cues)
    if abs(roll) < UPRIGHT_FROM_DEG:
        return cues
    height, width = cues.depth.shape
    matrix, size = turning(width, height, roll)

    def turn(array: np.ndarray, border: float = 0.0) -> np.ndarray:
        return _turned(array.astype(np.float32, copy=False), matrix, size, border)

    def turn_if(array: np.ndarray | None) -> np.ndarray | None:
        return None if array is None else turn(array)

    normals = _turn_vectors(_turned(cues.normals.astype(np.float32), matrix, size, 0.0), matrix)
    normals[..., 2] = np.where(np.abs(normals).sum(axis=2) < 1e-6, 1.0, normals[..., 2])
    normals /= np.linalg.norm(normals, axis=2, keepdims=True)
    light = _turn_vectors(np.array([[cues.light_dir]], np.float32), matrix)[0, 0]

    def moved(x: float, y: float) -> tuple[float, float]:
        local = np.array([x - cues.crop_box.x0, y - cues.crop_box.y0, 1.0])
        turned = matrix @ local
        return float(turned[0]), float(turned[1])

    anchors = [Anchor(a.name, *moved(a.x, a.y), a.confidence) for a in cues.anchors]
    face_box = None
    if cues.face_box is not None:
        b = cues.face_box
        cx, cy = moved((b.x0 + b.x1) / 2.0, (b.y0 + b.y1) / 2.0)
        across, down = _upright_extent(float(b.x1 - b.x0), float(b.y1 - b.y0), roll)
        x0, y0 = np.clip((cx - across / 2.0, cy - down / 2.0), 0, size)
        x1, y1 = np.clip((cx + across / 2.0, cy + down / 2.0), 0, size)
        face_box = Box(int(x0), int(y0), int(math.ceil(x1)), int(math.ceil(y1)))
    return replace(
        cues,
        crop_box=Box(0, 0, size[0], size[1]),
        image=_turned(cues.image, matrix, size, 0.0).astype(np.uint8),
        depth=turn(cues.depth),
        normals=normals,
        subject=turn(cues.subject),
        low_confidence=turn(cues.low_confidence, 1.0),
        light_dir=(float(light[0]), float(light[1]), float(light[2])),
        face_box=face_box,
        anchors=tuple(anchors),
        hands=turn_if(cues.hands),
        repaired=turn_if(cues.repaired),
        contact=turn_if(cues.contact),
        analysis_maps=None,  # the maps changed: what vision measured is not passed on
        roll=0.0,
    )
