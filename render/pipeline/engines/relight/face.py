"""What vision's anchors say about the face: its size, which side its pose turns away, and
where its soft regions sit.

The layout here is for broad colour and light (a flush, a sheen, the zone where the scan's
relief is kept) and for keeping the wrap clear of the face; it may estimate a region from
the others by neonatal proportion. Nothing is ever *drawn* from it: features are placed only
at their own confident anchors (``features.plan_features``).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from render.pipeline.types import StructuralCues

# Below this an anchor may still place a broad region (a flush, the wrap's clearance), never
# a drawn feature.
LAYOUT_CONFIDENCE = 0.3
# A frontal newborn face's eye gap (eye centre to eye centre) over its face box's diagonal,
# the middle of vision's boxes on the phantoms (0.26-0.33).
GAP_PER_DIAGONAL = 0.29


def anchor_xy(
    cues: StructuralCues, name: str, scale: float, floor: float = LAYOUT_CONFIDENCE
) -> tuple[float, float] | None:
    """Anchor ``name`` in the pixels of an array ``scale`` × the crop, if at least ``floor``
    sure."""
    anchor = cues.anchor(name)
    if anchor is None or anchor.confidence < floor:
        return None
    return (anchor.x - cues.crop_box.x0) * scale, (anchor.y - cues.crop_box.y0) * scale


@dataclass(frozen=True)
class FaceSize:
    """How big the face is, in the pixels of one array."""

    diagonal: float  # of vision's face box (or of the subject's box without one)
    gap: float  # the eye gap a frontal newborn face this size has: the features' own scale


def face_size(cues: StructuralCues, scale: float) -> FaceSize | None:
    box = cues.face_box
    if box is not None and box.width > 0 and box.height > 0:
        diagonal = math.hypot(box.width, box.height) * scale
    else:
        subject = cues.subject_box
        if subject is None:
            return None
        # A subject box holds the whole head; the face is about three quarters of it across.
        diagonal = 0.75 * math.hypot(subject.width, subject.height) * scale
    if diagonal < 8.0:
        return None
    gap = GAP_PER_DIAGONAL * diagonal
    left, right = anchor_xy(cues, "eye_left", scale), anchor_xy(cues, "eye_right", scale)
    if cues.pose == "frontal" and left is not None and right is not None:
        # Seen from the front the two eyes measure the face better than a box does.
        measured = math.hypot(right[0] - left[0], right[1] - left[1])
        gap = min(max(measured, 0.22 * diagonal), 0.36 * diagonal)
    return FaceSize(diagonal, gap)


def nose_side(pose: str) -> int:
    """Where the nose points: -1 toward the image's left, +1 its right, 0 at the viewer."""
    if pose.endswith("-left"):
        return -1
    if pose.endswith("-right"):
        return 1
    return 0


def side_width(pose: str, side: int) -> float:
    """How much of a feature's half on ``side`` (-1 the image's left, +1 its right) shows.

    The side the nose points to turns away from the viewer: foreshortened on a three-quarter
    view, hidden on a profile. On a profile the near side is seen edge-on, about half its
    frontal width.
    """
    toward = nose_side(pose)
    if toward == 0:
        return 1.0
    if pose.startswith("profile"):
        return 0.0 if side == toward else 0.5
    return 0.6 if side == toward else 1.0


def visible_eyes(pose: str) -> tuple[str, ...]:
    """The eyes a pose shows. On a profile only the near eye: with the nose to the image's
    left the face's own left eye is on view, which the image shows on its right."""
    if pose == "profile-left":
        return ("eye_right",)
    if pose == "profile-right":
        return ("eye_left",)
    return ("eye_left", "eye_right")


def eye_side(name: str) -> int:
    return -1 if name == "eye_left" else 1


@dataclass(frozen=True)
class FaceLayout:
    """Where the soft regions of a newborn face sit, placed from vision's anchors; missing
    lower regions are estimated by neonatal proportion (broad colour only, never a stroke)."""

    eye_left: tuple[float, float]
    eye_right: tuple[float, float]
    nose: tuple[float, float]
    mouth: tuple[float, float]
    cheek_left: tuple[float, float]
    cheek_right: tuple[float, float]
    eye_gap: float


# Without both eyes, a face whose midline leans more than this (degrees) from the crop's
# columns is not mirrored: vision turns the crop upright only past 20° and when it is sure of
# the roll, and a hand over one side is what leaves it unsure. The anchors of an upright face
# under a hand lean up to 10° (the mesh reads the covered side's nose and lips askew).
_MIDLINE_LEAN = 12.0


@dataclass(frozen=True)
class Midline:
    """A frontal face's midline in the pixels of one array: a point on it and its unit
    direction down the face."""

    point: tuple[float, float]
    down: tuple[float, float]


def midline(cues: StructuralCues, scale: float) -> Midline | None:
    """A frontal face's midline in an array ``scale`` × the crop: square to the eye line
    through the eyes' middle with both eyes; otherwise the column through the median of the
    nose tip's, the mouth's and the chin's, when those do not lean off a column. None on a
    turned face or without two of those points."""
    if cues.pose != "frontal":
        return None
    left, right = anchor_xy(cues, "eye_left", scale), anchor_xy(cues, "eye_right", scale)
    if left is not None and right is not None:
        across = (right[0] - left[0], right[1] - left[1])
        length = math.hypot(*across)
        if length < 4.0:
            return None
        # Square to the eye line, down the face (picture y grows downward).
        down = (-across[1] / length, across[0] / length)
        return Midline(((left[0] + right[0]) / 2.0, (left[1] + right[1]) / 2.0), down)
    points = [xy for name in ("nose_tip", "mouth", "chin") if (xy := anchor_xy(cues, name, scale))]
    if len(points) < 2:
        return None
    top, bottom = min(points, key=lambda p: p[1]), max(points, key=lambda p: p[1])
    if abs(math.degrees(math.atan2(bottom[0] - top[0], bottom[1] - top[1]))) > _MIDLINE_LEAN:
        return None
    return Midline((float(statistics.median(p[0] for p in points)), top[1]), (0.0, 1.0))


def face_layout(cues: StructuralCues, scale: float) -> FaceLayout | None:
    """The layout of a face seen with both eyes (frontal or three-quarter); None on a profile
    or without the eyes and nose."""
    if cues.is_profile:
        return None
    nose = anchor_xy(cues, "nose_tip", scale)
    left, right = anchor_xy(cues, "eye_left", scale), anchor_xy(cues, "eye_right", scale)
    if nose is None or left is None or right is None:
        return None
    gap = math.hypot(right[0] - left[0], right[1] - left[1])
    if gap < 4.0:
        return None
    mouth = anchor_xy(cues, "mouth", scale) or (nose[0], nose[1] + 0.45 * gap)
    cheek_left = anchor_xy(cues, "cheek_left", scale) or (left[0] - 0.1 * gap, nose[1])
    cheek_right = anchor_xy(cues, "cheek_right", scale) or (right[0] + 0.1 * gap, nose[1])
    return FaceLayout(left, right, nose, mouth, cheek_left, cheek_right, gap)
