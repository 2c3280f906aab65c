"""The real SendGrid and Twilio SDKs, talking to local fake servers."""

from __future__ import annotations

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from galleries.models import Delivery, Gallery, token_digest
from galleries.services.sending import delivery_send, gallery_send
from render.models import ParentSession, RenderJob


@pytest.fixture
def ready_job(studio):
    with schema_context(studio.schema_name):
        session = ParentSession.objects.create(
            parent_name="Maya",
            email="maya@example.com",
            phone="+14155550123",
            consent_at=timezone.now(),
            consent_text_version="test",
            skin_swatches=["#a07e56"],
            target_tone_hex="#a07e56",
        )
        yield RenderJob.objects.create(session=session, base_seed=7, state=RenderJob.State.READY)


def test_email_and_sms_carry_the_link_and_the_studio_name(ready_job, fake_providers) -> None:
    deliveries = gallery_send(job=ready_job, channels=["email", "sms"], enqueue=False)
    for delivery in deliveries:
        delivery_send(delivery_id=delivery.pk)
    gallery = Gallery.objects.get(job=ready_job)
    link = f"http://alpha.localhost:8000/g/{gallery.token}/"

    [email] = fake_providers.emails()
    assert email.headers["Authorization"] == "Bearer SG.test-key"
    mail = email.json()
    assert mail["personalizations"][0]["to"] == [{"email": "maya@example.com"}]
    assert "Alpha Studio" in mail["subject"]
    assert {part["type"] for part in mail["content"]} == {"text/plain", "text/html"}
    assert all(link in part["value"] for part in mail["content"])

    [sms] = fake_providers.sms()
    assert sms.path == "/2010-04-01/Accounts/ACtest00000000000000000000000000/Messages.json"
    form = sms.form()
    assert form["To"] == "+14155550123"
    assert link in form["Body"] and form["Body"].startswith("Alpha Studio")

    statuses = {d.channel: (d.status, d.provider_id) for d in Delivery.objects.all()}
    assert statuses["email"] == ("sent", "sg-1") or statuses["email"][1].startswith("sg-")
    assert statuses["sms"][0] == "sent" and statuses["sms"][1].startswith("SM")
    ready_job.refresh_from_db()
    assert ready_job.state == RenderJob.State.DELIVERED


def test_sending_the_same_delivery_twice_sends_one_message(ready_job, fake_providers) -> None:
    [delivery] = gallery_send(job=ready_job, channels=["sms"], enqueue=False)
    delivery_send(delivery_id=delivery.pk)
    assert delivery_send(delivery_id=delivery.pk) is None
    assert len(fake_providers.sms()) == 1


def test_a_refused_number_fails_the_delivery_for_good_without_a_retry(
    ready_job, fake_providers
) -> None:
    fake_providers.fail_with = 400
    [delivery] = gallery_send(job=ready_job, channels=["sms"], enqueue=False)
    result = delivery_send(delivery_id=delivery.pk)
    assert result.status == Delivery.Status.FAILED
    assert "Twilio refused" in result.error


def test_a_provider_outage_is_retried_not_failed(ready_job, fake_providers) -> None:
    from studio_portal.messaging import TransientDeliveryError

    fake_providers.fail_with = 503
    [delivery] = gallery_send(job=ready_job, channels=["email"], enqueue=False)
    with pytest.raises(TransientDeliveryError):
        delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.QUEUED


def test_a_gallery_token_is_long_and_stored_with_its_digest(ready_job) -> None:
    from galleries.services.gallery import gallery_create

    gallery = gallery_create(job=ready_job)
    assert len(gallery.token) >= 32  # 24 random bytes, base64url: 192 bits
    assert gallery.token_digest == token_digest(gallery.token)
    assert gallery_create(job=ready_job).pk == gallery.pk
