"""/branding/api/: the brand kit over REST for the owner (GET, PATCH with JSON or a logo upload)."""

from __future__ import annotations

import io

import pytest
from django_tenants.utils import schema_context

from branding.models import BrandKit
from branding.tests.brand_kit_factories import animated_gif, kit_snapshot, logo_png
from studio_portal.tenants.models import Domain, Studio
from tests.tenancy import signed_in_client

URL = "/branding/api/"


@pytest.fixture
def owner_client(studio):
    return signed_in_client(studio, "owner")


def test_get_returns_the_kit_and_what_the_plan_decides(owner_client) -> None:
    body = owner_client.get(URL).json()
    assert body["primary_hex"] == "#6b4f4f" and body["frame"] == "thin"
    assert body["plan"] == "pilot"
    assert body["cradle_mark"] is True and body["custom_domain_allowed"] is False
    assert "serif" in body["choices"]["font"] and "polaroid" in body["choices"]["frame"]
    assert body["has_logo"] is False


def test_patch_changes_only_what_it_names(studio, owner_client) -> None:
    response = owner_client.patch(
        URL,
        {"accent_hex": "#FFFFFF", "style_tokens": ["Film grain", "soft light"]},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["accent_hex"] == "#ffffff"
    with schema_context(studio.schema_name):
        kit = BrandKit.objects.get()
    assert kit.accent_hex == "#ffffff" and kit.primary_hex == "#6b4f4f"
    assert kit.style_tokens == ["film grain", "soft light"]


def test_a_logo_can_be_uploaded_and_removed(studio, owner_client) -> None:
    upload = io.BytesIO(logo_png())
    upload.name = "logo.png"
    response = owner_client.patch(
        URL,
        _multipart({"logo": upload, "caption": "Bloom"}),
        content_type="multipart/form-data; boundary=BoUnDaRy",
    )
    assert response.status_code == 200, response.content
    assert response.json()["has_logo"] is True and response.json()["caption"] == "Bloom"
    response = owner_client.patch(URL, {"logo": None}, content_type="application/json")
    assert response.json()["has_logo"] is False
    with schema_context(studio.schema_name):
        assert not BrandKit.objects.get().logo


def _multipart(fields: dict) -> bytes:
    """Django's test client only encodes multipart for POST; PATCH needs the body by hand."""
    from django.test.client import encode_multipart

    return encode_multipart("BoUnDaRy", fields)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"primary_hex": "#777777", "accent_hex": "#8a8a8a"}, "accent_hex", "hard to read"),
        ({"custom_domain": "portraits.bloom.example"}, "custom_domain", "Studio plan"),
        ({"font": "papyrus"}, "font", "bundled fonts"),
        ({"frame": "neon", "caption": "ok"}, "frame", "frame style"),
    ],
)
def test_bad_input_is_a_400_with_the_reason_and_changes_nothing(
    studio, owner_client, body, field, words
) -> None:
    with schema_context(studio.schema_name):
        before = kit_snapshot()
    response = owner_client.patch(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert words in " ".join(response.json()["errors"][field])
    with schema_context(studio.schema_name):
        assert kit_snapshot() == before


def test_an_animated_gif_logo_is_a_400(studio, owner_client) -> None:
    upload = io.BytesIO(animated_gif())
    upload.name = "logo.gif"
    response = owner_client.patch(
        URL, _multipart({"logo": upload}), content_type="multipart/form-data; boundary=BoUnDaRy"
    )
    assert response.status_code == 400
    assert "Animated images" in response.json()["detail"]


def test_a_studio_plan_owner_sets_a_custom_domain(studio, owner_client, monkeypatch) -> None:
    Studio.objects.filter(pk=studio.pk).update(plan=Studio.Plan.STUDIO)
    response = owner_client.patch(
        URL, {"custom_domain": "portraits.bloom.example"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["custom_domain"] == "portraits.bloom.example"
    assert response.json()["cradle_mark"] is False
    # Claimed, not connected: the API says which TXT record proves the studio holds it.
    assert response.json()["custom_domain_status"] == "pending"
    record = response.json()["custom_domain_dns_record"]
    assert record["type"] == "TXT"
    assert record["name"] == "_cradle-challenge.portraits.bloom.example"
    assert not Domain.objects.filter(domain="portraits.bloom.example").exists()
    refused = owner_client.post("/branding/api/domain/verify/")
    assert refused.status_code == 400 and record["name"] in refused.json()["detail"]
    monkeypatch.setattr(
        "studio_portal.tenants.dns.txt_records",
        lambda name: [record["value"]] if name == record["name"] else [],
    )
    verified = owner_client.post("/branding/api/domain/verify/")
    assert verified.status_code == 200
    assert verified.json()["custom_domain_status"] == "active"
    assert verified.json()["custom_domain_dns_record"] is None
    assert Domain.objects.filter(
        tenant=studio, domain="portraits.bloom.example", is_primary=False
    ).exists()


def test_a_sonographer_cannot_patch(studio, client_a) -> None:
    with schema_context(studio.schema_name):
        before = kit_snapshot()
    response = client_a.patch(URL, {"primary_hex": "#1f4e79"}, content_type="application/json")
    assert response.status_code == 403
    with schema_context(studio.schema_name):
        assert kit_snapshot() == before
