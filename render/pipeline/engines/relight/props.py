"""Props of the set: a seeded knit or muslin wrap rising round the cheeks and chin, clear of
the eyes, nose and mouth, and on some candidates a knit hat over the crown, clear of the brows.
Each candidate says where they lie (``RenderedCandidate.props``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
from coloraide import Color

from render.pipeline.engines.relight.colour import linear_to_srgb_u8
from render.pipeline.engines.relight.raster import normalise, resize, wide_blur
from render.pipeline.engines.relight.texture import pores

if TYPE_CHECKING:
    from render.pipeline.engines.relight.face import FaceLayout
    from render.pipeline.engines.relight.features import FeaturePlan
    from render.pipeline.engines.relight.light import Lighting, StudioSet
    from render.pipeline.engines.relight.surface import Surface


# The wrap is part of the set, like the paper: a prop, never the baby. It may be drawn where
# the scan saw nothing (the bottom of the frame, over the outline), but it keeps clear of the
# eyes, nose and mouth, which only the scan may show.
_WRAP_EDGE_PX = 1.2  # the wrap's edge ramp at shading resolution; the knit adds its own fuzz


_WRAP_CONTACT = 0.45  # how much light the wrap's edge takes off the skin right beside it


_WRAP_STEP = (0.12, 0.3)  # OKLab lightness between the wrap and the skin, either way
_WRAP_DARKEST = 0.3  # OKLab lightness: darker cloth reads as black, not as a colour


_WRAP_AMBIENT = 0.22  # the fabric's share of light from the room, as the skin's


_WRAP_SHADOW_PROP = 0.08  # the wrap's shadow counts fully as set where it takes this much light


_PROP_FLOOR = 0.02  # props below this (a shadow taking under 0.2% of the light) are not marked


@dataclass(frozen=True, eq=False)
class WrapBase:
    """Seed-independent geometry the wrap is laid on, at shading resolution."""

    signed: np.ndarray  # H×W signed distance (px) to the clean silhouette, + inside, blurred
    outline: np.ndarray  # the same, unblurred: where the head itself is
    gap: float  # the face's scale (the eye gap, px)
    centre_x: float  # where the neckline dips lowest: under the mouth
    neck_y: float  # the neckline's lowest row: a clear margin below the mouth and lips
    side_y: float  # the row the wrap rises to along the sides of the face: cheek height
    sides: tuple[float, float]  # the silhouette's left and right x at that row
    keep: tuple[tuple[float, float, float, float], ...]  # (cx, cy, rx, ry) kept clear
    top: int  # the first row the wrap or its shadow can reach
    facing: int = 0  # where a turned face's nose points (face.nose_side): -1 left, +1 right


def wrap_base(
    matte: np.ndarray,
    signed: np.ndarray,
    layout: FaceLayout | None,
    plan: FeaturePlan | None,
    clear: tuple[tuple[float, float], ...],
    chin: tuple[float, float] | None,
    facing: int = 0,
) -> WrapBase | None:
    """Where the wrap may rise: round the cheeks and under the chin, clear of the eyes, nose
    and mouth (``clear``: every one vision found, sure or not) and of the drawn lips."""
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
        if plan is not None and plan.mouth is not None:
            # The drawn lips: the upper lip's bow, the fuller lower lip and its shadow.
            lip_top = min(lip_top, plan.mouth.line.yc - 0.1 * gap)
            lip_bottom = max(lip_bottom, plan.mouth.line.yc + 0.16 * gap)
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
        # A turned face still shows its features: the wrap stays under and round them.
        for x, y in clear:
            keep.append((x, y, 0.35 * gap, 0.3 * gap))
            neck_y = max(neck_y, y + 0.35 * gap)
            side_y = max(side_y, y + 0.3 * gap)
        if chin is not None:
            neck_y = max(neck_y, chin[1] + 0.16 * gap)
    row = int(np.clip(round(side_y), 0, height - 1))
    cols = np.nonzero(matte[row] > 0.5)[0]
    if cols.size == 0:
        cols = np.nonzero(matte.max(axis=0) > 0.5)[0]
    top = int(side_y - 0.2 * gap - 0.04 * long_side)
    return WrapBase(
        # The fabric follows the head's broad outline, not every dent of it.
        signed=wide_blur(signed, 0.025 * long_side).astype(np.float32),
        outline=signed.astype(np.float32),
        gap=gap,
        centre_x=mouth_x,
        neck_y=neck_y,
        side_y=side_y,
        sides=(float(cols.min()), float(cols.max())),
        keep=tuple(keep),
        top=int(np.clip(top, 0, height - 1)),
        facing=facing,
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
    """A shade of the studio's palette (its hue and a richer chroma) for the wrap or the hat.

    Its lightness sits a step from the baby's own, as a photographer picks a wrap to go with
    the skin: a step is enough for cloth to read as cloth beside skin, and keeping it to a
    step keeps the wrap from outshouting the face, which is what the portrait and its scoring
    are about. The step is in OKLab lightness, which the eye sees evenly, so it is the same at
    every tone: a step relative to the skin's lightness shrank to nothing on deep skin, where
    a dark wrap and hat merged with the head into one dark shape. Lighter or darker at random
    where both have room for a step (under a light paper, above a near-black), else whichever
    has, the step cut to the room there.
    """
    lightness, chroma, hue = Color(background_hex).convert("oklch").coords(nans=False)
    skin = Color(tone_hex).convert("oklch").coords(nans=False)[0]
    paper_l = Color("srgb-linear", [float(c) for c in paper]).convert("oklch").coords(nans=False)[0]
    step = rng.uniform(_WRAP_STEP[0], _WRAP_STEP[1])
    # Lighter cloth stays under a light paper (or it reads as a hole in the set); on a paper
    # darker than the skin it may rise to a cream.
    ceiling = 0.92 if paper_l < skin else min(paper_l - 0.05, 0.92)
    rooms = {1.0: ceiling - skin, -1.0: skin - _WRAP_DARKEST}
    fitting = [side for side, room in rooms.items() if room >= _WRAP_STEP[0]]
    if fitting:
        side = fitting[0] if len(fitting) == 1 else (1.0 if rng.random() < 0.5 else -1.0)
        step = min(step, rooms[side])  # a step at least, never past the limits
    else:  # no room for a step either way: the side with more, a full step
        side = max(rooms, key=lambda key: rooms[key])
    shade = skin + side * step
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


def wrap_layer(
    base: WrapBase,
    surface: Surface,
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
    # Kept clear only where the head is: past a turned face's outline a nose's or a mouth's
    # ellipse would open a hole of paper between the chin and the wrap.
    # The fabric laps over the head's soft rim there, or the rim shows as a light line.
    outline = base.outline[top:] - 1.5
    for ellipse in base.keep:
        clear = (1.0 - _ellipse_radius(xs, ys, ellipse)) * min(ellipse[2], ellipse[3])
        # Rounded where the kept ellipse meets the neckline: a hard max left a notch there.
        face = -_smooth_min(-face, -np.minimum(clear, outline), 0.08 * gap)
    # Its top: highest beside the cheeks, falling off toward the frame's sides.
    left, right = base.sides
    peaks = base.side_y + gap * rng.uniform(-0.08, 0.15, size=2)
    if base.facing:
        # A turned face's outline on the side it faces is its profile (brow, nose, lips, chin):
        # the wrap rises there only to under the chin, or it would cover them from the side.
        near = 0 if base.facing < 0 else 1
        peaks[near] = max(peaks[near], base.neck_y - 0.1 * gap)
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
            depth_in - ring, rng.uniform(0.7, 1.1), rng.choice([-1.0, 1.0]), 0.35
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
        fold = _fold(across, gap * rng.uniform(0.07, 0.12), rng.choice([-1.0, 1.0]), 0.35)
        relief += thick * rng.uniform(0.8, 1.4) * fold * taper
    if rng.random() < 0.75:
        sag = rng.uniform(-0.15, 0.2) * gap * (dx / gap) ** 2
        line = base.neck_y + gap * rng.uniform(0.3, 0.55) + rng.uniform(-0.2, 0.2) * dx + sag
        fade = np.exp(-((dx / (1.4 * gap)) ** 4))
        fold = _fold(ys - line, gap * rng.uniform(0.07, 0.11), rng.choice([-1.0, 1.0]), 0.35)
        relief += thick * rng.uniform(0.8, 1.3) * fold * fade
    grid = (max(2, (height - top) // 96 + 2), max(2, width // 96 + 2))
    lumps = rng.standard_normal(grid).astype(np.float32)
    relief += 0.2 * thick * cv2.resize(lumps, (width, height - top), interpolation=cv2.INTER_CUBIC)
    relief = cv2.GaussianBlur(relief.astype(np.float32), (0, 0), 1.5)

    # Lit by the candidate's own key and fill, as the skin is; troughs see less of the room.
    luminance = _fabric_luminance(_relief_normals(relief), light, surface, top)
    hollow = np.clip((wide_blur(relief, 0.6 * thick) - relief) / thick, 0.0, None)
    luminance *= 1.0 - np.clip(0.5 * hollow, 0.0, 0.35)
    # Where it tucks against the cheek the fabric's own edge sees less of the room too.
    luminance *= 1.0 - 0.22 * np.exp(-depth_in / 0.3)
    colour = _fabric_colour(luminance, light, albedo, monochrome)
    # Depth of field: the fabric nearest the lens, at the frame's bottom, is out of focus.
    soft = _bottom_softness(ys, height, long_side)
    blurred = cv2.GaussianBlur(colour, (0, 0), 0.007 * long_side)
    colour += (blurred - colour) * soft[..., None]

    # Right at the edge a crease of shadow, then a broader soft one where the fabric stands
    # between the cheek and the room.
    shadow = wide_blur(coverage, 0.004 * long_side) + wide_blur(coverage, 0.014 * long_side)
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


def _relief_normals(relief: np.ndarray) -> np.ndarray:
    """Unit normals (x right, y up, z out) of a height field in pixels."""
    slope_x = cv2.Sobel(relief, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    slope_y = cv2.Sobel(relief, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    normals = np.dstack([-slope_x, slope_y, np.ones_like(slope_x)])
    normalise(normals)
    return normals


def _fabric_luminance(
    normals: np.ndarray, light: Lighting, surface: Surface, top: int
) -> np.ndarray:
    """How much light cloth facing ``normals`` takes from the candidate's key, fill and room,
    1 where it faces the camera, with the key's falloff across the frame (rows ``top`` on)."""
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
    rows = surface.across_y[top : top + normals.shape[0]]
    falloff = surface.across_x * (light.falloff * light.key_dir[0])
    falloff = falloff + rows * (light.falloff * light.key_dir[1])
    luminance *= falloff + 1.0
    return luminance


