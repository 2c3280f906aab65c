"""brand_kit_update checks every change, explains what is wrong, and writes nothing on error."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django_tenants.utils import schema_context
from PIL import Image

from branding.models import BrandKit
from branding.selectors import brand_kit_get
from branding.services import brand_kit_update
from branding.tests.brand_kit_factories import (
    SVG_WITH_SCRIPT,
    animated_gif,
    forty_megabyte_logo,
    kit_snapshot,
    logo_png,
    owner,
    sonographer,
)
from studio_portal.audit.models import AuditLogEntry

BAD_CHANGES = {
    "a 40 MB logo": ({"logo": forty_megabyte_logo}, "logo", "40.0 MB; the limit is 5 MB"),
    "an animated GIF": ({"logo": animated_gif}, "logo", "Animated images can't be used"),
    "an SVG with a script": ({"logo": lambda: SVG_WITH_SCRIPT}, "logo", "SVG files are not"),
    "unreadable colours": (
        {"primary_hex": "#777777", "accent_hex": "#8a8a8a"},
        "accent_hex",
        "hard to read",
    ),
    "a colour that is not one": ({"primary_hex": "blue-ish"}, "primary_hex", "#1a2b3c"),
    "a font we do not bundle": ({"font": "comic-sans"}, "font", "bundled fonts"),
    "an unknown frame": ({"frame": "neon"}, "frame", "Pick a frame style"),
    "a caption too long": ({"caption": "x" * 121}, "caption", "120 characters"),
    "too many style words": ({"style_tokens": [f"w{i}" for i in range(9)]}, "style_tokens", "8"),
    "a style word with prompt syntax": (
        {"style_tokens": ["soft light", "(masterpiece:1.4)"]},
        "style_tokens",
        "letters, digits",
    ),
    "a custom domain on the Pilot plan": (
        {"custom_domain": "portraits.bloom-studio.com"},
        "custom_domain",
        "Studio plan",
    ),
}


def _resolve(changes: dict) -> dict:
    return {key: value() if callable(value) else value for key, value in changes.items()}


@pytest.mark.parametrize("case", BAD_CHANGES, ids=list(BAD_CHANGES))
def test_each_bad_input_gets_a_clear_error_and_nothing_changes(studio, case) -> None:
    changes, field, expected_words = BAD_CHANGES[case]
    with schema_context(studio.schema_name):
        before = kit_snapshot()
        with pytest.raises(ValidationError) as raised:
            # A valid caption rides along: it must not be saved when another field fails.
            brand_kit_update(
                kit=brand_kit_get(), actor=owner(), **{"caption": "Bloom", **_resolve(changes)}
            )
        errors = raised.value.message_dict
        assert expected_words in " ".join(errors[field])
        assert kit_snapshot() == before


def test_a_logo_error_keeps_the_previous_logo_file(studio) -> None:
    with schema_context(studio.schema_name):
        kit = brand_kit_update(kit=brand_kit_get(), actor=owner(), logo=logo_png())
        saved = kit.logo.name
        with pytest.raises(ValidationError):
            brand_kit_update(kit=kit, actor=owner(), logo=animated_gif())
        kit.refresh_from_db()
        assert kit.logo.name == saved
        assert kit.logo.storage.exists(saved)


def test_every_error_is_reported_at_once(studio) -> None:
    with schema_context(studio.schema_name):
        with pytest.raises(ValidationError) as raised:
            brand_kit_update(
                kit=brand_kit_get(),
                actor=owner(),
                logo=SVG_WITH_SCRIPT,
                frame="neon",
                custom_domain="not a domain",
            )
    assert set(raised.value.message_dict) == {"logo", "frame", "custom_domain"}


def test_a_sonographer_cannot_change_the_brand(studio) -> None:
    with schema_context(studio.schema_name):
        before = kit_snapshot()
        with pytest.raises(PermissionDenied):
            brand_kit_update(kit=brand_kit_get(), actor=sonographer(), primary_hex="#1f4e79")
        assert kit_snapshot() == before


def test_an_unknown_setting_is_refused_not_ignored(studio) -> None:
    with schema_context(studio.schema_name):
        with pytest.raises(ValidationError) as raised:
            brand_kit_update(kit=brand_kit_get(), actor=owner(), show_tag=False)
    assert "show_tag" in " ".join(raised.value.messages)


def test_good_changes_are_saved_normalised_and_audited(studio) -> None:
    with schema_context(studio.schema_name):
        kit = brand_kit_update(
            kit=brand_kit_get(),
            actor=owner(),
            primary_hex="#1F4E79",
            accent_hex="#fed",
            font="serif-italic",
            frame=BrandKit.Frame.POLAROID,
            caption="  Welcome,\n little one  ",
            style_tokens=["Soft light", " warm  tones", "soft light", ""],
        )
        kit = BrandKit.objects.get(pk=kit.pk)
        entry = AuditLogEntry.objects.filter(action="brand_kit.updated").first()
        assert entry.actor.username == "owner"
    assert (kit.primary_hex, kit.accent_hex) == ("#1f4e79", "#ffeedd")
    assert (kit.font, kit.frame) == ("serif-italic", "polaroid")
    assert kit.caption == "Welcome, little one"
    assert kit.style_tokens == ["soft light", "warm tones"]
    assert set(entry.detail["fields"]) >= {"primary_hex", "accent_hex", "caption", "style_tokens"}


def test_a_logo_is_stored_as_a_clean_png_not_the_uploaded_bytes(studio) -> None:
    upload = io.BytesIO()
    photo = Image.new("RGB", (2000, 800), (200, 30, 60))
    exif = Image.Exif()
    exif[0x010E] = "secret camera note"
    photo.save(upload, "JPEG", exif=exif, quality=90)
    with schema_context(studio.schema_name):
        kit = brand_kit_update(kit=brand_kit_get(), actor=owner(), logo=upload.getvalue())
        with kit.logo.open("rb") as handle:
            stored = handle.read()
    with Image.open(io.BytesIO(stored)) as logo:
        assert logo.format == "PNG"
        assert max(logo.size) == 1024
        assert not logo.getexif()
        assert logo.convert("RGB").getpixel((10, 10)) == pytest.approx((200, 30, 60), abs=4)
    assert b"secret camera note" not in stored


def test_logo_none_removes_the_logo(studio) -> None:
    with schema_context(studio.schema_name):
        kit = brand_kit_update(kit=brand_kit_get(), actor=owner(), logo=logo_png())
        assert kit.logo
        kit = brand_kit_update(kit=kit, actor=owner(), logo=None)
        assert not BrandKit.objects.get(pk=kit.pk).logo


def test_a_new_logo_replaces_the_old_file_once_committed(
    studio,
    django_capture_on_commit_callbacks,
) -> None:
    with schema_context(studio.schema_name):
        kit = brand_kit_update(kit=brand_kit_get(), actor=owner(), logo=logo_png((1, 2, 3)))
        first = kit.logo.name
        with django_capture_on_commit_callbacks(execute=True):
            kit = brand_kit_update(kit=kit, actor=owner(), logo=logo_png((200, 100, 50)))
        assert kit.logo.name != first
        assert kit.logo.storage.exists(kit.logo.name)
        assert not kit.logo.storage.exists(first)
        assert first.startswith("alpha/brand/")
