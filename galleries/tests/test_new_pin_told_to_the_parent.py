"""A PIN changed after the gallery was sent is sent to the parent, on the channels her link
reached her by, through the outbox (issue 17 item 2): she is never locked out by a PIN nobody
told her."""

from __future__ import annotations

import dramatiq
from django.test import Client
from django_tenants.utils import schema_context

from galleries.models import Delivery, Gallery, SmsOptOut
from galleries.services.gallery import gallery_protect
from galleries.services.sending import delivery_send
from galleries.tests.factories import ready_job_with_portraits
from studio_portal.audit.models import AuditLogEntry
from tests.tenancy import signed_in_client

HOST = "alpha.localhost"


def _sent_gallery(studio, fake_providers, channels: list[str]) -> Gallery:
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits()
    signed_in_client(studio).post(f"/jobs/{job.uid}/send/", {"channel": channels, "pin": "1111"})
    with schema_context(studio.schema_name):
        for delivery in Delivery.objects.all():
            delivery_send(delivery_id=delivery.pk)
        return Gallery.objects.get(job=job)


def test_a_new_pin_goes_to_her_by_email_and_sms_through_the_outbox(
    studio,
    fake_providers,
    django_capture_on_commit_callbacks,
) -> None:
    gallery = _sent_gallery(studio, fake_providers, ["email", "sms"])
    assert len(fake_providers.requests) == 2
    broker = dramatiq.get_broker()
    broker.flush_all()
    owner = signed_in_client(studio, "owner")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(
            f"/galleries/{gallery.uid}/protect/",
            {"pin": "97531", "expires_on": ""},
            follow=True,
        )
    assert "The new PIN is on its way to the parent by email and SMS." in response.content.decode()
    with schema_context(studio.schema_name):
        told = list(Delivery.objects.filter(kind=Delivery.Kind.PIN).order_by("channel"))
        assert [(d.channel, d.status) for d in told] == [("email", "queued"), ("sms", "queued")]
        # Handed to the broker once the change committed, and stamped: the sweep has nothing to do.
        assert all(d.enqueued_at is not None for d in told)
        queued = [m for m in broker.queues["default"].queue]
        assert {dramatiq.Message.decode(m).args[1] for m in queued} == {d.pk for d in told}
        for delivery in told:
            assert delivery_send(delivery_id=delivery.pk).status == Delivery.Status.SENT
        audit = AuditLogEntry.objects.get(action="gallery.pin_sent")
        assert audit.detail == {"channels": ["email", "sms"]}
    email, sms = fake_providers.emails()[-1].json(), fake_providers.sms()[-1].form()
    assert email["subject"] == "Your new PIN for your gallery from Alpha Studio"
    text = email["content"][0]["value"]
    assert "Your new PIN: 97531" in text and "1111" not in text
    assert f"/g/{gallery.token}/" in text
    assert "new PIN 97531" in sms["Body"] and "Reply STOP" in sms["Body"]
    # The PIN she was sent opens her gallery; the old one no longer does.
    parent = Client(HTTP_HOST=HOST)
    assert parent.post(f"/g/{gallery.token}/pin/", {"pin": "1111"}).status_code != 302
    assert parent.post(f"/g/{gallery.token}/pin/", {"pin": "97531"}).status_code == 302


def test_only_the_channels_that_reached_her_and_nothing_for_a_link_not_yet_sent(
    studio,
    fake_providers,
) -> None:
    gallery = _sent_gallery(studio, fake_providers, ["email", "sms"])
    with schema_context(studio.schema_name):
        Delivery.objects.filter(channel="email").update(status=Delivery.Status.FAILED)
        gallery_protect(gallery=gallery, pin="2468")
        assert list(Delivery.objects.filter(kind="pin").values_list("channel", flat=True)) == [
            "sms"
        ]
        # She replied STOP since: no text, and no email either (hers bounced).
        SmsOptOut.objects.create(phone=gallery.job.session.phone)
        gallery_protect(gallery=gallery, pin="8642")
        assert Delivery.objects.filter(kind="pin").count() == 1
        # Same PIN again, an expiry change, a PIN removed: nothing to tell.
        Delivery.objects.filter(channel="email").update(status=Delivery.Status.SENT)
        gallery_protect(gallery=gallery, pin="8642")
        gallery_protect(gallery=gallery, pin="")
        assert Delivery.objects.filter(kind="pin").count() == 1

    # A gallery whose link is still queued: the link itself carries the new PIN when it goes.
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits()
    signed_in_client(studio).post(f"/jobs/{job.uid}/send/", {"channel": ["sms"], "pin": "1111"})
    with schema_context(studio.schema_name):
        queued = Gallery.objects.get(job=job)
        gallery_protect(gallery=queued, pin="5555")
        assert not queued.deliveries.filter(kind="pin").exists()
