"""What SendGrid and Twilio report: delivery statuses and a parent's STOP or START, each
routed from Cradle's one public URL to its studio's schema."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django_tenants.utils import schema_context

from galleries.models import (
    Delivery,
    ProviderEvent,
    SmsOptOut,
)
from galleries.selectors import (
    studios_holding,
)
from galleries.services.delivery_outbox import delivery_failed_emit
from galleries.webhooks import DELIVERY_REF_ARG, delivery_ref_read
from studio_portal.audit.services import audit_log_write
from studio_portal.tenants.selectors import (
    current_schema_name,
    studio_schema_names,
)


def sms_opt_out_everywhere(*, phone: str, source: str) -> list[str]:
    """Twilio told us the number replied STOP to Cradle's one number (error 21610): opt it out
    of the current studio and of every studio that texted it, as a STOP reply does
    (sms_inbound_route). Written in the caller's transaction, schema by schema in name order,
    so two studios learning it at once cannot deadlock. Returns the schemas opted out."""
    here = current_schema_name()
    schemas = set(studios_holding(Delivery, "recipient", [phone], channel=Delivery.Channel.SMS))
    schemas.add(here)
    for schema in sorted(schemas):
        with schema_context(schema):
            opt_out, created = SmsOptOut.objects.get_or_create(phone=phone)
            if created:
                audit_log_write(
                    action="sms.opted_out",
                    obj=opt_out,
                    detail={"phone_suffix": phone[-4:], "source": source},
                )
    return sorted(schemas)


# Provider webhooks ----------------------------------------------------------------------------

# How far a status may move: a late "processed" must not undo "delivered"; final states stay.
_STATUS_RANK: dict[str, int] = {
    Delivery.Status.QUEUED: 0,
    Delivery.Status.SENT: 1,
    Delivery.Status.DELIVERED: 2,
    Delivery.Status.FAILED: 2,
}

SENDGRID_STATUS = {
    "processed": Delivery.Status.SENT,
    "deferred": Delivery.Status.SENT,
    "delivered": Delivery.Status.DELIVERED,
    "bounce": Delivery.Status.FAILED,
    "dropped": Delivery.Status.FAILED,
    "blocked": Delivery.Status.FAILED,
}
TWILIO_STATUS = {
    "queued": Delivery.Status.SENT,
    "accepted": Delivery.Status.SENT,
    "sending": Delivery.Status.SENT,
    "sent": Delivery.Status.SENT,
    "delivered": Delivery.Status.DELIVERED,
    "undelivered": Delivery.Status.FAILED,
    "failed": Delivery.Status.FAILED,
}
TWILIO_OPTED_OUT_ERROR = "21610"
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_WORDS = {"START", "UNSTOP", "YES", "OPTIN"}


@dataclass
class WebhookResult:
    applied: int = 0
    duplicates: int = 0
    unmatched: int = 0
    ignored: int = 0

    def add(self, other: WebhookResult) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.unmatched += other.unmatched
        self.ignored += other.ignored


def _event_claim(provider: str, key: str, kind: str, payload: dict) -> ProviderEvent | None:
    """The event's row, or None when this event was handled before (a replay)."""
    try:
        with transaction.atomic():
            return ProviderEvent.objects.create(
                provider=provider, event_key=key[:128], kind=kind[:32], payload=payload
            )
    except IntegrityError:
        return None


def _delivery_move(delivery: Delivery, status: str, provider_status: str, error: str = "") -> bool:
    final = (Delivery.Status.DELIVERED, Delivery.Status.FAILED)
    if delivery.status in final or _STATUS_RANK[status] < _STATUS_RANK[delivery.status]:
        return False
    delivery.status = status
    delivery.provider_status = provider_status[:32]
    if error:
        delivery.error = error
    delivery.save(update_fields=["status", "provider_status", "error", "updated_at"])
    if status == Delivery.Status.FAILED:
        delivery_failed_emit(delivery.pk)
    return True


