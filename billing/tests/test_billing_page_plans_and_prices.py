"""The owner's billing page: every plan with its price from settings, the cap and how much of it
is used, the renewal date; moving plan goes through Stripe (the real SDK, a local fake Stripe);
without Stripe the page says so before anything is pressed."""

from __future__ import annotations

from django.db import connection
from django.test import Client

from billing.models import BillingAccount
from studio_portal.tenants.models import Studio
from tests.tenancy import signed_in_client


def _page(client: Client) -> str:
    page = client.get("/billing/")
    connection.set_schema_to_public()
    assert page.status_code == 200
    return page.content.decode()


def _plan_card(page: str, code: str) -> str:
    start = page.index(f'data-plan="{code}"')
    end = page.find('class="plan-card', start)
    return page[start : end if end != -1 else page.index("</section>", start)]


def test_a_pilot_sees_every_plan_priced_from_settings_its_cap_and_its_end_date(
    pilot_studio,
    owner_client,
    fake_stripe,
    settings,
) -> None:
    settings.BILLING_PLANS = {
        **settings.BILLING_PLANS,
        "growth": {**settings.BILLING_PLANS["growth"], "amount_cents": 12900},
    }
    page = _page(owner_client)
    account = BillingAccount.objects.get(studio=pilot_studio)

    assert '<dd id="plan-price">$39 once, for one month</dd>' in page
    assert f'<dd id="renewal">{account.pilot_ends_at:%B %-d, %Y}</dd>' in page
    assert '<dd id="cap">25 in the pilot month</dd>' in page
    assert "<strong>0</strong> of 25 galleries sent" in page and "25 left" in page
    assert 'aria-valuemax="25" aria-valuenow="0"' in page
    # Every plan with its price, the current one marked; the prices are the settings' own.
    assert "<strong>$39</strong> once, for one month" in page
    assert "<strong>$129</strong> a month" in page and "<strong>$249</strong> a month" in page
    assert "Your plan" in _plan_card(page, "pilot")
    assert "Move to Growth · $129 a month" in page and "Move to Studio · $249 a month" in page
    assert "not available yet" not in page


def test_moving_to_growth_goes_through_stripe_and_the_page_then_shows_growth(
    pilot_studio,
    owner_client,
    fake_stripe,
    webhooks,
) -> None:
    response = owner_client.post("/billing/upgrade/", {"plan": "growth"})
    connection.set_schema_to_public()
    assert response.status_code == 302
    assert response["Location"].startswith(f"{fake_stripe.url}/pay/cs_test_")
    [checkout] = fake_stripe.calls("POST", "/v1/checkout/sessions")
    assert checkout.params["line_items"] == [{"price": "price_growth", "quantity": "1"}]
    assert checkout.headers["Stripe-Version"] == "2026-10-28.endive"

    fake_stripe.checkout_complete(response["Location"].rsplit("/", 1)[1])
    events = fake_stripe.events_take()
    assert webhooks.send_all(events) == [200] * len(events)

    page = _page(owner_client)
    account = BillingAccount.objects.get(studio=pilot_studio)
    assert Studio.objects.get(pk=pilot_studio.pk).plan == "growth"
    assert "<h1>Growth" in page
    assert '<dd id="plan-price">$99 a month</dd>' in page
    assert f'<dd id="renewal">{account.current_period_end:%B %-d, %Y}</dd>' in page
    assert '<dd id="cap">Unlimited</dd>' in page and "no cap on your plan" in page
    assert "Your plan" in _plan_card(page, "growth")
    assert "Move to Studio · $249 a month" in page and "Move to Growth" not in page
    assert "The pilot is for new studios." in _plan_card(page, "pilot")


def test_without_stripe_the_page_shows_the_prices_and_says_plans_cannot_change_here(
    studio,
    settings,
) -> None:
    settings.STRIPE_SECRET_KEY = ""
    owner = signed_in_client(studio, "owner")
    page = _page(owner)

    assert 'id="changes-closed"' in page and "Stripe is not configured" in page
    assert "<strong>$99</strong> a month" in page and "<strong>$249</strong> a month" in page
    assert "Move to" not in page  # no button that can only fail
    # A studio Cradle set up itself is not billed: its page says so instead of a blank.
    assert "No renewal: this studio is not billed through Stripe" in page
    assert "galleries sent · no cap on your plan" in page

    response = owner.post("/billing/upgrade/", {"plan": "growth"}, follow=True)
    connection.set_schema_to_public()
    assert b"Stripe is not configured" in response.content
    assert b"not available yet" not in response.content


def test_the_billing_api_lists_the_plans_with_their_prices(
    pilot_studio,
    owner_client,
    fake_stripe,
) -> None:
    status = owner_client.get("/billing/api/").json()
    connection.set_schema_to_public()
    assert status["delivery_cap"] == 25 and status["deliveries_used"] == 0
    plans = {plan["code"]: plan for plan in status["plans"]}
    assert plans["pilot"]["amount_cents"] == 3900 and plans["pilot"]["current"] is True
    assert plans["growth"]["amount_cents"] == 9900 and plans["growth"]["available"] is True
    assert plans["studio"]["delivery_cap"] is None
