"""Signup → pilot paid in (fake) Stripe Checkout → the studio exists, exactly once."""

from __future__ import annotations

import re
from datetime import timedelta

from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from billing.models import BillingAccount, Invoice, Signup, StripeEvent
from billing.services import signup_studio_set_up, signups_set_up_sweep
from billing.tests.conftest import queued_set_ups_run
from studio_portal.accounts.models import User
from studio_portal.tenants.models import Domain, Studio


def _sign_up(public_client: Client, fake_stripe, subdomain: str = "moonbeam") -> str:
    response = public_client.post(
        "/signup/",
        {
            "studio_name": "Moonbeam Imaging",
            "subdomain": subdomain,
            "owner_email": "Ana@Moon.example",
        },
    )
    assert response.status_code == 302
    assert response["Location"].startswith(f"{fake_stripe.url}/pay/cs_test_")
    return response["Location"].rsplit("/", 1)[1]


def test_signup_sends_the_owner_to_checkout_for_the_pilot_with_the_pinned_api_version(
    public_client,
    fake_stripe,
    settings,
) -> None:
    form = public_client.get("/signup/")
    assert form.status_code == 200 and b"Continue to payment" in form.content
    session_id = _sign_up(public_client, fake_stripe)

    [call] = fake_stripe.calls("POST", "/v1/checkout/sessions")
    assert call.headers["Stripe-Version"] == settings.STRIPE_API_VERSION == "2026-10-28.endive"
    assert call.params["mode"] == "payment"
    assert call.params["line_items"] == [{"price": "price_pilot", "quantity": "1"}]
    assert call.params["customer_email"] == "ana@moon.example"
    assert call.params["success_url"].endswith("/signup/done/?session_id={CHECKOUT_SESSION_ID}")
    signup = Signup.objects.get(checkout_session_id=session_id)
    assert call.params["metadata"] == {"purpose": "signup", "signup": str(signup.uid)}
    assert (signup.subdomain, signup.status, signup.studio) == ("moonbeam", "pending", None)
    # Nothing exists until Stripe says paid; coming back from the redirect creates nothing.
    response = public_client.get(f"/signup/done/?session_id={session_id}")
    assert b"Waiting for Stripe" in response.content
    assert not Studio.objects.filter(schema_name="moonbeam").exists()


def test_a_taken_or_held_subdomain_is_refused_before_any_payment(
    public_client,
    fake_stripe,
    studio,
) -> None:
    response = public_client.post(
        "/signup/", {"studio_name": "Copy", "subdomain": "alpha", "owner_email": "x@y.example"}
    )
    assert response.status_code == 400
    assert b"alpha is taken" in response.content
    _sign_up(public_client, fake_stripe, subdomain="held-name")
    response = Client(HTTP_HOST="localhost").post(
        "/signup/", {"studio_name": "Late", "subdomain": "held-name", "owner_email": "l@y.example"}
    )
    assert response.status_code == 400 and b"held-name is taken" in response.content
    response = public_client.post(
        "/signup/", {"studio_name": "Bad", "subdomain": "No_Caps!", "owner_email": "x@y.example"}
    )
    assert response.status_code == 400 and b"lowercase letters" in response.content
    assert len(fake_stripe.calls("POST", "/v1/checkout/sessions")) == 1


