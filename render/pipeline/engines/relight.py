"""The default engine: re-shade the scan's own surface as newborn skin under studio light.

No weights and no generative model: the geometry is exactly what vision measured (depth and
normals), the colour is exactly the parents' blended tone, and the light is a soft studio key
and fill. Where vision was not confident the surface is blurred flat, so the render never shows
detail the scan did not see. Seeds only move the light and its warmth, which is why five
candidates differ while all keep the same face.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np
from coloraide import Color

from render.pipeline.conditioning import STYLES, Style
from render.pipeline.types import (
    CancelFn,
    Conditioning,
    ProgressFn,
    RenderCancelled,
    RenderedCandidate,
    StructuralCues,
)

# Skin scatters long wavelengths furthest under the surface, so light leaking into the shadow
# side comes back red-orange: this is the colour added near the terminator.
_SUBSURFACE_TINT = np.array([1.0, 0.42, 0.25], dtype=np.float32)
_INK_TINT = np.array([0.86, 1.0, 1.06], dtype=np.float32)  # creases' darkening per channel
_SHADOW_WARMTH = np.array([0.2, -0.01, -0.15], dtype=np.float32)  # at half-shadow, × albedo
_VIEW = np.array([0.0, 0.0, 1.0], dtype=np.float32)
_KEY_FALLOFF = 0.45  # relative brightness change across the frame along the key's direction
_SHADOW_DEPTH = 0.22  # how much key light the baby takes off the backdrop
_SHADOW_REACH = 0.03  # of the long side: how far the backdrop sits behind the baby
_FLUSH_STRENGTH = 0.6  # how far a fully flushed cheek moves toward the rosy tone: felt, not seen
_DOME_RELIEF = 0.8  # the dome's height over a true sphere's: a newborn's face is a little flat
_DOME_WEIGHT = 0.6  # of the head's low-frequency shape taken from the dome rather than the scan
_SHEEN_GAIN = 1.6  # style.specular is a fraction of the key's brightness at the sheen's core
_PORE_STRENGTH = 0.016  # of the 8-bit value: pores a viewer sees at full size, not in a thumbnail
_TEXTURE_SEED = 20240917  # skin grain is the same for every candidate: seeds move only the light

# Linear light -> sRGB through a table: exact enough for 8-bit output and ~10x faster than pow.
_LUT_SIZE = 4096
_LINEAR_AXIS = np.linspace(0.0, 1.0, _LUT_SIZE, dtype=np.float64)
_SRGB_LUT = np.where(
    _LINEAR_AXIS <= 0.0031308,
    12.92 * _LINEAR_AXIS,
    1.055 * np.power(_LINEAR_AXIS, 1.0 / 2.4) - 0.055,
)
_SRGB_LUT_U8 = np.clip(_SRGB_LUT * 255.0 + 0.5, 0, 255).astype(np.uint8)


def hex_to_linear(hex_colour: str) -> np.ndarray:
    return np.array(Color(hex_colour).convert("srgb-linear").coords(nans=False), dtype=np.float32)


def linear_to_srgb_u8(linear: np.ndarray) -> np.ndarray:
    index = (np.clip(linear, 0.0, 1.0) * (_LUT_SIZE - 1) + 0.5).astype(np.int32)
    return _SRGB_LUT_U8[index]


def _odd(value: float) -> int:
    return max(3, int(value) // 2 * 2 + 1)


@dataclass(frozen=True)
class Lighting:
    """One candidate's light, drawn from its seed around the style's setup."""

    key_dir: np.ndarray
    fill_dir: np.ndarray
    key_colour: np.ndarray
    fill_colour: np.ndarray
    key_strength: float
    fill_strength: float
    wrap: float


def lighting_for_seed(style: Style, seed: int) -> Lighting:
    rng = np.random.default_rng(seed)
    side = 1.0 if rng.random() < 0.5 else -1.0  # key from the viewer's left or right
    azimuth = math.radians(side * style.key_azimuth_deg + rng.uniform(-20.0, 20.0))
    elevation = math.radians(style.key_elevation_deg + rng.uniform(-12.0, 12.0))
    key_dir = np.array(
        [
            -math.sin(azimuth) * math.cos(elevation),
            math.sin(elevation),
            math.cos(azimuth) * math.cos(elevation),
        ],
        dtype=np.float32,
    )
    fill_dir = np.array([-key_dir[0] * 0.8, 0.1, 1.0], dtype=np.float32)
    fill_dir /= np.linalg.norm(fill_dir)
    warmth = float(np.clip(style.warmth + rng.uniform(-0.25, 0.25), 0.0, 1.0))
    if style.monochrome:
        warmth = 0.0
    # Small shifts: warmth should be felt, not change the baby's skin colour.
    key_colour = np.array([1.0 + 0.04 * warmth, 1.0, 1.0 - 0.07 * warmth], dtype=np.float32)
    fill_colour = np.array([0.98, 1.0, 1.03], dtype=np.float32)
    return Lighting(
        key_dir=key_dir,
        fill_dir=fill_dir,
        key_colour=key_colour,
        fill_colour=fill_colour,
        key_strength=style.key_strength * float(rng.uniform(0.92, 1.08)),
        fill_strength=style.key_strength * style.fill_ratio * float(rng.uniform(0.7, 1.3)),
        # From a bare strobe's crisp terminator to a big soft box's wrap.
        wrap=float(np.clip(style.wrap + rng.uniform(-0.2, 0.2), 0.0, 1.0)),
    )


@dataclass(frozen=True, eq=False)
class _Surface:
    """Seed-independent inputs, prepared once per render call at output resolution."""

    normals: np.ndarray  # H×W×3, softened where vision was not confident
    sheen_normals: np.ndarray  # H×W×3, the broad forms only: where a soft box's sheen lands
    occlusion_detail: np.ndarray  # H×W, creases × scan relief × roundness × skin texture × lids
    across_x: np.ndarray  # 1×W, -0.5..0.5 left to right, for the key's falloff across the head
    across_y: np.ndarray  # H×1, -0.5..0.5 bottom to top
    specular_mask: np.ndarray  # H×W, forehead, nose and upper cheeks, 0 where not confident
    subsurface_weight: np.ndarray  # H×W, lower (never 0) where not confident
    flush: np.ndarray  # H×W 0..1, where blood shows through thin skin (cheeks, nose, lips, lids)
    skin_alpha: np.ndarray  # H×W clean subject matte with a feathered, sub-pixel edge
    metering: np.ndarray  # flat indices of confident face pixels exposure is metered on
    unconfident: np.ndarray  # H×W 0..1
    soften_box: tuple[int, int, int, int] | None  # y0, y1, x0, x1 around unconfident pixels
    background_behind: np.ndarray  # H×W (1 - skin_alpha) × contact shadow: the paper showing
    shadow_source: np.ndarray  # H×W blurred subject matte, shifted per light to cast a shadow
    feature_lines: _FeatureLines | None  # the scan's lash and mouth lines, the nose's relief
    feature_trust: np.ndarray  # H×W 0..1: half-sure shadow keeps features, an occluder not
    texture_trust: np.ndarray  # H×W 0..1: where skin texture may show (confident, inside)
    wrap_base: _WrapBase | None  # where a wrap may rise round the face (None: no subject)


def _output_size(cues: StructuralCues, long_side: int) -> tuple[int, int]:
    height, width = cues.depth.shape
    scale = long_side / max(height, width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (array.shape[1], array.shape[0]) == size:
        return array
    return cv2.resize(array, size, interpolation=cv2.INTER_LINEAR)


def _anchor_xy(cues: StructuralCues, name: str, scale: float) -> tuple[float, float] | None:
    anchor = cues.anchor(name)
    if anchor is None or anchor.confidence < 0.3:
        return None
    return (anchor.x - cues.crop_box.x0) * scale, (anchor.y - cues.crop_box.y0) * scale


def _spot(
    shape: tuple[int, int], centre: tuple[float, float], radius_x: float, radius_y: float
) -> np.ndarray:
    """An axis-aligned Gaussian spot, built as an outer product (one H×W multiply)."""
    ys = np.arange(shape[0], dtype=np.float32)
    xs = np.arange(shape[1], dtype=np.float32)
    column = np.exp(-((ys - centre[1]) ** 2) / (2.0 * radius_y**2))
    row = np.exp(-((xs - centre[0]) ** 2) / (2.0 * radius_x**2))
    return np.outer(column, row).astype(np.float32)


@dataclass(frozen=True)
class _FaceLayout:
    """Where the soft regions of a newborn face sit, placed from vision's anchors."""

    eye_left: tuple[float, float]
    eye_right: tuple[float, float]
    nose: tuple[float, float]
    mouth: tuple[float, float]
    cheek_left: tuple[float, float]
    cheek_right: tuple[float, float]
    eye_gap: float


