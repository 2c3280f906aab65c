"""The public check page in real Chromium: a stranger uploads a portrait a messaging app has
stripped of its metadata and learns it is a Cradle artistic interpretation, which studio made it
and when; an ordinary photo finds no mark; a PIN gallery's brand-only share card is told apart
from a portrait. Screenshots at ``test-artifacts/screenshots/verify*.png``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context
from PIL import Image
from playwright.sync_api import Browser, expect

from branding.sample_portrait import sample_portrait_render
from branding.selectors import brand_kit_get
from branding.services import portrait_finish
from galleries import share_card
from studio_portal.tenants.models import Studio
from studio_portal.tenants.services import public_tenant_ensure
from tests.browser.conftest import SCREENSHOTS, axe_serious_violations

pytestmark = pytest.mark.browser


def test_a_stranger_checks_a_shared_portrait_and_an_ordinary_photo(
    browser: Browser,
    journey_studio: Studio,
    live_server,
    axe_source: str,
    tmp_path: Path,
) -> None:
    public_tenant_ensure()
    with schema_context(journey_studio.schema_name):
        delivered = portrait_finish(sample_portrait_render())
    shared = tmp_path / "IMG-20260314-WA0007.jpg"  # as WhatsApp saves it: pixels only
    Image.open(io.BytesIO(delivered)).convert("RGB").save(shared, "JPEG", quality=75)
    with schema_context(journey_studio.schema_name):
        share_card._finished_brand_card.cache_clear()
        brand_card = share_card.share_card_png(brand_kit_get(), studio_name="Moonbeam Studio")
        share_card._finished_brand_card.cache_clear()
    card = tmp_path / "card.jpg"
    Image.open(io.BytesIO(brand_card)).convert("RGB").save(card, "JPEG", quality=70)
    photo = tmp_path / "photo.jpg"
    Image.fromarray(sample_portrait_render()).save(photo, "JPEG", quality=90)

    port = live_server.url.rsplit(":", 1)[1]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"http://localhost:{port}/verify/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Is this a Cradle portrait?")
    found = axe_serious_violations(page, axe_source)
    assert not found, "axe-core on the check page:\n" + "\n".join(found)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.get_by_label("Choose the image to check").set_input_files(str(photo))
    page.get_by_role("button", name="Check this image").click()
    expect(page.locator("#result")).to_contain_text("No Cradle mark found")
    expect(page.locator("#result")).not_to_contain_text("Moonbeam Studio")
    page.screenshot(path=str(SCREENSHOTS / "verify-unmarked.png"), full_page=True)

    page.get_by_label("Choose the image to check").set_input_files(str(shared))
    page.get_by_role("button", name="Check this image").click()
    result = page.locator("#result")
    expect(result).to_contain_text("Yes — a Cradle artistic interpretation")
    expect(result).to_contain_text("Moonbeam Studio")
    expect(result).to_contain_text(timezone.now().strftime("%-d %B %Y"))
    expect(result).to_contain_text("The invisible watermark")
    found = axe_serious_violations(page, axe_source)
    assert not found, "axe-core on the answer:\n" + "\n".join(found)
    page.screenshot(path=str(SCREENSHOTS / "verify.png"), full_page=True)

    # A phone: the brand-only card of a PIN gallery, saved from a chat.
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_label("Choose the image to check").set_input_files(str(card))
    page.get_by_role("button", name="Check this image").click()
    result = page.locator("#result")
    expect(result).to_contain_text("Yes — a Cradle share card")
    expect(result).to_contain_text("no portrait")
    expect(result).not_to_contain_text("Yes — a Cradle artistic interpretation")
    page.screenshot(path=str(SCREENSHOTS / "verify-card-phone.png"), full_page=True)
    page.close()
