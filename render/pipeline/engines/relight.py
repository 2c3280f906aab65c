"""The default engine: re-shade the scan's own surface as newborn skin under studio light.

No weights and no generative model: the geometry is exactly what vision measured (depth and
normals), the colour is exactly the parents' blended tone, and the light is a soft studio key
and fill. Where vision was not confident the surface is blurred flat, so the render never shows
detail the scan did not see. Seeds only move the light and its warmth, which is why five
candidates differ while all keep the same face.
"""

from __future__ import annotations

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
_VIEW = np.array([0.0, 0.0, 1.0], dtype=np.float32)
_KEY_FALLOFF = 0.45  # relative brightness change across the frame along the key's direction
_SHADOW_DEPTH = 0.22  # how much key light the baby takes off the backdrop
_SHADOW_REACH = 0.03  # of the long side: how far the backdrop sits behind the baby

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
        fill_strength=style.key_strength * style.fill_ratio * float(rng.uniform(0.85, 1.15)),
        wrap=float(np.clip(style.wrap + rng.uniform(-0.12, 0.12), 0.0, 1.0)),
    )


@dataclass(frozen=True, eq=False)
class _Surface:
    """Seed-independent inputs, prepared once per render call at output resolution."""

    normals: np.ndarray  # H×W×3, softened where vision was not confident
    occlusion_detail: np.ndarray  # H×W, crease occlusion × scan micro-shading × roundness
    across_x: np.ndarray  # 1×W, -0.5..0.5 left to right, for the key's falloff across the head
    across_y: np.ndarray  # H×1, -0.5..0.5 bottom to top
    specular_mask: np.ndarray  # H×W, nose tip and forehead, 0 where not confident
    subsurface_weight: np.ndarray  # H×W, 0 where not confident
    skin_alpha: np.ndarray  # H×W subject matte
    metering: np.ndarray  # flat indices of confident face pixels exposure is metered on
    unconfident: np.ndarray  # H×W 0..1
    soften_box: tuple[int, int, int, int] | None  # y0, y1, x0, x1 around unconfident pixels
    background_behind: np.ndarray  # H×W×3 linear backdrop × (1 - skin_alpha)
    shadow_source: np.ndarray  # H×W blurred subject matte, shifted per light to cast a shadow


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


def _gaussian_spot(
    shape: tuple[int, int], centre: tuple[float, float], radius: float
) -> np.ndarray:
    ys = np.arange(shape[0], dtype=np.float32)[:, None]
    xs = np.arange(shape[1], dtype=np.float32)[None, :]
    return np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2.0 * radius**2))