def _face_layout(cues: StructuralCues, scale: float) -> _FaceLayout | None:
    nose = _anchor_xy(cues, "nose_tip", scale)
    left, right = _anchor_xy(cues, "eye_left", scale), _anchor_xy(cues, "eye_right", scale)
    if nose is None or left is None or right is None:
        return None
    gap = math.hypot(right[0] - left[0], right[1] - left[1])
    if gap < 4.0:
        return None
    # Missing lower anchors are placed by neonatal proportion from the eyes and nose.
    mouth = _anchor_xy(cues, "mouth", scale) or (nose[0], nose[1] + 0.45 * gap)
    cheek_left = _anchor_xy(cues, "cheek_left", scale) or (left[0] - 0.1 * gap, nose[1])
    cheek_right = _anchor_xy(cues, "cheek_right", scale) or (right[0] + 0.1 * gap, nose[1])
    return _FaceLayout(left, right, nose, mouth, cheek_left, cheek_right, gap)


def _flush_and_sheen(
    layout: _FaceLayout | None, depth: np.ndarray, inside: np.ndarray, long_side: int
) -> tuple[np.ndarray, np.ndarray]:
    """Where a newborn's skin flushes pink and where it shines, both 0..1.

    Thin skin over blood reads warmer and redder: cheeks, nose tip, lips and eyelids. The sheen
    of a soft key sits on the surfaces facing up and forward: forehead, nose bridge and tip,
    the tops of the cheeks. Without anchors both come from the surface: the bumps standing
    out of the dome (cheeks, nose) flush, and the nearest surface shines.
    """
    shape = depth.shape
    if layout is None:
        bumps = _wide_blur(depth, 0.01 * long_side) - _wide_blur(depth, 0.05 * long_side)
        bumps = np.clip(bumps, 0.0, None) * inside
        top = float(np.percentile(bumps[inside > 0.5], 98)) if (inside > 0.5).any() else 0.0
        flush = np.clip(bumps / max(top, 1e-4), 0.0, 1.0) * 0.8
        sheen = np.clip((depth - 0.6) / 0.4, 0.0, 1.0) ** 2
        return flush.astype(np.float32), sheen.astype(np.float32)
    gap = layout.eye_gap
    eye_mid = (
        (layout.eye_left[0] + layout.eye_right[0]) / 2.0,
        (layout.eye_left[1] + layout.eye_right[1]) / 2.0,
    )
    flush = np.zeros(shape, np.float32)
    for cheek in (layout.cheek_left, layout.cheek_right):
        np.maximum(flush, _spot(shape, cheek, 0.34 * gap, 0.28 * gap), out=flush)
    np.maximum(flush, 0.7 * _spot(shape, layout.nose, 0.13 * gap, 0.11 * gap), out=flush)
    np.maximum(flush, 0.9 * _spot(shape, layout.mouth, 0.24 * gap, 0.09 * gap), out=flush)
    for eye in (layout.eye_left, layout.eye_right):
        lid = (eye[0], eye[1] - 0.05 * gap)  # the lid sits just above the lash line
        np.maximum(flush, 0.55 * _spot(shape, lid, 0.22 * gap, 0.08 * gap), out=flush)

    sheen = 0.55 * _spot(shape, (eye_mid[0], eye_mid[1] - 0.8 * gap), 0.7 * gap, 0.4 * gap)
    bridge = (eye_mid[0] * 0.55 + layout.nose[0] * 0.45, eye_mid[1] * 0.55 + layout.nose[1] * 0.45)
    np.maximum(sheen, 0.7 * _spot(shape, bridge, 0.08 * gap, 0.22 * gap), out=sheen)
    tip = (layout.nose[0], layout.nose[1] - 0.02 * gap)
    np.maximum(sheen, _spot(shape, tip, 0.08 * gap, 0.07 * gap), out=sheen)
    for cheek in (layout.cheek_left, layout.cheek_right):
        upper = (cheek[0], cheek[1] - 0.12 * gap)
        np.maximum(sheen, 0.45 * _spot(shape, upper, 0.2 * gap, 0.14 * gap), out=sheen)
    return flush * inside, sheen


def _feature_zone(layout: _FaceLayout | None, shape: tuple[int, int]) -> np.ndarray:
    """1 around the eyes, nose and mouth, 0.35 on open skin (1 everywhere without anchors)."""
    if layout is None:
        return np.ones(shape, np.float32)
    gap = layout.eye_gap
    zone = np.zeros(shape, np.float32)
    for eye in (layout.eye_left, layout.eye_right):
        np.maximum(zone, _spot(shape, eye, 0.38 * gap, 0.14 * gap), out=zone)
    bridge_to_tip = (layout.nose[0], (layout.nose[1] + layout.eye_left[1]) / 2.0)
    np.maximum(zone, _spot(shape, bridge_to_tip, 0.22 * gap, 0.4 * gap), out=zone)
    np.maximum(zone, _spot(shape, layout.mouth, 0.4 * gap, 0.22 * gap), out=zone)
    return 0.35 + 0.65 * zone


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
class _FeatureLines:
    """What the features are drawn from: the scan's own creases and the anchors' layout."""

    layout: _FaceLayout
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


def _feature_lines(
    layout: _FaceLayout | None, scan_log: np.ndarray, depth: np.ndarray, long_side: int
) -> _FeatureLines | None:
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
    bumps = depth - _wide_blur(depth, 0.05 * long_side)
    nx, ny = int(round(layout.nose[0])), int(round(layout.nose[1]))
    relief = 0.0
    if 0 <= ny < depth.shape[0] and 0 <= nx < depth.shape[1]:
        relief = float(np.clip(bumps[ny, nx] / 0.03, 0.0, 1.0))
    return _FeatureLines(layout, (eyes[0], eyes[1]), mouth, relief)


