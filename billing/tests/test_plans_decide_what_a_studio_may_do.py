"""Upgrades, subscription webhooks in any order, and what the plan allows: renders,
deliveries, white-label. Galleries always keep working."""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context
from PIL import Image

from billing import selectors, services
from billing.models import BillingAccount, Invoice, StripeEvent
from galleries.models import Delivery
from galleries.services.gallery import gallery_create
from render.models import Candidate, ParentSession, RenderJob, Scan
from render.services import RenderNotAllowed, scan_upload
from studio_portal.tenants.models import Studio


def _studio(pk: int) -> Studio:
    return Studio.objects.get(pk=pk)


def _upgrade_through_checkout(owner_client, fake_stripe, webhooks, plan: str) -> list[dict]:
    response = owner_client.post("/billing/upgrade/", {"plan": plan})
    connection.set_schema_to_public()
    assert response.status_code == 302
    session_id = response["Location"].rsplit("/", 1)[1]
    fake_stripe.checkout_complete(session_id)
    events = fake_stripe.events_take()
    assert webhooks.send_all(events) == [200] * len(events)
    return events


def test_upgrading_the_pilot_to_studio_through_checkout_unlocks_white_label(
    pilot_studio,
    owner_client,
    fake_stripe,
    webhooks,
) -> None:
    assert not selectors.studio_is_white_label(pilot_studio)

    events = _upgrade_through_checkout(owner_client, fake_stripe, webhooks, "studio")

    [call] = fake_stripe.calls("POST", "/v1/checkout/sessions")
    account = BillingAccount.objects.get(studio=pilot_studio)
    assert call.params["mode"] == "subscription"
    assert call.params["customer"] == account.stripe_customer_id
    assert call.params["line_items"] == [{"price": "price_studio", "quantity": "1"}]
    studio = _studio(pilot_studio.pk)
    assert (studio.plan, studio.status) == ("studio", "active")
    assert selectors.studio_is_white_label(studio)
    assert account.stripe_subscription_id.startswith("sub_test_")
    assert account.subscription_status == "active"
    assert account.current_period_end > timezone.now() + timedelta(days=25)
    assert selectors.pilot_delivery_usage(studio).cap is None  # no cap on paid plans
    assert Invoice.objects.get(account=account).amount_paid == 24900
    statuses = {e.type: e.status for e in StripeEvent.objects.all()}
    assert statuses == {
        "customer.subscription.created": "ignored",
        "invoice.paid": "processed",
        "checkout.session.completed": "processed",
    }
    assert len(events) == 3


def test_growth_switches_to_studio_in_place_and_the_page_shows_the_new_plan(
    pilot_studio,
    owner_client,
    fake_stripe,
    webhooks,
) -> None:
    _upgrade_through_checkout(owner_client, fake_stripe, webhooks, "growth")
    growth = _studio(pilot_studio.pk)
    assert growth.plan == "growth" and not selectors.studio_is_white_label(growth)

    response = owner_client.post("/billing/upgrade/", {"plan": "studio"})
    connection.set_schema_to_public()

    assert response.status_code == 302 and response["Location"] == "/billing/"
    [update] = fake_stripe.calls("POST", "/v1/subscriptions/")
    assert update.params["items"][0]["price"] == "price_studio"
    assert update.params["proration_behavior"] == "always_invoice"
    assert selectors.studio_is_white_label(_studio(pilot_studio.pk))
    assert webhooks.send_all(fake_stripe.events_take()) == [200, 200]
    assert _studio(pilot_studio.pk).plan == "studio"

    page = owner_client.get("/billing/").content.decode()
    assert "<h1>Studio" in page and "Renews on" in page and "Move to" not in page
    assert page.count("CRADLE-") == 2  # the Growth invoice and the proration invoice
    assert len(Invoice.objects.filter(account__studio=pilot_studio)) == 2


