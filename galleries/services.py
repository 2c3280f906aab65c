"""Galleries, deliveries and the audit log: the parent-facing end of a job."""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from galleries.delivery import (
    OutgoingMessage,
    PermanentDeliveryError,
    email_sender,
    sms_sender,
)
from galleries.models import AuditLogEntry, Delivery, Gallery, token_digest
from render.models import RenderJob
from studio_portal.tenants.selectors import current_studio
from studio_portal.tenants.models import Domain

logger = logging.getLogger(__name__)


def studio_base_url() -> str:
    """The current studio's own address (custom domain first, then its Cradle subdomain)."""
    domain = Domain.objects.filter(tenant=current_studio()).order_by("-is_primary").first()
    host = domain.domain if domain else f"{connection.schema_name}.{settings.CRADLE_BASE_DOMAIN}"
    port = f":{settings.CRADLE_PUBLIC_PORT}" if settings.CRADLE_PUBLIC_PORT else ""
    return f"{settings.CRADLE_PUBLIC_URL_SCHEME}://{host}{port}"


def gallery_url(gallery: Gallery) -> str:
    return f"{studio_base_url()}/g/{gallery.token}/"


@transaction.atomic
def gallery_create(*, job: RenderJob, pin: str = "", expires_at=None) -> Gallery:  # noqa: ANN001
    """One gallery per job; calling again returns the existing one."""
    existing = Gallery.objects.filter(job=job).first()
    if existing:
        return existing
    if job.state not in (RenderJob.State.READY, RenderJob.State.DELIVERING, RenderJob.State.DELIVERED):
        raise ValidationError("The portraits are not ready yet.")
    if pin and not (pin.isdigit() and 4 <= len(pin) <= 8):
        raise ValidationError("A gallery PIN is 4 to 8 digits.")
    token = secrets.token_urlsafe(24)  # 192 bits
    return Gallery.objects.create(
        job=job,
        token=token,
        token_digest=token_digest(token),
        pin_hash=make_password(pin) if pin else "",
        expires_at=expires_at,
    )


@transaction.atomic
def gallery_send(
    *, job: RenderJob, channels: list[str], actor: object | None = None, enqueue: bool = True
) -> list[Delivery]:
    """Queue the link to the parent on each channel she gave; the worker sends them."""
    session = job.session
    gallery = gallery_create(job=job)
    recipients = {Delivery.Channel.EMAIL: session.email, Delivery.Channel.SMS: session.phone}
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
    RenderJob.objects.filter(pk=job.pk).update(state=RenderJob.State.DELIVERING)
    job.state = RenderJob.State.DELIVERING
    audit_log_write(action="gallery.sent", obj=gallery, actor=actor, detail={"channels": channels})
    if enqueue:
        from galleries.tasks import delivery_send_task

        schema = connection.schema_name
        for delivery in deliveries:
            transaction.on_commit(lambda pk=delivery.pk: delivery_send_task.send(schema, pk))
    return deliveries


def _message_for(delivery: Delivery) -> OutgoingMessage:
    gallery = delivery.gallery
    studio = current_studio()
    context = {
        "studio_name": studio.name,
        "parent_name": gallery.job.session.parent_name,
        "link": gallery_url(gallery),
    }
    if delivery.channel == Delivery.Channel.SMS:
        text = render_to_string("galleries/messages/sms.txt", context).strip()
        return OutgoingMessage(to=delivery.recipient, subject="", text=text)
    return OutgoingMessage(
        to=delivery.recipient,
        subject=f"Your baby's portrait from {studio.name}",
        text=render_to_string("galleries/messages/email.txt", context),
        html=render_to_string("galleries/messages/email.html", context),
        from_name=studio.name,
    )


def delivery_send(*, delivery_id: int) -> Delivery | None:
    """Send one delivery exactly once. Transient errors propagate so the actor retries."""
    with transaction.atomic():
        # The row stays locked while the provider is called: a second worker skips it.
        delivery = Delivery.objects.select_for_update(skip_locked=True).filter(
            pk=delivery_id, status=Delivery.Status.QUEUED
        ).first()
        if delivery is None:
            return None  # another worker holds it, or it has been sent
        delivery.attempts += 1
        sender = email_sender() if delivery.channel == Delivery.Channel.EMAIL else sms_sender()
        try:
            delivery.provider_id = sender.send(_message_for(delivery))
            delivery.status = Delivery.Status.SENT
        except PermanentDeliveryError as exc:
            delivery.status = Delivery.Status.FAILED
            delivery.error = str(exc)
        delivery.save()
        _job_mark_delivered_when_done(delivery.gallery.job_id)
    return delivery


def _job_mark_delivered_when_done(job_id: int) -> None:
    pending = Delivery.objects.filter(gallery__job_id=job_id, status=Delivery.Status.QUEUED)
    if not pending.exists():
        RenderJob.objects.filter(pk=job_id, state=RenderJob.State.DELIVERING).update(
            state=RenderJob.State.DELIVERED, updated_at=timezone.now()
        )


def audit_log_write(*, action: str, obj: object, actor: object | None = None, detail: dict | None = None) -> AuditLogEntry:
    return AuditLogEntry.objects.create(
        action=action,
        object_type=type(obj).__name__,
        object_id=str(getattr(obj, "pk", "")),
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        detail=detail or {},
    )


def delivery_fail(*, delivery_id: int, error: str) -> None:
    with transaction.atomic():
        updated = Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.FAILED, error=error
        )
        if updated:
            job_id = Delivery.objects.filter(pk=delivery_id).values_list("gallery__job_id", flat=True)[0]
            _job_mark_delivered_when_done(job_id)
