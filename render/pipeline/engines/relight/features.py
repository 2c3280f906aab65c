"""The face's features (lash lines, lids, nostrils, lips), drawn at output resolution on the
finished image from vision's anchors."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from render.pipeline.engines.relight.colour import lip_gain
from render.pipeline.engines.relight.raster import (
    band,
    gauss,
    layer_max,
    resize,
    spot,
    wide_blur,
    window,
)
from render.pipeline.engines.relight.texture import pores
from render.pipeline.types import (
    StructuralCues,
)

if TYPE_CHECKING:
    from render.pipeline.engines.relight.surface import Surface


_INK_TINT = np.array([0.86, 1.0, 1.06], dtype=np.float32)  # creases' darkening per channel


_PORE_STRENGTH = 0.016  # of the 8-bit value: pores a viewer sees at full size, not in a thumbnail


def anchor_xy(cues: StructuralCues, name: str, scale: float) -> tuple[float, float] | None:
    anchor = cues.anchor(name)
    if anchor is None or anchor.confidence < 0.3:
        return None
    return (anchor.x - cues.crop_box.x0) * scale, (anchor.y - cues.crop_box.y0) * scale


@dataclass(frozen=True)
class FaceLayout:
    """Where the soft regions of a newborn face sit, placed from vision's anchors."""

    eye_left: tuple[float, float]
    eye_right: tuple[float, float]
    nose: tuple[float, float]
    mouth: tuple[float, float]
    cheek_left: tuple[float, float]
    cheek_right: tuple[float, float]
    eye_gap: float


def face_layout(cues: StructuralCues, scale: float) -> FaceLayout | None:
    nose = anchor_xy(cues, "nose_tip", scale)
    left, right = anchor_xy(cues, "eye_left", scale), anchor_xy(cues, "eye_right", scale)
    if nose is None or left is None or right is None:
        return None
    gap = math.hypot(right[0] - left[0], right[1] - left[1])
    if gap < 4.0:
        return None
    # Missing lower anchors are placed by neonatal proportion from the eyes and nose.
    mouth = anchor_xy(cues, "mouth", scale) or (nose[0], nose[1] + 0.45 * gap)
    cheek_left = anchor_xy(cues, "cheek_left", scale) or (left[0] - 0.1 * gap, nose[1])
    cheek_right = anchor_xy(cues, "cheek_right", scale) or (right[0] + 0.1 * gap, nose[1])
    return FaceLayout(left, right, nose, mouth, cheek_left, cheek_right, gap)


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
class FeatureLines:
    """What the features are drawn from: the scan's own creases and the anchors' layout."""

    layout: FaceLayout
    eyes: tuple[_Line | None, _Line | None]
    mouth: _Line | None
    nose_relief: float  # 0..1: how clearly the depth shows a nose standing out of the face


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
    crease: np.ndarray,
    centre: tuple[float, float],
    reach_x: float,
    reach_y: float,
    widths: tuple[float, float],
) -> _Line | None:
    """The dark crease running across ``centre``: its darkest row per column, fitted smoothly.

    Rows near the anchor are preferred (a brow or a nostril shadow is not a lid line). The
    fitted curve is a parabola, so speckle can bend it only a little; its ends are where the
    scan's crease fades. None when the scan shows no crease there.
    """
    height, width = crease.shape
    x0, x1 = max(int(centre[0] - reach_x), 0), min(int(centre[0] + reach_x) + 1, width)
    y0, y1 = max(int(centre[1] - reach_y), 0), min(int(centre[1] + reach_y) + 1, height)
    if x1 - x0 < 8 or y1 - y0 < 5:
        return None
    window = crease[y0:y1, x0:x1]
    rows = np.arange(y0, y1, dtype=np.float32) - centre[1]
    prior = np.exp(-0.5 * (rows / (0.5 * reach_y)) ** 2)[:, None]
    best = np.argmax(window * prior, axis=0)
    columns = np.arange(window.shape[1])
    strength = window[best, columns]
    top = float(np.percentile(strength, 90))
    if top < 0.05:  # the scan shows no line here: nothing to draw
        return None
    strong = strength > 0.4 * top
    if strong.sum() < 6:
        return None
    # Sub-pixel row: the vertex of a parabola through the darkest row and its neighbours.
    above = window[np.clip(best - 1, 0, window.shape[0] - 1), columns]
    below = window[np.clip(best + 1, 0, window.shape[0] - 1), columns]
    curvature = above - 2.0 * strength + below
    offset = np.where(curvature < -1e-6, 0.5 * (above - below) / np.minimum(curvature, -1e-6), 0)
    ys = y0 + best + np.clip(offset, -0.5, 0.5)
    xs = (x0 + columns).astype(np.float32)
    left, right = np.percentile(xs[strong], [4.0, 96.0])
    half_width = float(np.clip((right - left) / 2.0, *widths))
    xc = float(np.clip((left + right) / 2.0, centre[0] - 0.3 * reach_x, centre[0] + 0.3 * reach_x))
    weights = strength[strong]
    bend, slope, yc = np.polyfit(xs[strong] - xc, ys[strong], 2, w=weights)
    # A lid or a mouth bends gently: never more than a fifth of its half-width end to end.
    limit = 0.2 / max(half_width, 1.0)
    return _Line(
        xc,
        float(yc),
        float(np.clip(slope, -0.35, 0.35)),
        float(np.clip(bend, -limit, limit)),
        half_width,
        float(np.clip((top - 0.05) / 0.1, 0.0, 1.0)),
    )