def test_subscription_events_out_of_order_keep_the_newest_state(
    pilot_studio,
    owner_client,
    fake_stripe,
    webhooks,
) -> None:
    _upgrade_through_checkout(owner_client, fake_stripe, webhooks, "growth")
    subscription_id = BillingAccount.objects.get(studio=pilot_studio).stripe_subscription_id

    fake_stripe.subscription_renews(subscription_id)
    renewed = fake_stripe.events_take()  # older: subscription active, invoice paid
    fake_stripe.subscription_payment_fails(subscription_id)
    failed = fake_stripe.events_take()  # newer: payment failed, subscription past_due
    webhooks.send_all(failed)
    assert _studio(pilot_studio.pk).status == "past_due"
    webhooks.send_all(renewed)  # late, older: must not mark the studio paid again
    assert _studio(pilot_studio.pk).status == "past_due"
    assert not selectors.studio_may_render(_studio(pilot_studio.pk)).allowed

    fake_stripe.subscription_cancel(subscription_id)
    [deleted] = fake_stripe.events_take()
    webhooks.send(deleted)
    webhooks.send_all(renewed + failed)  # everything again, replayed
    studio = _studio(pilot_studio.pk)
    assert studio.status == "lapsed"
    assert "lapsed" in selectors.studio_may_render(studio).reason
    replayed = StripeEvent.objects.filter(event_id__in=[e["id"] for e in renewed])
    assert {e.status for e in replayed} <= {"ignored", "processed"}
    assert replayed.get(type="customer.subscription.updated").status == "ignored"


@pytest.fixture
def sent_gallery(pilot_studio):
    """A finished job in alpha whose gallery was sent to the parent."""
    with schema_context(pilot_studio.schema_name):
        session = ParentSession.objects.create(
            parent_name="Maya",
            email="maya@example.com",
            consent_at=timezone.now(),
            consent_text_version="test",
            skin_swatches=["#a07e56"],
            target_tone_hex="#a07e56",
        )
        buffer = io.BytesIO()
        Image.fromarray(np.full((8, 8, 3), 120, dtype=np.uint8)).save(buffer, format="PNG")
        png = buffer.getvalue()
        scan = Scan(
            session=session, sha256="0" * 64, detected_type="png", size_bytes=1, width=8, height=8
        )
        scan.original_encrypted.save("original.bin.enc", ContentFile(b"x"), save=False)
        scan.deidentified.save("deidentified.png", ContentFile(png), save=False)
        scan.report_image.save("report.png", ContentFile(png), save=False)
        scan.save()
        job = RenderJob.objects.create(
            scan=scan, session=session, base_seed=1, state=RenderJob.State.DELIVERED
        )
        candidate = Candidate(
            job=job, seed=1, rank=0, score=0.5, is_primary=True, shared_with_parent=True
        )
        candidate.image.save("1.png", ContentFile(png), save=False)
        candidate.web_image.save("1-web.jpg", ContentFile(png), save=False)
        candidate.save()
        gallery = gallery_create(job=job)
        Delivery.objects.create(
            gallery=gallery, channel="email", recipient=session.email, status=Delivery.Status.SENT
        )
        return gallery


def test_a_lapsed_studio_cannot_upload_but_its_gallery_still_opens(
    pilot_studio,
    sent_gallery,
    fake_stripe,
    phantom_jpeg,
) -> None:
    services.studio_billing_state_set(studio=pilot_studio, status=Studio.Status.LAPSED)
    from tests.tenancy import signed_in_client

    with schema_context(pilot_studio.schema_name):
        session = ParentSession.objects.get()
        with pytest.raises(RenderNotAllowed, match="plan has lapsed, so new portraits are paused"):
            scan_upload(session=session, data=phantom_jpeg, uploaded_by=None)
        assert Scan.objects.count() == 1  # nothing half-written

    sonographer = signed_in_client(pilot_studio, "sono")
    upload = sonographer.post(
        f"/api/sessions/{session.uid}/scans/",
        {"scan": ContentFile(phantom_jpeg, name="scan.jpg")},
    )
    assert upload.status_code == 402 and "lapsed" in upload.json()["detail"]
    parent_page = sonographer.get(f"/g/{sent_gallery.token}/")
    connection.set_schema_to_public()
    assert parent_page.status_code == 200
    assert b"Not a medical prediction" in parent_page.content


def test_the_pilot_cap_is_reached_at_delivery_and_a_resend_still_goes(
    pilot_studio,
    sent_gallery,
    fake_stripe,
) -> None:
    assert selectors.studio_may_deliver(pilot_studio).allowed
    BillingAccount.objects.filter(studio=pilot_studio).update(pilot_delivery_cap=1)
    usage = selectors.pilot_delivery_usage(pilot_studio)
    assert (usage.used, usage.cap, usage.remaining) == (1, 1, 0)

    refused = selectors.studio_may_deliver(pilot_studio)
    assert not refused.allowed
    assert "pilot includes 1 gallery deliveries and all of them have been used" in refused.reason
    assert selectors.studio_may_deliver(pilot_studio, gallery=sent_gallery).allowed
    services.studio_billing_state_set(studio=pilot_studio, plan=Studio.Plan.GROWTH)
    assert selectors.studio_may_deliver(pilot_studio).allowed


