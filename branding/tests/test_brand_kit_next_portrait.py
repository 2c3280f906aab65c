"""The owner changes the brand and the very next portrait shows it."""

from __future__ import annotations

import io

import numpy as np
from django_tenants.utils import schema_context
from PIL import Image

from branding.overlay import hex_to_rgb, overlay_layout
from branding.selectors import brand_kit_get
from branding.services import brand_kit_update, portrait_finish
from branding.tests.brand_kit_factories import logo_png, owner
from tests.tenancy import signed_in_client

PHOTO_SIZE = (800, 1000)


def _photo() -> np.ndarray:
    return np.full((PHOTO_SIZE[1], PHOTO_SIZE[0], 3), (200, 170, 150), np.uint8)


def _frame_pixels(jpeg: bytes) -> np.ndarray:
    """The middle of the left and right thin-frame borders, away from logo, caption and tag."""
    geometry = overlay_layout(PHOTO_SIZE, "thin").frame
    with Image.open(io.BytesIO(jpeg)) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    middle = pixels.shape[0] // 2
    band = slice(middle - 100, middle + 100)
    left = pixels[band, 2 : geometry.left - 2]
    right = pixels[band, pixels.shape[1] - geometry.right + 2 : -2]
    return np.concatenate([left.reshape(-1, 3), right.reshape(-1, 3)])


def _assert_frame_is(jpeg: bytes, hex_colour: str) -> None:
    frame = _frame_pixels(jpeg)
    # JPEG's error by the photo's edge, plus the invisible watermark's ±2 levels.
    assert np.abs(frame - np.array(hex_to_rgb(hex_colour))).max() <= 8


def test_the_next_portrait_has_the_new_frame_colour(studio) -> None:
    with schema_context(studio.schema_name):
        brand_kit_update(kit=brand_kit_get(), actor=owner(), frame="thin", primary_hex="#6b4f4f")
        _assert_frame_is(portrait_finish(_photo()), "#6b4f4f")

        brand_kit_update(kit=brand_kit_get(), actor=owner(), primary_hex="#1f4e79")
        _assert_frame_is(portrait_finish(_photo()), "#1f4e79")


def test_a_brand_saved_on_the_editor_page_shows_in_the_next_portrait(studio) -> None:
    client = signed_in_client(studio, "owner")
    logo = io.BytesIO(logo_png((230, 30, 30), (400, 160)))
    logo.name = "logo.png"
    response = client.post(
        "/branding/",
        {
            "primary_hex": "#0b6e4f",
            "accent_hex": "#f4f1de",
            "font": "sans",
            "frame": "thin",
            "caption": "",
            "style_tokens": "",
            "custom_domain": "",
            "logo": logo,
        },
    )
    assert response.status_code == 302
    with schema_context(studio.schema_name):
        jpeg = portrait_finish(_photo())
    _assert_frame_is(jpeg, "#0b6e4f")
    # The logo sits in the top-left strip of the photo: its red must be there now.
    left, top, right, bottom = overlay_layout(PHOTO_SIZE, "thin").logo_box
    with Image.open(io.BytesIO(jpeg)) as image:
        strip = np.asarray(image.convert("RGB"))[top:bottom, left:right].astype(int)
    red = (np.abs(strip - np.array([230, 30, 30])).max(axis=2) < 25).sum()
    assert red > 1000
