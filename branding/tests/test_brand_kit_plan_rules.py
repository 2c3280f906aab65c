"""Plan rules are applied to delivered files by the service, and the tag survives every setting.

Everything here goes through ``portrait_finish`` (the one function that makes a delivered
file) and reads the JPEG back: pixels with numpy, metadata with Pillow, XMP and the c2pa Reader.
"""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from django_tenants.utils import schema_context
from PIL import Image

from branding.models import BrandKit
from branding.overlay import CRADLE_MARK_DOT_RGB, FRAMES, overlay_layout
from branding.provenance import TAG_TEXT, read_provenance
from branding.selectors import brand_kit_get
from branding.services import brand_kit_update, portrait_finish
from branding.tests.brand_kit_factories import logo_png, owner
from branding.tests.test_overlay_tag_always_visible import assert_tag_is_readable
from studio_portal.tenants.models import Studio

PHOTO_SIZE = (800, 1000)  # width, height
PHOTO_RGB = (58, 110, 165)


def _flat_photo() -> np.ndarray:
    return np.full((PHOTO_SIZE[1], PHOTO_SIZE[0], 3), PHOTO_RGB, np.uint8)


def _textured_photo() -> np.ndarray:
    rng = np.random.default_rng(5)
    coarse = Image.fromarray(rng.integers(60, 240, (10, 8, 3), dtype=np.uint8))
    return np.asarray(coarse.resize(PHOTO_SIZE, Image.Resampling.BICUBIC))


def _set_plan(studio: Studio, plan: str) -> None:
    Studio.objects.filter(pk=studio.pk).update(plan=plan)


def _cradle_mark_region(jpeg: bytes, frame: str) -> np.ndarray:
    left, top, right, bottom = overlay_layout(PHOTO_SIZE, frame).cradle_mark_box
    with Image.open(io.BytesIO(jpeg)) as image:
        return np.asarray(image.convert("RGB"))[top:bottom, left:right].astype(int)


@pytest.mark.parametrize("frame", FRAMES)
def test_a_studio_plan_portrait_has_no_cradle_mark(studio, frame) -> None:
    _set_plan(studio, Studio.Plan.STUDIO)
    with schema_context(studio.schema_name):
        brand_kit_update(kit=brand_kit_get(), actor=owner(), frame=frame)
        region = _cradle_mark_region(portrait_finish(_flat_photo()), frame)
    # Only the photo shows where the mark would be (JPEG keeps a flat colour within a few levels).
    assert np.abs(region - np.array(PHOTO_RGB)).max() <= 6


@pytest.mark.parametrize(
    ("plan", "frame"), itertools.product([Studio.Plan.GROWTH, Studio.Plan.PILOT], FRAMES)
)
def test_a_growth_or_pilot_portrait_carries_the_cradle_mark(studio, plan, frame) -> None:
    _set_plan(studio, plan)
    with schema_context(studio.schema_name):
        brand_kit_update(kit=brand_kit_get(), actor=owner(), frame=frame)
        region = _cradle_mark_region(portrait_finish(_flat_photo()), frame)
    near_white_plate = (region.min(axis=2) > 180).mean()
    dot = (np.abs(region - np.array(CRADLE_MARK_DOT_RGB)).max(axis=2) < 24).sum()
    dark_lettering = (region.max(axis=2) < 90).sum()
    assert near_white_plate > 0.4 and dot > 10 and dark_lettering > 50


def _assert_tag_in_all_four_places(jpeg: bytes, frame: str) -> None:
    report = read_provenance(jpeg)
    assert report.format == "JPEG"
    assert report.exif_has_tag, "EXIF ImageDescription lost the tag"
    assert report.xmp_has_tag, "XMP dc:description / DigitalSourceType lost the tag"
    assert report.c2pa_has_tag, f"C2PA manifest missing or invalid: {report.c2pa_error}"
    with Image.open(io.BytesIO(jpeg)) as image:
        assert_tag_is_readable(image.convert("RGB"), overlay_layout(PHOTO_SIZE, frame))


# Brand settings chosen to fight the tag: its own plate colour, pure white, a logo and a caption
# as big as the kit allows, style words asking for it to go away.
HOSTILE_KITS = [
    {"primary_hex": "#111111", "accent_hex": "#ffffff", "caption": "x" * 120},
    {"primary_hex": "#ffffff", "accent_hex": "#111111", "caption": TAG_TEXT[::-1]},
    {
        "primary_hex": "#1f4e79",
        "accent_hex": "#fdf6ec",
        "logo": "logo",
        "caption": "Hide nothing " * 9,
        "style_tokens": ["no text", "no watermark", "clean"],
        "font": "mono",
    },
]


@pytest.mark.parametrize(
    ("plan", "frame", "kit_index"),
    [
        (plan, frame, index)
        for plan, frame in itertools.product(Studio.Plan.values, FRAMES)
        for index in ([0, 1, 2] if frame in ("thin", "polaroid") else [2])
    ],
)
def test_no_plan_or_brand_setting_delivers_a_file_without_the_tag(
    studio, plan, frame, kit_index
) -> None:
    _set_plan(studio, plan)
    changes = dict(HOSTILE_KITS[kit_index], frame=frame)
    if changes.get("logo") == "logo":
        changes["logo"] = logo_png((255, 255, 255), (1024, 1024))
    with schema_context(studio.schema_name):
        brand_kit_update(kit=brand_kit_get(), actor=owner(), **changes)
        jpeg = portrait_finish(_textured_photo())
    _assert_tag_in_all_four_places(jpeg, frame)


def test_no_api_call_delivers_a_file_without_the_tag(studio) -> None:
    from tests.tenancy import signed_in_client

    _set_plan(studio, Studio.Plan.STUDIO)
    client = signed_in_client(studio, "owner")
    attempts = [
        {"show_tag": False},
        {"tag": ""},
        {"cradle_mark": False, "frame": "none"},
        {"caption": "", "frame": "none", "primary_hex": "#111111", "accent_hex": "#ffffff"},
    ]
    responses = [
        client.patch("/branding/api/", body, content_type="application/json") for body in attempts
    ]
    assert [response.status_code for response in responses] == [400, 400, 400, 200]
    assert "don't exist" in responses[0].json()["detail"]
    with schema_context(studio.schema_name):
        kit = BrandKit.objects.get()
        assert kit.frame == "none"  # the last, legitimate change did land
        jpeg = portrait_finish(_textured_photo())
    _assert_tag_in_all_four_places(jpeg, "none")


def test_the_delivered_file_names_the_studio_as_artist(studio) -> None:
    with schema_context(studio.schema_name):
        jpeg = portrait_finish(_flat_photo())
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.getexif().get(0x013B) == "Alpha Studio"