def feature_lines(
    layout: FaceLayout | None, scan_log: np.ndarray, depth: np.ndarray, long_side: int
) -> FeatureLines | None:
    if layout is None:
        return None
    gap = layout.eye_gap
    crease = _crease_strength(scan_log, long_side)
    eyes = []
    for eye in (layout.eye_left, layout.eye_right):
        line = _find_line(crease, eye, 0.42 * gap, 0.13 * gap, (0.16 * gap, 0.3 * gap))
        if line is not None:
            # A closed lid's margin arcs: its corners sit a little above its middle, within
            # the width of the scan's blurred crease.
            sag = 0.025 * gap / line.half_width**2
            line = dataclasses.replace(line, bend=line.bend - sag)
        eyes.append(line)
    if eyes[0] is not None and eyes[1] is not None:
        # The two eyes of one face are one size: the scan's speckle decides how far each
        # crease seems to run, so both take the mean.
        half_width = (eyes[0].half_width + eyes[1].half_width) / 2.0
        eyes = [dataclasses.replace(eye, half_width=half_width) for eye in eyes]
    mouth = _find_line(crease, layout.mouth, 0.45 * gap, 0.16 * gap, (0.16 * gap, 0.27 * gap))
    # The nose's own relief: how far its tip stands out of the face around it.
    bumps = depth - wide_blur(depth, 0.05 * long_side)
    nx, ny = int(round(layout.nose[0])), int(round(layout.nose[1]))
    relief = 0.0
    if 0 <= ny < depth.shape[0] and 0 <= nx < depth.shape[1]:
        relief = float(np.clip(bumps[ny, nx] / 0.03, 0.0, 1.0))
    return FeatureLines(layout, (eyes[0], eyes[1]), mouth, relief)


def _draw_eye(line: _Line, outward: float, gap: float, ink: np.ndarray, lift: np.ndarray) -> None:
    """A sleeping newborn's closed eye on the scan's lash line, at output resolution.

    A fine dark lash line that tapers to the corners, short lashes fanning down and outward
    from it, a soft crease arching above the lid, and the lid's shadow just under the lashes.
    """
    box = window(ink.shape, line.xc, line.yc, line.half_width + 0.06 * gap, 0.22 * gap)
    if box is None:
        return
    where, xs, ys = box
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
    crease_y = dy + 0.11 * gap * (0.55 + 0.45 * along)
    crease = 0.2 * gauss(crease_y, 0.011 * gap) * along**0.7
    shade_under = 0.12 * gauss(dy - 0.028 * gap, 0.016 * gap) * along
    dark = 1.0 - (1.0 - 0.78 * margin) * (1.0 - hairs) * (1.0 - crease) * (1.0 - shade_under)
    layer_max(ink, where, dark * line.evidence)
    # The convex lid between crease and lashes catches a little more light.
    lid = 0.05 * gauss(dy + 0.05 * gap, 0.025 * gap) * along
    layer_max(lift, where, lid * line.evidence)