def test_an_ended_pilot_month_stops_renders_and_the_sweep_marks_it_lapsed(
    pilot_studio,
    fake_stripe,
) -> None:
    BillingAccount.objects.filter(studio=pilot_studio).update(
        pilot_ends_at=timezone.now() - timedelta(minutes=1)
    )
    refused = selectors.studio_may_render(_studio(pilot_studio.pk))
    assert not refused.allowed and "pilot month has ended" in refused.reason

    assert services.billing_pilots_lapse_ended() == 1
    assert _studio(pilot_studio.pk).status == "lapsed"
    assert services.billing_pilots_lapse_ended() == 0


def test_the_customer_portal_link_opens_stripe_for_the_studio_customer(
    pilot_studio,
    owner_client,
    fake_stripe,
) -> None:
    response = owner_client.post("/billing/portal/")
    connection.set_schema_to_public()

    customer = BillingAccount.objects.get(studio=pilot_studio).stripe_customer_id
    assert response.status_code == 302
    assert response["Location"] == f"{fake_stripe.url}/portal/{customer}"
    [call] = fake_stripe.calls("POST", "/v1/billing_portal/sessions")
    assert call.params == {"customer": customer, "return_url": "http://alpha.localhost/billing/"}


def test_the_billing_page_shows_plan_end_date_usage_and_upgrades(
    pilot_studio,
    sent_gallery,
    owner_client,
    fake_stripe,
) -> None:
    page = owner_client.get("/billing/").content.decode()
    account = BillingAccount.objects.get(studio=pilot_studio)

    assert "<h1>Pilot" in page
    assert "Pilot ends on</dt>" in page
    assert f'<dd id="renewal">{account.pilot_ends_at:%B %-d, %Y}</dd>' in page
    assert "<strong>1</strong> of 25 galleries sent" in page
    assert "Move to Growth" in page and "Move to Studio" in page
    assert "Refund my $39 pilot" in page
    assert "No invoices yet." in page


def test_a_studio_made_without_a_payment_gets_its_stripe_customer_from_its_first_checkout(
    studio,
    fake_stripe,
    webhooks,
) -> None:
    from tests.tenancy import signed_in_client

    owner = signed_in_client(studio, "owner")
    page = owner.get("/billing/").content.decode()
    assert "<h1>Pilot" in page and "Refund" not in page and "Move to Growth" in page

    _upgrade_through_checkout(owner, fake_stripe, webhooks, "growth")

    [call] = fake_stripe.calls("POST", "/v1/checkout/sessions")
    assert "customer" not in call.params
    account = BillingAccount.objects.get(studio=studio)
    assert account.stripe_customer_id.startswith("cus_test_")
    assert (_studio(studio.pk).plan, account.subscription_status) == ("growth", "active")
    assert Invoice.objects.filter(account=account).count() == 1


def test_sending_a_new_gallery_past_the_pilot_cap_is_refused_and_writes_nothing(
    pilot_studio,
    sent_gallery,
    fake_stripe,
) -> None:
    from django.core.exceptions import ValidationError

    from galleries.services.sending import gallery_send

    BillingAccount.objects.filter(studio=pilot_studio).update(pilot_delivery_cap=1)
    with schema_context(pilot_studio.schema_name):
        session = ParentSession.objects.create(
            parent_name="Noor",
            email="noor@example.com",
            consent_at=timezone.now(),
            consent_text_version="test",
            skin_swatches=["#a07e56"],
            target_tone_hex="#a07e56",
        )
        job = RenderJob.objects.create(session=session, base_seed=2, state=RenderJob.State.READY)
        deliveries_before = Delivery.objects.count()
        with pytest.raises(ValidationError, match="all of them have been used"):
            gallery_send(job=job, channels=["email"], enqueue=False)
        job.refresh_from_db()
        assert job.state == RenderJob.State.READY
        assert Delivery.objects.count() == deliveries_before
        # The gallery that was already sent can still be sent again.
        assert gallery_send(job=sent_gallery.job, channels=["email"], enqueue=False)