def _window(
    shape: tuple[int, int], cx: float, cy: float, rx: float, ry: float
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
    """A box of ``shape`` around (cx, cy) and its pixel-centre coordinates (column, row)."""
    y0, y1 = max(int(cy - ry), 0), min(int(cy + ry) + 2, shape[0])
    x0, x1 = max(int(cx - rx), 0), min(int(cx + rx) + 2, shape[1])
    if y1 <= y0 or x1 <= x0:
        return None
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    return (slice(y0, y1), slice(x0, x1)), xs, ys


def _band(distance: np.ndarray, half_thickness: np.ndarray | float) -> np.ndarray:
    """Anti-aliased coverage of a stroke: 1 within ``half_thickness`` px, a 1 px edge ramp."""
    return np.clip(half_thickness + 0.5 - np.abs(distance), 0.0, 1.0)


def _gauss(value: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * (value / sigma) ** 2)


def _layer_max(target: np.ndarray, where: tuple[slice, slice], values: np.ndarray) -> None:
    np.maximum(target[where], values, out=target[where])


def _draw_eye(line: _Line, outward: float, gap: float, ink: np.ndarray, lift: np.ndarray) -> None:
    """A sleeping newborn's closed eye on the scan's lash line, at output resolution.

    A fine dark lash line that tapers to the corners, short lashes fanning down and outward
    from it, a soft crease arching above the lid, and the lid's shadow just under the lashes.
    """
    box = _window(ink.shape, line.xc, line.yc, line.half_width + 0.06 * gap, 0.22 * gap)
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
    margin = _band(dy, half) * fade_ends
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
    crease = 0.2 * _gauss(crease_y, 0.011 * gap) * along**0.7
    shade_under = 0.12 * _gauss(dy - 0.028 * gap, 0.016 * gap) * along
    dark = 1.0 - (1.0 - 0.78 * margin) * (1.0 - hairs) * (1.0 - crease) * (1.0 - shade_under)
    _layer_max(ink, where, dark * line.evidence)
    # The convex lid between crease and lashes catches a little more light.
    lid = 0.05 * _gauss(dy + 0.05 * gap, 0.025 * gap) * along
    _layer_max(lift, where, lid * line.evidence)


def _draw_nose(
    nose: tuple[float, float], relief: float, gap: float, ink: np.ndarray, lift: np.ndarray
) -> None:
    """Soft nostrils either side of the tip, the shadow under it and a light on the tip."""
    nx, ny = nose
    box = _window(ink.shape, nx, ny + 0.05 * gap, 0.22 * gap, 0.16 * gap)
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
        alar = 0.09 * _gauss(wing - 1.0, 0.14) * outer
        np.maximum(dark, 0.42 * nostril, out=dark)
        np.maximum(dark, alar, out=dark)
    # The underside of the nose, turned away from a key above: a soft band under the tip.
    under = 0.14 * _gauss(xs - nx, 0.085 * gap) * _gauss(ys - (ny + 0.09 * gap), 0.025 * gap)
    np.maximum(dark, under, out=dark)
    _layer_max(ink, where, dark * relief)
    tip = 0.09 * _gauss(xs - nx, 0.03 * gap) * _gauss(ys - (ny - 0.025 * gap), 0.022 * gap)
    _layer_max(lift, where, tip * relief)


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
    box = _window(ink.shape, line.xc, line.yc, line.half_width + 0.05 * gap, top_reach + 0.25 * gap)
    if box is None:
        return
    where, xs, ys = box
    dx = xs - line.xc
    u = dx / line.half_width
    along = np.clip(1.0 - u * u, 0.0, 1.0)
    curve = line.yc + line.slope * dx + line.bend * dx * dx
    dy = ys - curve
    # Upper lip: its border dips at the middle between the two peaks of the bow.
    height = 0.075 * gap * along**0.55 * (1.0 - 0.3 * _gauss(dx, 0.035 * gap))
    border = -height
    # The border is crisp at the bow and melts into the skin towards the corners.
    edge = 1.0 + 0.03 * gap * (1.0 - along)
    upper = np.clip((dy - border) / edge + 0.5, 0.0, 1.0) * np.clip(0.5 - dy, 0.0, 1.0)
    # Lower lip: fuller and a little narrower, its lower edge soft.
    low_u = dx / (0.85 * line.half_width)
    low_along = np.clip(1.0 - low_u * low_u, 0.0, 1.0)
    depth_low = 0.11 * gap * low_along**0.6
    lower = np.clip(dy + 0.5, 0.0, 1.0) * np.clip((depth_low - dy) / (0.025 * gap) + 0.5, 0.0, 1.0)
    _layer_max(lips, where, np.maximum(upper, lower) * (0.3 + 0.7 * along) * line.evidence)
    # The parting line, darkest at the corners where the lips tuck in.
    half = 0.006 * gap * (0.4 + 0.6 * np.sqrt(along))
    fade_ends = np.clip((1.0 - np.abs(u)) / 0.08, 0.0, 1.0)
    parting = 0.55 * _band(dy, half) * fade_ends
    corners = (
        0.2
        * sum(_gauss(dx - side * 0.93 * line.half_width, 0.03 * gap) for side in (-1.0, 1.0))
        * _gauss(dy, 0.015 * gap)
    )
    under_lip = 0.16 * _gauss(dy - depth_low - 0.03 * gap, 0.02 * gap) * low_along
    # The philtrum: a shallow groove from under the nose to the dip of the bow, between ridges.
    span = np.clip((ys - (nose[1] + 0.1 * gap)) / max(top_reach, 1.0), 0.0, 1.0)
    above_border = (dy < border - 0.5) * np.sqrt(np.clip(np.sin(np.pi * span), 0.0, None))
    groove = 0.07 * _gauss(dx, 0.025 * gap) * above_border
    # The upper lip faces down, away from the key: a touch darker than the lower.
    upper_shade = 0.1 * upper
    dark = 1.0 - (1.0 - parting) * (1.0 - corners) * (1.0 - under_lip) * (1.0 - groove)
    dark = 1.0 - (1.0 - dark) * (1.0 - upper_shade)
    _layer_max(ink, where, dark * line.evidence)
    ridges = 0.05 * _gauss(np.abs(dx) - 0.05 * gap, 0.012 * gap) * above_border
    # The white roll: a thin light edge just above the upper lip's border.
    roll = 0.07 * _gauss(dy - border + 0.01 * gap, 0.006 * gap) * along
    shine = 0.07 * _gauss(dx, 0.07 * gap) * _gauss(dy - 0.05 * gap, 0.018 * gap)
    _layer_max(lift, where, (ridges + roll + shine) * line.evidence)


def _lip_gain(tone_hex: str) -> np.ndarray:
    """Per-channel linear gain that turns the skin tone into a newborn's lip colour."""
    lightness, chroma, hue = Color(tone_hex).convert("oklch").coords(nans=False)
    rosy_hue = hue + 0.5 * (((18.0 - hue) + 180.0) % 360.0 - 180.0)
    lip = Color("oklch", [lightness - 0.045, chroma * 1.05 + 0.014, rosy_hue]).fit("srgb")
    linear = np.array(lip.convert("srgb-linear").coords(nans=False), dtype=np.float32)
    return np.clip(linear, 1e-4, None) / np.maximum(hex_to_linear(tone_hex), 1e-4)


def _clean_matte(subject: np.ndarray, long_side: int) -> tuple[np.ndarray, np.ndarray]:
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
    smooth = _wide_blur(binary.astype(np.float32), sigma)
    # The blurred step's slope at its 0.5 level is 1 / (sqrt(2π) σ) per pixel.
    gain = math.sqrt(2.0 * math.pi) * sigma / 1.5
    matte = np.clip((smooth - 0.5) * gain + 0.5, 0.0, 1.0)
    distance = cv2.distanceTransform((matte > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    return matte.astype(np.float32), distance


def _roundness(distance: np.ndarray, long_side: int) -> np.ndarray:
    """Darken towards the silhouette, where a round head turns away from every light.

    Vision's normals flatten out near the outline (its depth is partly shading), so the turn is
    taken from the distance to the outline instead.
    """
    ramp = np.clip(distance / (0.07 * long_side), 0.0, 1.0)
    return 0.8 + 0.2 * (1.0 - (1.0 - ramp) ** 2)


def _dome_normals(distance: np.ndarray, long_side: int) -> np.ndarray:
    """Normals of the head as a dome inflated from its outline.

    A sphere of radius R seen from the front has height sqrt(d (2R - d)) at distance d inside
    its outline; the same profile over the matte's distance map gives any head shape its
    volume. Vision's low-frequency normals follow the scanner's shading (flat where its light
    was flat), so the dome supplies the head's roundness and vision the face on it.
    """
    smooth = _wide_blur(distance, 0.02 * long_side)
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


def _skin_texture(shape: tuple[int, int], long_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Very fine, low-amplitude skin grain and a faint mottle, from a fixed seed.

    Fixed, not the candidate's seed: seeds change the light, never the skin. Pure noise, band-
    limited, so it can never read as a feature.
    """
    rng = np.random.default_rng(_TEXTURE_SEED)
    grain = rng.standard_normal(shape, dtype=np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), 0.8)
    grain *= 1.0 / max(float(grain.std()), 1e-6)
    # Blotches about 3% of the frame across: drawn on a coarse grid, blurred there, enlarged.
    coarse_shape = (max(4, shape[0] // 24), max(4, shape[1] // 24))
    mottle = cv2.GaussianBlur(rng.standard_normal(coarse_shape, dtype=np.float32), (0, 0), 1.0)
    mottle = cv2.resize(mottle, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    mottle *= 1.0 / max(float(mottle.std()), 1e-6)
    return grain, mottle


@dataclass(frozen=True)
class StudioSet:
    """One candidate's paper and how the light pools on it, drawn from its seed.

    The paper is a shade of the studio's brand colour (a little lighter or deeper, softer or
    richer, turned a few degrees of hue), as a studio keeps several rolls of one palette; the
    pool of light on it sits a little toward the key. The face is untouched by either.
    """

    backdrop: np.ndarray  # linear RGB
    pool_centre: tuple[float, float]  # of the long side, from the frame's top-left
    pool_reach: float  # of the long side: where the light has fallen off to the vignette


def studio_set_for_seed(background_hex: str, seed: int, key_x: float) -> StudioSet:
    rng = np.random.default_rng([seed, 1])  # its own stream: the light's draws are unchanged
    lightness, chroma, hue = Color(background_hex).convert("oklch").coords(nans=False)
    shade = Color(
        "oklch",
        [
            float(np.clip(lightness + rng.uniform(-0.09, 0.03), 0.05, 0.99)),
            chroma * rng.uniform(0.6, 1.5) + rng.uniform(0.0, 0.012),
            hue + rng.uniform(-15.0, 15.0),
        ],
    ).fit("srgb")
    backdrop = np.array(shade.convert("srgb-linear").coords(nans=False), dtype=np.float32)
    # The pool leans toward the key: a key from the viewer's left lights the paper's left.
    lean = float(np.clip(-key_x, -1.0, 1.0)) * rng.uniform(0.02, 0.06)
    return StudioSet(
        backdrop=np.clip(backdrop, 0.0, 1.0),
        pool_centre=(0.5 + lean, 0.42 + rng.uniform(-0.03, 0.03)),
        pool_reach=float(rng.uniform(0.64, 0.8)),
    )


def _pool(shape: tuple[int, int], studio: StudioSet) -> np.ndarray:
    """A soft pool of light behind the head falling off to a gentle vignette: the paper's own
    colour sits half-way out, so the corners stay close to it."""
    height, width = shape
    long_side = max(height, width)
    ys = (
        np.arange(height, dtype=np.float32) / long_side - studio.pool_centre[1] * height / long_side
    )
    xs = np.arange(width, dtype=np.float32) / long_side - studio.pool_centre[0] * width / long_side
    radius = np.sqrt(xs[None, :] ** 2 + ys[:, None] ** 2) * (1.0 / studio.pool_reach)
    np.clip(radius, 0.0, 1.2, out=radius)
    pool = np.power(radius, 1.6, out=radius)
    pool *= -0.15
    pool += 1.07
    return pool


def _backdrop(matte: np.ndarray, distance_outside: np.ndarray, long_side: int) -> np.ndarray:
    """How much of a studio paper backdrop shows behind the subject, 0..1 (H×W).

    A soft contact shadow darkens the paper just under the head, where it would rest on a
    blanket; the paper's colour and its pool of light are each candidate's own.
    """
    height, width = matte.shape

    # Contact shadow: strongest right against the lower outline, fading within a few % of the
    # frame, and only under the head (the top of a head touches nothing).
    rows = np.nonzero(matte.max(axis=1) > 0.5)[0]
    under = np.zeros((height, 1), np.float32)
    if rows.size:
        top, bottom = float(rows.min()), float(rows.max())
        middle = (top + bottom) / 2.0
        under[:, 0] = np.clip((np.arange(height) - middle) / max(bottom - middle, 1.0), 0.0, 1.0)
    closeness = np.exp(-distance_outside / (0.03 * long_side))
    contact = 0.35 * closeness * under**1.5
    contact = cv2.GaussianBlur(contact.astype(np.float32), (0, 0), 0.006 * long_side)
    # A fixed dither keeps the slow gradient free of 8-bit banding.
    dither = np.random.default_rng(_TEXTURE_SEED + 1).uniform(-1.0, 1.0, (height, width))
    lit = (1.0 - contact) * (1.0 + 0.003 * dither.astype(np.float32))
    return (lit * (1.0 - matte)).astype(np.float32)


def _prepare(conditioning: Conditioning, long_side: int) -> _Surface:
    cues = conditioning.cues
    size = _output_size(cues, long_side)
    width, height = size
    scale = width / cues.depth.shape[1]

    low_confidence = np.clip(_resize(cues.low_confidence.astype(np.float32), size), 0.0, 1.0)
    subject = np.clip(_resize(cues.subject.astype(np.float32), size), 0.0, 1.0)
    matte, distance = _clean_matte(subject, long_side)
    # Vision marks its ragged outline as unsure; the clean matte replaces that outline, so only
    # unsure pixels inside the face are softened.
    low_confidence *= np.clip(distance / (0.02 * long_side), 0.0, 1.0)
    # Metered before Fix Anatomy grows the problem areas, so a fix never changes the exposure.
    metering = (low_confidence < 0.5) & (subject > 0.9) & (matte > 0.99)
    if conditioning.correction_strength > 0.0:
        # Fix Anatomy: the problem areas grow and get flatter, so whatever looked wrong there
        # (a half-seen ear, a hand's edge read as a cheek) melts into smooth skin.
        strength = conditioning.correction_strength
        grown = cv2.dilate(low_confidence, np.ones((3, 3), np.uint8), iterations=1)
        grown = _wide_blur(grown, (0.01 + 0.04 * strength) * long_side)
        low_confidence = np.clip(np.maximum(low_confidence, grown) * (1.0 + 2.0 * strength), 0, 1)
    confident = 1.0 - low_confidence
    depth = np.clip(_resize(cues.depth.astype(np.float32), size), 0.0, 1.0)
    inside = np.clip(distance / (0.03 * long_side), 0.0, 1.0)
    # Shallow depth of field: focus on the face, a touch softer towards the silhouette.
    defocus = (1.0 - np.clip(distance / (0.1 * long_side), 0.0, 1.0)) ** 2

    layout = _face_layout(cues, scale)
    features = _feature_zone(layout, (height, width))

    # Normals: lightly smoothed where trusted; heavily where not, so nothing sharp appears there.
    normals = _resize(cues.normals.astype(np.float32), size)
    # Vision's normals carry the scan's speckle as bumps; a newborn's skin has none at this
    # scale. The nose, lids and lips keep a crisper shape than the open skin around them.
    crisp = _wide_blur(normals, max(1.0, 0.005 * long_side))
    fine = _wide_blur(normals, max(1.0, 0.01 * long_side))
    sharpness = ((features - 0.35) / 0.65)[..., None]
    fine += (crisp - fine) * sharpness
    coarse = _wide_blur(normals, 0.04 * long_side)
    # The head's volume from the dome, its face from vision: the scan's low frequencies are
    # partly the scanner's own light, its mid frequencies are the nose, lids, cheeks and lips.
    base = coarse * (1.0 - _DOME_WEIGHT) + _dome_normals(distance, long_side) * _DOME_WEIGHT
    normals = base + (fine - coarse) * confident[..., None]
    normals /= np.maximum(np.linalg.norm(normals, axis=2, keepdims=True), 1e-6)
    sheen_normals = _wide_blur(normals, 0.012 * long_side)
    sheen_normals /= np.maximum(np.linalg.norm(sheen_normals, axis=2, keepdims=True), 1e-6)

    # Creases are where the surface sits below its neighbourhood: they see less of the sky.
    # Measured on a smoothed depth: speckle pits in the depth map are not creases.
    smooth_depth = _wide_blur(depth, 0.006 * long_side)
    around = _wide_blur(depth, 0.02 * long_side)
    occlusion = 1.0 - np.clip((around - smooth_depth) * 5.0, 0.0, 0.35)
    occlusion = cv2.GaussianBlur(occlusion, (0, 0), 0.003 * long_side + 0.5)

    # The scan's own shading, denoised edge-preservingly, carries creases the depth map smooths
    # over; only its band-passed relief is kept (its sepia and its scanner light are not).
    scan = cv2.cvtColor(cues.image, cv2.COLOR_RGB2GRAY)
    scan = cv2.resize(scan, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    # Speckle is impulsive: a median removes it; the bilateral then smooths what is left while
    # keeping the creases (lid lines, lip line) the depth map blurs over.
    scan = cv2.medianBlur(scan, _odd(0.006 * long_side))
    scan = cv2.bilateralFilter(scan, _odd(0.012 * long_side), 30, 0.006 * long_side)
    scan_log = np.log1p(scan.astype(np.float32))
    band = cv2.GaussianBlur(scan_log, (0, 0), 0.004 * long_side) - _wide_blur(
        scan_log, 0.03 * long_side
    )
    # The scan's relief is kept in full around the eyes, nose and mouth; on the open skin it is
    # mostly left speckle pits, which a newborn's skin does not have.
    relief = 0.18 * confident * (matte > 0.5) * features
    detail = np.exp(np.clip(band, -0.6, 0.6) * relief)
    flush, sheen = _flush_and_sheen(layout, depth, inside, long_side)
    # A lid line is a shadow, which vision marks as unsure; it is the scan's own line, so half-
    # sure pixels keep it, fully unsure ones (an occluder) do not.
    feature_trust = np.clip(1.6 * confident - 0.1, 0.0, 1.0) * inside
    lines = _feature_lines(layout, scan_log, depth, long_side)
    if lines is not None:
        _feature_sheen(lines, sheen)
    grain, mottle = _skin_texture((height, width), long_side)
    skin_trust = confident * inside
    texture = 1.0 + (0.016 * grain + 0.012 * mottle) * skin_trust
    # The flush is a broad colour, never a shape, so it also warms unsure cheeks (an unflushed
    # cheek next to a flushed one reads as a bruise); only its mottle keeps to trusted skin.
    flush = np.clip(flush + 0.05 * mottle * skin_trust, 0.0, 1.0)

    shading_detail = occlusion * detail * texture
    shading_detail *= _roundness(distance, long_side)
    softer = cv2.GaussianBlur(shading_detail, (0, 0), 0.003 * long_side)
    shading_detail += (softer - shading_detail) * defocus

    if cues.face_box is not None:
        box = cues.face_box
        in_face = np.zeros_like(metering)
        in_face[
            max(int((box.y0 - cues.crop_box.y0) * scale), 0) : max(
                int((box.y1 - cues.crop_box.y0) * scale), 0
            ),
            max(int((box.x0 - cues.crop_box.x0) * scale), 0) : max(
                int((box.x1 - cues.crop_box.x0) * scale), 0
            ),
        ] = True
        if (metering & in_face).sum() > 100:
            metering &= in_face
    if not metering.any():
        metering = matte > 0.5 if (matte > 0.5).any() else np.ones_like(metering)
    # A median over ~20k evenly spread pixels is the median of them all, to well within a level.
    metering_index = np.flatnonzero(metering)
    metering_index = metering_index[:: max(1, metering_index.size // 20000)]

    outside = cv2.distanceTransform((matte <= 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    behind = _backdrop(matte, outside, long_side)
    chin = _anchor_xy(cues, "chin", scale)

    unconfident = 1.0 - confident
    soften_box = None
    rows, cols = np.nonzero(unconfident > 0.01)
    if rows.size:
        pad = int(0.04 * long_side)
        soften_box = (
            max(int(rows.min()) - pad, 0),
            min(int(rows.max()) + pad + 1, height),
            max(int(cols.min()) - pad, 0),
            min(int(cols.max()) + pad + 1, width),
        )

    return _Surface(
        normals=normals.astype(np.float32),
        sheen_normals=sheen_normals.astype(np.float32),
        occlusion_detail=shading_detail.astype(np.float32),
        across_x=((np.arange(width, dtype=np.float32) - width / 2) / max(width, height))[None, :],
        across_y=((height / 2 - np.arange(height, dtype=np.float32)) / max(width, height))[:, None],
        # A crease the sky cannot see cannot mirror the key either.
        specular_mask=(sheen * confident * inside * np.clip(occlusion, 0.0, 1.0) ** 2).astype(
            np.float32
        ),
        # Subsurface is a broad colour, never detail: an unsure patch (a shadowed nostril)
        # that lost it would show as a cold grey stain in warm skin.
        subsurface_weight=(0.6 + 0.4 * confident).astype(np.float32),
        flush=flush.astype(np.float32),
        skin_alpha=matte,
        metering=metering_index,
        unconfident=unconfident.astype(np.float32),
        soften_box=soften_box,
        background_behind=behind,
        shadow_source=_wide_blur(matte, 0.025 * long_side).astype(np.float32),
        feature_lines=lines,
        feature_trust=feature_trust.astype(np.float32),
        texture_trust=skin_trust.astype(np.float32),
        wrap_base=_wrap_base(matte, distance - outside, layout, lines, chin),
    )


def _feature_sheen(lines: _FeatureLines, sheen: np.ndarray) -> None:
    """Where the features catch the key: the nose tip, the lower lip and the closed lids."""
    gap = lines.layout.eye_gap
    nose = (lines.layout.nose[0], lines.layout.nose[1] - 0.025 * gap)
    spot = _spot(sheen.shape, nose, 0.045 * gap, 0.035 * gap)
    np.maximum(sheen, lines.nose_relief * spot, out=sheen)
    if lines.mouth is not None:
        lip = (lines.mouth.xc, lines.mouth.yc + 0.05 * gap)
        spot = _spot(sheen.shape, lip, 0.08 * gap, 0.02 * gap)
        np.maximum(sheen, 0.6 * lines.mouth.evidence * spot, out=sheen)
    for eye in lines.eyes:
        if eye is not None:
            spot = _spot(sheen.shape, (eye.xc, eye.yc - 0.05 * gap), 0.15 * gap, 0.035 * gap)
            np.maximum(sheen, 0.35 * eye.evidence * spot, out=sheen)


@dataclass(frozen=True, eq=False)
class _Finish:
    """Seed-independent detail drawn at output resolution on the 8-bit image: the features'
    fine lines and the skin's pores are finer than the shading resolution can hold."""

    where: tuple[slice, slice]
    gain: np.ndarray  # h×w×3 float32 multiplier of the sRGB values in ``where``


@functools.lru_cache(maxsize=4)
def _pores(shape: tuple[int, int]) -> np.ndarray:
    """Pore-scale skin texture, zero mean and unit spread, from a fixed seed: fine grain with
    small sparse pits. About a pixel across, so a thumbnail averages it away."""
    rng = np.random.default_rng(_TEXTURE_SEED + 2)
    fine = cv2.GaussianBlur(rng.standard_normal(shape, dtype=np.float32), (0, 0), 0.7)
    fine *= 1.0 / max(float(fine.std()), 1e-6)
    pits = cv2.GaussianBlur(rng.standard_normal(shape, dtype=np.float32), (0, 0), 0.9)
    pits *= 1.0 / max(float(pits.std()), 1e-6)
    pits = np.clip((pits - 1.8) / 0.8, 0.0, 1.0)  # ~4% of pixels: small shallow pits
    texture = 0.7 * fine - 1.2 * pits
    texture -= float(texture.mean())
    texture.setflags(write=False)
    return texture


def _finish(
    surface: _Surface, tone_hex: str, output_size: tuple[int, int], monochrome: bool
) -> _Finish | None:
    width, height = output_size
    ratio = width / surface.skin_alpha.shape[1]
    alpha = _resize(surface.skin_alpha, output_size)
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
    trust = _resize(surface.feature_trust, output_size)[where]
    # Skin's shadows are warm: light scattered under it comes back red, so ink darkens blue
    # and green a little more than red.
    gain = 1.0 - (ink[where] * trust)[..., None] * _INK_TINT
    gain *= (1.0 + lift[where] * trust)[..., None]
    gain *= 1.0 + (lips[where] * trust)[..., None] * (_lip_gain(tone_hex) - 1.0)
    # Linear-light gains act on the 8-bit sRGB values through its ~2.2 gamma.
    gain = np.power(np.maximum(gain, 1e-4), 1.0 / 2.2)
    skin = _resize(surface.texture_trust, output_size)[where] * alpha[where]
    gain *= (1.0 + _PORE_STRENGTH * _pores((height, width))[where] * skin)[..., None]
    if monochrome:
        grey = gain @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
        gain = np.repeat(grey[..., None], 3, axis=2)
    return _Finish(where, gain.astype(np.float32))


def _apply_finish(image: np.ndarray, finish: _Finish | None) -> np.ndarray:
    if finish is None:
        return image
    region = image[finish.where].astype(np.float32)
    region *= finish.gain
    region += 0.5
    np.clip(region, 0.0, 255.0, out=region)
    image[finish.where] = region.astype(np.uint8)
    return image


def _flush_shift(albedo_hex: str) -> np.ndarray:
    """Per-channel relative change, at full flush, that turns the skin tone rosier.

    Taken in OKLCh so the flush keeps the tone's lightness: more chroma, hue turned toward red.
    It is what blood under thin skin does, and it leaves the tone itself on target.
    """
    base = Color(albedo_hex).convert("oklch")
    lightness, chroma, hue = base.coords(nans=False)
    rosy_hue = hue + 0.4 * (((8.0 - hue) + 180.0) % 360.0 - 180.0)
    rosy = Color("oklch", [lightness - 0.01, chroma * 1.35 + 0.012, rosy_hue])
    linear = np.array(rosy.convert("srgb-linear").coords(nans=False), dtype=np.float32)
    albedo = hex_to_linear(albedo_hex)
    return np.clip(linear, 0.0, None) / np.maximum(albedo, 1e-4) - 1.0


def _shade(
    surface: _Surface, albedo: np.ndarray, flush_shift: np.ndarray, style: Style, light: Lighting
) -> np.ndarray:
    """The skin layer in linear RGB, everywhere (the matte is applied when compositing)."""
    # In-place arithmetic throughout: five candidates must shade in well under two seconds.
    normals = surface.normals
    key_cos = normals @ light.key_dir
    key = key_cos + light.wrap
    key *= 1.0 / (1.0 + light.wrap)
    np.clip(key, 0.0, 1.0, out=key)
    fill = normals @ light.fill_dir
    fill += 1.0
    fill *= 0.5 * light.fill_strength
    luminance = key * light.key_strength
    luminance += fill
    luminance += 0.18
    luminance *= surface.occlusion_detail
    # A studio key is a metre away, not the sun: the side of the head nearer it is brighter.
    falloff = surface.across_x * (_KEY_FALLOFF * light.key_dir[0])
    falloff = falloff + surface.across_y * (_KEY_FALLOFF * light.key_dir[1])
    falloff += 1.0
    luminance *= falloff

    # Meter the exposure so the face's median shade renders the target tone exactly.
    metered = float(np.median(luminance.ravel()[surface.metering]))
    luminance *= 1.0 / max(metered, 1e-4)
    if style.contrast != 1.0:
        np.maximum(luminance, 1e-4, out=luminance)
        np.power(luminance, style.contrast, out=luminance)
    # A soft shoulder instead of a hard clip keeps pale skin's highlights from going flat white.
    ceiling = 0.97 / max(float(albedo.max()), 1e-3)
    knee = 0.8 * ceiling
    over = luminance > knee
    luminance[over] = knee + (ceiling - knee) * np.tanh((luminance[over] - knee) / (ceiling - knee))

    # Subsurface: strongest just past the terminator, a little everywhere the key does not reach.
    terminator = key_cos
    terminator += 0.15
    np.abs(terminator, out=terminator)
    terminator *= -2.5
    terminator += 1.0
    np.maximum(terminator, 0.0, out=terminator)
    terminator += 0.5
    terminator -= 0.5 * key
    subsurface = terminator
    subsurface *= surface.subsurface_weight

    half = light.key_dir + _VIEW
    half = half / np.linalg.norm(half)
    # The sheen follows the skin's broad forms: on the scan's finer relief it would break into
    # grey patches.
    gloss = surface.sheen_normals @ half
    np.maximum(gloss, 0.0, out=gloss)
    sheen = gloss * gloss
    sheen *= sheen
    sheen *= sheen  # ^8: the broad sheen of a large soft box
    specular = sheen * sheen  # ^16: its brighter core
    specular += 0.35 * sheen
    specular *= surface.specular_mask
    specular *= style.specular * _SHEEN_GAIN * light.key_strength * _sheen_share(albedo)

    flushed = luminance * surface.flush
    # Light that scatters under skin and comes back in its shadows is warmer than the light
    # that went in: the half-lit and shaded skin turns a little redder, lit skin keeps its tone.
    warm = np.clip(1.0 - luminance, 0.0, 1.0)
    warm *= luminance
    warm *= surface.subsurface_weight

    total = light.key_strength + light.fill_strength
    colour_light = light.key_colour * light.key_strength + light.fill_colour * light.fill_strength
    colour_light /= total
    # One matrix product mixes the scalar fields into RGB.
    mix = np.stack(
        [
            albedo * colour_light,
            albedo * _SUBSURFACE_TINT * 0.10,
            light.key_colour,
            albedo * flush_shift * colour_light * _FLUSH_STRENGTH,
            albedo * _SHADOW_WARMTH,
        ]
    ).astype(np.float32)
    fields = np.stack([luminance, subsurface, specular, flushed, warm], axis=2)
    return fields @ mix


def _sheen_share(albedo: np.ndarray) -> float:
    """How much of the style's sheen a tone shows: a broad white sheen over deep skin reads
    as an ashy grey film in a photo, so it is kept smaller there (the highlights stay)."""
    luminance = float(albedo @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32))
    return float(np.clip(0.35 + 1.3 * luminance, 0.35, 1.0))


def _composite(
    skin: np.ndarray, surface: _Surface, light: Lighting, studio: StudioSet, style: Style
) -> np.ndarray:
    """The skin over the backdrop through the clean matte, with the key's cast shadow."""
    skin *= surface.skin_alpha[..., None]
    lit_backdrop = _cast_shadow(surface, light)
    lit_backdrop *= -_SHADOW_DEPTH
    lit_backdrop += 1.0
    lit_backdrop *= _pool(lit_backdrop.shape, studio)
    lit_backdrop *= surface.background_behind
    skin += lit_backdrop[..., None] * studio.backdrop
    if style.monochrome:
        grey = skin @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
        skin = np.repeat(grey[..., None], 3, axis=2)
    return skin


def _cast_shadow(surface: _Surface, light: Lighting) -> np.ndarray:
    """The baby's soft shadow on the backdrop, thrown away from the key light."""
    height, width = surface.shadow_source.shape
    reach = _SHADOW_REACH * max(height, width)
    shift_x, shift_y = -light.key_dir[0] * reach, light.key_dir[1] * reach
    matrix = np.array([[1.0, 0.0, shift_x], [0.0, 1.0, shift_y]], dtype=np.float32)
    return cv2.warpAffine(
        surface.shadow_source, matrix, (width, height), borderMode=cv2.BORDER_CONSTANT
    )


def _wide_blur(image: np.ndarray, sigma: float) -> np.ndarray:
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


def _soften_unconfident(image: np.ndarray, surface: _Surface, long_side: int) -> np.ndarray:
    """Blur what vision did not trust, so no detail is invented there."""
    if surface.soften_box is None:
        return image
    y0, y1, x0, x1 = surface.soften_box
    region = image[y0:y1, x0:x1]
    blurred = _wide_blur(region, 0.012 * long_side)
    weight = surface.unconfident[y0:y1, x0:x1, None]
    image[y0:y1, x0:x1] = region + (blurred - region) * weight
    return image


# The wrap is part of the set, like the paper: a prop, never the baby. It may be drawn where
# the scan saw nothing (the bottom of the frame, over the outline), but it keeps clear of the
# eyes, nose and mouth, which only the scan may show.
_WRAP_EDGE_PX = 1.2  # the wrap's edge ramp at shading resolution; the knit adds its own fuzz
_WRAP_CONTACT = 0.45  # how much light the wrap's edge takes off the skin right beside it
_WRAP_STEP = (1.15, 1.3)  # the wrap's lightness over the skin's (or the skin's over it)
_WRAP_AMBIENT = 0.22  # the fabric's share of light from the room, as the skin's
_WRAP_SHADOW_PROP = 0.08  # the wrap's shadow counts fully as set where it takes this much light
_PROP_FLOOR = 0.02  # props below this (a shadow taking under 0.2% of the light) are not marked


@dataclass(frozen=True, eq=False)
class _WrapBase:
    """Seed-independent geometry the wrap is laid on, at shading resolution."""

    signed: np.ndarray  # H×W signed distance (px) to the clean silhouette, + inside
    gap: float  # the face's scale (the eye gap, px)
    centre_x: float  # where the neckline dips lowest: under the mouth
    neck_y: float  # the neckline's lowest row: a clear margin below the mouth and lips
    side_y: float  # the row the wrap rises to along the sides of the face: cheek height
    sides: tuple[float, float]  # the silhouette's left and right x at that row
    keep: tuple[tuple[float, float, float, float], ...]  # (cx, cy, rx, ry) kept clear
    top: int  # the first row the wrap or its shadow can reach


def _wrap_base(
    matte: np.ndarray,
    signed: np.ndarray,
    layout: _FaceLayout | None,
    lines: _FeatureLines | None,
    chin: tuple[float, float] | None,
) -> _WrapBase | None:
    height, width = matte.shape
    long_side = max(height, width)
    rows = np.nonzero(matte.max(axis=1) > 0.5)[0]
    if rows.size == 0:
        return None
    head_top, head_bottom = float(rows.min()), float(rows.max())
    keep: list[tuple[float, float, float, float]] = []
    if layout is not None:
        gap = layout.eye_gap
        mouth_x, mouth_y = layout.mouth
        lip_top, lip_bottom = mouth_y - 0.1 * gap, mouth_y
        if lines is not None and lines.mouth is not None:
            # The drawn lips: the upper lip's bow, the fuller lower lip and its shadow.
            lip_top = min(lip_top, lines.mouth.yc - 0.1 * gap)
            lip_bottom = max(lip_bottom, lines.mouth.yc + 0.16 * gap)
        if chin is not None and chin[1] > mouth_y:
            # Below the chin: scoring re-finds it there to catch a lengthened (adult) jaw.
            neck_y = max(mouth_y + 0.25 * gap, lip_bottom + 0.1 * gap, chin[1] + 0.16 * gap)
        else:  # no chin seen: the wrap stays low
            neck_y = max(mouth_y + 0.35 * gap, lip_bottom + 0.18 * gap)
        eye_y = (layout.eye_left[1] + layout.eye_right[1]) / 2.0
        side_y = max((layout.cheek_left[1] + layout.cheek_right[1]) / 2.0, eye_y + 0.45 * gap)
        for eye in (layout.eye_left, layout.eye_right):
            keep.append((eye[0], eye[1], 0.42 * gap, 0.24 * gap))
        keep.append((layout.nose[0], layout.nose[1] - 0.15 * gap, 0.3 * gap, 0.4 * gap))
        # It rises beside the cheeks, not over their fullest point: the scan saw that form.
        for cheek in (layout.cheek_left, layout.cheek_right):
            keep.append((cheek[0], cheek[1], 0.26 * gap, 0.24 * gap))
        keep.append(
            (
                mouth_x,
                (lip_top + lip_bottom) / 2.0,
                0.6 * gap,
                (lip_bottom - lip_top) / 2.0 + 0.1 * gap,
            )
        )
    else:  # no features to place it by: low around the head, away from any face
        cols = np.nonzero(matte.max(axis=0) > 0.5)[0]
        gap = 0.3 * float(cols.max() - cols.min() + 1)
        mouth_x = float(cols.min() + cols.max()) / 2.0
        neck_y = head_top + 0.92 * (head_bottom - head_top)
        side_y = head_top + 0.8 * (head_bottom - head_top)
    row = int(np.clip(round(side_y), 0, height - 1))
    cols = np.nonzero(matte[row] > 0.5)[0]
    if cols.size == 0:
        cols = np.nonzero(matte.max(axis=0) > 0.5)[0]
    top = int(side_y - 0.2 * gap - 0.04 * long_side)
    return _WrapBase(
        # The fabric follows the head's broad outline, not every dent of it.
        signed=_wide_blur(signed, 0.025 * long_side).astype(np.float32),
        gap=gap,
        centre_x=mouth_x,
        neck_y=neck_y,
        side_y=side_y,
        sides=(float(cols.min()), float(cols.max())),
        keep=tuple(keep),
        top=int(np.clip(top, 0, height - 1)),
    )


def _smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """min(a, b) with its crease rounded over ``k`` (a polynomial smooth minimum)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def _ellipse_radius(
    xs: np.ndarray, ys: np.ndarray, ellipse: tuple[float, float, float, float]
) -> np.ndarray:
    cx, cy, rx, ry = ellipse
    return np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)


def _fold(across: np.ndarray, width: float, side: float, trough: float) -> np.ndarray:
    """A fold's cross-section: a soft ridge with a shadowed trough along one side of it."""
    ridge = np.exp(-((across / width) ** 2))
    hollow = np.exp(-(((across - side * 1.7 * width) / (0.9 * width)) ** 2))
    return ridge - trough * hollow


@dataclass(frozen=True)
class _Knit:
    """The fabric's weave at output resolution: a knit's stitches or a muslin's fine weave."""

    kind: str  # "knit" or "muslin"
    period: float  # of the output's long side
    angle: float  # radians: how the rows run across the frame
    strength: float  # of the 8-bit value


@dataclass(frozen=True, eq=False)
class _WrapLayer:
    """One candidate's wrap at shading resolution, rows ``top`` and below."""

    top: int
    coverage: np.ndarray  # h×W 0..1
    colour: np.ndarray  # h×W×3 linear RGB, lit, softer toward the frame's bottom
    shadow: np.ndarray  # h×W 0..1: light the wrap takes off what shows beside it
    knit: _Knit


def _wrap_albedo(
    background_hex: str, tone_hex: str, paper: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A shade of the studio's palette (its hue and a richer chroma) for the wrap.

    Its lightness sits a step from the baby's own, as a photographer picks a wrap to go with
    the skin: a step is enough for cloth to read as cloth beside skin, and keeping it to a
    step (relative to the skin's lightness, so the same for every tone) keeps the wrap from
    outshouting the face, which is what the portrait and its scoring are about.
    """
    lightness, chroma, hue = Color(background_hex).convert("oklch").coords(nans=False)
    skin = Color(tone_hex).convert("oklch").coords(nans=False)[0]
    paper_l = Color("srgb-linear", [float(c) for c in paper]).convert("oklch").coords(nans=False)[0]
    lighter = skin * rng.uniform(_WRAP_STEP[0], _WRAP_STEP[1])
    if lighter <= min(paper_l - 0.05, 0.92) and rng.random() < 0.5:
        shade = lighter
    else:
        shade = skin / rng.uniform(_WRAP_STEP[0], _WRAP_STEP[1])
    hue += rng.uniform(-12.0, 12.0)
    if shade < lightness and 30.0 < hue % 360.0 < 110.0:
        # Deep creams and yellows turn olive; a dyed knit of that palette turns caramel.
        hue -= 0.6 * (hue % 360.0 - 55.0) * min(1.0, (lightness - shade) / 0.4)
    colour = Color(
        "oklch",
        [
            float(np.clip(shade, 0.12, 0.95)),
            min(chroma * rng.uniform(1.1, 2.0) + rng.uniform(0.01, 0.035), 0.12),
            hue,
        ],
    ).fit("srgb")
    return np.clip(
        np.array(colour.convert("srgb-linear").coords(nans=False), dtype=np.float32), 0.0, 1.0
    )


def _wrap_layer(
    base: _WrapBase,
    surface: _Surface,
    light: Lighting,
    studio: StudioSet,
    palette: tuple[str, str],
    seed: int,
    monochrome: bool,
) -> _WrapLayer:
    rng = np.random.default_rng([seed, 2])  # its own stream: the light and paper are unchanged
    albedo = _wrap_albedo(palette[0], palette[1], studio.backdrop, rng)
    height, width = base.signed.shape
    long_side = max(height, width)
    gap, top = base.gap, base.top
    ys = np.arange(top, height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]
    dx = xs - base.centre_x

    # Where the face shows: inside the outline by more than the fabric's reach over it, above
    # the neckline (lowest under the mouth, rising toward the cheeks), and always round the
    # eyes, nose and mouth.
    reach = gap * rng.uniform(0.09, 0.15)
    wave = 1.0 + 0.3 * np.sin(ys / gap * rng.uniform(2.0, 4.0) + rng.uniform(0.0, 2.0 * np.pi))
    rise = gap * rng.uniform(0.25, 0.45)
    neckline = base.neck_y + rng.uniform(-0.06, 0.06) * dx - rise * (dx / (0.9 * gap)) ** 2
    face = np.minimum(base.signed[top:] - reach * wave, neckline - ys)
    for ellipse in base.keep:
        clear = (1.0 - _ellipse_radius(xs, ys, ellipse)) * min(ellipse[2], ellipse[3])
        np.maximum(face, clear, out=face)
    # Its top: highest beside the cheeks, falling off toward the frame's sides.
    left, right = base.sides
    peaks = base.side_y + gap * rng.uniform(-0.08, 0.15, size=2)
    drops = gap * rng.uniform(0.25, 0.6, size=2)
    span = np.clip((xs - left) / max(right - left, 1.0), 0.0, 1.0)
    upper = peaks[0] + (peaks[1] - peaks[0]) * span
    upper = upper + drops[0] * (1.0 - np.exp(-((np.clip(left - xs, 0.0, None) / (0.6 * gap)) ** 2)))
    upper = upper + drops[1] * (
        1.0 - np.exp(-((np.clip(xs - right, 0.0, None) / (0.6 * gap)) ** 2))
    )
    inside = _smooth_min(ys - upper, -face, 0.12 * gap)  # px into the wrap from its edge
    coverage = np.clip(inside / _WRAP_EDGE_PX + 0.5, 0.0, 1.0)

    # The fabric's relief: a rolled edge with a hollow behind it, folds drawn up from the
    # bottom toward the chin, often one across, and a gentle lumpiness.
    thick = gap * rng.uniform(0.08, 0.12)
    depth_in = np.clip(inside, 0.0, None) / thick
    # A rolled edge: round as a cylinder where it meets the face, a hollow just behind it.
    relief = np.sqrt(np.clip(1.0 - (1.0 - np.minimum(depth_in, 1.0)) ** 2, 0.0, 1.0))
    relief -= rng.uniform(0.4, 0.7) * np.exp(-(((depth_in - 1.9) / 0.55) ** 2))
    # Fabric bunched round the face: a ridge or two running along the edge, further out.
    for _ in range(int(rng.integers(1, 3))):
        ring = rng.uniform(2.8, 4.8) + 0.5 * np.sin(
            xs / gap * rng.uniform(2.0, 5.0) + rng.uniform(0.0, 6.3)
        )
        relief += rng.uniform(0.6, 1.1) * _fold(
            depth_in - ring, rng.uniform(0.5, 0.8), rng.choice([-1.0, 1.0]), 0.7
        )
    relief *= thick
    for _ in range(int(rng.integers(2, 5))):
        start = np.array([rng.uniform(-0.1, 1.1) * width, height + rng.uniform(0.0, 0.2) * gap])
        end = np.array(
            [
                base.centre_x + rng.uniform(-1.0, 1.0) * gap,
                base.neck_y + rng.uniform(0.0, 0.4) * gap,
            ]
        )
        axis = end - start
        length = max(float(np.hypot(*axis)), 1.0)
        axis /= length
        along = ((xs - start[0]) * axis[0] + (ys - start[1]) * axis[1]) / length
        across = (xs - start[0]) * axis[1] - (ys - start[1]) * axis[0]
        taper = np.clip(np.sin(np.pi * np.clip(along, 0.0, 1.0)), 0.0, None) ** 0.6
        fold = _fold(across, gap * rng.uniform(0.05, 0.09), rng.choice([-1.0, 1.0]), 0.6)
        relief += thick * rng.uniform(0.8, 1.4) * fold * taper
    if rng.random() < 0.75:
        sag = rng.uniform(-0.15, 0.2) * gap * (dx / gap) ** 2
        line = base.neck_y + gap * rng.uniform(0.3, 0.55) + rng.uniform(-0.2, 0.2) * dx + sag
        fade = np.exp(-((dx / (1.4 * gap)) ** 4))
        fold = _fold(ys - line, gap * rng.uniform(0.05, 0.08), rng.choice([-1.0, 1.0]), 0.7)
        relief += thick * rng.uniform(0.8, 1.3) * fold * fade
    grid = (max(2, (height - top) // 96 + 2), max(2, width // 96 + 2))
    lumps = rng.standard_normal(grid).astype(np.float32)
    relief += 0.2 * thick * cv2.resize(lumps, (width, height - top), interpolation=cv2.INTER_CUBIC)
    relief = cv2.GaussianBlur(relief.astype(np.float32), (0, 0), 1.5)

    # Lit by the candidate's own key and fill, as the skin is; troughs see less of the room.
    slope_x = cv2.Sobel(relief, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    slope_y = cv2.Sobel(relief, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    normals = np.dstack([-slope_x, slope_y, np.ones_like(slope_x)])
    normals /= np.linalg.norm(normals, axis=2, keepdims=True)
    key = normals @ light.key_dir
    key += light.wrap
    key *= 1.0 / (1.0 + light.wrap)
    np.clip(key, 0.0, 1.0, out=key)
    fill = (normals @ light.fill_dir + 1.0) * (0.5 * light.fill_strength)
    luminance = key * light.key_strength + fill + _WRAP_AMBIENT
    flat = (
        np.clip((light.key_dir[2] + light.wrap) / (1.0 + light.wrap), 0.0, 1.0) * light.key_strength
        + (light.fill_dir[2] + 1.0) * 0.5 * light.fill_strength
        + _WRAP_AMBIENT
    )
    luminance *= 1.0 / max(float(flat), 1e-4)
    hollow = np.clip((_wide_blur(relief, 0.6 * thick) - relief) / thick, 0.0, None)
    luminance *= 1.0 - np.clip(0.8 * hollow, 0.0, 0.55)
    # Where it tucks against the cheek the fabric's own edge sees less of the room too.
    luminance *= 1.0 - 0.22 * np.exp(-depth_in / 0.3)
    falloff = surface.across_x * (_KEY_FALLOFF * light.key_dir[0])
    falloff = falloff + surface.across_y[top:] * (_KEY_FALLOFF * light.key_dir[1])
    luminance *= falloff + 1.0
    total = light.key_strength + light.fill_strength
    tint = (light.key_colour * light.key_strength + light.fill_colour * light.fill_strength) / total
    colour = luminance[..., None] * (albedo * tint)
    if monochrome:
        grey = colour @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
        colour = np.repeat(grey[..., None], 3, axis=2)
    # Depth of field: the fabric nearest the lens, at the frame's bottom, is out of focus.
    soft = _bottom_softness(ys, height, long_side)
    blurred = cv2.GaussianBlur(colour, (0, 0), 0.007 * long_side)
    colour += (blurred - colour) * soft[..., None]

    # Right at the edge a crease of shadow, then a broader soft one where the fabric stands
    # between the cheek and the room.
    shadow = _wide_blur(coverage, 0.004 * long_side) + _wide_blur(coverage, 0.014 * long_side)
    shadow *= 0.5 * _WRAP_CONTACT
    shadow *= 1.0 - coverage
    knit = _Knit(
        kind="knit" if rng.random() < 0.6 else "muslin",
        period=float(rng.uniform(0.0055, 0.0075)),
        angle=float(rng.uniform(-0.3, 0.3)),
        strength=float(rng.uniform(0.06, 0.09)),
    )
    return _WrapLayer(
        top=top,
        coverage=coverage.astype(np.float32),
        colour=colour.astype(np.float32),
        shadow=shadow.astype(np.float32),
        knit=knit,
    )


def _bottom_softness(ys: np.ndarray, height: int, long_side: int) -> np.ndarray:
    """0..1 down the frame's last fifth: how far out of focus the fabric there is."""
    start = height - 0.2 * long_side
    return (np.clip((ys - start) / (0.2 * long_side), 0.0, 1.0) ** 1.5).astype(np.float32)


def _weave(shape: tuple[int, int], knit: _Knit, long_side: int) -> np.ndarray:
    """The fabric's weave as a zero-mean pattern of about unit amplitude (h×w)."""
    height, width = shape
    ys = np.arange(height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]
    cos, sin = math.cos(knit.angle), math.sin(knit.angle)
    u = xs * cos + ys * sin
    v = ys * cos - xs * sin
    fibre = _pores(shape)  # a fixed fine grain: the fibres' fuzz
    if knit.kind == "knit":
        period = knit.period * long_side
        column = u / period
        offset = np.abs(column - np.floor(column) - 0.5)
        # Stacked V-shaped loops in columns, darker in the gaps between the columns.
        loops = np.cos(2.0 * np.pi * (v / (0.75 * period) + 1.1 * offset))
        pattern = 0.55 * loops - 0.35 * np.cos(2.0 * np.pi * column)
    else:
        period = 0.5 * knit.period * long_side
        pattern = 0.6 * np.cos(2.0 * np.pi * u / period) * np.cos(2.0 * np.pi * v / period)
    pattern += 0.3 * fibre
    return pattern.astype(np.float32)


def _apply_wrap(
    image: np.ndarray, layer: _WrapLayer, guard: np.ndarray, guard_top: int
) -> tuple[np.ndarray, np.ndarray]:
    """Lay one candidate's wrap over its finished 8-bit image, at output resolution.

    Returns the image and its props mask (H×W float32 0..1): the wrap where it covers (≥ 0.5),
    and below 0.5 its soft edge and its shadow on the skin where that takes more than a few
    percent of the light (a darkening the scoring head would otherwise read as the face's own
    form).
    """
    height, width = image.shape[:2]
    long_side = max(height, width)
    top = guard_top
    size = (width, height - top)
    coverage = _resize(layer.coverage, size) * guard
    shadow = _resize(layer.shadow, size) * guard
    colour = linear_to_srgb_u8(layer.colour)
    colour = cv2.resize(colour, size, interpolation=cv2.INTER_CUBIC).astype(np.float32)
    soft = _bottom_softness(np.arange(top, height, dtype=np.float32)[:, None], height, long_side)
    colour *= (
        1.0
        + layer.knit.strength * _weave(coverage.shape, layer.knit, long_side) * (1.0 - 0.85 * soft)
    )[..., None]
    region = image[top:].astype(np.float32)
    # Light-linear darkening through the 8-bit values' ~2.2 gamma.
    region *= np.power(1.0 - shadow, 1.0 / 2.2)[..., None]
    region += (colour - region) * coverage[..., None]
    region += 0.5
    np.clip(region, 0.0, 255.0, out=region)
    image[top:] = region.astype(np.uint8)
    props = np.zeros((height, width), np.float32)
    # The fabric is the prop (≥ 0.5 where it covers); its shadow on the skin only ever says
    # "leave me out" (below 0.5), so the house look never recolours a cheek as set.
    shade = 0.49 * np.clip(shadow / _WRAP_SHADOW_PROP, 0.0, 1.0)
    props[top:] = np.maximum(np.where(coverage >= 0.5, coverage, np.minimum(coverage, 0.49)), shade)
    props[props < _PROP_FLOOR] = 0.0  # the blurs' far tails: nothing a viewer could see
    return image, props


def _wrap_guard(base: _WrapBase, output_size: tuple[int, int]) -> tuple[np.ndarray, int]:
    """At output resolution: 0 on the eyes, nose and mouth (nothing of the wrap, not even its
    shadow, lands there), 1 where the wrap may show; and the first row it may reach."""
    width, height = output_size
    ratio = width / base.signed.shape[1]
    top = min(int(base.top * ratio), height - 1)
    ys = np.arange(top, height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]
    guard = np.ones((height - top, width), np.float32)
    for cx, cy, rx, ry in base.keep:
        radius = _ellipse_radius(xs, ys, (cx * ratio, cy * ratio, rx * ratio, ry * ratio))
        np.minimum(guard, np.clip((radius - 0.85) / 0.2, 0.0, 1.0), out=guard)
    return guard, top


class RelightEngine:
    """CPU relighting of the scan's geometry; no model weights.

    Shading happens at ``shading_long_side`` and the finished 8-bit image is resized to
    ``output_long_side``: every term is smooth at that scale (the denoised scan's finest detail
    is ~0.4% of the long side), so shading the extra pixels would only cost time.
    """

    name = "relight"

    def __init__(
        self, *, output_long_side: int = 1024, shading_long_side: int = 768, wrap: bool = True
    ) -> None:
        if output_long_side < 64:
            raise ValueError("output_long_side must be at least 64 px")
        self.output_long_side = output_long_side
        self.shading_long_side = min(shading_long_side, output_long_side)
        # A soft wrap rising round the cheeks and chin, part of the set like the paper. Each
        # candidate says where it lies (``RenderedCandidate.props``): scoring leaves it out and
        # the house look grades it with the backdrop.
        self.wrap = wrap

    def render(
        self,
        conditioning: Conditioning,
        seeds: list[int],
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> list[RenderedCandidate]:
        if cancel is not None and cancel():
            raise RenderCancelled("render cancelled before it started")
        style = STYLES[conditioning.style]
        surface = _prepare(conditioning, self.shading_long_side)
        output_size = _output_size(conditioning.cues, self.output_long_side)
        albedo = hex_to_linear(conditioning.tone.hex)
        flush_shift = _flush_shift(conditioning.tone.hex)
        finish = _finish(surface, conditioning.tone.hex, output_size, style.monochrome)
        guard = None
        if self.wrap and surface.wrap_base is not None:
            guard = _wrap_guard(surface.wrap_base, output_size)
        palette = (conditioning.background_hex, conditioning.tone.hex)
        candidates: list[RenderedCandidate] = []
        for index, seed in enumerate(seeds):
            if cancel is not None and cancel():
                raise RenderCancelled(f"render cancelled after {index} of {len(seeds)} candidates")
            light = lighting_for_seed(style, seed)
            studio = studio_set_for_seed(conditioning.background_hex, seed, float(light.key_dir[0]))
            skin = _shade(surface, albedo, flush_shift, style, light)
            skin = _soften_unconfident(skin, surface, self.shading_long_side)
            linear = _composite(skin, surface, light, studio, style)
            image = linear_to_srgb_u8(linear)
            if (image.shape[1], image.shape[0]) != output_size:
                image = cv2.resize(image, output_size, interpolation=cv2.INTER_CUBIC)
            image = _apply_finish(image, finish)
            props = None
            if guard is not None:
                layer = _wrap_layer(
                    surface.wrap_base, surface, light, studio, palette, seed, style.monochrome
                )
                image, props = _apply_wrap(image, layer, *guard)
            candidates.append(
                RenderedCandidate(seed=seed, image=image, engine=self.name, props=props)
            )
            if progress is not None:
                progress((index + 1) / len(seeds))
        return candidates
