"""The synthetic newborn face of ``synthetic_cues`` turned to each pose, and a hand over it.

The frontal height field is closed into a head (its back an ellipsoid), turned about the
vertical axis and seen orthographically through a z-buffer, so a profile shows one eye, the
nose standing out of the silhouette and one side of the mouth. Anchors are the frontal ones
turned the same way; like vision, only the anchors the camera can see are kept (on a profile:
the near eye, nose tip, mouth and chin). "profile-left" means the nose points to the image's
left, and the eye left on view is then the image-right one (``eye_right``).
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from render.pipeline.types import ANCHOR_NAMES, Anchor, Box, StructuralCues
from render.tests.pipeline.synthetic_cues import (
    ANCHOR_FRACTIONS,
    baby_height_field,
    normals_from_depth,
    ultrasound_look,
)

YAW_DEGREES: dict[str, float] = {
    "frontal": 0.0,
    "three-quarter-left": 35.0,
    "three-quarter-right": -35.0,
    "profile-left": 85.0,
    "profile-right": -85.0,
}
_RELIEF = 0.42  # the front surface's height at depth 1, in crop widths
_HEAD = (0.5, 0.55, 0.36, 0.40, 0.34)  # centre x, y and half-width, half-height, half-depth
_TURNS = 2048  # samples round each row of the head


def _front_relief(size: int) -> np.ndarray:
    """The features' relief over the bare ellipsoid, seen from the front (crop widths)."""
    depth, _ = baby_height_field(size)
    cx, cy, rx, ry, rz = _HEAD
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    xx, yy = np.meshgrid(coords, coords)
    rim = 1.0 - ((xx - cx) / rx) ** 2 - ((yy - cy) / ry) ** 2
    bare = rz * np.sqrt(np.clip(rim, 0.0, 1.0))
    # Faded out toward the outline, where the frontal depth map's own edge would read as a groove.
    return ((depth * _RELIEF - bare) * np.clip(rim / 0.3, 0.0, 1.0)).astype(np.float32)


