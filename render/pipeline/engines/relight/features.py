"""The face's features (lash lines, lids, nostrils, lips), drawn at output resolution on the
finished image, each only at its own anchor.

A feature is drawn only where vision found its anchor with at least ``FEATURE_CONFIDENCE``,
the pose shows it (on a profile the near eye, one nostril and the near half of the mouth),
the anchor is not on a hand or an unsure region, and, for the lash and mouth lines, the scan
itself shows a crease there. Every mark of a feature lies within ``FEATURE_REACH`` of the face
diagonal of its anchor's segment (the anchor, widened to the feature's own width across the
face); the scan's crease may move a lash line only ``_SNAP`` of the diagonal toward it, the
lips' line ``_MOUTH_SNAP``. A mouth down to ``MOUTH_ON_ITS_LINE`` sure is drawn where the scan
shows its line clearly (``_CLEAR_LINE``). Nothing is ever placed by proportion from other
anchors. When unsure, nothing is drawn.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from render.pipeline.engines.relight.colour import SkinLook, lip_gain
from render.pipeline.engines.relight.face import (
    anchor_xy,
    eye_side,
    face_size,
    nose_side,
    side_width,
    visible_eyes,
)
from render.pipeline.engines.relight.raster import band, gauss, layer_max, resize, wide_blur, window
from render.pipeline.engines.relight.texture import pores
from render.pipeline.types import FEATURE_CONFIDENCE, MOUTH_ON_ITS_LINE, StructuralCues

if TYPE_CHECKING:
    from render.pipeline.engines.relight.surface import Surface

FEATURE_REACH = 0.03  # of the face diagonal: no mark lies further from its anchor's segment
_SNAP = 0.008  # of the face diagonal: how far the scan's own crease may move a line
# The mouth's anchor lies further off the lips' parting: the mesh reads a baby's mouth 0.01-0.025
# of the diagonal above or below it (the nose's and the chin's creases lie 0.06 and more away).
_MOUTH_SNAP = 0.02
# A profile's anchors on its outline, and how far inside it (of the eye gap) it is read.
OUTLINE_FEATURES = ("nose_tip", "mouth")
_OUTLINE_INSET = 0.12
_OUTLINE_EVIDENCE = 0.6  # how strongly a profile's lip line is drawn from the outline alone
_CLEAR_LINE = 0.8
_INK_TINT = np.array([0.86, 1.0, 1.06], dtype=np.float32)  # creases' darkening per channel
_PORE_STRENGTH = 0.016  # of the 8-bit value: pores a viewer sees at full size, not in a thumbnail


@dataclass(frozen=True)
class _Line:
    """A dark crease found in the scan (lash line, mouth line), in shading pixels.

    ``y = yc + slope·(x - xc) + bend·(x - xc)²`` for ``|x - xc| <= half_width``; ``evidence``
    0..1 is how clearly the scan shows it (0: the scan shows no line, nothing is drawn).
    """

    xc: float
    yc: float
    slope: float
    bend: float
    half_width: float
    evidence: float

    def scaled(self, ratio: float) -> _Line:
        return _Line(
            self.xc * ratio,
            self.yc * ratio,
            self.slope,
            self.bend / ratio,
            self.half_width * ratio,
            self.evidence,
        )


@dataclass(frozen=True)
class Footprint:
    """Where a feature may mark the skin: within ``reach`` px of the segment from ``x0`` to
    ``x1`` on its anchor's row ``y``."""

    x0: float
    x1: float
    y: float
    reach: float

    def scaled(self, ratio: float) -> Footprint:
        return Footprint(self.x0 * ratio, self.x1 * ratio, self.y * ratio, self.reach * ratio)

    def weight(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """1 inside, falling to 0 at ``reach`` over a tenth of it (a soft edge)."""
        dx = np.maximum(np.maximum(self.x0 - xs, xs - self.x1), 0.0)
        distance = np.sqrt(dx * dx + (ys - self.y) ** 2)
        return np.clip((self.reach - distance) / (0.1 * self.reach), 0.0, 1.0)


@dataclass(frozen=True)
class Eye:
    line: _Line
    outward: float  # which way the lashes lean: -1 the image's left, +1 its right
    footprint: Footprint

    def scaled(self, ratio: float) -> Eye:
        return Eye(self.line.scaled(ratio), self.outward, self.footprint.scaled(ratio))


@dataclass(frozen=True)
class Nose:
    tip: tuple[float, float]
    relief: float  # 0..1: how clearly the depth shows a nose standing out of the face
    sides: tuple[float, float]  # how much of the left and right nostril shows (side_width)
    footprint: Footprint

    def scaled(self, ratio: float) -> Nose:
        tip = (self.tip[0] * ratio, self.tip[1] * ratio)
        return Nose(tip, self.relief, self.sides, self.footprint.scaled(ratio))


@dataclass(frozen=True)
class Mouth:
    line: _Line
    halves: tuple[float, float]  # px the lips run left and right of the anchor (0: hidden)
    philtrum_from: float | None  # the row under the nose the philtrum rises to; None: not drawn
    footprint: Footprint

    def scaled(self, ratio: float) -> Mouth:
        return Mouth(
            self.line.scaled(ratio),
            (self.halves[0] * ratio, self.halves[1] * ratio),
            None if self.philtrum_from is None else self.philtrum_from * ratio,
            self.footprint.scaled(ratio),
        )


@dataclass(frozen=True)
class FeaturePlan:
    """The features that will be drawn, each at its own anchor, in one array's pixels."""

    eyes: tuple[Eye, ...]
    nose: Nose | None
    mouth: Mouth | None
    gap: float  # the features' scale: the eye gap of a frontal newborn face this size

    def scaled(self, ratio: float) -> FeaturePlan:
        return FeaturePlan(
            tuple(eye.scaled(ratio) for eye in self.eyes),
            None if self.nose is None else self.nose.scaled(ratio),
            None if self.mouth is None else self.mouth.scaled(ratio),
            self.gap * ratio,
        )


def _crease_strength(scan_log: np.ndarray, long_side: int) -> np.ndarray:
    """Where the denoised scan holds a thin dark line running across: darker than both the
    rows a lid line's width above and below it. The edge of a broad shadow (a socket's rim
    under a top light) is dark on one side only, so it does not count."""
    fine = cv2.GaussianBlur(scan_log, (0, 0), 0.0025 * long_side)
    reach = max(2, int(round(0.01 * long_side)))
    above = np.empty_like(fine)
    below = np.empty_like(fine)
    above[reach:], above[:reach] = fine[:-reach], fine[:1]
    below[:-reach], below[-reach:] = fine[reach:], fine[-1:]
    return np.clip(np.minimum(above, below) - fine, 0.0, None)


def _find_line(
    crease: np.ndarray, anchor: tuple[float, float], halves: tuple[float, float], snap: float
) -> _Line | None:
    """The scan's dark crease through ``anchor``, from ``halves`` px left to right of it and
    at most ``snap`` px above or below: its darkest row per column, fitted by a gentle
    parabola centred on the anchor. None when the scan shows no crease there."""
    height, width = crease.shape
    x0 = max(int(anchor[0] - halves[0]), 0)
    x1 = min(int(anchor[0] + halves[1]) + 1, width)
    y0 = max(int(anchor[1] - snap - 1), 0)
    y1 = min(int(anchor[1] + snap + 1) + 1, height)
    if x1 - x0 < 6 or y1 - y0 < 3:
        return None
    window_ = crease[y0:y1, x0:x1]
    rows = np.arange(y0, y1, dtype=np.float32) - anchor[1]
    prior = np.exp(-0.5 * (rows / max(snap, 1.0)) ** 2)[:, None]
    best = np.argmax(window_ * prior, axis=0)
    columns = np.arange(window_.shape[1])
    strength = window_[best, columns]
    top = float(np.percentile(strength, 90))
    if top < 0.05:  # the scan shows no line here: nothing to draw
        return None
    strong = strength > 0.4 * top
    if strong.sum() < 6:
        return None
    # Sub-pixel row: the vertex of a parabola through the darkest row and its neighbours.
    above = window_[np.clip(best - 1, 0, window_.shape[0] - 1), columns]
    below = window_[np.clip(best + 1, 0, window_.shape[0] - 1), columns]
    curvature = above - 2.0 * strength + below
    offset = np.where(curvature < -1e-6, 0.5 * (above - below) / np.minimum(curvature, -1e-6), 0)
    ys = y0 + best + np.clip(offset, -0.5, 0.5)
    xs = (x0 + columns).astype(np.float32)
    half_width = max(halves)
    bend, slope, yc = np.polyfit(xs[strong] - anchor[0], ys[strong], 2, w=strength[strong])
    # A lid or a mouth bends gently: never more than a fifth of its half-width end to end.
    limit = 0.2 / max(half_width, 1.0)
    return _Line(
        anchor[0],
        float(np.clip(yc, anchor[1] - snap, anchor[1] + snap)),
        float(np.clip(slope, -0.25, 0.25)),
        float(np.clip(bend, -limit, limit)),
        half_width,
        float(np.clip((top - 0.05) / 0.1, 0.0, 1.0)),
    )


def plan_features(
    cues: StructuralCues,
    scale: float,
    scan_log: np.ndarray,
    depth: np.ndarray,
    trust: np.ndarray,
    long_side: int,
) -> FeaturePlan | None:
    """Which features to draw and where, in the pixels of the shading arrays (``scale`` ×
    the crop). ``trust`` is 0 on hands and unsure regions: an anchor there places nothing."""
    size = face_size(cues, scale)
    if size is None:
        return None
    gap, reach, snap = size.gap, FEATURE_REACH * size.diagonal, _SNAP * size.diagonal
    height, width = depth.shape
    pose = cues.pose

    def inset(name: str, xy: tuple[float, float]) -> tuple[int, int]:
        """Where an anchor's surface is read: a profile's nose tip and lips are points of its
        outline, and the skin just inside them is what vision saw there."""
        column, row = int(round(xy[0])), int(round(xy[1]))
        if cues.is_profile and name in OUTLINE_FEATURES:
            column -= round(nose_side(pose) * _OUTLINE_INSET * gap)
        return column, row

    def trusted(name: str, floor: float = FEATURE_CONFIDENCE) -> tuple[float, float] | None:
        xy = anchor_xy(cues, name, scale, floor)
        if xy is None:
            return None
        column, row = inset(name, xy)
        if not (0 <= row < height and 0 <= column < width) or trust[row, column] < 0.3:
            return None
        return xy

    crease = _crease_strength(scan_log, long_side)
    eyes: list[Eye] = []
    for name in visible_eyes(pose):
        xy = trusted(name)
        half = min(0.2 * gap, 0.065 * size.diagonal) * side_width(pose, eye_side(name))
        if xy is None or half < 2.0:
            continue
        line = _find_line(crease, xy, (half, half), snap)
        if line is None:
            continue
        # A closed lid's margin arcs: its corners sit a little above its middle.
        line = dataclasses.replace(line, bend=line.bend - 0.025 * gap / half**2)
        # On a profile the lashes point forward, the way the nose does; else to the outer corner.
        outward = float(nose_side(pose) if cues.is_profile else eye_side(name))
        eyes.append(Eye(line, outward, Footprint(xy[0] - half, xy[0] + half, xy[1], reach)))

    nose = None
    tip = trusted("nose_tip")
    if tip is not None:
        bumps = depth - wide_blur(depth, 0.05 * long_side)
        column, row = inset("nose_tip", tip)
        relief = float(np.clip(bumps[row, column] / 0.03, 0.0, 1.0))
        sides = (side_width(pose, -1), side_width(pose, 1))
        if relief > 0.0 and max(sides) > 0.0:
            span = 0.15 * gap
            footprint = Footprint(
                tip[0] - span * (sides[0] > 0), tip[0] + span * (sides[1] > 0), tip[1], reach
            )
            nose = Nose(tip, relief, sides, footprint)

    mouth = None
    centre = trusted("mouth", MOUTH_ON_ITS_LINE)
    if centre is not None:
        full = min(0.22 * gap, 0.07 * size.diagonal)
        halves = (full * side_width(pose, -1), full * side_width(pose, 1))
        line = _find_line(crease, centre, halves, _MOUTH_SNAP * size.diagonal)
        sure = trusted("mouth") is not None
        if line is None and sure and cues.is_profile:
            # A profile's lips are read off the notch of its outline, which holds their line
            # where the scan shows no crease inside it (the face turned from the light is all
            # in shade there): level, from the notch into the face.
            line = _Line(centre[0], centre[1], 0.0, 0.0, max(halves), _OUTLINE_EVIDENCE)
        if line is not None and (sure or line.evidence >= _CLEAR_LINE):
            philtrum_from = None
            if tip is not None and not cues.is_profile and tip[1] < line.yc:
                philtrum_from = tip[1]
            footprint = Footprint(centre[0] - halves[0], centre[0] + halves[1], centre[1], reach)
            mouth = Mouth(line, halves, philtrum_from, footprint)

    if not eyes and nose is None and mouth is None:
        return None
    return FeaturePlan(tuple(eyes), nose, mouth, gap)


def drawn(plan: FeaturePlan | None) -> frozenset[str]:
    """What ``plan`` draws on every candidate, for scoring: "eyes", "nose", "mouth"."""
    if plan is None:
        return frozenset()
    shown = {
        "eyes": bool(plan.eyes),
        "nose": plan.nose is not None,
        "mouth": plan.mouth is not None,
    }
    return frozenset(name for name, on in shown.items() if on)


def _in_footprint(
    footprint: Footprint, shape: tuple[int, ...]
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray, np.ndarray] | None:
    """The window around a footprint, its coordinates and its weights."""
    cx = (footprint.x0 + footprint.x1) / 2.0
    rx = (footprint.x1 - footprint.x0) / 2.0 + footprint.reach
    box = window(shape, cx, footprint.y, rx, footprint.reach)
    if box is None:
        return None
    where, xs, ys = box
    return where, xs, ys, footprint.weight(xs, ys)


def _draw_eye(eye: Eye, gap: float, ink: np.ndarray, lift: np.ndarray) -> None:
    """A sleeping newborn's closed eye on the scan's lash line, at output resolution.

    A fine dark lash line that tapers to the corners, short lashes fanning down and outward
    from it, a soft crease arching above the lid, and the lid's shadow just under the lashes.
    """
    box = _in_footprint(eye.footprint, ink.shape)
    if box is None:
        return
    where, xs, ys, weight = box
    line, outward = eye.line, eye.outward
    dx = xs - line.xc
    u = dx / line.half_width
    along = np.clip(1.0 - u * u, 0.0, 1.0)
    fade_ends = np.clip((1.0 - np.abs(u)) / 0.1, 0.0, 1.0)
    curve = line.yc + line.slope * dx + line.bend * dx * dx
    dy = ys - curve  # positive below the line
    half = 0.0075 * gap * (0.35 + 0.65 * np.sqrt(along))
    margin = band(dy, half) * fade_ends
    # Lashes: short fine hairs below the lid margin, leaning toward the outer corner.
    length = 0.05 * gap * np.sqrt(along)
    period = max(0.03 * gap, 3.0)
    lean = outward * (0.4 + 0.8 * np.clip(u * outward, 0.0, 1.0))
    phase = (dx - lean * np.clip(dy, 0.0, None)) / period
    hair_width = np.clip(1.0 - np.abs(phase - np.round(phase)) * period / 0.9, 0.0, 1.0)
    # Each lash its own length: a fixed hash of its index, never the candidate's seed.
    hashed = np.sin(np.round(phase) * 12.9898) * 43758.5453
    length = length * (0.6 + 0.4 * (hashed - np.floor(hashed)))
    reach = np.clip(dy / np.maximum(length, 1e-3), 0.0, 1.0)
    hairs = hair_width * (1.0 - reach) ** 1.3 * (dy > 0) * fade_ends * 0.55
    # The crease of the closed lid: higher at the middle of the eye, faint towards the corners.
    crease_y = dy + 0.08 * gap * (0.6 + 0.4 * along)
    crease = 0.2 * gauss(crease_y, 0.01 * gap) * along**0.7
    shade_under = 0.12 * gauss(dy - 0.028 * gap, 0.016 * gap) * along
    dark = 1.0 - (1.0 - 0.78 * margin) * (1.0 - hairs) * (1.0 - crease) * (1.0 - shade_under)
    layer_max(ink, where, dark * (line.evidence * weight))
    # The convex lid between crease and lashes catches a little more light.
    lid = 0.05 * gauss(dy + 0.04 * gap, 0.02 * gap) * along
    layer_max(lift, where, lid * (line.evidence * weight))


def _draw_nose(nose: Nose, gap: float, ink: np.ndarray, lift: np.ndarray) -> None:
    """Soft nostrils beside the tip (as many as the pose shows), the shadow under it and a
    light on the tip."""
    box = _in_footprint(nose.footprint, ink.shape)
    if box is None:
        return
    where, xs, ys, weight = box
    nx, ny = nose.tip
    dark = np.zeros((ys.shape[0], xs.shape[1]), np.float32)
    for side, shown in zip((-1.0, 1.0), nose.sides, strict=True):
        if shown <= 0.0:
            continue
        # A turned-away nostril sits closer to the tip and looks smaller.
        size = 0.5 + 0.5 * min(shown / 0.6, 1.0) if shown < 1.0 else 1.0
        cx, cy = nx + side * 0.1 * gap * (0.6 + 0.4 * shown), ny + 0.075 * gap
        # A nostril seen from the front: a small oval, its outer end tilted up.
        angle = math.radians(-side * 18.0)
        along = (xs - cx) * math.cos(angle) + (ys - cy) * math.sin(angle)
        across = -(xs - cx) * math.sin(angle) + (ys - cy) * math.cos(angle)
        radius = np.sqrt((along / (0.04 * gap * size)) ** 2 + (across / (0.02 * gap * size)) ** 2)
        nostril = np.clip((1.0 - radius) / 0.6, 0.0, 1.0) ** 0.7
        # The wing's crease: a soft arc up and round the outside of the nostril.
        wing = np.sqrt(
            ((xs - cx) / (0.075 * gap * size)) ** 2
            + ((ys - cy + 0.015 * gap) / (0.06 * gap * size)) ** 2
        )
        outer = np.clip(side * (xs - cx) / (0.04 * gap), 0.0, 1.0) * (ys < cy + 0.01 * gap)
        alar = 0.09 * gauss(wing - 1.0, 0.14) * outer
        np.maximum(dark, 0.42 * nostril, out=dark)
        np.maximum(dark, alar, out=dark)
    # The underside of the nose, turned away from a key above: a soft band under the tip,
    # running back from it on a turned face.
    shift = 0.04 * gap * (nose.sides[1] - nose.sides[0])
    under = (
        0.14 * gauss(xs - (nx + shift), 0.085 * gap) * gauss(ys - (ny + 0.085 * gap), 0.022 * gap)
    )
    np.maximum(dark, under, out=dark)
    layer_max(ink, where, dark * (nose.relief * weight))
    tip = 0.09 * gauss(xs - nx, 0.03 * gap) * gauss(ys - (ny - 0.025 * gap), 0.022 * gap)
    layer_max(lift, where, tip * (nose.relief * weight))


def _draw_mouth(
    mouth: Mouth, gap: float, ink: np.ndarray, lift: np.ndarray, lips: np.ndarray
) -> None:
    """Lips on the scan's mouth line: a defined cupid's-bow edge to the upper lip, a fuller
    lower lip with a soft shadow under it, a fine parting line and the philtrum above; on a
    turned face the far half narrower, on a profile only the near half."""
    box = _in_footprint(mouth.footprint, ink.shape)
    if box is None:
        return
    where, xs, ys, weight = box
    line = mouth.line
    dx = xs - line.xc
    left, right = mouth.halves
    half_here = np.where(dx < 0.0, left, right)
    u = dx / np.maximum(half_here, 1e-3)
    along = np.where(half_here > 0.0, np.clip(1.0 - u * u, 0.0, 1.0), 0.0)
    curve = line.yc + line.slope * dx + line.bend * dx * dx
    dy = ys - curve
    frontal = min(left, right) > 0.0
    # Upper lip: its border dips at the middle between the two peaks of the bow.
    dip = 0.3 * gauss(dx, 0.035 * gap) if frontal else 0.0
    height = 0.075 * gap * along**0.55 * (1.0 - dip)
    border = -height
    # The border is crisp at the bow and melts into the skin towards the corners.
    edge = 1.0 + 0.03 * gap * (1.0 - along)
    upper = np.clip((dy - border) / edge + 0.5, 0.0, 1.0) * np.clip(0.5 - dy, 0.0, 1.0)
    # Lower lip: fuller and a little narrower, its lower edge soft.
    low_u = dx / np.maximum(0.85 * half_here, 1e-3)
    low_along = np.where(half_here > 0.0, np.clip(1.0 - low_u * low_u, 0.0, 1.0), 0.0)
    depth_low = 0.09 * gap * low_along**0.6
    lower = np.clip(dy + 0.5, 0.0, 1.0) * np.clip((depth_low - dy) / (0.025 * gap) + 0.5, 0.0, 1.0)
    shown = line.evidence * weight
    # The lips end a little past each corner; on a profile they round off at their front.
    ends = np.where(
        half_here > 0.0,
        np.clip((1.15 - np.abs(u)) / 0.15, 0.0, 1.0),
        np.clip(1.0 - np.abs(dx) / (0.03 * gap), 0.0, 1.0),
    )
    layer_max(lips, where, np.maximum(upper, lower) * (0.3 + 0.7 * along) * ends * shown)
    # The parting line, darkest at the corners where the lips tuck in.
    half = 0.006 * gap * (0.4 + 0.6 * np.sqrt(along))
    fade_ends = np.where(half_here > 0.0, np.clip((1.0 - np.abs(u)) / 0.08, 0.0, 1.0), 0.0)
    parting = 0.55 * band(dy, half) * fade_ends
    corners = sum(
        gauss(dx - side * 0.93 * extent, 0.03 * gap)
        for side, extent in ((-1.0, left), (1.0, right))
        if extent > 0.0
    )
    corners = 0.2 * corners * gauss(dy, 0.015 * gap)
    under_lip = 0.16 * gauss(dy - depth_low - 0.015 * gap, 0.018 * gap) * low_along
    groove = 0.0
    ridges = 0.0
    if mouth.philtrum_from is not None:
        # The philtrum: a shallow groove from under the nose to the dip of the bow.
        top_reach = max(line.yc - (mouth.philtrum_from + 0.08 * gap), 0.12 * gap)
        span = np.clip((ys - (mouth.philtrum_from + 0.1 * gap)) / top_reach, 0.0, 1.0)
        above_border = (dy < border - 0.5) * np.sqrt(np.clip(np.sin(np.pi * span), 0.0, None))
        groove = 0.07 * gauss(dx, 0.025 * gap) * above_border
        ridges = 0.05 * gauss(np.abs(dx) - 0.05 * gap, 0.012 * gap) * above_border
    # The upper lip faces down, away from the key: a touch darker than the lower. It ends
    # where the lips do (on a profile, a faint line ran on past their front).
    upper_shade = 0.1 * upper * ends
    dark = 1.0 - (1.0 - parting) * (1.0 - corners) * (1.0 - under_lip) * (1.0 - groove)
    dark = 1.0 - (1.0 - dark) * (1.0 - upper_shade)
    layer_max(ink, where, dark * shown)
    # The white roll: a thin light edge just above the upper lip's border.
    roll = 0.07 * gauss(dy - border + 0.01 * gap, 0.006 * gap) * along
    shine = 0.07 * gauss(dx, 0.07 * gap) * gauss(dy - 0.045 * gap, 0.016 * gap) * low_along
    layer_max(lift, where, (ridges + roll + shine) * shown)


def feature_glow(plan: FeaturePlan, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The colour and light the drawn features bring, at shading resolution: lips, lids and
    the nose tip flush; the nose tip, the lower lip and the closed lids catch the key. Each
    only inside its own feature's footprint. Returns (flush, sheen), both 0..1."""
    flush = np.zeros(shape, np.float32)
    sheen = np.zeros(shape, np.float32)
    gap = plan.gap

    def add(
        target: np.ndarray,
        footprint: Footprint,
        centre: tuple[float, float],
        radii: tuple[float, float],
        strength: float,
        halves: tuple[float, float] | None = None,
    ) -> None:
        box = _in_footprint(footprint, shape)
        if box is None:
            return
        where, xs, ys, weight = box
        spot = gauss(xs - centre[0], radii[0]) * gauss(ys - centre[1], radii[1])
        if halves is not None:
            # Nothing past the front of a profile's lips: a hidden half has no colour either.
            ahead = np.where(xs < footprint.x0, footprint.x0 - xs, xs - footprint.x1)
            open_side = np.where(xs < footprint.x0, halves[0] > 0.0, halves[1] > 0.0)
            spot = spot * np.where(open_side, 1.0, np.clip(1.0 - ahead / (0.03 * gap), 0.0, 1.0))
        layer_max(target, where, strength * spot * weight)

    for eye in plan.eyes:
        lid = (eye.line.xc, eye.line.yc - 0.04 * gap)
        add(flush, eye.footprint, lid, (0.7 * eye.line.half_width, 0.06 * gap), 0.55)
        add(
            sheen,
            eye.footprint,
            lid,
            (0.75 * eye.line.half_width, 0.03 * gap),
            0.35 * eye.line.evidence,
        )
    if plan.nose is not None:
        nose = plan.nose
        add(flush, nose.footprint, nose.tip, (0.1 * gap, 0.09 * gap), 0.7)
        tip = (nose.tip[0], nose.tip[1] - 0.025 * gap)
        add(sheen, nose.footprint, tip, (0.045 * gap, 0.035 * gap), nose.relief)
    if plan.mouth is not None:
        mouth = plan.mouth
        middle = mouth.line.xc + (mouth.halves[1] - mouth.halves[0]) / 2.0
        radius = 0.5 * (mouth.halves[0] + mouth.halves[1])
        lips = (middle, mouth.line.yc)
        add(flush, mouth.footprint, lips, (radius, 0.07 * gap), 0.9, mouth.halves)
        lip = (middle, mouth.line.yc + 0.045 * gap)
        shine = 0.6 * mouth.line.evidence
        add(sheen, mouth.footprint, lip, (0.35 * radius, 0.02 * gap), shine, mouth.halves)
    return flush, sheen


@dataclass(frozen=True, eq=False)
class _Finish:
    """Seed-independent detail drawn at output resolution on the 8-bit image: the features'
    fine lines and the skin's pores are finer than the shading resolution can hold."""

    where: tuple[slice, slice]
    gain: np.ndarray  # h×w×3 float32 multiplier of the sRGB values in ``where``


def feature_marks(
    plan: FeaturePlan | None, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The features' marks in an array of ``shape`` (``plan`` already in its pixels): ink
    (0..1 darkening), lift (0..1 lightening) and lips (0..1 toward the lip colour)."""
    ink = np.zeros(shape, np.float32)
    lift = np.zeros_like(ink)
    lips = np.zeros_like(ink)
    if plan is not None:
        for eye in plan.eyes:
            _draw_eye(eye, plan.gap, ink, lift)
        if plan.nose is not None:
            _draw_nose(plan.nose, plan.gap, ink, lift)
        if plan.mouth is not None:
            _draw_mouth(plan.mouth, plan.gap, ink, lift, lips)
    return ink, lift, lips


def finish(
    surface: Surface,
    tone_hex: str,
    look: SkinLook,
    output_size: tuple[int, int],
    monochrome: bool,
) -> _Finish | None:
    width, height = output_size
    ratio = width / surface.skin_alpha.shape[1]
    alpha = resize(surface.skin_alpha, output_size)
    rows, cols = np.nonzero(alpha > 0.01)
    if rows.size == 0:
        return None
    where = (
        slice(int(rows.min()), int(rows.max()) + 1),
        slice(int(cols.min()), int(cols.max()) + 1),
    )
    plan = None if surface.features is None else surface.features.scaled(ratio)
    ink, lift, lips = feature_marks(plan, (height, width))
    trust = resize(surface.feature_trust, output_size)[where]
    # The same marks read as clearly on deep skin as on fair: deeper in linear light there,
    # since what the eye sees is the step in lightness, not the ratio of light.
    deepen = look.detail_contrast
    ink_here = 1.0 - (1.0 - np.clip(ink[where] * trust, 0.0, 1.0)) ** deepen
    # Skin's shadows are warm: light scattered under it comes back red, so ink darkens blue
    # and green a little more than red.
    gain = 1.0 - ink_here[..., None] * _INK_TINT
    gain *= ((1.0 + look.feature_light * lift[where] * trust) ** deepen)[..., None]
    gain *= 1.0 + (lips[where] * trust)[..., None] * (lip_gain(tone_hex) - 1.0)
    # Linear-light gains act on the 8-bit sRGB values through its ~2.2 gamma.
    gain = np.power(np.maximum(gain, 1e-4), 1.0 / 2.2)
    skin = resize(surface.texture_trust, output_size)[where] * alpha[where]
    grain = _PORE_STRENGTH * math.sqrt(deepen)
    gain *= (1.0 + grain * pores((height, width))[where] * skin)[..., None]
    if monochrome:
        grey = gain @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
        gain = np.repeat(grey[..., None], 3, axis=2)
    return _Finish(where, gain.astype(np.float32))


def apply_finish(image: np.ndarray, finish: _Finish | None) -> np.ndarray:
    if finish is None:
        return image
    region = image[finish.where].astype(np.float32)
    region *= finish.gain
    region += 0.5
    np.clip(region, 0.0, 255.0, out=region)
    image[finish.where] = region.astype(np.uint8)
    return image
