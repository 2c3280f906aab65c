"""Is this webhook request really from SendGrid / Twilio? Pure checks, no database.

SendGrid signs ``timestamp + body`` with ECDSA P-256 / SHA-256 (its "Signed Event Webhook");
the public key, base64 DER as SendGrid's settings page shows it, comes from settings. Twilio
signs the full URL plus the sorted form parameters with HMAC-SHA1 under the account's auth
token; its SDK's ``RequestValidator`` checks that.
"""

from __future__ import annotations

import binascii
import time

SENDGRID_SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
# A signed batch older than this is refused even with a good signature: a captured request
# cannot be replayed tomorrow (within the window the event ids stop a second effect).
SENDGRID_MAX_AGE_SECONDS = 15 * 60


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