def _fabric_colour(
    luminance: np.ndarray, light: Lighting, albedo: np.ndarray, monochrome: bool
) -> np.ndarray:
    total = light.key_strength + light.fill_strength
    tint = (light.key_colour * light.key_strength + light.fill_colour * light.fill_strength) / total
    colour = luminance[..., None] * (albedo * tint)
    if monochrome:
        grey = colour @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
        colour = np.repeat(grey[..., None], 3, axis=2)
    return colour


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
    fibre = pores(shape)  # a fixed fine grain: the fibres' fuzz
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


def apply_wrap(
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
    coverage = resize(layer.coverage, size) * guard
    shadow = resize(layer.shadow, size) * guard
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


def wrap_guard(base: WrapBase, output_size: tuple[int, int]) -> tuple[np.ndarray, int]:
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
    # Only the face is guarded: past the outline of a turned face (a nose's or mouth's ellipse
    # reaching beyond the cheek) the wrap stays, or the paper would show through a hole in it.
    outline = cv2.resize(base.outline[int(base.top) :], (width, height - top)) * ratio
    np.maximum(guard, np.clip(1.0 - outline / 2.0, 0.0, 1.0), out=guard)
    return guard, top


# A knit hat is the other prop of a newborn session: on some candidates (its own seeded draw)
# it covers the crown, where a scan is least sure of the head (the placenta or a wall pressed
# on it, a rim dark with speckle), and leaves the brow, eyes and face as the scan saw them.
_HAT_SHARE = 0.4  # of candidates
_HAT_EDGE_PX = 1.2


@dataclass(frozen=True, eq=False)
class HatBase:
    """Seed-independent geometry a hat is laid on, at shading resolution."""

    outline: np.ndarray  # H×W signed distance (px) to the head's outline, + inside
    gap: float  # the eye gap (px)
    centre_x: float  # the face's middle: where the brim sits highest
    brim_y: float  # the brim's highest row: well above the brows
    half_width: float  # the head's half width at the brim
    eyes: tuple[tuple[float, float], ...]  # kept clear with a margin, whatever the seed
    edge_on: bool = False  # a profile: behind the near eye the brim falls to the nape


def _head_only(outline: np.ndarray, at: tuple[float, float]) -> np.ndarray | None:
    """``outline`` with every piece of the subject but the one at ``at`` (the head) far
    outside: a hand or foot above the eyes, apart from the head, is no crown to knit over."""
    inside = (outline > 0).astype(np.uint8)
    x, y = int(round(at[0])), int(round(at[1]))
    if not (0 <= y < inside.shape[0] and 0 <= x < inside.shape[1]) or not inside[y, x]:
        return None
    _count, labels = cv2.connectedComponents(inside, connectivity=8)
    far = -float(max(outline.shape))
    return np.where(labels == labels[y, x], outline, np.minimum(outline, far)).astype(np.float32)


def hat_base(outline: np.ndarray, layout: FaceLayout | None) -> HatBase | None:
    """Where a hat may sit: on the crown, its brim a forehead's height above the eyes; None
    without a face layout (a profile) or when the frame leaves no crown above the brow."""
    if layout is None:
        return None
    gap = layout.eye_gap
    eye_y = (layout.eye_left[1] + layout.eye_right[1]) / 2.0
    head = _head_only(outline, ((layout.eye_left[0] + layout.eye_right[0]) / 2.0, eye_y))
    if head is None:
        return None
    outline = head
    brim_y = eye_y - 0.55 * gap
    row = int(round(brim_y))
    if row < 1 or row >= outline.shape[0]:
        return None
    cols = np.nonzero(outline[row] > 0)[0]
    if cols.size < 2:
        return None
    return HatBase(
        outline=outline.astype(np.float32),
        gap=gap,
        centre_x=(layout.eye_left[0] + layout.eye_right[0]) / 2.0,
        brim_y=brim_y,
        half_width=max(float(cols.max() - cols.min()) / 2.0, gap),
        eyes=(layout.eye_left, layout.eye_right),
    )


def profile_hat_base(
    outline: np.ndarray, eye: tuple[float, float], nose: tuple[float, float]
) -> HatBase | None:
    """Where a hat may sit on a face seen edge-on: the brim highest over the brow at the
    front, falling toward the back of the head, clear above the near eye (placed roughly by
    the silhouette reader, so the brim keeps the same margin above it as on a frontal face)."""
    gap = 1.4 * math.hypot(eye[0] - nose[0], eye[1] - nose[1])  # a frontal eye gap's worth
    brim_y = eye[1] - 0.55 * gap
    head = _head_only(outline, eye)
    if head is None:
        return None
    outline = head
    row = int(round(brim_y))
    if gap < 4.0 or row < 1 or row >= outline.shape[0]:
        return None
    cols = np.nonzero(outline[row] > 0)[0]
    if cols.size < 2:
        return None
    front = float(cols.max()) if nose[0] > eye[0] else float(cols.min())
    return HatBase(
        outline=outline.astype(np.float32),
        gap=gap,
        centre_x=front,
        brim_y=brim_y,
        half_width=max(float(cols.max() - cols.min()), gap),  # front to back: falls all the way
        eyes=(eye,),
        edge_on=True,
    )


def hat_layer(
    base: HatBase,
    surface: Surface,
    light: Lighting,
    studio: StudioSet,
    palette: tuple[str, str],
    seed: int,
    monochrome: bool,
) -> _WrapLayer | None:
    """One candidate's knit hat (rows 0 to the frame's bottom), or None when its seed draws
    none. It matches the candidate's wrap: the same shade, as a session's set is chosen."""
    rng = np.random.default_rng([seed, 3])
    if rng.random() >= _HAT_SHARE:
        return None
    albedo = _wrap_albedo(palette[0], palette[1], studio.backdrop, np.random.default_rng([seed, 2]))
    height, width = base.outline.shape
    gap = base.gap
    ys = np.arange(height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]
    across = (xs - base.centre_x) / base.half_width
    # The brim rings the head: highest over the brow, lower toward the temples, a little
    # askew; the knit stands a little proud of the head all round the crown.
    brim = (
        base.brim_y
        + gap * rng.uniform(-0.05, 0.05)
        + gap * rng.uniform(0.9, 1.3) * across**2
        + gap * rng.uniform(-0.06, 0.06) * across
    )
    for eye_x, eye_y in base.eyes:
        # Never down to the brows: over each eye it keeps above an ellipse round the eye and
        # its brow; past the eye's outer corner it may come down over the temple.
        span = (xs - eye_x) / (0.7 * gap)
        clear = 0.1 + 0.35 * np.clip(1.0 - span**2, 0.0, 1.0) ** 0.75  # no corner at its end
        if base.edge_on:  # past the temple, the back of a head seen edge-on, it falls lower
            clear -= 2.0 * np.clip(np.abs(span) - 1.5, 0.0, 1.0) ** 2
        brim = _smooth_min(brim, eye_y - gap * clear, 0.2 * gap)  # eased, not kinked
    proud = gap * rng.uniform(0.06, 0.1)
    # px into the hat from its edge; rounded where the brim meets the sides
    inside = _smooth_min(brim - ys, base.outline + proud, 0.25 * gap)
    coverage = np.clip(inside / _HAT_EDGE_PX + 0.5, 0.0, 1.0)
    if coverage.max() < 0.5:
        return None

    # Its form: the crown's dome, rounded over at every edge, and a turned-up cuff of ribbed
    # knit along the brim with a crease where it folds back onto the hat.
    reach = max(float(np.clip(inside, 0.0, None).max()), 1.0)
    dome_radius = min(0.9 * base.half_width, reach)
    d = np.clip(inside / dome_radius, 0.0, 1.0)
    relief = dome_radius * 0.7 * np.sqrt(np.clip(1.0 - (1.0 - d) ** 2, 0.0, 1.0))
    cuff = gap * rng.uniform(0.28, 0.4)
    t = (brim - ys) / cuff
    in_cuff = (t > 0.0) & (t < 1.0)
    thick = gap * rng.uniform(0.07, 0.1)
    relief += thick * np.where(in_cuff, np.sqrt(np.clip(np.sin(np.pi * t), 0.0, 1.0)), 0.0)
    relief -= 0.6 * thick * np.exp(-(((t - 1.0) / 0.1) ** 2))
    ribs = np.cos(2.0 * np.pi * (xs - base.centre_x) / (gap * rng.uniform(0.05, 0.07)))
    relief += 0.05 * thick * ribs * in_cuff
    grid = (max(2, height // 96 + 2), max(2, width // 96 + 2))
    lumps = rng.standard_normal(grid).astype(np.float32)
    relief += 0.15 * thick * cv2.resize(lumps, (width, height), interpolation=cv2.INTER_CUBIC)
    relief = cv2.GaussianBlur(relief.astype(np.float32), (0, 0), 1.2)

    luminance = _fabric_luminance(_relief_normals(relief), light, surface, 0)
    hollow = np.clip((wide_blur(relief, 0.6 * thick) - relief) / thick, 0.0, None)
    luminance *= 1.0 - np.clip(0.5 * hollow, 0.0, 0.35)
    colour = _fabric_colour(luminance, light, albedo, monochrome)
    long_side = max(height, width)
    # The brim's shadow on the brow: a crease right under it, then a broader soft one.
    shadow = wide_blur(coverage, 0.004 * long_side) + wide_blur(coverage, 0.012 * long_side)
    shadow *= 0.5 * _WRAP_CONTACT * (1.0 - coverage)
    shadow *= np.clip(base.outline / 2.0, 0.0, 1.0)  # on the skin, not on the paper
    knit = _Knit(
        kind="knit",
        period=float(rng.uniform(0.005, 0.0065)),
        angle=float(rng.uniform(-0.08, 0.08)),
        strength=float(rng.uniform(0.07, 0.1)),
    )
    return _WrapLayer(
        top=0,
        coverage=coverage.astype(np.float32),
        colour=colour.astype(np.float32),
        shadow=shadow.astype(np.float32),
        knit=knit,
    )
