"""Cradle's public pages: a landing page that says what Cradle does, shows sample portraits and
the plans priced from settings, and leads to sign-up and sign-in; sign-up says at once when
payments are not configured; "Sign in" finds the member's studio."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.test import Client
from PIL import Image

from branding.provenance import TAG_TEXT, read_provenance
from studio_portal.tenants.services import public_tenant_ensure

STATIC = Path(__file__).resolve().parents[1] / "studio_portal" / "static"


@pytest.fixture
def visitor(db) -> Client:
    public_tenant_ensure()
    return Client(HTTP_HOST="localhost")


@pytest.fixture
def stripe_ready(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_cradle"
    settings.BILLING_PLANS = {
        code: {**plan, "price_id": f"price_{code}"} for code, plan in settings.BILLING_PLANS.items()
    }


def test_the_landing_page_sells_with_samples_plans_sign_up_and_sign_in(
    visitor,
    stripe_ready,
    settings,
) -> None:
    settings.BILLING_PLANS = {
        **settings.BILLING_PLANS,
        "studio": {**settings.BILLING_PLANS["studio"], "amount_cents": 19900},
    }
    page = visitor.get("/").content.decode()

    assert "Turn the 3D scan you just made into a newborn portrait" in page
    assert 'href="/signup/"' in page and "Start your $39 pilot" in page
    assert 'href="/signin/"' in page
    # The plans and their prices come from settings.
    for label, price in (("Pilot", "$39"), ("Growth", "$99"), ("Studio", "$199")):
        assert f"<h3>{label}</h3>" in page and f"<strong>{price}</strong>" in page
    assert "Up to 25 galleries" in page and "Unlimited galleries" in page
    assert TAG_TEXT in page


def test_the_sample_portraits_are_small_committed_jpegs_that_carry_the_tag(visitor) -> None:
    page = visitor.get("/").content.decode()
    samples = sorted(set(re.findall(r'src="/static/(samples/[a-z-]+\.jpg)"', page)))
    portraits = [path for path in samples if path.endswith("-portrait.jpg")]
    assert len(samples) == 6 and len(portraits) == 3
    for path in samples:
        data = (STATIC / path).read_bytes()
        assert len(data) < 80_000, path  # small enough for a phone on a slow line
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "JPEG" and max(image.size) <= 720
    for path in portraits:
        provenance = read_provenance((STATIC / path).read_bytes())
        assert provenance.exif_has_tag and provenance.xmp_has_tag


def test_when_payments_are_not_configured_the_pages_say_so_before_any_form_is_filled(
    visitor,
    settings,
) -> None:
    settings.STRIPE_SECRET_KEY = ""
    landing = visitor.get("/").content.decode()
    assert 'id="signup-closed"' in landing and "Signups are closed on this server" in landing
    assert "Start your $39 pilot" not in landing

    signup = visitor.get("/signup/")
    assert signup.status_code == 200
    body = signup.content.decode()
    assert 'id="signup-closed"' in body and "Signups are closed on this server" in body
    assert "<fieldset disabled>" in body


def test_the_signup_hint_shows_the_real_address_not_a_placeholder(visitor, stripe_ready) -> None:
    body = visitor.get("/signup/").content.decode()
    assert "<subdomain>" not in body and "&lt;subdomain&gt;" not in body
    assert ".cradle" not in body
    assert '<span aria-hidden="true">.localhost</span>' in body
    assert "yourstudio.localhost" in body
    assert 'id="signup-closed"' not in body and "<fieldset>" in body


def test_sign_in_on_cradles_host_leads_to_the_studios_own_sign_in_page(
    visitor,
    studio,
    settings,
) -> None:
    settings.CRADLE_PUBLIC_PORT = "8000"
    assert visitor.get("/signin/").status_code == 200
    for typed in ("alpha", "Alpha.localhost", "http://alpha.localhost:8000/g/whatever/"):
        response = visitor.get("/signin/", {"studio": typed})
        assert response.status_code == 302, typed
        assert response["Location"] == "http://alpha.localhost:8000/login/"
    missing = visitor.get("/signin/", {"studio": "nowhere"})
    assert missing.status_code == 404 and b"No studio answers at nowhere" in missing.content
    assert visitor.get("/signin/", {"studio": "localhost"}).status_code == 404  # Cradle itself