def _surface(size: int, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """The turned head's nearest surface (z, crop widths toward the viewer) per pixel and where
    the head is, seen orthographically: each row's cross-section swept round and z-buffered."""
    cx, cy, rx, ry, rz = _HEAD
    relief = _front_relief(size)
    theta = np.linspace(-math.pi, math.pi, _TURNS, endpoint=False, dtype=np.float32)
    zbuffer = np.full((size, size), -np.inf, np.float32)
    for row in range(size):
        v = ((row + 0.5) / size - cy) / ry
        if abs(v) >= 1.0:
            continue
        ax, az = rx * math.sqrt(1.0 - v * v), rz * math.sqrt(1.0 - v * v)
        # The ellipse's radius at each angle (from the face's front, toward the image's right).
        radius = 1.0 / np.sqrt((np.sin(theta) / ax) ** 2 + (np.cos(theta) / az) ** 2)
        front_x = cx + radius * np.sin(theta)
        column = np.clip((front_x * size).astype(np.int32), 0, size - 1)
        facing = np.clip(np.cos(theta), 0.0, None)
        radius = radius + relief[row, column] * facing
        x = cx + radius * np.sin(theta - yaw)
        z = radius * np.cos(theta - yaw)
        columns = np.clip((x * size).astype(np.int32), 0, size - 1)
        np.maximum.at(zbuffer[row], columns, z)
    seen = np.isfinite(zbuffer)
    return np.where(seen, zbuffer, 0.0).astype(np.float32), seen


def posed_cues(
    pose: str = "frontal",
    size: int = 256,
    *,
    confidence: float = 0.9,
    seed: int = 0,
) -> StructuralCues:
    """Cues for the synthetic face turned to ``pose`` (one of ``POSES``), every anchor the
    camera sees at ``confidence``."""
    yaw = math.radians(YAW_DEGREES[pose])
    zbuffer, seen = _surface(size, yaw)
    near, far = float(zbuffer[seen].max()), float(zbuffer[seen].min())
    nearness = np.where(seen, (zbuffer - far) / max(near - far, 1e-6), 0.0).astype(np.float32)
    subject = cv2.GaussianBlur(seen.astype(np.float32), (0, 0), 0.7)
    normals = normals_from_depth(nearness, relief=near - far)
    image = ultrasound_look(nearness, normals, seed=seed)

    anchors = []
    for name in ANCHOR_NAMES:
        x, y, z_turned = turned_anchor(name, pose, size)
        row, seen_column = int(y), int(np.clip(x, 0, size - 1))
        if name == "mouth" and pose.startswith("profile"):
            # Seen from the side the mouth is the front of the lips, on the outline.
            on_row = np.nonzero(seen[row])[0]
            edge = on_row.min() + 2 if pose == "profile-left" else on_row.max() - 2
            anchors.append(Anchor(name, float(edge), y, confidence))
        # Seen when nothing nearer stands in front of it (a little slack for the sampling).
        elif z_turned >= zbuffer[row, seen_column] - 0.03 and _kept(name, pose):
            anchors.append(Anchor(name, x, y, confidence))
    # Closed lids and a closed mouth show in a scan as thin dark creases along each.
    image = image.copy()
    for anchor in anchors:
        if anchor.name.startswith("eye") or anchor.name == "mouth":
            half = 0.07 * size * (1.0 if pose == "frontal" else 0.6)
            y = int(round(anchor.y))
            start, end = int(anchor.x - half), int(anchor.x + half)
            cv2.line(image, (start, y), (end, y), (40, 30, 20), 2 if size >= 256 else 1)
    columns = np.nonzero(seen[int(0.3 * size) : int(0.85 * size)].any(axis=0))[0]
    face = Box(int(columns.min()), int(0.18 * size), int(columns.max()) + 1, int(0.92 * size))
    return StructuralCues(
        crop_box=Box(0, 0, size, size),
        image=image,
        depth=nearness,
        normals=normals,
        subject=subject.astype(np.float32),
        low_confidence=np.zeros((size, size), np.float32),
        light_dir=(0.3, 0.4, 0.87),
        face_box=face,
        anchors=tuple(anchors),
        pose=pose,
    )


def turned_anchor(name: str, pose: str, size: int = 256) -> tuple[float, float, float]:
    """Where anchor ``name`` lies once the face is turned to ``pose``, seen or hidden: its x
    and y in crop pixels and how near the viewer it is (crop widths)."""
    yaw = math.radians(YAW_DEGREES[pose])
    cx, cy, rx, ry, rz = _HEAD
    fx, fy = ANCHOR_FRACTIONS[name]
    v = (fy - cy) / ry
    bare = rz * math.sqrt(max(1.0 - ((fx - cx) / rx) ** 2 - v * v, 0.0))
    z = bare + float(_front_relief(size)[int(fy * size), int(fx * size)])
    x = cx + (fx - cx) * math.cos(yaw) - z * math.sin(yaw)
    z_turned = (fx - cx) * math.sin(yaw) + z * math.cos(yaw)
    return float(x * size), fy * size, float(z_turned)


def _kept(name: str, pose: str) -> bool:
    """What vision keeps: on a profile the near eye, nose tip, mouth and chin only; on a
    three-quarter view everything seen."""
    if pose.startswith("profile"):
        near_eye = "eye_right" if pose == "profile-left" else "eye_left"
        return name in (near_eye, "nose_tip", "mouth", "chin")
    return True


def with_anchor(cues: StructuralCues, name: str, **changes: float) -> StructuralCues:
    """``cues`` with anchor ``name`` changed (``confidence``, ``x``, ``y``), or added."""
    anchor = cues.anchor(name) or Anchor(name, 0.0, 0.0, 0.0)
    changed = dataclasses.replace(anchor, **changes)
    others = tuple(a for a in cues.anchors if a.name != name)
    return dataclasses.replace(cues, anchors=(*others, changed))


def without_anchors(cues: StructuralCues, *names: str) -> StructuralCues:
    return dataclasses.replace(cues, anchors=tuple(a for a in cues.anchors if a.name not in names))


def hand_mask(size: int, centre: tuple[float, float], spread: float = 1.0) -> np.ndarray:
    """Four fingers lying across the face from the image's right, ending round ``centre``
    (fractions of the crop): an H×W float32 0..1 mask."""
    mask = np.zeros((size, size), np.uint8)
    cx, cy = centre[0] * size, centre[1] * size
    finger = 0.03 * size * spread
    for index in range(4):
        y = cy + (index - 1.5) * 2.3 * finger
        tip = cx - 0.02 * size * (1.5 - abs(index - 1.5))
        cv2.ellipse(
            mask,
            (int(tip + 0.12 * size), int(y)),
            (int(0.12 * size), int(finger)),
            0,
            0,
            360,
            1,
            -1,
        )
    palm = (int(cx + 0.28 * size), int(cy))
    cv2.ellipse(mask, palm, (int(0.1 * size), int(0.13 * size)), 0, 0, 360, 1, -1)
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.7)


def with_hand(
    cues: StructuralCues, centre: tuple[float, float] = (0.6, 0.55), *, marked: bool = True
) -> StructuralCues:
    """``cues`` with the baby's hand over the face: a nearer, bright, speckled surface with
    finger gaps in the scan, the depth and the subject; ``marked`` fills ``cues.hands``."""
    size = cues.depth.shape[0]
    hand = hand_mask(size, centre)
    over = hand > 0.5
    rng = np.random.default_rng(3)
    image = cues.image.copy()
    # Each finger a rounded ridge: bright on top, dark in the gaps, like a scanner shows it.
    ridge = cv2.GaussianBlur(hand, (0, 0), 2.0)
    shade = (0.55 + 0.45 * ridge)[..., None] * np.array([250, 200, 150], np.float32)
    shade *= rng.gamma(4.0, 0.25, size=(size, size, 1))
    image[over] = np.clip(shade, 0, 255).astype(np.uint8)[over]
    depth = np.where(over, np.maximum(cues.depth, 0.85 + 0.15 * ridge), cues.depth)
    subject = np.maximum(cues.subject, hand)
    return dataclasses.replace(
        cues,
        image=image,
        depth=depth.astype(np.float32),
        normals=normals_from_depth(depth.astype(np.float32)),
        subject=subject.astype(np.float32),
        hands=hand.astype(np.float32) if marked else None,
    )