def test_a_paid_checkout_creates_the_studio_once_whatever_the_order_or_repeats(
    public_client,
    fake_stripe,
    webhooks,
    fake_providers,
    studios_to_drop,
    django_capture_on_commit_callbacks,
    broker,
) -> None:
    session_id = _sign_up(public_client, fake_stripe)
    studios_to_drop.append("moonbeam")
    fake_stripe.checkout_complete(session_id)
    events = {event["type"]: event for event in fake_stripe.events_take()}
    assert set(events) == {"charge.succeeded", "checkout.session.completed", "invoice.paid"}

    # The pilot's invoice overtakes the checkout event: it waits for the studio.
    assert webhooks.send(events["invoice.paid"]).status_code == 200
    assert StripeEvent.objects.get(event_id=events["invoice.paid"]["id"]).status == "deferred"
    with django_capture_on_commit_callbacks(execute=True):
        statuses = webhooks.send_all([events["checkout.session.completed"]] * 3)
    assert statuses == [200, 200, 200]
    assert webhooks.send(events["charge.succeeded"]).status_code == 200

    # Stripe's request only records the payment; a job sets the studio up, and until it has
    # the payer's page says so (and refreshes itself).
    signup = Signup.objects.get(checkout_session_id=session_id)
    assert (signup.status, signup.studio) == ("paid", None)
    assert not Studio.objects.filter(schema_name="moonbeam").exists()
    waiting = public_client.get(f"/signup/done/?session_id={session_id}")
    assert b"Setting up Moonbeam Imaging" in waiting.content
    assert b'http-equiv="refresh"' in waiting.content
    assert queued_set_ups_run(broker) == [signup.pk]  # one job, though the event came 3 times

    studio = Studio.objects.get(schema_name="moonbeam")
    assert (studio.name, studio.plan, studio.status) == ("Moonbeam Imaging", "pilot", "active")
    assert list(Domain.objects.filter(tenant=studio).values_list("domain", flat=True)) == [
        "moonbeam.localhost"
    ]
    with schema_context("moonbeam"):
        [owner] = User.objects.all()
        assert (owner.username, owner.email, owner.role) == (
            "ana@moon.example",
            "ana@moon.example",
            "owner",
        )
    account = BillingAccount.objects.get(studio=studio)
    checkout = events["checkout.session.completed"]["data"]["object"]
    assert account.stripe_customer_id == checkout["customer"]
    assert account.pilot_payment_intent_id == checkout["payment_intent"]
    assert account.pilot_delivery_cap == 25
    assert (account.pilot_ends_at - account.pilot_paid_at).days in (28, 29, 30, 31)
    [invoice] = Invoice.objects.filter(account=account)
    assert (invoice.amount_paid, invoice.status) == (3900, "paid")

    rows = {row.event_id: row for row in StripeEvent.objects.all()}
    assert len(rows) == 3  # the repeated checkout event is one row
    assert rows[checkout_id := events["checkout.session.completed"]["id"]].status == "processed"
    assert rows[checkout_id].note == "paid; studio moonbeam being set up"
    assert rows[events["invoice.paid"]["id"]].status == "processed"
    assert rows[events["charge.succeeded"]["id"]].status == "ignored"

    # The welcome email carries the one-time link; the success page shows it once, to the payer.
    [email] = fake_providers.emails()
    text = email.json()["content"][0]["value"]
    link = re.search(r"http://moonbeam\.localhost:8000/billing/set-password/\S+/", text).group(0)
    stranger = Client(HTTP_HOST="localhost").get(f"/signup/done/?session_id={session_id}")
    assert b"set-password" not in stranger.content and b"is ready" in stranger.content
    first = public_client.get(f"/signup/done/?session_id={session_id}")
    assert b"Set your password" in first.content and b"/billing/set-password/" in first.content
    again = public_client.get(f"/signup/done/?session_id={session_id}")
    assert b"/billing/set-password/" not in again.content and b"We emailed" in again.content

    owner_browser = Client(HTTP_HOST="moonbeam.localhost")
    path = link.split(":8000", 1)[1]
    form_page = owner_browser.get(path, follow=True)
    assert b"Choose your password" in form_page.content
    done = owner_browser.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-long-owner-password", "new_password2": "a-long-owner-password"},
    )
    assert done.status_code == 302 and done["Location"] == "/billing/"
    assert owner_browser.get("/billing/").status_code == 200
    connection.set_schema_to_public()
    # Used once: the same link is now refused.
    reused = Client(HTTP_HOST="moonbeam.localhost").get(path, follow=True)
    assert b"already been used" in reused.content
    connection.set_schema_to_public()
    assert Studio.objects.filter(schema_name="moonbeam").count() == 1


