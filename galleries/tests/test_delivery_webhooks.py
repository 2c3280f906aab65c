"""Delivery statuses move only on signed provider callbacks, once; STOP is respected; failures
can be resent; a bad phone number is refused when the session is made."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ValidationError
from django.test import Client
from django_tenants.utils import schema_context
from twilio.request_validator import RequestValidator

from galleries.models import Delivery, ProviderEvent, SmsOptOut
from galleries.services.sending import delivery_resend, delivery_send, gallery_send
from galleries.tests.factories import ready_job_with_portraits
from render.models import ParentSession, RenderJob
from render.services import parent_session_create

HOST = "alpha.localhost"
TWILIO_TOKEN = "test-token"  # what the fake_providers fixture sets


def _key_pair() -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    public_der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(public_der).decode()  # as SendGrid's settings page shows it


@pytest.fixture
def sendgrid_key(settings):
    private, public = _key_pair()
    settings.SENDGRID_WEBHOOK_PUBLIC_KEY = public
    return private


def _sendgrid_post(
    private: ec.EllipticCurvePrivateKey, events: list[dict], *, timestamp: int | None = None
):
    body = json.dumps(events).encode()
    stamp = str(timestamp or int(time.time()))
    signature = base64.b64encode(private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256())))
    return Client(HTTP_HOST=HOST).post(
        "/hooks/sendgrid/events",
        body,
        content_type="application/json",
        HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE=signature.decode(),
        HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP=stamp,
    )


def _twilio_post(path: str, params: dict[str, str], *, token: str = TWILIO_TOKEN):
    url = f"http://{HOST}{path}"
    signature = RequestValidator(token).compute_signature(url, params)
    return Client(HTTP_HOST=HOST).post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


@pytest.fixture
def sent(studio, fake_providers):
    """An email and an SMS delivery, both sent through the (fake) providers."""
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits()
        deliveries = gallery_send(job=job, channels=["email", "sms"], enqueue=False)
        for delivery in deliveries:
            delivery_send(delivery_id=delivery.pk)
        return {d.channel: Delivery.objects.get(pk=d.pk) for d in deliveries}


def _status(studio, delivery: Delivery) -> str:
    with schema_context(studio.schema_name):
        delivery.refresh_from_db()
        return delivery.status


def test_the_sms_asks_twilio_to_call_back_on_cradles_public_host(sent, fake_providers) -> None:
    [sms] = fake_providers.sms()
    assert sms.form()["StatusCallback"].startswith("http://localhost:8000/hooks/twilio/status?ref=")
    [email] = fake_providers.emails()
    assert list(email.json()["custom_args"]) == ["cradle_ref"]  # never the sequential pk


def test_a_signed_sendgrid_delivered_event_marks_the_email_delivered(
    studio, sent, sendgrid_key
) -> None:
    email = sent["email"]
    event = {
        "event": "delivered",
        "sg_event_id": "ev-1",
        "sg_message_id": f"{email.provider_id}.filter0001",
    }
    response = _sendgrid_post(sendgrid_key, [event])
    assert response.status_code == 200 and response.json()["applied"] == 1
    assert _status(studio, email) == Delivery.Status.DELIVERED


def test_a_forged_sendgrid_event_is_refused_and_changes_nothing(studio, sent, sendgrid_key) -> None:
    forger, _ = _key_pair()
    event = {"event": "bounce", "sg_event_id": "ev-2", "sg_message_id": sent["email"].provider_id}
    assert _sendgrid_post(forger, [event]).status_code == 400
    unsigned = Client(HTTP_HOST=HOST).post(
        "/hooks/sendgrid/events", json.dumps([event]), content_type="application/json"
    )
    assert unsigned.status_code == 400
    stale = _sendgrid_post(sendgrid_key, [event], timestamp=int(time.time()) - 3600)
    assert stale.status_code == 400
    assert _status(studio, sent["email"]) == Delivery.Status.SENT
    with schema_context(studio.schema_name):
        assert ProviderEvent.objects.count() == 0


def test_a_replayed_sendgrid_event_has_no_second_effect(studio, sent, sendgrid_key) -> None:
    email = sent["email"]
    bounce = {
        "event": "bounce",
        "sg_event_id": "ev-3",
        "sg_message_id": email.provider_id,
        "reason": "550 no such user",
    }
    assert _sendgrid_post(sendgrid_key, [bounce]).json()["applied"] == 1
    with schema_context(studio.schema_name):
        delivery_resend(delivery=Delivery.objects.get(pk=email.pk), enqueue=False)
    assert _status(studio, email) == Delivery.Status.QUEUED
    replay = _sendgrid_post(sendgrid_key, [bounce])
    assert replay.status_code == 200 and replay.json()["duplicates"] == 1
    assert _status(studio, email) == Delivery.Status.QUEUED  # the resend was not undone


def test_a_bounce_shows_on_the_studio_page_with_a_resend_button(
    studio, sent, sendgrid_key, fake_providers
) -> None:
    from tests.tenancy import signed_in_client

    email = sent["email"]
    _sendgrid_post(
        sendgrid_key,
        [
            {
                "event": "bounce",
                "sg_event_id": "ev-4",
                "sg_message_id": email.provider_id,
                "reason": "mailbox full",
            }
        ],
    )
    staff = signed_in_client(studio)
    listing = staff.get("/galleries/").content.decode()
    assert "mailbox full" in listing and f"/galleries/deliveries/{email.pk}/resend/" in listing
    response = staff.post(f"/galleries/deliveries/{email.pk}/resend/")
    assert response.status_code == 302
    assert _status(studio, email) == Delivery.Status.QUEUED
    with schema_context(studio.schema_name):
        assert delivery_send(delivery_id=email.pk).status == Delivery.Status.SENT
        assert RenderJob.objects.get().state == RenderJob.State.DELIVERED
    assert len(fake_providers.emails()) == 2


def test_twilio_status_callbacks_move_the_sms_once_and_only_when_signed(studio, sent) -> None:
    sms = sent["sms"]
    params = {"MessageSid": sms.provider_id, "MessageStatus": "delivered", "AccountSid": "ACtest"}
    assert _twilio_post("/hooks/twilio/status", params, token="wrong-token").status_code == 400
    assert _status(studio, sms) == Delivery.Status.SENT
    assert _twilio_post("/hooks/twilio/status", params).json()["applied"] == 1
    assert _status(studio, sms) == Delivery.Status.DELIVERED
    assert _twilio_post("/hooks/twilio/status", params).json()["duplicates"] == 1
    late = {**params, "MessageStatus": "sent"}
    assert _twilio_post("/hooks/twilio/status", late).json()["applied"] == 0
    assert _status(studio, sms) == Delivery.Status.DELIVERED  # a late "sent" never undoes it


def test_a_tampered_twilio_callback_is_refused(studio, sent) -> None:
    sms = sent["sms"]
    params = {"MessageSid": sms.provider_id, "MessageStatus": "delivered"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(
        f"http://{HOST}/hooks/twilio/status", params
    )
    tampered = {**params, "MessageStatus": "failed"}
    response = Client(HTTP_HOST=HOST).post(
        "/hooks/twilio/status", tampered, HTTP_X_TWILIO_SIGNATURE=signature
    )
    assert response.status_code == 400
    assert _status(studio, sms) == Delivery.Status.SENT


def test_a_stop_reply_opts_the_number_out_and_later_texts_fail_without_calling_twilio(
    studio, fake_providers
) -> None:
    reply = {"From": "+14155550123", "Body": " stop ", "MessageSid": "SMin1"}
    response = _twilio_post("/hooks/twilio/inbound", reply)
    assert response.status_code == 200 and response["Content-Type"] == "text/xml"
    assert (
        _twilio_post(
            "/hooks/twilio/inbound", {**reply, "From": "+14155550999"}, token="x"
        ).status_code
        == 400
    )
    with schema_context(studio.schema_name):
        assert list(SmsOptOut.objects.values_list("phone", flat=True)) == ["+14155550123"]
        [delivery] = gallery_send(job=ready_job_with_portraits(), channels=["sms"], enqueue=False)
        result = delivery_send(delivery_id=delivery.pk)
        assert result.status == Delivery.Status.FAILED and "STOP" in result.error
        with pytest.raises(ValidationError, match="STOP"):
            delivery_resend(delivery=result, enqueue=False)
    assert fake_providers.sms() == []
    _twilio_post(
        "/hooks/twilio/inbound", {"From": "+14155550123", "Body": "START", "MessageSid": "SMin2"}
    )
    with schema_context(studio.schema_name):
        assert not SmsOptOut.objects.exists()
        delivery_resend(delivery=result, enqueue=False)
        assert delivery_send(delivery_id=result.pk).status == Delivery.Status.SENT
    assert len(fake_providers.sms()) == 1


def test_twilio_reporting_an_opted_out_recipient_records_the_opt_out(studio, sent) -> None:
    sms = sent["sms"]
    params = {"MessageSid": sms.provider_id, "MessageStatus": "undelivered", "ErrorCode": "21610"}
    _twilio_post("/hooks/twilio/status", params)
    with schema_context(studio.schema_name):
        assert SmsOptOut.objects.filter(phone=sms.recipient).exists()
        sms.refresh_from_db()
        assert sms.status == Delivery.Status.FAILED and "21610" in sms.error


def test_webhooks_of_one_studio_cannot_touch_another_studios_deliveries(
    studio, other_studio, sent
) -> None:
    sms = sent["sms"]
    beta_host = other_studio.domains.get(is_primary=True).domain
    params = {"MessageSid": sms.provider_id, "MessageStatus": "failed"}
    url = f"http://{beta_host}/hooks/twilio/status"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    response = Client(HTTP_HOST=beta_host).post(
        "/hooks/twilio/status", params, HTTP_X_TWILIO_SIGNATURE=signature
    )
    assert response.status_code == 200 and response.json()["unmatched"] == 1
    assert _status(studio, sms) == Delivery.Status.SENT


@pytest.mark.parametrize("phone", ["12345", "+1 555 000", "call me"])
def test_an_invalid_phone_is_refused_when_the_session_is_created(studio, phone) -> None:
    with schema_context(studio.schema_name):
        with pytest.raises(ValidationError, match="phone number"):
            parent_session_create(
                parent_name="Maya", phone=phone, consent_given=True, skin_swatches=["#a07e56"]
            )
        assert not ParentSession.objects.exists()
        session = parent_session_create(
            parent_name="Maya",
            phone="(415) 555-0123",
            consent_given=True,
            skin_swatches=["#a07e56"],
        )
        assert session.phone == "+14155550123"
