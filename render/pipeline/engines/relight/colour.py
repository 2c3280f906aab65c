"""Colour maths for the relight engine: linear light and sRGB, and the tone's own shifts
(flush, lips, sheen) taken in OKLCh so they keep the parents' tone on target."""

from __future__ import annotations

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


def sheen_share(albedo: np.ndarray) -> float:
    """How much of the style's sheen a tone shows: a broad white sheen over deep skin reads
    as an ashy grey film in a photo, so it is kept smaller there (the highlights stay)."""
    luminance = float(albedo @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32))
    return float(np.clip(0.35 + 1.3 * luminance, 0.35, 1.0))


def feature_depth(tone_hex: str) -> float:
    """How much deeper (in linear light) the features' marks go on this tone than on fair
    skin. The same on every tone for now."""
    return 1.0
