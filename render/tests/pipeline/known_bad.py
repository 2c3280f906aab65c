"""Candidates whose answer is known: a good render's own pixels, spoiled the way issue #14 saw
real portraits fail. Scoring must rank every one of them below the good renders.

- ``with_placenta``: a large bright lump of skin fused to the head, outside the subject mask.
- ``merged_placenta_cues``: vision merged the placenta into the subject (the mask itself is far
  larger than the face implies), so an engine paints it as skin in every candidate.
- ``with_moved_mouth``: the drawn lips erased at the mouth anchor and drawn a tenth of the
  face's diagonal below it.
- ``with_stray_lash``: an eye's drawn lash line laid on the cheek.
- ``ashy``: the face reads as grey: chroma drained, local contrast flattened, lightness lifted.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from render.pipeline.types import Anchor, Box, RenderedCandidate, StructuralCues
from render.tests.pipeline.synthetic_cues import (
    ANCHOR_FRACTIONS,
    baby_height_field,
    normals_from_depth,
    ultrasound_look,
)


def _scale(cues: StructuralCues, image: np.ndarray) -> float:
    return image.shape[1] / cues.crop_box.width


def _face_diagonal(cues: StructuralCues, scale: float) -> float:
    box = cues.face_box
    assert box is not None
    return float(np.hypot(box.width, box.height)) * scale


def _anchor_px(cues: StructuralCues, name: str, scale: float) -> tuple[float, float]:
    anchor = cues.anchor(name)
    assert anchor is not None, f"no {name} anchor"
    return (anchor.x - cues.crop_box.x0) * scale, (anchor.y - cues.crop_box.y0) * scale


def _as_u8(image: np.ndarray) -> np.ndarray:
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def with_placenta(
    candidate: RenderedCandidate,
    cues: StructuralCues,
    *,
    centre: tuple[float, float] = (0.84, 0.24),
    radii: tuple[float, float] = (0.24, 0.26),
    seed_offset: int = 100_000,
) -> RenderedCandidate:
    """A bright, lit lump in the candidate's own skin colour, overlapping the head's outline.

    ``centre`` and ``radii`` are fractions of the image's width and height.
    """
    image = candidate.image.astype(np.float32)
    height, width = image.shape[:2]
    subject = cv2.resize(cues.subject.astype(np.float32), (width, height)) > 0.5
    skin = np.median(candidate.image[subject], axis=0).astype(np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u = (xs / width - centre[0]) / radii[0]
    v = (ys / height - centre[1]) / radii[1]
    r2 = u * u + v * v
    inside = np.clip((1.0 - r2) * 8.0, 0.0, 1.0)[..., None]
    bulge = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
    shade = np.clip(0.35 + 0.75 * (-0.45 * u - 0.45 * v + 0.77 * bulge), 0.0, 1.3) * 1.15
    lump = np.clip(skin * shade[..., None], 0, 255)
    spoiled = image * (1.0 - inside) + lump * inside
    return replace(candidate, seed=candidate.seed + seed_offset, image=_as_u8(spoiled))


def _ink(image: np.ndarray, diameter: int) -> tuple[np.ndarray, np.ndarray]:
    """Each channel over its morphological closing (1 = no line), only where it is a line."""
    values = image.astype(np.float32) + 1.0
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (diameter, diameter))
    closed = cv2.morphologyEx(values, cv2.MORPH_CLOSE, kernel)
    ratio = np.clip(values / closed, 0.0, 1.0)
    # Grain and broad shading stay: only what is clearly darker than its surroundings moves.
    weight = cv2.GaussianBlur(np.clip((0.96 - ratio) / 0.04, 0.0, 1.0), (0, 0), 1.0)
    return values, 1.0 - weight * (1.0 - ratio)


def with_moved_mouth(
    candidate: RenderedCandidate, cues: StructuralCues, *, drop: float = 0.10
) -> RenderedCandidate:
    """The drawn lips erased at the mouth anchor and drawn ``drop`` face diagonals below it."""
    scale = _scale(cues, candidate.image)
    diagonal = _face_diagonal(cues, scale)
    mx, my = _anchor_px(cues, "mouth", scale)
    values, ink = _ink(candidate.image, int(0.06 * diagonal) | 1)
    half_w, half_h, down = int(0.13 * diagonal), int(0.045 * diagonal), int(round(drop * diagonal))
    y0, y1, x0, x1 = int(my) - half_h, int(my) + half_h, int(mx) - half_w, int(mx) + half_w
    lips = ink[y0:y1, x0:x1].copy()
    values[y0:y1, x0:x1] /= lips
    values[y0 + down : y1 + down, x0:x1] *= lips
    return replace(candidate, seed=candidate.seed + 200_000, image=_as_u8(values - 1.0))


def with_stray_lash(
    candidate: RenderedCandidate,
    cues: StructuralCues,
    *,
    eye: str = "eye_left",
    offset: tuple[float, float] = (0.0, 0.2),
    strength: float = 3.0,
) -> RenderedCandidate:
    """The eye's drawn lash line, ``strength`` times as dark, ``offset`` face diagonals away."""
    scale = _scale(cues, candidate.image)
    diagonal = _face_diagonal(cues, scale)
    ex, ey = _anchor_px(cues, eye, scale)
    values, ink = _ink(candidate.image, int(0.06 * diagonal) | 1)
    half_w, half_h = int(0.11 * diagonal), int(0.04 * diagonal)
    dx, dy = int(offset[0] * diagonal), int(offset[1] * diagonal)
    y0, y1, x0, x1 = int(ey) - half_h, int(ey) + half_h, int(ex) - half_w, int(ex) + half_w
    values[y0 + dy : y1 + dy, x0 + dx : x1 + dx] *= ink[y0:y1, x0:x1] ** strength
    return replace(candidate, seed=candidate.seed + 300_000, image=_as_u8(values - 1.0))


