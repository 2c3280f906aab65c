"""The gallery link sent to the parent: deliveries queued, sent once by a worker, cancelled,
swept when the broker lost them, resent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from billing.selectors import studio_may_deliver
from branding.selectors import brand_kit_get
from galleries.models import (
    Delivery,
    Gallery,
)
from galleries.selectors import (
    sms_opted_out,
)
from galleries.services.delivery_outbox import delivery_enqueue, delivery_failed_emit
from galleries.services.gallery import gallery_create, gallery_protect, gallery_url, pin_unseal
from galleries.services.provider_webhooks import sms_opt_out_everywhere
from galleries.webhooks import DELIVERY_REF_ARG, delivery_ref
from render.models import RenderJob
from render.print_size import candidate_print_enqueue
from studio_portal.audit.services import audit_log_write
from studio_portal.messaging import (
    OutgoingMessage,
    PermanentDeliveryError,
    RecipientOptedOut,
    TransientDeliveryError,
    email_sender,
    sms_sender,
)
from studio_portal.outbox import outbox_due, outbox_resend_due
from studio_portal.tenants.addresses import platform_base_url, studio_base_url
from studio_portal.tenants.selectors import (
    current_schema_name,
    current_studio,
)


@transaction.atomic
def gallery_send(
    *,
    job: RenderJob,
    channels: list[str],
    actor: object | None = None,
    enqueue: bool = True,
    pin: str = "",
    expires_at: datetime | None = None,
    never_expires: bool = False,
) -> list[Delivery]:
    """Queue the link to the parent on each channel she gave; the worker sends them.

    ``pin`` and ``expires_at`` are chosen before sending (the messages tell her the PIN and
    the closing day); for a gallery made earlier (through the API, or a send that was
    cancelled) they change it when given."""
    session = job.session
    existing = Gallery.objects.filter(job=job).first()
    if existing is not None and (pin or expires_at or never_expires):
        gallery = gallery_protect(
            gallery=existing,
            pin=pin or None,
            expires_at=expires_at,
            clear_expiry=never_expires and expires_at is None,
            actor=actor,
            tell_parent=False,  # the link this sends carries the PIN
        )
    else:
        gallery = gallery_create(
            job=job, pin=pin, expires_at=expires_at, never_expires=never_expires
        )
    permission = studio_may_deliver(current_studio(), gallery=gallery)
    if not permission.allowed:  # the pilot's delivery cap; galleries already sent still resend
        raise ValidationError(permission.reason)
    recipients: dict[str, str] = {
        Delivery.Channel.EMAIL: session.email,
        Delivery.Channel.SMS: session.phone,
    }
    deliveries = []
    for channel in channels:
        if channel not in recipients:
            raise ValidationError(f"Unknown channel {channel!r}: use email or sms.")
        if not recipients[channel]:
            label = "email address" if channel == Delivery.Channel.EMAIL else "mobile number"
            raise ValidationError(f"This session has no {label} for the parent.")
        deliveries.append(
            Delivery.objects.create(gallery=gallery, channel=channel, recipient=recipients[channel])
        )
    if not deliveries:
        raise ValidationError("Choose email, SMS or both.")
    RenderJob.objects.filter(pk=job.pk).update(
        state=RenderJob.State.DELIVERING, updated_at=timezone.now()
    )
    job.state = RenderJob.State.DELIVERING
    audit_log_write(
        action="gallery.sent",
        obj=gallery,
        actor=actor,
        detail={
            "channels": channels,
            "pin": "set" if gallery.has_pin else "none",
            "expires_at": gallery.expires_at.isoformat() if gallery.expires_at else None,
        },
    )
    _shared_prints_request(job)
    if enqueue:
        for delivery in deliveries:
            delivery_enqueue(delivery.pk)
    return deliveries


def _shared_prints_request(job: RenderJob) -> None:
    """Every portrait the parent receives gets its print file (her "Print size" says "being
    prepared" until it exists). Asked for once: one already made or asked for is left alone
    (render.print_size retries and sweeps what was asked)."""
    if not settings.PRINT_FILES_AUTOMATIC:
        return
    for candidate in job.candidates.filter(
        shared_with_parent=True, print_image="", print_requested_at__isnull=True
    ):
        candidate_print_enqueue(candidate=candidate)


def _message_for(delivery: Delivery) -> OutgoingMessage:
    gallery = delivery.gallery
    studio = current_studio()
    base_url = studio_base_url()
    link = gallery_url(gallery, base_url=base_url)
    brand = brand_kit_get()
    reminder = delivery.kind == Delivery.Kind.REMINDER
    new_pin = delivery.kind == Delivery.Kind.PIN
    context = {
        "studio_name": studio.name,
        "parent_name": gallery.job.session.parent_name,
        "link": link,
        "brand": brand,
        "logo_url": f"{link}logo" if brand.logo else "",
        "expires_at": gallery.expires_at,
        "has_pin": gallery.has_pin,
        "pin": pin_unseal(gallery.pin_sealed) if gallery.has_pin else "",
        "reminder": reminder,
        "new_pin": new_pin,
    }
    # Providers report back on Cradle's one public URL; the signed reference names the studio.
    ref = delivery_ref(current_schema_name(), delivery.uid)
    if delivery.channel == Delivery.Channel.SMS:
        text = render_to_string("galleries/messages/sms.txt", context).strip()
        return OutgoingMessage(
            to=delivery.recipient,
            subject="",
            text=text,
            status_callback=f"{platform_base_url()}/hooks/twilio/status?{urlencode({'ref': ref})}",
        )
    return OutgoingMessage(
        to=delivery.recipient,
        subject=(
            f"Your gallery from {studio.name} closes on {gallery.expires_at:%-d %B}"
            if reminder and gallery.expires_at
            else f"Your new PIN for your gallery from {studio.name}"
            if new_pin
            else f"Your baby's portrait from {studio.name}"
        ),
        text=render_to_string("galleries/messages/email.txt", context),
        html=render_to_string("galleries/messages/email.html", context),
        from_name=studio.name,
        custom_args=((DELIVERY_REF_ARG, ref),),
    )


# How long a worker waits for a delivery's row lock: long enough for the outbox's stamp, shorter
# than a provider call another worker may be making.
DELIVERY_LOCK_WAIT_MS = 5_000


def delivery_send(*, delivery_id: int) -> Delivery | None:
    """Send one delivery exactly once. Transient errors propagate so the actor retries."""
    with transaction.atomic():
        # The row stays locked while the provider is called. Its lock is waited for, never
        # skipped: the outbox stamps the row just after the broker took this very message, and
        # a worker that skipped the row then would leave it queued until the sweep's lease. A
        # second worker waits for the first one's commit and finds it sent; one that waits past
        # DELIVERY_LOCK_WAIT retries later (a transient error).
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{DELIVERY_LOCK_WAIT_MS}ms'")
        try:
            delivery = (
                Delivery.objects.select_for_update()
                .filter(pk=delivery_id, status=Delivery.Status.QUEUED)
                .first()
            )
        except OperationalError as exc:
            raise TransientDeliveryError("another worker is sending this message") from exc
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout TO DEFAULT")
        if delivery is None:
            return None  # it has been sent, or failed
        delivery.attempts += 1
        delivery.enqueued_at = timezone.now()  # a try: the sweep leaves it a lease from now
        try:
            if delivery.channel == Delivery.Channel.SMS and sms_opted_out(delivery.recipient):
                # Carriers require it, and Twilio would refuse anyway (21610): don't even call.
                raise PermanentDeliveryError(
                    "The parent replied STOP to our texts; send by email instead, or ask her to "
                    "reply START."
                )
            if delivery.kind == Delivery.Kind.PIN and not delivery.gallery.has_pin:
                raise PermanentDeliveryError(
                    "The PIN was removed before this message went: there was nothing to tell her."
                )
            sender = email_sender() if delivery.channel == Delivery.Channel.EMAIL else sms_sender()
            delivery.provider_id = sender.send(_message_for(delivery))
            delivery.status = Delivery.Status.SENT
            delivery.error = ""
        except PermanentDeliveryError as exc:
            delivery.status = Delivery.Status.FAILED
            delivery.error = str(exc)
            if isinstance(exc, RecipientOptedOut):
                sms_opt_out_everywhere(phone=delivery.recipient, source="twilio 21610")
        delivery.save()
        if delivery.status == Delivery.Status.FAILED:
            delivery_failed_emit(delivery.pk)
        _job_mark_delivered_when_done(delivery.gallery.job_id)
    return delivery


def _job_mark_delivered_when_done(job_id: int) -> None:
    # Lock the job row first: two deliveries of one job finishing in two workers would each
    # see the other still queued (uncommitted) and neither would mark the job delivered.
    RenderJob.objects.select_for_update().filter(pk=job_id).first()
    pending = Delivery.objects.filter(gallery__job_id=job_id, status=Delivery.Status.QUEUED)
    if not pending.exists():
        RenderJob.objects.filter(pk=job_id, state=RenderJob.State.DELIVERING).update(
            state=RenderJob.State.DELIVERED, updated_at=timezone.now()
        )


@transaction.atomic
def deliveries_cancel_unsent(*, job: RenderJob) -> int:
    """The studio's Cancel on a job being sent: every message not handed to a provider yet is
    failed as cancelled (Resend can still send it). With nothing sent at all, the job is back to
    its portraits, ready to send again. Returns how many were cancelled."""
    RenderJob.objects.select_for_update().filter(pk=job.pk).first()
    # A worker holds a queued delivery's row lock only while it calls the provider: that one
    # is going out and cannot be called back.
    queued = list(
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(gallery__job=job, status=Delivery.Status.QUEUED)
        .values_list("pk", flat=True)
    )
    if not queued:
        raise ValidationError("The messages have already gone; there is nothing to cancel.")
    Delivery.objects.filter(pk__in=queued).update(
        status=Delivery.Status.FAILED,
        error="Cancelled by the studio before it was sent.",
        updated_at=timezone.now(),
    )
    gone = Delivery.objects.filter(gallery__job=job).exclude(status=Delivery.Status.FAILED)
    if not gone.exists():
        back = RenderJob.State.NEEDS_REVIEW if job.reason else RenderJob.State.READY
        RenderJob.objects.filter(pk=job.pk, state=RenderJob.State.DELIVERING).update(
            state=back, updated_at=timezone.now()
        )
    else:
        _job_mark_delivered_when_done(job.pk)
    return len(queued)


# A delivery's message the broker took (or a worker tried) longer ago than this is lost: longer
# than the actor's longest back-off between tries (ten minutes), so a delivery waiting for its
# next try is never sent twice.
DELIVERY_MESSAGE_LEASE = timedelta(minutes=15)
# A delivery still queued this long after it was made has failed: Resend can try again.
DELIVERY_GIVE_UP_AFTER = timedelta(days=1)


@dataclass
class DeliverySweep:
    requeued: int = 0
    failed: int = 0
    jobs_delivered: int = 0


def deliveries_sweep_due(
    *,
    now: datetime | None = None,
    lease: timedelta = DELIVERY_MESSAGE_LEASE,
    give_up_after: timedelta = DELIVERY_GIVE_UP_AFTER,
) -> DeliverySweep:
    """Every queued delivery whose message the broker never took (it was away) or lost is sent
    again; one still queued a day on fails with a reason, and a job left "sending" with nothing
    queued is marked sent. Run every minute by the scheduler (deliveries_sweep)."""
    from galleries.tasks import delivery_send_task  # lazy: galleries.tasks imports this module

    now = now or timezone.now()
    report = DeliverySweep()
    queued = Delivery.objects.filter(status=Delivery.Status.QUEUED)
    for delivery_id in queued.filter(created_at__lt=now - give_up_after).values_list(
        "pk", flat=True
    ):
        report.failed += delivery_fail(
            delivery_id=delivery_id,
            error="Cradle could not send this message within a day. Press Resend to try again.",
        )
    due = queued.filter(outbox_due(now=now, waiting_since="created_at", lease=lease))
    report.requeued = outbox_resend_due(
        delivery_send_task, due, schema_name=current_schema_name(), skip_held=True
    )
    stuck = RenderJob.objects.filter(state=RenderJob.State.DELIVERING).exclude(
        gallery__deliveries__status=Delivery.Status.QUEUED
    )
    for job_id in stuck.values_list("pk", flat=True):
        with transaction.atomic():
            _job_mark_delivered_when_done(job_id)
        report.jobs_delivered += 1
    return report


def delivery_fail(*, delivery_id: int, error: str) -> bool:
    """Fail a delivery still queued (retries ran out, or it waited too long); returns whether
    it was still queued."""
    with transaction.atomic():
        updated = Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.FAILED, error=error
        )
        if updated:
            delivery_failed_emit(delivery_id)
            job_id = Delivery.objects.filter(pk=delivery_id).values_list(
                "gallery__job_id", flat=True
            )[0]
            _job_mark_delivered_when_done(job_id)
    return bool(updated)


@transaction.atomic
def delivery_resend(
    *, delivery: Delivery, actor: object | None = None, enqueue: bool = True
) -> Delivery:
    """Put a failed delivery back in the queue, or give a queued one that is stuck a fresh
    message (a studio's "Resend" button)."""
    if delivery.channel == Delivery.Channel.SMS and sms_opted_out(delivery.recipient):
        raise ValidationError(
            "The parent replied STOP to our texts, so Cradle cannot text her. Send by email, or "
            "ask her to reply START first."
        )
    # Conditional: two clicks (or two staff) resend once. A queued one is not changed: its new
    # message finds it queued, as any duplicate would, and sends it once.
    updated = Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.FAILED).update(
        status=Delivery.Status.QUEUED,
        error="",
        provider_status="",
        provider_id="",
        enqueued_at=None,
    )
    if (
        not updated
        and not Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.QUEUED).exists()
    ):
        raise ValidationError("This message has already gone; there is nothing to send again.")
    delivery.refresh_from_db()
    RenderJob.objects.filter(pk=delivery.gallery.job_id, state=RenderJob.State.DELIVERED).update(
        state=RenderJob.State.DELIVERING, updated_at=timezone.now()
    )
    audit_log_write(
        action="delivery.resent", obj=delivery, actor=actor, detail={"channel": delivery.channel}
    )
    if enqueue:
        delivery_enqueue(delivery.pk)
    return delivery
