"""The owner's branding page at /branding/ and its live preview image."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.test import Client
from django_tenants.utils import schema_context
from PIL import Image

from branding.models import BrandKit
from branding.overlay import hex_to_rgb, overlay_layout
from branding.provenance import read_provenance
from branding.sample_portrait import sample_portrait_render
from branding.tests.brand_kit_factories import SVG_WITH_SCRIPT, kit_snapshot
from tests.tenancy import signed_in_client

FORM = {
    "primary_hex": "#1f4e79",
    "accent_hex": "#fdf6ec",
    "font": "serif",
    "frame": "polaroid",
    "caption": "Bloom 4D",
    "style_tokens": "soft light, warm",
    "custom_domain": "",
}


@pytest.fixture
def owner_client(studio):
    return signed_in_client(studio, "owner")


@pytest.mark.parametrize("url", ["/branding/", "/branding/preview.jpg", "/branding/api/"])
def test_a_sonographer_gets_403_everywhere_in_branding(client_a, url) -> None:
    assert client_a.get(url).status_code == 403


def test_a_sonographer_cannot_post_the_form(studio, client_a) -> None:
    with schema_context(studio.schema_name):
        before = kit_snapshot()
    assert client_a.post("/branding/", FORM).status_code == 403
    with schema_context(studio.schema_name):
        assert kit_snapshot() == before


def test_a_visitor_is_sent_to_the_login_page(studio) -> None:
    response = Client(HTTP_HOST="alpha.localhost").get("/branding/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_owner_sees_the_editor_with_pickers_selects_and_preview(owner_client) -> None:
    response = owner_client.get("/branding/")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('type="color"') == 2
    assert '<select name="font"' in html and '<select name="frame"' in html
    assert 'value="serif-italic"' in html and 'value="polaroid"' in html
    assert 'id="brand-preview" src="/branding/preview.jpg"' in html
    assert "Not a medical prediction" in html
    assert "Available on the Studio plan" in html  # alpha is on Pilot


def test_saving_the_form_updates_the_kit(studio, owner_client) -> None:
    response = owner_client.post("/branding/", FORM)
    assert response.status_code == 302 and response["Location"] == "/branding/"
    with schema_context(studio.schema_name):
        kit = BrandKit.objects.get()
    assert (kit.primary_hex, kit.frame, kit.caption) == ("#1f4e79", "polaroid", "Bloom 4D")
    assert kit.style_tokens == ["soft light", "warm"]
    assert "Brand saved" in owner_client.get("/branding/").content.decode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"accent_hex": "#2a5a85"}, "hard to read"),
        ({"custom_domain": "portraits.bloom.example"}, "Custom domains come with the Studio plan"),
        ({"style_tokens": "nice, <script>"}, "can&#x27;t be a brand style word"),
        ({"logo": "svg"}, "SVG files are not accepted"),
    ],
)
def test_a_bad_form_shows_the_reason_and_changes_nothing(
    studio, owner_client, changes, message
) -> None:
    data = {**FORM, **changes}
    if data.get("logo") == "svg":
        data["logo"] = io.BytesIO(SVG_WITH_SCRIPT)
        data["logo"].name = "logo.png"  # the name lies; the bytes are sniffed
    with schema_context(studio.schema_name):
        before = kit_snapshot()
    response = owner_client.post("/branding/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    with schema_context(studio.schema_name):
        assert kit_snapshot() == before


def test_a_40_mb_logo_is_refused_before_it_is_read(studio, owner_client) -> None:
    big = io.BytesIO(b"\x89PNG\r\n\x1a\n" + bytes(40 * 1024 * 1024))
    big.name = "huge.png"
    with schema_context(studio.schema_name):
        before = kit_snapshot()
    response = owner_client.post("/branding/", {**FORM, "logo": big})
    assert response.status_code == 400
    assert "40.0 MB; the limit is 5 MB" in response.content.decode()
    with schema_context(studio.schema_name):
        assert kit_snapshot() == before


def _decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return np.asarray(image.convert("RGB")).astype(int)


def test_the_preview_shows_the_draft_colours_with_the_tag(owner_client) -> None:
    response = owner_client.get(
        "/branding/preview.jpg", {"frame": "thin", "primary_hex": "#0b6e4f", "caption": "Hi"}
    )
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert "no-cache" in response["Cache-Control"]
    pixels = _decode(response.content)
    height, width = sample_portrait_render().shape[:2]
    layout = overlay_layout((width, height), "thin")
    assert pixels.shape[:2] == layout.canvas_size[::-1]
    border = pixels[height // 2, 3]
    assert np.abs(border - np.array(hex_to_rgb("#0b6e4f"))).max() <= 6
    # A preview never leaves Cradle, so it is not signed; the tag is in its metadata anyway.
    report = read_provenance(response.content)
    assert report.exif_has_tag and report.xmp_has_tag
    assert not report.c2pa_present


def test_the_preview_does_not_save_anything(studio, owner_client) -> None:
    with schema_context(studio.schema_name):
        before = kit_snapshot()
    assert owner_client.get("/branding/preview.jpg", {"primary_hex": "#0b6e4f"}).status_code == 200
    with schema_context(studio.schema_name):
        assert kit_snapshot() == before


def test_a_bad_preview_draft_says_why_in_plain_text(owner_client) -> None:
    response = owner_client.get(
        "/branding/preview.jpg", {"primary_hex": "#777777", "accent_hex": "#808080"}
    )
    assert response.status_code == 400
    assert "hard to read" in response.content.decode()


def test_another_studios_owner_edits_only_their_own_brand(studio, other_studio) -> None:
    beta_owner = signed_in_client(other_studio, "owner")
    assert beta_owner.post("/branding/", {**FORM, "primary_hex": "#3a0ca3"}).status_code == 302
    with schema_context(studio.schema_name):
        alpha_kit = BrandKit.objects.get_or_create(pk=1)[0]
    with schema_context(other_studio.schema_name):
        beta_kit = BrandKit.objects.get()
    assert beta_kit.primary_hex == "#3a0ca3"
    assert alpha_kit.primary_hex != "#3a0ca3"
    # Beta's session cookie means nothing on Alpha's host.
    beta_owner.defaults["HTTP_HOST"] = "alpha.localhost"
    assert beta_owner.get("/branding/").status_code == 302