@transaction.atomic
def delivery_events_apply_sendgrid(*, events: list[dict]) -> WebhookResult:
    """Apply a (signature-verified) batch of SendGrid events in the current studio's schema
    (``sendgrid_events_route`` brings each event here). An event finds its delivery by the
    signed reference, when it names this studio, or by SendGrid's message id."""
    result = WebhookResult()
    for event in events:
        if not isinstance(event, dict):
            result.ignored += 1
            continue
        kind = str(event.get("event", ""))
        status = SENDGRID_STATUS.get(kind)
        if status is None:
            result.ignored += 1  # opens, clicks, spam reports: not a delivery status
            continue
        message_id = _sendgrid_message_id(event)
        key = str(event.get("sg_event_id") or f"{message_id}:{kind}:{event.get('timestamp')}")
        # Claimed before matching: a replay is a duplicate even if its delivery has moved on.
        claimed = _event_claim("sendgrid", key, kind, event)
        if claimed is None:
            result.duplicates += 1
            continue
        delivery = _sendgrid_delivery(message_id, _ref_uid_here(event.get(DELIVERY_REF_ARG)))
        if delivery is None:
            result.unmatched += 1
            continue
        claimed.delivery = delivery
        claimed.save(update_fields=["delivery"])
        error = ""
        if status == Delivery.Status.FAILED:
            error = f"The email could not be delivered ({kind}: {event.get('reason', '')})".strip()
        if _delivery_move(delivery, status, kind, error):
            result.applied += 1
    return result


def _sendgrid_message_id(event: dict) -> str:
    # Events name the message as "<id>.<filter and recipient>"; the API gave us "<id>".
    return str(event.get("sg_message_id", "")).split(".")[0]


def _ref_uid_here(ref: object) -> str | None:
    """The delivery uid of a signed reference that names the current studio."""
    read = delivery_ref_read(ref)
    return read[1] if read and read[0] == current_schema_name() else None


def _sendgrid_delivery(message_id: str, delivery_uid: str | None) -> Delivery | None:
    emails = Delivery.objects.select_for_update().filter(channel=Delivery.Channel.EMAIL)
    if delivery_uid:
        # Locked: an event that overtakes the send's own commit waits here for provider_id.
        found = emails.filter(uid=delivery_uid).first()
        if found is None or not message_id or found.provider_id in ("", message_id):
            return found
        return None  # about an earlier send of a delivery that has been resent since
    return emails.filter(provider_id=message_id).first() if message_id else None


@transaction.atomic
def delivery_status_apply_twilio(*, params: dict[str, str]) -> WebhookResult:
    """Apply one (signature-verified) Twilio status callback."""
    result = WebhookResult()
    sid = params.get("MessageSid", "")
    kind = params.get("MessageStatus", "")
    status = TWILIO_STATUS.get(kind)
    if not sid or status is None:
        result.ignored += 1
        return result
    # Twilio sends no event id: one callback per (message, status) is what a replay repeats.
    claimed = _event_claim("twilio", f"{sid}:{kind}", kind, params)
    if claimed is None:
        result.duplicates += 1
        return result
    delivery = (
        Delivery.objects.select_for_update()
        .filter(channel=Delivery.Channel.SMS, provider_id=sid)
        .first()
    )
    if delivery is None:
        result.unmatched += 1
        return result
    claimed.delivery = delivery
    claimed.save(update_fields=["delivery"])
    error_code = params.get("ErrorCode", "")
    error = ""
    if status == Delivery.Status.FAILED:
        error = f"The text could not be delivered (Twilio {kind}, error {error_code or 'none'})."
        if error_code == TWILIO_OPTED_OUT_ERROR:
            sms_opt_out_everywhere(phone=delivery.recipient, source="twilio 21610")
    if _delivery_move(delivery, status, kind, error):
        result.applied += 1
    return result


