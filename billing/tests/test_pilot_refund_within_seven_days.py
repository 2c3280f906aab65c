"""The pilot can be refunded in full for 7 days after it was paid, then never."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from billing.models import BillingAccount, StripeEvent
from studio_portal.audit.models import AuditLogEntry
from studio_portal.tenants.models import Studio
from tests.tenancy import signed_in_client


def test_the_owner_refunds_the_pilot_inside_seven_days_and_the_studio_lapses(
    pilot_studio,
    owner_client,
    fake_stripe,
    webhooks,
) -> None:
    page = owner_client.get("/billing/")
    assert b'id="refund-button"' in page.content

    response = owner_client.post("/billing/refund/", follow=True)
    connection.set_schema_to_public()

    assert b"pilot has been refunded" in response.content
    [call] = fake_stripe.calls("POST", "/v1/refunds")
    account = BillingAccount.objects.get(studio=pilot_studio)
    assert call.params["payment_intent"] == account.pilot_payment_intent_id
    assert call.params["reason"] == "requested_by_customer"
    assert call.headers["Idempotency-Key"] == f"pilot-refund-{account.pk}"
    assert account.pilot_refund_id.startswith("re_test_")
    assert Studio.objects.get(pk=pilot_studio.pk).status == Studio.Status.LAPSED
    with schema_context(pilot_studio.schema_name):
        [entry] = AuditLogEntry.objects.filter(action="billing.pilot_refunded")
        assert entry.detail == {"refund": account.pilot_refund_id}
        assert entry.actor.username == "owner"

    # Stripe's charge.refunded arrives (twice): recorded, nothing more happens.
    events = fake_stripe.events_take()
    assert [e["type"] for e in events] == ["refund.created", "charge.refunded"]
    assert webhooks.send_all(events + events) == [200] * 4
    statuses = dict(StripeEvent.objects.values_list("type", "status"))
    assert statuses == {"refund.created": "ignored", "charge.refunded": "processed"}
    assert BillingAccount.objects.get(pk=account.pk).pilot_refunded_at == account.pilot_refunded_at

    # A second press: refused with a reason, no second refund asked of Stripe.
    again = owner_client.post("/billing/api/refund/")
    assert again.status_code == 400
    assert "already refunded" in again.json()["detail"]
    assert len(fake_stripe.calls("POST", "/v1/refunds")) == 1
    assert b'id="refund-button"' not in owner_client.get("/billing/").content


def test_after_seven_days_the_button_is_gone_and_the_api_refuses(
    pilot_studio,
    owner_client,
    fake_stripe,
) -> None:
    BillingAccount.objects.filter(studio=pilot_studio).update(
        pilot_paid_at=timezone.now() - timedelta(days=7, minutes=1)
    )

    page = owner_client.get("/billing/")
    assert page.status_code == 200 and b'id="refund-button"' not in page.content
    response = owner_client.post("/billing/api/refund/")
    connection.set_schema_to_public()

    assert response.status_code == 400
    assert response.json()["code"] == "refund_refused"
    assert "7-day refund window for the pilot ended on" in response.json()["detail"]
    assert fake_stripe.calls("POST", "/v1/refunds") == []
    assert Studio.objects.get(pk=pilot_studio.pk).status == Studio.Status.ACTIVE
    status = owner_client.get("/billing/api/").json()
    assert status["refund_allowed"] is False and "ended on" in status["refund_refused_reason"]


def test_a_refund_made_by_cradle_support_in_stripe_also_lapses_the_pilot(
    pilot_studio,
    fake_stripe,
    webhooks,
) -> None:
    from billing.stripe_gateway import stripe_client

    account = BillingAccount.objects.get(studio=pilot_studio)
    stripe_client().v1.refunds.create(params={"payment_intent": account.pilot_payment_intent_id})
    webhooks.send_all(fake_stripe.events_take())

    assert Studio.objects.get(pk=pilot_studio.pk).status == Studio.Status.LAPSED
    assert BillingAccount.objects.get(pk=account.pk).pilot_refunded_at is not None


def test_sonographers_get_403_on_every_billing_page_and_api(pilot_studio, fake_stripe) -> None:
    sonographer = signed_in_client(pilot_studio, "sono")
    answers = [
        sonographer.get("/billing/").status_code,
        sonographer.post("/billing/refund/").status_code,
        sonographer.post("/billing/upgrade/", {"plan": "studio"}).status_code,
        sonographer.post("/billing/portal/").status_code,
        sonographer.get("/billing/api/").status_code,
        sonographer.post("/billing/api/refund/").status_code,
    ]
    connection.set_schema_to_public()
    assert answers == [403] * 6
    assert fake_stripe.requests == []
    assert Studio.objects.get(pk=pilot_studio.pk).status == Studio.Status.ACTIVE
