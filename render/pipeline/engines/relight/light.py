"""Each candidate's light and set: the key, fill and warmth drawn from its seed, the paper and
its pool of light, the skin shading and the composite over the backdrop."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
from coloraide import Color

from render.pipeline.conditioning import Style
from render.pipeline.engines.relight.colour import LUMA, SkinLook
from render.pipeline.engines.relight.raster import wide_blur
from render.pipeline.engines.relight.texture import TEXTURE_SEED

if TYPE_CHECKING:
    from render.pipeline.engines.relight.surface import Surface


# Skin scatters long wavelengths furthest under the surface, so light leaking into the shadow
# side comes back red-orange: this is the colour added near the terminator.
_SUBSURFACE_TINT = np.array([1.0, 0.42, 0.25], dtype=np.float32)


# At half-shadow, × albedo: redder and a little rosier (less green), as a fair newborn's shade
# is pink, not the beige of plaster. The face's mid-tones are balanced back onto the parents'
# tone afterwards (``colour_balance``), so only the shade carries it.
_SHADOW_WARMTH = np.array([0.33, -0.06, -0.07], dtype=np.float32)


_SUBSURFACE = 0.15  # the scatter's strength past the terminator, × albedo


_VIEW = np.array([0.0, 0.0, 1.0], dtype=np.float32)


KEY_FALLOFF = 0.45  # relative brightness change across the frame along the key's direction


_SHADOW_DEPTH = 0.22  # how much key light the baby takes off the backdrop


_SHADOW_REACH = 0.03  # of the long side: how far the backdrop sits behind the baby


_FLUSH_STRENGTH = 0.6  # how far a fully flushed cheek moves toward the rosy tone: felt, not seen


# Deep skin's shade is filled by this × (its form exponent - 1) as an exponent under 1.
_SHADE_FILL = 0.15


_SHEEN_GAIN = 1.6  # style.specular is a fraction of the key's brightness at the sheen's core


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
    falloff: float  # relative brightness change across the frame along the key's direction


@dataclass(frozen=True)
class _Setup:
    """A way of placing the key round the style's own, as a photographer varies a session."""

    azimuth: float  # × the style's key azimuth (0: the key at the camera's height line)
    elevation: float  # degrees added to the style's key elevation
    fill: float  # × the style's fill ratio
    wrap: float  # added to the style's wrap


# The style's own placement; higher and nearer the camera (a loop light: a small shadow off
# the nose); Rembrandt (further round and higher: the far cheek in shade); a lower
# key across the face. Never flat: a face needs some modelling to read at any tone.
_SETUPS = (
    _Setup(1.0, 0.0, 1.0, 0.0),
    _Setup(0.6, 15.0, 1.1, 0.05),
    _Setup(1.6, 8.0, 0.75, -0.1),
    _Setup(0.9, -8.0, 0.9, -0.05),
)


def lighting_for_seed(style: Style, seed: int, facing: int = 0) -> Lighting:
    """One candidate's light: one of the setups round the style's key, on either side, each
    jittered, so any two seeds light the face visibly differently while the style holds.

    ``facing`` is where a turned face's nose points (-1 the image's left, +1 its right, 0 at
    the camera): a photographer keys a turned face from the side it faces, or its features
    fall in the shadow of its own head.
    """
    rng = np.random.default_rng(seed)
    side = 1.0 if rng.random() < 0.5 else -1.0  # key from the viewer's left or right
    if facing:
        side = -float(facing)
    setup = _SETUPS[int(rng.integers(len(_SETUPS)))]
    azimuth = math.radians(side * (style.key_azimuth_deg * setup.azimuth + rng.uniform(-8.0, 8.0)))
    elevation = math.radians(style.key_elevation_deg + setup.elevation + rng.uniform(-6.0, 6.0))
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
    # Small shifts: warmth should be felt, not change the baby's skin colour (the skin is
    # balanced on the tone in this light: ``colour_balance``).
    key_colour = np.array([1.0 + 0.09 * warmth, 1.0, 1.0 - 0.14 * warmth], dtype=np.float32)
    fill_colour = np.array([0.98, 1.0, 1.03], dtype=np.float32)
    return Lighting(
        key_dir=key_dir,
        fill_dir=fill_dir,
        key_colour=key_colour,
        fill_colour=fill_colour,
        key_strength=style.key_strength * float(rng.uniform(0.92, 1.08)),
        fill_strength=style.key_strength
        * style.fill_ratio
        * setup.fill
        * float(rng.uniform(0.8, 1.2)),
        # From a bare strobe's crisp terminator to a big soft box's wrap.
        wrap=float(np.clip(style.wrap + setup.wrap + rng.uniform(-0.15, 0.15), 0.0, 1.0)),
        # A contrasty style sets the key closer: its light falls off faster across the head.
        falloff=KEY_FALLOFF * style.contrast**4,
    )


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