def _draw_nose(
    nose: tuple[float, float], relief: float, gap: float, ink: np.ndarray, lift: np.ndarray
) -> None:
    """Soft nostrils either side of the tip, the shadow under it and a light on the tip."""
    nx, ny = nose
    box = window(ink.shape, nx, ny + 0.05 * gap, 0.22 * gap, 0.16 * gap)
    if box is None or relief <= 0.0:
        return
    where, xs, ys = box
    dark = np.zeros((ys.shape[0], xs.shape[1]), np.float32)
    for side in (-1.0, 1.0):
        cx, cy = nx + side * 0.1 * gap, ny + 0.075 * gap
        # A nostril seen from the front: a small oval, its outer end tilted up.
        angle = math.radians(-side * 18.0)
        along = (xs - cx) * math.cos(angle) + (ys - cy) * math.sin(angle)
        across = -(xs - cx) * math.sin(angle) + (ys - cy) * math.cos(angle)
        radius = np.sqrt((along / (0.04 * gap)) ** 2 + (across / (0.02 * gap)) ** 2)
        nostril = np.clip((1.0 - radius) / 0.6, 0.0, 1.0) ** 0.7
        # The wing's crease: a soft arc up and round the outside of the nostril.
        wing = np.sqrt(
            ((xs - cx) / (0.075 * gap)) ** 2 + ((ys - cy + 0.015 * gap) / (0.06 * gap)) ** 2
        )
        outer = np.clip(side * (xs - cx) / (0.04 * gap), 0.0, 1.0) * (ys < cy + 0.01 * gap)
        alar = 0.09 * gauss(wing - 1.0, 0.14) * outer
        np.maximum(dark, 0.42 * nostril, out=dark)
        np.maximum(dark, alar, out=dark)
    # The underside of the nose, turned away from a key above: a soft band under the tip.
    under = 0.14 * gauss(xs - nx, 0.085 * gap) * gauss(ys - (ny + 0.09 * gap), 0.025 * gap)
    np.maximum(dark, under, out=dark)
    layer_max(ink, where, dark * relief)
    tip = 0.09 * gauss(xs - nx, 0.03 * gap) * gauss(ys - (ny - 0.025 * gap), 0.022 * gap)
    layer_max(lift, where, tip * relief)


def _draw_mouth(
    line: _Line,
    nose: tuple[float, float],
    gap: float,
    ink: np.ndarray,
    lift: np.ndarray,
    lips: np.ndarray,
) -> None:
    """Lips on the scan's mouth line: a defined cupid's-bow edge to the upper lip, a fuller
    lower lip with a soft shadow under it, a fine parting line and the philtrum above."""
    top_reach = max(line.yc - (nose[1] + 0.08 * gap), 0.12 * gap)
    box = window(ink.shape, line.xc, line.yc, line.half_width + 0.05 * gap, top_reach + 0.25 * gap)
    if box is None:
        return
    where, xs, ys = box
    dx = xs - line.xc
    u = dx / line.half_width
    along = np.clip(1.0 - u * u, 0.0, 1.0)
    curve = line.yc + line.slope * dx + line.bend * dx * dx
    dy = ys - curve
    # Upper lip: its border dips at the middle between the two peaks of the bow.
    height = 0.075 * gap * along**0.55 * (1.0 - 0.3 * gauss(dx, 0.035 * gap))
    border = -height
    # The border is crisp at the bow and melts into the skin towards the corners.
    edge = 1.0 + 0.03 * gap * (1.0 - along)
    upper = np.clip((dy - border) / edge + 0.5, 0.0, 1.0) * np.clip(0.5 - dy, 0.0, 1.0)
    # Lower lip: fuller and a little narrower, its lower edge soft.
    low_u = dx / (0.85 * line.half_width)
    low_along = np.clip(1.0 - low_u * low_u, 0.0, 1.0)
    depth_low = 0.11 * gap * low_along**0.6
    lower = np.clip(dy + 0.5, 0.0, 1.0) * np.clip((depth_low - dy) / (0.025 * gap) + 0.5, 0.0, 1.0)
    layer_max(lips, where, np.maximum(upper, lower) * (0.3 + 0.7 * along) * line.evidence)
    # The parting line, darkest at the corners where the lips tuck in.
    half = 0.006 * gap * (0.4 + 0.6 * np.sqrt(along))
    fade_ends = np.clip((1.0 - np.abs(u)) / 0.08, 0.0, 1.0)
    parting = 0.55 * band(dy, half) * fade_ends
    corners = (
        0.2
        * sum(gauss(dx - side * 0.93 * line.half_width, 0.03 * gap) for side in (-1.0, 1.0))
        * gauss(dy, 0.015 * gap)
    )
    under_lip = 0.16 * gauss(dy - depth_low - 0.03 * gap, 0.02 * gap) * low_along
    # The philtrum: a shallow groove from under the nose to the dip of the bow, between ridges.
    span = np.clip((ys - (nose[1] + 0.1 * gap)) / max(top_reach, 1.0), 0.0, 1.0)
    above_border = (dy < border - 0.5) * np.sqrt(np.clip(np.sin(np.pi * span), 0.0, None))
    groove = 0.07 * gauss(dx, 0.025 * gap) * above_border
    # The upper lip faces down, away from the key: a touch darker than the lower.
    upper_shade = 0.1 * upper
    dark = 1.0 - (1.0 - parting) * (1.0 - corners) * (1.0 - under_lip) * (1.0 - groove)
    dark = 1.0 - (1.0 - dark) * (1.0 - upper_shade)
    layer_max(ink, where, dark * line.evidence)
    ridges = 0.05 * gauss(np.abs(dx) - 0.05 * gap, 0.012 * gap) * above_border
    # The white roll: a thin light edge just above the upper lip's border.
    roll = 0.07 * gauss(dy - border + 0.01 * gap, 0.006 * gap) * along
    shine = 0.07 * gauss(dx, 0.07 * gap) * gauss(dy - 0.05 * gap, 0.018 * gap)
    layer_max(lift, where, (ridges + roll + shine) * line.evidence)


