"""Cradle's landing page and an owner's billing page in real Chromium (desktop), with
screenshots at ``test-artifacts/screenshots/landing.png`` and ``billing.png``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from billing.models import BillingAccount
from studio_portal.tenants.models import Studio
from studio_portal.tenants.services import public_tenant_ensure
from tests.browser.conftest import SCREENSHOTS, axe_serious_violations
from tests.fakes.stripe import FakeStripe, start_fake_stripe
from tests.tenancy import PASSWORD

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def stripe(settings) -> Iterator[FakeStripe]:
    state, server = start_fake_stripe(settings.STRIPE_API_VERSION)
    settings.STRIPE_SECRET_KEY = "sk_test_cradle"
    settings.STRIPE_API_BASE = state.url
    settings.BILLING_PLANS = {
        code: {**plan, "price_id": f"price_{code}"} for code, plan in settings.BILLING_PLANS.items()
    }
    for code, cents in (("pilot", 3900), ("growth", 9900), ("studio", 24900)):
        state.price_create(f"price_{code}", cents, recurring=code != "pilot")
    yield state
    server.shutdown()


def _accessible(page: Page, axe_source: str, where: str) -> None:
    found = axe_serious_violations(page, axe_source)
    assert not found, f"axe-core on {where}:\n" + "\n".join(found)


def _screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_a_visitor_sees_what_cradle_does_samples_and_prices_and_reaches_sign_up(
    browser: Browser,
    transactional_db,
    live_server,
    stripe: FakeStripe,
    axe_source: str,
) -> None:
    public_tenant_ensure()
    port = live_server.url.rsplit(":", 1)[1]
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"http://localhost:{port}/")

    expect(page.get_by_role("heading", level=1)).to_contain_text("newborn portrait")
    samples = page.locator(".samples img")
    expect(samples).to_have_count(6)
    for index in range(6):  # every sample has loaded (lazy ones after scrolling to them)
        image = samples.nth(index)
        image.scroll_into_view_if_needed()
        loaded = "img => img.complete && img.naturalWidth > 0"
        page.wait_for_function(loaded, arg=image.element_handle())
    for price in ("$39", "$99", "$249"):
        expect(page.locator("#plans")).to_contain_text(price)
    _accessible(page, axe_source, "the landing page")
    page.evaluate("window.scrollTo(0, 0)")
    _screenshot(page, "landing.png")

    page.get_by_role("link", name="Start your $39 pilot").click()
    expect(page.get_by_role("heading", name="Bring Cradle to your studio")).to_be_visible()
    expect(page.locator("#signup-closed")).to_have_count(0)
    expect(page.locator(".input-suffix")).to_contain_text(".localhost")
    page.close()


def test_an_owner_sees_the_plans_prices_cap_and_renewal_on_the_billing_page(
    browser: Browser,
    journey_studio: Studio,
    studio_url: str,
    stripe: FakeStripe,
    axe_source: str,
) -> None:
    customer, intent = stripe.pilot_paid_customer("owner@journey.example")
    paid_at = timezone.now() - timedelta(days=3)
    BillingAccount.objects.create(
        studio=journey_studio,
        stripe_customer_id=customer,
        pilot_payment_intent_id=intent,
        pilot_paid_at=paid_at,
        pilot_ends_at=paid_at + timedelta(days=30),
        current_period_end=paid_at + timedelta(days=30),
        pilot_delivery_cap=25,
    )
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{studio_url}/login/")
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{studio_url}/billing/")

    expect(page.locator("#plan-price")).to_have_text("$39 once, for one month")
    expect(page.locator("#renewal")).to_have_text(f"{paid_at + timedelta(days=30):%B %-d, %Y}")
    expect(page.locator("#usage")).to_contain_text("0 of 25 galleries sent")
    expect(page.get_by_role("button", name="Move to Growth · $99 a month")).to_be_visible()
    expect(page.get_by_role("button", name="Move to Studio · $249 a month")).to_be_visible()
    _accessible(page, axe_source, "the billing page")
    _screenshot(page, "billing.png")

    # The plan change goes to Stripe's Checkout (the fake's page is not served: the redirect
    # is what is checked).
    with page.expect_request(lambda request: "/pay/cs_test_" in request.url):
        page.get_by_role("button", name="Move to Growth · $99 a month").click()
    [checkout] = stripe.calls("POST", "/v1/checkout/sessions")
    assert checkout.params["line_items"] == [{"price": "price_growth", "quantity": "1"}]
    page.close()
