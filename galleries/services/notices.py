"""The studio told of the parent's favourites, and the parent reminded before her gallery
closes."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import models, transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from galleries.models import (
    Delivery,
    Gallery,
)
from galleries.selectors import (
    gallery_portrait_numbers,
    gallery_settings_get,
    sms_opted_out,
)
from galleries.services.delivery_outbox import delivery_enqueue
from render.models import RenderJob
from studio_portal.accounts.models import User
from studio_portal.audit.services import audit_log_write
from studio_portal.messaging import (
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
    email_sender,
)
from studio_portal.tenants.addresses import studio_base_url
from studio_portal.tenants.selectors import (
    current_studio,
)

logger = logging.getLogger(__name__)

# Telling the studio about favourites ------------------------------------------------------------

# One email per gallery once the parent has stopped choosing for this long, not one per tap.
FAVOURITES_QUIET = timedelta(minutes=10)


def _favourites_due(now: datetime) -> QuerySet[Gallery]:
    return Gallery.objects.filter(
        favourites_changed_at__lte=now - FAVOURITES_QUIET,
    ).filter(
        models.Q(favourites_noticed_at__isnull=True)
        | models.Q(favourites_noticed_at__lt=models.F("favourites_changed_at"))
    )


def favourites_notices_due(*, now: datetime | None = None) -> int:
    """Email the studio about every gallery whose parent picked favourites and then paused;
    run every few minutes by the scheduler. Returns how many galleries were told."""
    now = now or timezone.now()
    told = 0
    for gallery_id in _favourites_due(now).values_list("pk", flat=True):
        try:
            told += favourites_notice_send(gallery_id=gallery_id, now=now)
        except TransientDeliveryError:
            logger.warning("favourites notice for gallery %s waits for the next run", gallery_id)
    return told


def _studio_staff_emails(job: RenderJob) -> list[str]:
    owners = User.objects.filter(is_active=True, role=User.Role.OWNER).exclude(email="")
    emails = list(owners.order_by("pk").values_list("email", flat=True))
    maker = job.created_by
    if maker is not None and maker.is_active and maker.email and maker.email not in emails:
        emails.append(maker.email)
    return emails


def favourites_notice_send(*, gallery_id: int, now: datetime | None = None) -> bool:
    """Tell the owners (and the member who made the render) which portraits the parent marked.

    The gallery row is locked while the email goes (a second run skips it) and marked told in
    the same transaction: a provider that is briefly away (TransientDeliveryError, raised)
    leaves it due for the next run; one that refuses for good is logged and not retried."""
    now = now or timezone.now()
    with transaction.atomic():
        gallery = (
            _favourites_due(now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("job__session", "job__created_by")
            .filter(pk=gallery_id)
            .first()
        )
        if gallery is None:
            return False
        Gallery.objects.filter(pk=gallery.pk).update(favourites_noticed_at=now)
        if not gallery_settings_get().favourites_email:
            return False
        numbers = gallery_portrait_numbers(gallery)
        picked = sorted(
            numbers[pk]
            for pk in gallery.favourites.values_list("candidate_id", flat=True)
            if pk in numbers
        )
        recipients = _studio_staff_emails(gallery.job)
        if not picked or not recipients:
            return False
        studio = current_studio()
        parent = gallery.job.session.parent_name
        context = {
            "studio_name": studio.name,
            "parent_name": parent,
            "picked": picked,
            "gallery_url": f"{studio_base_url()}/galleries/{gallery.uid}/",
        }
        text = render_to_string("galleries/messages/favourites_notice.txt", context)
        subject = f"{parent} picked {len(picked)} favourite{'s' if len(picked) != 1 else ''}"
        sender = email_sender()
        try:
            for to in recipients:
                sender.send(OutgoingMessage(to=to, subject=subject, text=text, from_name="Cradle"))
        except PermanentDeliveryError:
            logger.warning("favourites notice for gallery %s refused by the provider", gallery.pk)
            return False
    return True


# Reminding the parent before her gallery closes -------------------------------------------------

# How long before the closing day she is reminded (email and SMS, once per closing day).
EXPIRY_REMINDER_BEFORE = timedelta(days=3)
# A link sent more recently than this is not reminded: she has only just had it.
EXPIRY_REMINDER_AFTER_SENDING = timedelta(days=1)


def gallery_expiry_reminders_due(*, now: datetime | None = None, enqueue: bool = True) -> int:
    """Remind each parent whose gallery closes within EXPIRY_REMINDER_BEFORE, on the channels
    her link reached her by; run daily by the scheduler. Safe to run any number of times: each
    gallery is claimed once per closing day (``expiry_reminded_at``; a new closing day clears
    it). Returns how many galleries were reminded."""
    now = now or timezone.now()
    due = (
        Gallery.objects.filter(
            expires_at__gt=now,
            expires_at__lte=now + EXPIRY_REMINDER_BEFORE,
            expiry_reminded_at__isnull=True,
            deliveries__kind=Delivery.Kind.LINK,
            deliveries__status__in=(Delivery.Status.SENT, Delivery.Status.DELIVERED),
            deliveries__created_at__lte=now - EXPIRY_REMINDER_AFTER_SENDING,
        )
        .distinct()
        .values_list("pk", flat=True)
    )
    return sum(gallery_expiry_remind(gallery_id=pk, now=now, enqueue=enqueue) for pk in list(due))


@transaction.atomic
def gallery_expiry_remind(*, gallery_id: int, now: datetime, enqueue: bool = True) -> bool:
    claimed = Gallery.objects.filter(pk=gallery_id, expiry_reminded_at__isnull=True).update(
        expiry_reminded_at=now
    )
    if not claimed:
        return False  # another run took it
    gallery = Gallery.objects.get(pk=gallery_id)
    reached = (
        gallery.deliveries.filter(kind=Delivery.Kind.LINK)
        .exclude(status=Delivery.Status.FAILED)
        .values_list("channel", "recipient")
    )
    deliveries = [
        Delivery.objects.create(
            gallery=gallery, kind=Delivery.Kind.REMINDER, channel=channel, recipient=recipient
        )
        for channel, recipient in sorted(set(reached))
        if not (channel == Delivery.Channel.SMS and sms_opted_out(recipient))
    ]
    audit_log_write(
        action="gallery.expiry_reminded",
        obj=gallery,
        detail={
            "channels": [d.channel for d in deliveries],
            "expires_at": gallery.expires_at.isoformat() if gallery.expires_at else None,
        },
    )
    if enqueue:
        for delivery in deliveries:
            delivery_enqueue(delivery.pk)
    return bool(deliveries)
