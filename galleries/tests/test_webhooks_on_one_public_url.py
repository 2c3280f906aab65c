"""SendGrid and Twilio post every studio's events to one URL on Cradle's own host; each event
reaches the studio its signed delivery reference names, never the one whose sequential id it
happens to share, and a STOP reaches every studio that texted the number."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client
from django_tenants.utils import schema_context
from twilio.request_validator import RequestValidator

from galleries.models import Delivery, ProviderEvent, SmsOptOut
from galleries.services.sending import delivery_send, gallery_send
from galleries.tests.factories import parent_session, ready_job_with_portraits, scan_with_files
from galleries.webhooks import delivery_ref_read
from studio_portal.audit.models import AuditLogEntry

PUBLIC_HOST = "localhost"  # CRADLE_BASE_DOMAIN: the public schema's host (port 8000 in tests)
ALPHA_HOST = "alpha.localhost"
TWILIO_TOKEN = "test-token"  # what the fake_providers fixture sets


@pytest.fixture
def sendgrid_key(settings):
    private = ec.generate_private_key(ec.SECP256R1())
    public_der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings.SENDGRID_WEBHOOK_PUBLIC_KEY = base64.b64encode(public_der).decode()
    return private


def _sendgrid_post(private, events: list[dict], *, host: str = PUBLIC_HOST):
    body = json.dumps(events).encode()
    stamp = str(int(time.time()))
    signature = base64.b64encode(private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256())))
    return Client(HTTP_HOST=host).post(
        "/hooks/sendgrid/events",
        body,
        content_type="application/json",
        HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE=signature.decode(),
        HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP=stamp,
    )


def _twilio_post(url: str, params: dict[str, str]):
    """Post as Twilio does: signed over the full URL it was given, query string included."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    return Client(HTTP_HOST=parts.netloc).post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def _send(studio, channels: list[str], *, phone: str = "+14155550123") -> dict[str, Delivery]:
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits(scan=scan_with_files(parent_session(phone=phone)))
        deliveries = gallery_send(job=job, channels=channels, enqueue=False)
        for delivery in deliveries:
            delivery_send(delivery_id=delivery.pk)
        return {d.channel: Delivery.objects.get(pk=d.pk) for d in deliveries}


def _reload(studio, delivery: Delivery) -> Delivery:
    with schema_context(studio.schema_name):
        return Delivery.objects.get(pk=delivery.pk)


def _echoed_event(request, delivery: Delivery, kind: str, event_id: str) -> dict:
    """The event SendGrid posts about a message Cradle sent: its custom args echoed back."""
    return {
        "event": kind,
        "sg_event_id": event_id,
        "sg_message_id": f"{delivery.provider_id}.filter0001",
        "reason": "550 no such user",
        **request.json()["custom_args"],
    }


def test_outgoing_messages_name_their_studio_and_delivery_in_a_signed_reference(
    studio, fake_providers
) -> None:
    sent = _send(studio, ["email", "sms"])
    [email] = fake_providers.emails()
    args = email.json()["custom_args"]
    assert set(args) == {"cradle_ref"}  # no sequential id any more
    assert delivery_ref_read(args["cradle_ref"]) == ("alpha", str(sent["email"].uid))
    forged = args["cradle_ref"].replace("alpha/", "beta/")
    assert delivery_ref_read(forged) is None
    [sms] = fake_providers.sms()
    callback = urlsplit(sms.form()["StatusCallback"])
    assert (callback.netloc, callback.path) == ("localhost:8000", "/hooks/twilio/status")
    [ref] = parse_qs(callback.query)["ref"]
    assert delivery_ref_read(ref) == ("alpha", str(sent["sms"].uid))


def test_a_bounce_for_one_studio_never_fails_anothers_delivery_with_the_same_number(
    studio, other_studio, fake_providers, sendgrid_key
) -> None:
    alpha = _send(studio, ["email"])["email"]
    beta = _send(other_studio, ["email"])["email"]
    # The sequences of two schemas give the same numbers: make it so here.
    with schema_context(studio.schema_name):
        Delivery.objects.filter(pk=alpha.pk).update(id=beta.pk)
        alpha = Delivery.objects.get(pk=beta.pk)
    beta_email = fake_providers.emails()[1]
    bounce = _echoed_event(beta_email, beta, "bounce", "ev-b-1")

    response = _sendgrid_post(sendgrid_key, [bounce])  # the one URL configured at SendGrid
    assert response.status_code == 200 and response.json()["applied"] == 1
    assert _reload(other_studio, beta).status == Delivery.Status.FAILED
    assert _reload(studio, alpha).status == Delivery.Status.SENT
    with schema_context(studio.schema_name):
        assert not ProviderEvent.objects.exists()  # beta's parent's address stays out of alpha
    with schema_context(other_studio.schema_name):
        assert ProviderEvent.objects.get().delivery_id == beta.pk

    # The old per-studio URL routes the same way: beta's event posted on alpha's host.
    delivered = _echoed_event(beta_email, beta, "delivered", "ev-b-2")
    old_url = _sendgrid_post(sendgrid_key, [delivered], host=ALPHA_HOST)
    assert old_url.status_code == 200 and old_url.json()["duplicates"] == 0
    assert _reload(studio, alpha).status == Delivery.Status.SENT


