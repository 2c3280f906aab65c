"""Is this webhook request really from SendGrid / Twilio, and which studio's delivery does it
speak of? Pure checks, no database.

SendGrid signs ``timestamp + body`` with ECDSA P-256 / SHA-256 (its "Signed Event Webhook");
the public key, base64 DER as SendGrid's settings page shows it, comes from settings. Twilio
signs the full URL plus the sorted form parameters with HMAC-SHA1 under the account's auth
token; its SDK's ``RequestValidator`` checks that.

Both providers post every studio's events to one URL. Each outgoing message therefore carries
a delivery reference (SendGrid custom arg ``cradle_ref``, Twilio ``?ref=`` on the status
callback): the studio's schema and the delivery's uid, signed with the SECRET_KEY. The routing
trusts only a reference whose signature holds; nothing else (a sequential id, a host) names a
studio's delivery.
"""

from __future__ import annotations

import binascii
import time
import uuid

from django.core import signing

SENDGRID_SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
# A signed batch older than this is refused even with a good signature: a captured request
# cannot be replayed tomorrow (within the window the event ids stop a second effect).
SENDGRID_MAX_AGE_SECONDS = 15 * 60

DELIVERY_REF_ARG = "cradle_ref"
_DELIVERY_REF_SALT = "galleries.webhooks.delivery-ref"


def delivery_ref(schema_name: str, delivery_uid: uuid.UUID | str) -> str:
    """The signed reference an outgoing message carries: ``<schema>/<uid>:<signature>``."""
    return signing.Signer(salt=_DELIVERY_REF_SALT).sign(f"{schema_name}/{delivery_uid}")


def delivery_ref_read(ref: object) -> tuple[str, str] | None:
    """(schema, delivery uid) from a reference Cradle signed; None for anything else."""
    if not isinstance(ref, str) or len(ref) > 256:
        return None
    try:
        value = signing.Signer(salt=_DELIVERY_REF_SALT).unsign(ref)
        schema_name, delivery_uid = value.split("/", 1)
        return schema_name, str(uuid.UUID(delivery_uid))
    except (signing.BadSignature, ValueError):
        return None


def sendgrid_signature_valid(
    *,
    body: bytes,
    signature: str,
    timestamp: str,
    public_key: str,
    now: float | None = None,
) -> bool:
    from sendgrid.helpers.eventwebhook import EventWebhook

    if not (public_key and signature and timestamp and timestamp.isdigit()):
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > SENDGRID_MAX_AGE_SECONDS:
        return False
    try:
        verifier = EventWebhook(public_key)
        return bool(verifier.verify_signature(body.decode("utf-8"), signature, timestamp))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False  # a malformed key or signature is a bad signature, not a server error


def twilio_signature_valid(
    *, url: str, params: dict[str, str], signature: str, auth_token: str
) -> bool:
    from twilio.request_validator import RequestValidator

    if not (auth_token and signature):
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))