def test_a_lost_set_up_job_is_sent_again_and_a_taken_subdomain_fails_with_the_reason(
    public_client,
    fake_stripe,
    webhooks,
    studio,
    broker,
    django_capture_on_commit_callbacks,
) -> None:
    session_id = _sign_up(public_client, fake_stripe, subdomain="late-bird")
    fake_stripe.checkout_complete(session_id)
    [checkout] = [e for e in fake_stripe.events_take() if e["type"] == "checkout.session.completed"]
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.send(checkout).status_code == 200
    broker.flush_all()  # the broker lost the job
    signup = Signup.objects.get(checkout_session_id=session_id)
    assert signup.status == "paid" and signup.setup_enqueued_at is not None

    # Not due yet: the job was taken a moment ago.
    assert signups_set_up_sweep() == 0
    later = signup.setup_enqueued_at + timedelta(minutes=11)
    assert signups_set_up_sweep(now=later) == 1
    # Meanwhile staff gave the subdomain away: the job marks the signup failed with the reason.
    Signup.objects.filter(pk=signup.pk).update(subdomain="alpha")
    assert queued_set_ups_run(broker) == [signup.pk]
    signup.refresh_from_db()
    assert (signup.status, signup.studio, signup.error) == (
        "failed",
        None,
        "That subdomain is taken.",
    )
    page = public_client.get(f"/signup/done/?session_id={session_id}")
    assert b"the studio could not be created" in page.content
    # A failed or finished signup is never set up again, and the sweep leaves it alone.
    assert signup_studio_set_up(signup_id=signup.pk).status == "failed"
    assert signups_set_up_sweep(now=later + timedelta(hours=1)) == 0


def test_a_forged_or_altered_webhook_gets_400_and_changes_nothing(
    public_client,
    fake_stripe,
    webhooks,
) -> None:
    session_id = _sign_up(public_client, fake_stripe, subdomain="forged")
    fake_stripe.checkout_complete(session_id)
    [checkout] = [e for e in fake_stripe.events_take() if e["type"] == "checkout.session.completed"]

    forged = webhooks.send(checkout, secret="whsec_guessed_by_an_attacker")
    altered_body = webhooks.send(
        checkout, body=webhooks_payload_with(checkout, subdomain_customer="cus_attacker")
    )
    unsigned = webhooks.client.post("/stripe/webhook/", data=b"{}", content_type="application/json")

    assert [forged.status_code, altered_body.status_code, unsigned.status_code] == [400, 400, 400]
    assert StripeEvent.objects.count() == 0
    assert not Studio.objects.filter(schema_name="forged").exists()
    assert Signup.objects.get(checkout_session_id=session_id).status == "pending"


def test_an_oversized_forged_webhook_body_gets_413_not_a_server_error(webhooks) -> None:
    body = b'{"id": "evt_forged", "padding": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    response = webhooks.client.post(
        "/stripe/webhook/",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE="t=1,v1=forged",
    )
    assert response.status_code == 413  # not 500: Stripe would retry a 5xx
    assert StripeEvent.objects.count() == 0


def webhooks_payload_with(event: dict, *, subdomain_customer: str) -> bytes:
    import json

    tampered = json.loads(json.dumps(event))
    tampered["data"]["object"]["customer"] = subdomain_customer
    return json.dumps(tampered).encode()


def test_an_event_that_fails_is_stored_as_failed_and_retried_by_stripe(
    public_client,
    fake_stripe,
    webhooks,
) -> None:
    session_id = _sign_up(public_client, fake_stripe, subdomain="broken")
    fake_stripe.checkout_complete(session_id)
    [checkout] = [e for e in fake_stripe.events_take() if e["type"] == "checkout.session.completed"]
    checkout["data"]["object"]["payment_intent"] = None  # a payload Cradle cannot act on

    first, retry = webhooks.send(checkout), webhooks.send(checkout)

    assert (first.status_code, retry.status_code) == (500, 500)  # Stripe retries on 5xx
    row = StripeEvent.objects.get(event_id=checkout["id"])
    assert (row.status, row.attempts) == ("failed", 2)
    assert "no customer or payment intent" in row.note
    assert not Studio.objects.filter(schema_name="broken").exists()


def test_signup_says_so_when_stripe_is_not_configured(public_client, settings) -> None:
    settings.STRIPE_SECRET_KEY = ""
    response = public_client.post(
        "/signup/", {"studio_name": "Early", "subdomain": "early", "owner_email": "e@y.example"}
    )
    assert response.status_code == 400
    assert b"Signups are closed on this server" in response.content
    assert not Signup.objects.exists()