def test_an_event_with_no_reference_goes_by_message_id_and_a_forged_one_goes_nowhere(
    studio, other_studio, fake_providers, sendgrid_key
) -> None:
    beta = _send(other_studio, ["email"])["email"]
    legacy = {  # sent before references: only SendGrid's own message id
        "event": "delivered",
        "sg_event_id": "ev-l-1",
        "sg_message_id": f"{beta.provider_id}.filter0001",
        "cradle_delivery": "1",
    }
    forged = {
        "event": "bounce",
        "sg_event_id": "ev-f-1",
        "sg_message_id": "not-a-message",
        "cradle_ref": f"beta/{beta.uid}:forged-signature",
    }
    click = {"event": "click", "sg_event_id": "ev-c-1", "sg_message_id": beta.provider_id}
    result = _sendgrid_post(sendgrid_key, [legacy, forged, click]).json()
    assert result == {"applied": 1, "duplicates": 0, "unmatched": 1, "ignored": 1}
    assert _reload(other_studio, beta).status == Delivery.Status.DELIVERED


def test_a_twilio_status_callback_on_the_public_url_reaches_its_studio(
    studio, other_studio, fake_providers
) -> None:
    alpha = _send(studio, ["sms"])["sms"]
    beta = _send(other_studio, ["sms"])["sms"]
    beta_callback = fake_providers.sms()[1].form()["StatusCallback"]
    params = {"MessageSid": beta.provider_id, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    response = _twilio_post(beta_callback, params)
    assert response.status_code == 200 and response.json()["applied"] == 1
    assert _reload(other_studio, beta).status == Delivery.Status.FAILED
    assert _reload(studio, alpha).status == Delivery.Status.SENT
    # The reference is part of what Twilio signs: it cannot be swapped for another studio's.
    alpha_callback = fake_providers.sms()[0].form()["StatusCallback"]
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(beta_callback, params)
    swapped = urlsplit(alpha_callback)
    response = Client(HTTP_HOST=swapped.netloc).post(
        f"{swapped.path}?{swapped.query}", params, HTTP_X_TWILIO_SIGNATURE=signature
    )
    assert response.status_code == 400


def test_a_stop_on_the_public_url_opts_out_of_every_studio_that_texted_the_number(
    studio, other_studio, fake_providers
) -> None:
    both = "+14155550123"
    alpha_only = "+14155550777"
    _send(studio, ["sms"], phone=both)
    _send(other_studio, ["sms"], phone=both)
    _send(studio, ["sms"], phone=alpha_only)
    inbound = "http://localhost:8000/hooks/twilio/inbound"

    stop = _twilio_post(inbound, {"From": both, "Body": "STOP", "MessageSid": "SMin-1"})
    assert stop.status_code == 200 and stop["Content-Type"] == "text/xml"
    _twilio_post(inbound, {"From": alpha_only, "Body": "Stop.", "MessageSid": "SMin-2"})

    def opted_out(studio) -> set[str]:
        with schema_context(studio.schema_name):
            return set(SmsOptOut.objects.values_list("phone", flat=True))

    assert opted_out(studio) == {both, alpha_only}
    assert opted_out(other_studio) == {both}  # beta never texted the other number
    with schema_context(other_studio.schema_name):
        [delivery] = gallery_send(job=ready_job_with_portraits(), channels=["sms"], enqueue=False)
        assert delivery_send(delivery_id=delivery.pk).status == Delivery.Status.FAILED
    assert len(fake_providers.sms()) == 3  # the last one was never handed to Twilio

    _twilio_post(inbound, {"From": both, "Body": "START", "MessageSid": "SMin-3"})
    assert opted_out(studio) == {alpha_only} and opted_out(other_studio) == set()


def _opted_out(studio) -> set[str]:
    with schema_context(studio.schema_name):
        return set(SmsOptOut.objects.values_list("phone", flat=True))


def test_twilio_refusing_an_unsubscribed_number_opts_it_out_of_every_studio_that_texted_it(
    studio, other_studio, fake_providers
) -> None:
    both = "+14155550123"
    alpha_only = "+14155550777"
    _send(other_studio, ["sms"], phone=both)  # beta texted her before
    fake_providers.fail_with, fake_providers.fail_code = 400, 21610  # she has since replied STOP
    alpha = _send(studio, ["sms"], phone=both)["sms"]
    assert alpha.status == Delivery.Status.FAILED and "Twilio refused" in alpha.error
    assert _opted_out(studio) == {both}
    assert _opted_out(other_studio) == {both}  # not only the studio whose text was refused
    with schema_context(other_studio.schema_name):
        entry = AuditLogEntry.objects.get(action="sms.opted_out")
        assert entry.detail == {"phone_suffix": "0123", "source": "twilio 21610"}
    _send(studio, ["sms"], phone=alpha_only)
    assert _opted_out(other_studio) == {both}  # beta never texted that one

    fake_providers.fail_with = None
    calls = len(fake_providers.sms())
    with schema_context(other_studio.schema_name):
        [delivery] = gallery_send(
            job=ready_job_with_portraits(scan=scan_with_files(parent_session(phone=both))),
            channels=["sms"],
            enqueue=False,
        )
        result = delivery_send(delivery_id=delivery.pk)
        assert result.status == Delivery.Status.FAILED and "STOP" in result.error
    assert len(fake_providers.sms()) == calls  # beta no longer calls Twilio for her


def test_a_status_callback_with_21610_opts_the_number_out_of_every_studio_that_texted_it(
    studio, other_studio, fake_providers
) -> None:
    both = "+14155550123"
    alpha = _send(studio, ["sms"], phone=both)["sms"]
    _send(other_studio, ["sms"], phone=both)
    callback = fake_providers.sms()[0].form()["StatusCallback"]
    params = {"MessageSid": alpha.provider_id, "MessageStatus": "undelivered", "ErrorCode": "21610"}
    assert _twilio_post(callback, params).json()["applied"] == 1
    assert _reload(studio, alpha).status == Delivery.Status.FAILED
    assert _opted_out(studio) == {both} and _opted_out(other_studio) == {both}