def _pool(shape: tuple[int, ...], studio: StudioSet) -> np.ndarray:
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


def backdrop(matte: np.ndarray, distance_outside: np.ndarray, long_side: int) -> np.ndarray:
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
    dither = np.random.default_rng(TEXTURE_SEED + 1).uniform(-1.0, 1.0, (height, width))
    lit = (1.0 - contact) * (1.0 + 0.003 * dither.astype(np.float32))
    return (lit * (1.0 - matte)).astype(np.float32)


def skin_grain(surface: Surface, look: SkinLook) -> np.ndarray:
    """The skin's grain and mottle for one tone: texture, not form, so on deep skin it is
    raised far less than the drawn marks, or the skin would read as rough or blotched."""
    exponent = look.detail_contrast**0.25
    return surface.texture if exponent == 1.0 else surface.texture**exponent


def raise_detail_lights(luminance: np.ndarray, exponent: float) -> None:
    """Raise the lights of the fine detail (within ~1% of the frame) around the broad shading
    by ``exponent``, in place; its shadows keep their ratios.

    Deep skin shows its forms' small lights (a lid's rim, the ridge of the nose, the lips' bow)
    in steps of lightness as fair skin does only when their ratios are raised. Its shadows are
    not: raised, the scan's leftover ripple and every shallow dip read as grime and bruises on
    deep skin. Its lines are drawn as features, deepened there by ``detail_contrast``.
    """
    broad = wide_blur(luminance, 0.01 * max(luminance.shape))
    np.maximum(broad, 1e-4, out=broad)
    luminance /= broad
    lights = np.maximum(luminance, 1.0)
    luminance /= lights
    np.power(lights, exponent, out=lights)
    luminance *= lights
    luminance *= broad


def shade(
    surface: Surface,
    albedo: np.ndarray,
    flush_shift: np.ndarray,
    style: Style,
    light: Lighting,
    look: SkinLook,
    texture: np.ndarray,
) -> np.ndarray:
    """The skin layer in linear RGB, everywhere (the matte is applied when compositing).
    ``texture`` is the skin's grain for this tone (``skin_grain``), the same for every seed."""
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
    falloff = surface.across_x * (light.falloff * light.key_dir[0])
    falloff = falloff + surface.across_y * (light.falloff * light.key_dir[1])
    falloff += 1.0
    luminance *= falloff
    if look.detail_lights > 1.0:
        raise_detail_lights(luminance, look.detail_lights)
    luminance *= texture

    # Meter the exposure so the face's median shade renders the target tone exactly.
    metered = float(np.median(luminance.ravel()[surface.metering]))
    luminance *= 1.0 / max(metered, 1e-4)
    if style.contrast != 1.0:
        np.maximum(luminance, 1e-4, out=luminance)
        np.power(luminance, style.contrast, out=luminance)
    if look.form_contrast > 1.0:
        # Deep skin is modelled by its lights: the lit side rises, while the shadow side is
        # filled a little (a photographer's stronger fill), so its features stay in view and
        # its shade, in ratio to the median skin, is as open as fair skin's. Deepened instead
        # (an exponent of 1 + 0.3 × (form - 1)), the far cheek and the temples of Monk 10
        # went 27% further under the median than Monk 3's: black blotches, grime.
        np.maximum(luminance, 1e-4, out=luminance)
        lifted = 1.0 - _SHADE_FILL * (look.form_contrast - 1.0)
        np.power(luminance, np.where(luminance > 1.0, look.form_contrast, lifted), out=luminance)
    luminance = _highlight_shoulder(luminance, 0.97 / max(float(albedo.max()), 1e-3))

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
    specular *= look.sheen_core
    specular += look.sheen_broad * sheen
    specular *= surface.specular_mask
    specular *= style.specular * _SHEEN_GAIN * light.key_strength

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
    rows = [
        albedo * colour_light,
        albedo * _SUBSURFACE_TINT * _SUBSURFACE,
        light.key_colour * look.sheen_tint,
        albedo * flush_shift * colour_light * _FLUSH_STRENGTH,
        albedo * _SHADOW_WARMTH,
    ]
    fields = [luminance, subsurface, specular, flushed, warm]
    if look.lit_shift.any():
        # Lit deep skin shows its colour: richer from the median skin up (none in shadow).
        lit = np.clip(luminance - 1.15, 0.0, 0.6)
        lit *= luminance
        rows.append(albedo * look.lit_shift * colour_light)
        fields.append(lit)
    mix = np.stack(rows).astype(np.float32)
    stacked = np.stack(fields, axis=2)
    # Balanced on the skin itself: its cheeks' flush, not the glow the features add round the
    # lips, lids and nose (drawn over the skin, not part of its colour), nor the sheen (the
    # light's colour). So drawing the features never changes the skin's balance.
    picked = stacked.reshape(-1, len(fields))[surface.metering]
    picked[:, 2] = 0.0
    picked[:, 3] = picked[:, 0] * surface.metering_flush
    sample = picked @ mix
    skin = stacked @ mix
    skin *= colour_balance(sample, albedo * colour_light)
    return skin