def ashy(
    candidate: RenderedCandidate,
    cues: StructuralCues,
    *,
    chroma: float = 0.15,
    contrast: float = 0.35,
    lift: float = 0.0,
) -> RenderedCandidate:
    """The baby's skin (not the set) in CIELab: chroma × ``chroma``, lightness squeezed to
    ``contrast`` round its mean and raised by ``lift`` L*."""
    image = candidate.image
    height, width = image.shape[:2]
    skin = cv2.resize(cues.subject.astype(np.float32), (width, height))
    if candidate.props is not None:
        skin = skin * (1.0 - np.clip(candidate.props * 2.0, 0.0, 1.0))
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    lightness = lab[..., 0]
    mean = float(lightness[skin > 0.5].mean())
    lab[..., 0] = np.clip(mean + lift + contrast * (lightness - mean), 0.0, 100.0)
    lab[..., 1:] *= chroma
    grey = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255.0
    spoiled = image.astype(np.float32) * (1.0 - skin[..., None]) + grey * skin[..., None]
    return replace(candidate, seed=candidate.seed + 400_000, image=_as_u8(spoiled))


def merged_placenta_cues(size: int = 256) -> StructuralCues:
    """The synthetic newborn face with a placenta fused to the top right of its head, all of it
    in the subject mask (as a vision stage that failed to separate them would report it).

    The frame is widened so the lump has room: the head sits in the left ``size`` columns.
    """
    width, height = size + size // 2, size + size // 4
    top = size // 4
    head_depth, head_subject = baby_height_field(size)
    depth = np.zeros((height, width), np.float32)
    subject = np.zeros((height, width), np.float32)
    depth[top:, :size], subject[top:, :size] = head_depth, head_subject
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    lump = np.exp(-(((xs / size - 0.95) / 0.34) ** 2 + ((ys / size - 0.45) / 0.30) ** 2))
    lump_mask = np.clip((lump - 0.3) * 6.0, 0.0, 1.0)
    depth = np.maximum(depth, (0.8 * lump * lump_mask).astype(np.float32))
    subject = np.maximum(subject, lump_mask.astype(np.float32))
    normals = normals_from_depth(depth)
    anchors = tuple(
        Anchor(name=name, x=fx * size, y=fy * size + top, confidence=0.9)
        for name, (fx, fy) in ANCHOR_FRACTIONS.items()
    )
    face = Box(int(0.16 * size), int(0.18 * size) + top, int(0.84 * size), int(0.92 * size) + top)
    return StructuralCues(
        crop_box=Box(0, 0, width, height),
        image=ultrasound_look(depth, normals),
        depth=depth,
        normals=normals,
        subject=subject,
        low_confidence=np.zeros((height, width), np.float32),
        light_dir=(0.3, 0.4, 0.87),
        face_box=face,
        anchors=anchors,
    )