def _specular_mask(cues: StructuralCues, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Where newborn skin shines under a key: the nose tip and the forehead dome."""
    nose = _anchor_xy(cues, "nose_tip", scale)
    left, right = _anchor_xy(cues, "eye_left", scale), _anchor_xy(cues, "eye_right", scale)
    if nose is None or left is None or right is None:
        # Without anchors the nearest surface (the largest depth) is where a highlight sits.
        depth = _resize(cues.depth.astype(np.float32), (shape[1], shape[0]))
        return np.clip((depth - 0.6) / 0.4, 0.0, 1.0) ** 2
    eye_gap = math.hypot(right[0] - left[0], right[1] - left[1])
    eye_mid = ((left[0] + right[0]) / 2.0, (left[1] + right[1]) / 2.0)
    forehead = (eye_mid[0], eye_mid[1] - 0.9 * eye_gap)
    mask = _gaussian_spot(shape, nose, 0.28 * eye_gap)
    mask = np.maximum(mask, 0.8 * _gaussian_spot(shape, forehead, 0.55 * eye_gap))
    return mask


def _roundness(subject: np.ndarray, long_side: int) -> np.ndarray:
    """Darken towards the silhouette, where a round head turns away from every light.

    Vision's normals flatten out near the outline (its depth is partly shading), so the turn is
    taken from the distance to the outline instead.
    """
    inside = (subject > 0.5).astype(np.uint8)
    distance = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    ramp = np.clip(distance / (0.06 * long_side), 0.0, 1.0)
    return 0.72 + 0.28 * (1.0 - (1.0 - ramp) ** 2)


def _prepare(conditioning: Conditioning, long_side: int) -> _Surface:
    cues = conditioning.cues
    size = _output_size(cues, long_side)
    width, height = size
    scale = width / cues.depth.shape[1]

    low_confidence = np.clip(_resize(cues.low_confidence.astype(np.float32), size), 0.0, 1.0)
    subject = np.clip(_resize(cues.subject.astype(np.float32), size), 0.0, 1.0)
    # Metered before Fix Anatomy grows the problem areas, so a fix never changes the exposure.
    metering = (low_confidence < 0.5) & (subject > 0.9)
    if conditioning.correction_strength > 0.0:
        # Fix Anatomy: the problem areas grow and get flatter, so whatever looked wrong there
        # (a half-seen ear, a hand's edge read as a cheek) melts into smooth skin.
        strength = conditioning.correction_strength
        grown = cv2.dilate(low_confidence, np.ones((3, 3), np.uint8), iterations=1)
        grown = _wide_blur(grown, (0.01 + 0.04 * strength) * long_side)
        low_confidence = np.clip(np.maximum(low_confidence, grown) * (1.0 + 2.0 * strength), 0, 1)
    confident = 1.0 - low_confidence
    depth = np.clip(_resize(cues.depth.astype(np.float32), size), 0.0, 1.0)

    # Normals: lightly smoothed where trusted; heavily where not, so nothing sharp appears there.
    normals = _resize(cues.normals.astype(np.float32), size)
    # Vision's normals carry the scan's speckle as bumps; a newborn's skin has none at this scale.
    fine = _wide_blur(normals, max(1.0, 0.009 * long_side))
    coarse = _wide_blur(normals, 0.04 * long_side)
    normals = fine * confident[..., None] + coarse * (1.0 - confident[..., None])
    normals /= np.maximum(np.linalg.norm(normals, axis=2, keepdims=True), 1e-6)

    # Creases are where the surface sits below its neighbourhood: they see less of the sky.
    # Measured on a smoothed depth: speckle pits in the depth map are not creases.
    smooth_depth = _wide_blur(depth, 0.006 * long_side)
    around = _wide_blur(depth, 0.02 * long_side)
    occlusion = 1.0 - np.clip((around - smooth_depth) * 6.0, 0.0, 0.45)
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
    detail = np.exp(np.clip(band, -0.6, 0.6) * 0.18 * confident * (subject > 0.5))

    skin_alpha = cv2.GaussianBlur(subject, (0, 0), 0.002 * long_side + 0.5)
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
        metering = subject > 0.5 if (subject > 0.5).any() else np.ones_like(metering)
    # A median over ~20k evenly spread pixels is the median of them all, to well within a level.
    metering_index = np.flatnonzero(metering)
    metering_index = metering_index[:: max(1, metering_index.size // 20000)]

    # A studio paper backdrop: the brand colour, a touch brighter behind the head.
    background_linear = hex_to_linear(conditioning.background_hex)
    ys = (np.arange(height, dtype=np.float32) / height - 0.45)[:, None]
    xs = (np.arange(width, dtype=np.float32) / width - 0.5)[None, :]
    falloff = 1.04 - 0.08 * np.clip(np.sqrt(xs**2 + ys**2) / 0.7, 0.0, 1.0)
    behind = (falloff * (1.0 - skin_alpha))[..., None] * background_linear[None, None, :]

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
        occlusion_detail=(occlusion * detail * _roundness(subject, long_side)).astype(np.float32),
        across_x=((np.arange(width, dtype=np.float32) - width / 2) / max(width, height))[None, :],
        across_y=((height / 2 - np.arange(height, dtype=np.float32)) / max(width, height))[:, None],
        specular_mask=(_specular_mask(cues, (height, width), scale) * confident).astype(np.float32),
        subsurface_weight=confident.astype(np.float32),
        skin_alpha=skin_alpha.astype(np.float32),
        metering=metering_index,
        unconfident=unconfident.astype(np.float32),
        soften_box=soften_box,
        background_behind=behind.astype(np.float32),
        shadow_source=_wide_blur(subject, 0.025 * long_side).astype(np.float32),
    )


def _shade(surface: _Surface, albedo: np.ndarray, style: Style, light: Lighting) -> np.ndarray:
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
    gloss = normals @ half
    np.maximum(gloss, 0.0, out=gloss)
    specular = gloss * gloss
    specular *= gloss
    specular *= specular
    specular *= specular
    specular *= specular  # ^24: a broad, soft highlight, not an oily one
    specular *= surface.specular_mask
    specular *= style.specular * 0.6 * light.key_strength

    total = light.key_strength + light.fill_strength
    colour_light = light.key_colour * light.key_strength + light.fill_colour * light.fill_strength
    colour_light /= total
    # One matrix product mixes the three scalar fields into RGB and applies the subject matte.
    mix = np.stack(
        [albedo * colour_light, albedo * _SUBSURFACE_TINT * 0.10, light.key_colour]
    ).astype(np.float32)
    fields = np.stack([luminance, subsurface, specular], axis=2)
    fields *= surface.skin_alpha[..., None]
    image = fields @ mix
    lit_backdrop = _cast_shadow(surface, light)
    lit_backdrop *= -_SHADOW_DEPTH
    lit_backdrop += 1.0
    image += surface.background_behind * lit_backdrop[..., None]
    if style.monochrome:
        grey = image @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
        image = np.repeat(grey[..., None], 3, axis=2)
    return image


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


class RelightEngine:
    """CPU relighting of the scan's geometry; no model weights.

    Shading happens at ``shading_long_side`` and the finished 8-bit image is resized to
    ``output_long_side``: every term is smooth at that scale (the denoised scan's finest detail
    is ~0.4% of the long side), so shading the extra pixels would only cost time.
    """

    name = "relight"

    def __init__(self, *, output_long_side: int = 1024, shading_long_side: int = 768) -> None:
        if output_long_side < 64:
            raise ValueError("output_long_side must be at least 64 px")
        self.output_long_side = output_long_side
        self.shading_long_side = min(shading_long_side, output_long_side)

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
        candidates: list[RenderedCandidate] = []
        for index, seed in enumerate(seeds):
            if cancel is not None and cancel():
                raise RenderCancelled(f"render cancelled after {index} of {len(seeds)} candidates")
            light = lighting_for_seed(style, seed)
            linear = _shade(surface, albedo, style, light)
            linear = _soften_unconfident(linear, surface, self.shading_long_side)
            image = linear_to_srgb_u8(linear)
            if (image.shape[1], image.shape[0]) != output_size:
                image = cv2.resize(image, output_size, interpolation=cv2.INTER_CUBIC)
            candidates.append(RenderedCandidate(seed=seed, image=image, engine=self.name))
            if progress is not None:
                progress((index + 1) / len(seeds))
        return candidates