def feature_sheen(lines: FeatureLines, sheen: np.ndarray) -> None:
    """Where the features catch the key: the nose tip, the lower lip and the closed lids."""
    gap = lines.layout.eye_gap
    nose = (lines.layout.nose[0], lines.layout.nose[1] - 0.025 * gap)
    tip = spot(sheen.shape, nose, 0.045 * gap, 0.035 * gap)
    np.maximum(sheen, lines.nose_relief * tip, out=sheen)
    if lines.mouth is not None:
        lip = (lines.mouth.xc, lines.mouth.yc + 0.05 * gap)
        lower = spot(sheen.shape, lip, 0.08 * gap, 0.02 * gap)
        np.maximum(sheen, 0.6 * lines.mouth.evidence * lower, out=sheen)
    for eye in lines.eyes:
        if eye is not None:
            lid = spot(sheen.shape, (eye.xc, eye.yc - 0.05 * gap), 0.15 * gap, 0.035 * gap)
            np.maximum(sheen, 0.35 * eye.evidence * lid, out=sheen)


@dataclass(frozen=True, eq=False)
class _Finish:
    """Seed-independent detail drawn at output resolution on the 8-bit image: the features'
    fine lines and the skin's pores are finer than the shading resolution can hold."""

    where: tuple[slice, slice]
    gain: np.ndarray  # h×w×3 float32 multiplier of the sRGB values in ``where``


def finish(
    surface: Surface, tone_hex: str, output_size: tuple[int, int], monochrome: bool
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
    ink = np.zeros((height, width), np.float32)
    lift = np.zeros_like(ink)
    lips = np.zeros_like(ink)
    lines = surface.feature_lines
    if lines is not None:
        layout = lines.layout
        gap = layout.eye_gap * ratio
        middle = (layout.eye_left[0] + layout.eye_right[0]) / 2.0 * ratio
        nose = (layout.nose[0] * ratio, layout.nose[1] * ratio)
        for eye in lines.eyes:
            if eye is not None:
                scaled = eye.scaled(ratio)
                _draw_eye(scaled, -1.0 if scaled.xc < middle else 1.0, gap, ink, lift)
        _draw_nose(nose, lines.nose_relief, gap, ink, lift)
        if lines.mouth is not None:
            _draw_mouth(lines.mouth.scaled(ratio), nose, gap, ink, lift, lips)
    trust = resize(surface.feature_trust, output_size)[where]
    # Skin's shadows are warm: light scattered under it comes back red, so ink darkens blue
    # and green a little more than red.
    gain = 1.0 - (ink[where] * trust)[..., None] * _INK_TINT
    gain *= (1.0 + lift[where] * trust)[..., None]
    gain *= 1.0 + (lips[where] * trust)[..., None] * (lip_gain(tone_hex) - 1.0)
    # Linear-light gains act on the 8-bit sRGB values through its ~2.2 gamma.
    gain = np.power(np.maximum(gain, 1e-4), 1.0 / 2.2)
    skin = resize(surface.texture_trust, output_size)[where] * alpha[where]
    gain *= (1.0 + _PORE_STRENGTH * pores((height, width))[where] * skin)[..., None]
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