@transaction.atomic
def sms_inbound_record(*, phone: str, body: str, message_sid: str = "") -> str:
    """A parent's reply: STOP words opt her number out, START words opt it back in.

    Returns "opted_out", "opted_in" or "ignored".
    """
    word = body.strip().upper().rstrip(".!")
    if message_sid and _event_claim("twilio-in", message_sid, "inbound", {"word": word}) is None:
        return "ignored"
    if word in STOP_WORDS:
        opt_out, created = SmsOptOut.objects.get_or_create(phone=phone)
        if created:
            audit_log_write(
                action="sms.opted_out", obj=opt_out, detail={"phone_suffix": phone[-4:]}
            )
        return "opted_out"
    if word in START_WORDS:
        held = SmsOptOut.objects.filter(phone=phone).first()
        if held is not None:
            audit_log_write(action="sms.opted_in", obj=held, detail={"phone_suffix": phone[-4:]})
            held.delete()
        return "opted_in"
    return "ignored"


# Routing: one public URL for every studio -------------------------------------------------------
#
# SendGrid and Twilio each post every studio's events to one URL (Cradle's own host; the old
# per-studio /hooks/ URLs go through the same routing). Each event goes to the schema its
# signed delivery reference names (galleries.webhooks); one without a reference goes by the
# provider's own message id, which is unique across studios. Never by a sequential id.


def sendgrid_events_route(
    *, events: list[object], fallback_schema: str | None = None
) -> WebhookResult:
    """Apply a (signature-verified) SendGrid batch, each event in its own studio's schema.

    An event without a valid reference (sent before references existed) goes by its message
    id: in ``fallback_schema`` when given (the studio whose old URL it came to), else in the
    studio that holds that message id."""
    result = WebhookResult()
    batches: dict[str, list[dict]] = {}
    unreferenced: list[dict] = []
    for event in events:
        if not isinstance(event, dict) or str(event.get("event", "")) not in SENDGRID_STATUS:
            result.ignored += 1  # opens, clicks, spam reports: not a delivery status
            continue
        ref = delivery_ref_read(event.get(DELIVERY_REF_ARG))
        schema = ref[0] if ref else fallback_schema
        if schema:
            batches.setdefault(schema, []).append(event)
        else:
            unreferenced.append(event)
    if unreferenced:
        holders = studios_holding(
            Delivery,
            "provider_id",
            (_sendgrid_message_id(event) for event in unreferenced),
            channel=Delivery.Channel.EMAIL,
        )
        holder_of = {message_id: schema for schema, ids in holders.items() for message_id in ids}
        for event in unreferenced:
            schema = holder_of.get(_sendgrid_message_id(event))
            if schema:
                batches.setdefault(schema, []).append(event)
            else:
                result.unmatched += 1
    studios = set(studio_schema_names())
    for schema, batch in batches.items():
        if schema not in studios:  # a studio deleted since the message left
            result.unmatched += len(batch)
            continue
        with schema_context(schema):
            result.add(delivery_events_apply_sendgrid(events=batch))
    return result


def twilio_status_route(
    *, params: dict[str, str], ref: str = "", fallback_schema: str | None = None
) -> WebhookResult:
    """Apply a (signature-verified) Twilio status callback in the studio its reference names
    (or, without one, the fallback studio or the one that holds the message's sid)."""
    read = delivery_ref_read(ref) if ref else None
    schema = read[0] if read else fallback_schema
    if schema is None:
        holders = studios_holding(
            Delivery, "provider_id", [params.get("MessageSid", "")], channel=Delivery.Channel.SMS
        )
        schema = min(holders, default=None)
    if schema is None or schema not in studio_schema_names():
        return WebhookResult(unmatched=1)
    with schema_context(schema):
        return delivery_status_apply_twilio(params=params)


def sms_inbound_route(
    *, phone: str, body: str, message_sid: str = "", fallback_schema: str | None = None
) -> list[str]:
    """A reply to Cradle's number (one for every studio) reaches every studio that texted it or
    holds its opt-out: STOP opts the number out of all of them, START back in. Returns the
    schemas it reached."""
    schemas = set(studios_holding(Delivery, "recipient", [phone], channel=Delivery.Channel.SMS))
    schemas |= set(studios_holding(SmsOptOut, "phone", [phone]))
    if fallback_schema:
        schemas.add(fallback_schema)  # the old per-studio URL: that studio heard it too
    for schema in sorted(schemas):
        with schema_context(schema):
            sms_inbound_record(phone=phone, body=body, message_sid=message_sid)
    return sorted(schemas)