def colour_balance(sample: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-channel gain that white-balances the skin on the face's mid-tones (``sample``,
    N×3 linear RGB): their median colour takes ``target``'s hue and chroma (the parents' tone
    in the candidate's light), and keeps the lightness the exposure metered.

    The shading's own colour (the warmth of its half-shadows, the scatter past the terminator,
    the cheeks' flush) reaches into the mid-tones and turns the face redder than the swatch; a
    photographer balances on the skin. The shade keeps its warmth relative to it. The
    mid-tones are the 25th to 85th percentile of lightness, as the tone is judged.
    """
    if sample.shape[0] < 16:
        return np.ones(3, np.float32)
    luma = sample @ LUMA
    low, high = np.percentile(luma, [25.0, 85.0])
    middle = np.median(sample[(luma >= low) & (luma <= high)], axis=0)
    want = target * (float(middle @ LUMA) / max(float(target @ LUMA), 1e-6))
    return (want / np.maximum(middle, 1e-6)).astype(np.float32)


_SHOULDER_KNEE = 0.8  # of the ceiling: where the highlights start to roll off
_SHOULDER_BROAD = 0.94  # of the ceiling: the most the broad shading may reach
_SHOULDER_SIGMA = 0.02  # of the long side: the broad shading, wider than a lid or a lip
_GRAIN_SIGMA = 0.002  # of the long side: the skin's grain, finer than any feature


def _shoulder(values: np.ndarray, knee: float, ceiling: float) -> np.ndarray:
    over = values > knee
    values[over] = knee + (ceiling - knee) * np.tanh((values[over] - knee) / (ceiling - knee))
    return values


def _highlight_shoulder(luminance: np.ndarray, ceiling: float) -> np.ndarray:
    """A soft shoulder instead of a hard clip, so pale skin's highlights do not go flat white.

    Fair skin metered to its tone has little room above it: most of a lit face lies in the
    shoulder, where a plain roll-off flattens the lids, lips and creases there too. So the
    shoulder bends the broad shading only (under ``_SHOULDER_BROAD`` of the ceiling) and the
    features' ratios are laid back over it, as a photographer's local tone mapping does. The
    skin's grain is rolled off with the light, as before (bright light washes it out), and a
    last roll-off keeps the brightest detail off the ceiling. Deeper tones, far under their
    ceiling, are untouched."""
    knee = _SHOULDER_KNEE * ceiling
    if float(luminance.max()) <= knee:
        return luminance
    top = _SHOULDER_BROAD * ceiling
    long_side = max(luminance.shape)
    broad = wide_blur(luminance, _SHOULDER_SIGMA * long_side)
    np.maximum(broad, 1e-4, out=broad)
    fine = cv2.GaussianBlur(luminance, (0, 0), _GRAIN_SIGMA * long_side)
    np.maximum(fine, 1e-4, out=fine)
    grain = luminance / fine
    np.maximum(grain, 1e-4, out=grain)
    # The shoulder's slope where the broad light lies: 1 under the knee, toward 0 near the top.
    slope = 1.0 - np.tanh(np.clip((broad - knee) / (top - knee), 0.0, None)) ** 2
    features = fine / broad
    return _shoulder(_shoulder(broad, knee, top) * features * grain**slope, top, ceiling)


def composite(
    skin: np.ndarray, surface: Surface, light: Lighting, studio: StudioSet, style: Style
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


def _cast_shadow(surface: Surface, light: Lighting) -> np.ndarray:
    """The baby's soft shadow on the backdrop, thrown away from the key light."""
    height, width = surface.shadow_source.shape
    reach = _SHADOW_REACH * max(height, width)
    shift_x, shift_y = -light.key_dir[0] * reach, light.key_dir[1] * reach
    matrix = np.array([[1.0, 0.0, shift_x], [0.0, 1.0, shift_y]], dtype=np.float32)
    return cv2.warpAffine(
        surface.shadow_source, matrix, (width, height), borderMode=cv2.BORDER_CONSTANT
    )


def soften_unconfident(image: np.ndarray, surface: Surface, long_side: int) -> np.ndarray:
    """Blur what vision did not trust, so no detail is invented there."""
    if surface.soften_box is None:
        return image
    y0, y1, x0, x1 = surface.soften_box
    region = image[y0:y1, x0:x1]
    blurred = wide_blur(region, 0.012 * long_side)
    weight = surface.unconfident[y0:y1, x0:x1, None]
    image[y0:y1, x0:x1] = region + (blurred - region) * weight
    return image
