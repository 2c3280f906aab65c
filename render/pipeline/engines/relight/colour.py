"""Colour maths for the relight engine: linear light and sRGB, and the tone's own shifts
(flush, lips, sheen) taken in OKLCh so they keep the parents' tone on target."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from coloraide import Color

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


def lip_gain(tone_hex: str) -> np.ndarray:
    """Per-channel linear gain that turns the skin tone into a newborn's lip colour."""
    lightness, chroma, hue = Color(tone_hex).convert("oklch").coords(nans=False)
    rosy_hue = hue + 0.5 * (((18.0 - hue) + 180.0) % 360.0 - 180.0)
    lip = Color("oklch", [lightness - 0.045, chroma * 1.05 + 0.014, rosy_hue]).fit("srgb")
    linear = np.array(lip.convert("srgb-linear").coords(nans=False), dtype=np.float32)
    return np.clip(linear, 1e-4, None) / np.maximum(hex_to_linear(tone_hex), 1e-4)


def flush_shift(albedo_hex: str) -> np.ndarray:
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


# OKLab lightness of Monk 3 (#f7ead0): the fair tone the others' detail is matched to.
_REFERENCE_LIGHTNESS = 0.9406
LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


@dataclass(frozen=True)
class SkinLook:
    """How the studio light treats one skin tone, so every tone reads as lit skin."""

    detail_contrast: float  # exponent on the drawn marks' ratios (lid lines, nostrils, grain)
    detail_lights: float  # exponent on the lights of the shaded fine detail (ridges, rims)
    form_contrast: float  # exponent on the broad shading's ratios (the head's forms)
    sheen_tint: np.ndarray  # RGB per unit of the sheen's light (luminance 1)
    sheen_core: float  # the highlight's strength, × the style's specular
    sheen_broad: float  # the soft box's broad sheen around it, × the style's specular
    lit_shift: np.ndarray  # RGB relative change at full light: lit deep skin shows its colour
    feature_light: float  # × the light the features catch (a lid's, the lower lip's, the tip's)


def skin_look(tone_hex: str) -> SkinLook:
    """The light's treatment of ``tone_hex``.

    What the eye sees is the step in lightness (OKLab L, about the cube root of light), not
    the ratio of light: a crease that takes a fifth of the light off the skin is a step of
    ~0.07 L on fair skin (L 0.94) and ~0.02 L on the deepest (L 0.27). So on deeper tones the
    drawn marks' ratios (lid lines, nostrils, pores) are raised by about L_ref / L (a little
    less: deep skin keeps some softness), the lights of the shaded fine detail by its 1.2th
    power (its shadows are not raised: on deep skin they read as grime), and the broad forms'
    by its 0.6th power, as a photographer lights deep skin with more modelling; fair tones
    keep their own (1.0). The median skin stays the parents' tone (exposure is metered
    after).

    Skin's surface reflects about the same light whatever its tone, so a sheen at fair skin's
    strength over deep skin is several times the skin's own light: a grey film, the "ashy"
    look. On deep skin the broad sheen is mostly taken away and the highlight kept, tinted a
    light golden version of the tone's own hue as a portrait photographer keeps it, and the
    lit skin shows more of the tone's own colour.
    """
    lightness, chroma, hue = Color(tone_hex).convert("oklch").coords(nans=False)
    ratio = _REFERENCE_LIGHTNESS / max(lightness, 0.05)
    detail = float(np.clip(ratio**0.95, 1.0, 3.2))
    lights = float(np.clip(ratio**1.2, 1.0, 4.4))
    form = float(np.clip(ratio**0.6, 1.0, 2.2))
    warm = Color("oklch", [0.8, min(chroma * 2.0 + 0.06, 0.1), hue - 5.0]).fit("srgb")
    linear = np.array(warm.convert("srgb-linear").coords(nans=False), dtype=np.float32)
    linear /= max(float(linear @ LUMA), 1e-4)
    deep = float(np.clip((0.75 - lightness) / 0.45, 0.0, 1.0))
    tint = (1.0 - deep) * np.ones(3, np.float32) + deep * linear
    luminance = float(hex_to_linear(tone_hex) @ LUMA)
    core = float(np.clip(0.3 + 1.3 * luminance, 0.3, 1.0))
    broad = 0.35 * core * (1.0 - 0.8 * deep)
    # Deep skin in light shows its own colour (a warm brown); a near-neutral swatch shaded as
    # a grey would read as ash. The lit skin of a deep, near-neutral tone turns a little
    # richer (to a skin's chroma at least) at the tone's own lightness; the median skin (the
    # parents' tone, metered) barely moves, and a tone with colour of its own keeps it.
    rich = Color("oklch", [lightness, max(chroma, 0.04), hue]).fit("srgb")
    rich_linear = np.array(rich.convert("srgb-linear").coords(nans=False), dtype=np.float32)
    albedo = np.maximum(hex_to_linear(tone_hex), 1e-4)
    lit_shift = deep * (np.clip(rich_linear, 0.0, None) / albedo - 1.0)
    if chroma >= 0.04:
        lit_shift = np.zeros(3, np.float32)  # a tone with a skin's chroma of its own keeps it
    # Deep skin shows its features as much by the light they catch as by their shadows (a
    # lash line can only go as dark as black): those small lights are kept brighter there.
    feature_light = 1.0 + 3.0 * deep
    return SkinLook(
        detail,
        lights,
        form,
        tint.astype(np.float32),
        core,
        broad,
        lit_shift.astype(np.float32),
        feature_light,
    )
