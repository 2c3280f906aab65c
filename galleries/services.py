"""Galleries, deliveries, provider webhooks, scan retention and the audit log: the parent-facing
end of a job and the studio's record of what left it or was deleted."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import numpy as np
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, OperationalError, connection, models, transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone
from django_tenants.utils import schema_context
from PIL import Image

from billing.selectors import studio_may_deliver
from branding.services import brand_snapshot_take, brand_spec_from_snapshot, portrait_finish
from galleries import throttle
from galleries.delivery import (
    OutgoingMessage,
    PermanentDeliveryError,
    RecipientOptedOut,
    TransientDeliveryError,
    email_sender,
    sms_sender,
)
from galleries.models import (
    AuditLogEntry,
    Delivery,
    Favourite,
    Gallery,
    GallerySettings,
    GuessCount,
    ProviderEvent,
    SmsOptOut,
    token_digest,
)
from galleries.parent_page import PortraitTile, print_state

if TYPE_CHECKING:
    from galleries.archive import Archive
from galleries.selectors import (
    TOKEN_MAX_LENGTH,
    gallery_portrait_numbers,
    gallery_settings_get,
    studio_retention_days,
)
from galleries.webhooks import DELIVERY_REF_ARG, delivery_ref, delivery_ref_read
from render.models import Candidate, ParentSession, RenderJob, Scan
from studio_portal.api.services import delivery_event_payload, webhooks_emit
from studio_portal.outbox import outbox_due, outbox_resend_due, outbox_send_on_commit
from studio_portal.permissions import require_owner
from studio_portal.tenants.selectors import current_studio, studio_base_url, studio_schema_names

logger = logging.getLogger(__name__)

PIN_DIGITS = (4, 8)
MAX_EXPIRY_DAYS = 365

# Addresses ------------------------------------------------------------------------------------


def platform_base_url() -> str:
    """Cradle's own address (the public host): where providers post every studio's webhooks."""
    port = f":{settings.CRADLE_PUBLIC_PORT}" if settings.CRADLE_PUBLIC_PORT else ""
    return f"{settings.CRADLE_PUBLIC_URL_SCHEME}://{settings.CRADLE_BASE_DOMAIN}{port}"


def gallery_url(gallery: Gallery, *, base_url: str | None = None) -> str:
    return f"{base_url or studio_base_url(current_studio())}/g/{gallery.token}/"


# Galleries ------------------------------------------------------------------------------------


def pin_seal(pin: str) -> str:
    """The PIN encrypted with the at-rest key, so every message can tell the parent her PIN."""
    return Fernet(settings.SCAN_ENCRYPTION_KEY.encode()).encrypt(pin.encode()).decode()


def pin_unseal(sealed: str) -> str:
    """The gallery's PIN, or "" when none is kept (a gallery made before PINs were kept, or a
    key that has since changed: the message then says only that the studio gave her one)."""
    if not sealed:
        return ""
    try:
        return Fernet(settings.SCAN_ENCRYPTION_KEY.encode()).decrypt(sealed.encode()).decode()
    except InvalidToken:
        return ""


def expiry_end_of_day(day: date) -> datetime:
    """A link that "closes on" a day works to the end of that day."""
    return timezone.make_aware(datetime.combine(day, time(23, 59)))


def _validated_pin(pin: str) -> str:
    pin = pin.strip()
    if pin and not (pin.isdigit() and PIN_DIGITS[0] <= len(pin) <= PIN_DIGITS[1]):
        raise ValidationError("A gallery PIN is 4 to 8 digits.")
    return pin


def _validated_expiry(expires_at: datetime) -> datetime:
    if expires_at <= timezone.now():
        raise ValidationError(
            f"That expiry ({expires_at:%Y-%m-%d %H:%M} UTC) has already passed, so the parent "
            "could never open the link. Choose a later date, or leave it empty."
        )
    return expires_at


@transaction.atomic
def gallery_create(
    *,
    job: RenderJob,
    pin: str = "",
    expires_at: datetime | None = None,
    never_expires: bool = False,
) -> Gallery:
    """One gallery per job; calling again returns the existing one.

    Without an explicit ``expires_at`` the link follows the studio's default expiry, if any,
    unless ``never_expires`` says the studio chose a link that never closes.
    """
    existing = Gallery.objects.filter(job=job).first()
    if existing:
        return existing
    if job.state not in (
        *RenderJob.REVIEWABLE,  # "needs review" too: the sonographer looked and chose to send
        RenderJob.State.DELIVERING,
        RenderJob.State.DELIVERED,
    ):
        raise ValidationError("The portraits are not ready yet.")
    pin = _validated_pin(pin)
    if expires_at is not None:
        expires_at = _validated_expiry(expires_at)
    elif not never_expires:
        days = gallery_settings_get().default_expiry_days
        expires_at = timezone.now() + timedelta(days=days) if days else None
    token = secrets.token_urlsafe(24)  # 192 bits
    return Gallery.objects.create(
        job=job,
        brand=brand_snapshot_take(),
        brand_taken_at=timezone.now(),
        token=token,
        token_digest=token_digest(token),
        pin_hash=make_password(pin) if pin else "",
        pin_sealed=pin_seal(pin) if pin else "",
        expires_at=expires_at,
    )


@transaction.atomic
@transaction.atomic
def gallery_protect(
    *,
    gallery: Gallery,
    pin: str | None = None,
    expires_at: datetime | None = None,
    clear_expiry: bool = False,
    actor: object | None = None,
    tell_parent: bool = True,
    enqueue: bool = True,
) -> Gallery:
    """Set or clear the PIN ("" clears, None keeps) and the expiry of an existing gallery.

    The audit entry records what changed and nothing else: clearing a PIN that was never set,
    or saving the same expiry again, is no change. A PIN set or changed after the link reached
    the parent is sent to her (gallery_pin_tell) unless ``tell_parent`` is False (a send that
    carries the PIN itself); the channels it went on are in ``gallery.pin_sent_on``."""
    gallery.pin_sent_on = []
    changes: dict[str, object] = {}
    if pin is not None:
        pin = _validated_pin(pin)
        if pin and gallery.has_pin and check_password(pin, gallery.pin_hash):
            if not gallery.pin_sealed:  # typed again for a gallery made before PINs were kept
                gallery.pin_sealed = pin_seal(pin)
                Gallery.objects.filter(pk=gallery.pk).update(pin_sealed=gallery.pin_sealed)
        elif pin:
            changes["pin"] = "changed" if gallery.has_pin else "set"
        elif gallery.has_pin:
            changes["pin"] = "cleared"
        if "pin" in changes:
            gallery.pin_hash = make_password(pin) if pin else ""
            gallery.pin_sealed = pin_seal(pin) if pin else ""
    if clear_expiry:
        if gallery.expires_at is not None:
            changes["expires_at"] = None
        gallery.expires_at = None
    elif expires_at is not None:
        if expires_at != gallery.expires_at:
            gallery.expires_at = _validated_expiry(expires_at)
            changes["expires_at"] = expires_at.isoformat()
    if not changes:
        return gallery
    if "expires_at" in changes:
        gallery.expiry_reminded_at = None  # a new closing day earns its own reminder
    gallery.save(update_fields=["pin_hash", "pin_sealed", "expires_at", "expiry_reminded_at"])
    audit_log_write(action="gallery.protected", obj=gallery, actor=actor, detail=changes)
    if tell_parent and changes.get("pin") in ("set", "changed"):
        told = gallery_pin_tell(gallery=gallery, actor=actor, enqueue=enqueue)
        gallery.pin_sent_on = [delivery.channel for delivery in told]
    return gallery


def _channels_that_reached_her(gallery: Gallery) -> list[tuple[str, str]]:
    """(channel, recipient) of the gallery's link messages a provider took, less texts to a
    number that has since replied STOP."""
    reached = (
        gallery.deliveries.filter(
            kind=Delivery.Kind.LINK,
            status__in=(Delivery.Status.SENT, Delivery.Status.DELIVERED),
        )
        .values_list("channel", "recipient")
        .distinct()
    )
    return [
        (channel, recipient)
        for channel, recipient in sorted(set(reached))
        if not (channel == Delivery.Channel.SMS and sms_opted_out(recipient))
    ]


def gallery_pin_tell(
    *, gallery: Gallery, actor: object | None = None, enqueue: bool = True
) -> list[Delivery]:
    """Send the parent her gallery's new PIN on each channel its link reached her by (a link
    still queued needs nothing: its message is written when it goes, with the PIN of that
    moment). Queued through the outbox, so a broker that is away leaves them for the sweep;
    each message reads the PIN when it is sent, so two quick changes both carry the last."""
    deliveries = [
        Delivery.objects.create(
            gallery=gallery, kind=Delivery.Kind.PIN, channel=channel, recipient=recipient
        )
        for channel, recipient in _channels_that_reached_her(gallery)
    ]
    if not deliveries:
        return []
    audit_log_write(
        action="gallery.pin_sent",
        obj=gallery,
        actor=actor,
        detail={"channels": [delivery.channel for delivery in deliveries]},
    )
    if enqueue:
        for delivery in deliveries:
            _enqueue_delivery(delivery.pk)
    return deliveries


def gallery_pin_matches(*, gallery: Gallery, pin: str) -> bool:
    return bool(gallery.pin_hash) and check_password(pin.strip(), gallery.pin_hash)


@transaction.atomic
def gallery_settings_update(
    *,
    default_expiry_days: int | None,
    favourites_email: bool | None = None,
    actor: object | None = None,
) -> GallerySettings:
    if default_expiry_days is not None and not 1 <= default_expiry_days <= MAX_EXPIRY_DAYS:
        raise ValidationError(f"Choose between 1 and {MAX_EXPIRY_DAYS} days, or leave it empty.")
    gallery_settings = gallery_settings_get()
    detail: dict[str, object] = {}
    if default_expiry_days != gallery_settings.default_expiry_days:
        detail["default_expiry_days"] = default_expiry_days
    if favourites_email is not None and favourites_email != gallery_settings.favourites_email:
        detail["favourites_email"] = favourites_email
    gallery_settings.default_expiry_days = default_expiry_days
    if favourites_email is not None:
        gallery_settings.favourites_email = favourites_email
    gallery_settings.save()
    if detail:
        audit_log_write(
            action="gallery_settings.updated", obj=gallery_settings, actor=actor, detail=detail
        )
    return gallery_settings


def gallery_for_parent(
    token: str, *, client_ip: str
) -> tuple[Gallery, tuple[PortraitTile, ...]] | None:
    """The common case in one statement: a live gallery without a PIN, opened from an address
    that has not used up its wrong-token guesses, with its portraits and the parent's
    favourites. Returns None for anything else (unknown, expired, PIN-protected, address
    blocked); the caller then takes the slow path that tells those apart. The portraits come
    as the page's tiles (id, primary, favourite, print file), primary first. Nothing is
    written: the page counts the open once it has been sent (``gallery_count``).

    Every table is named with the current studio's schema, so the statement runs on the
    driver's own cursor without django-tenants' ``SET search_path`` round trip first. The row
    is found by the token's digest, so a wrong guess costs the same whatever it shares with a
    real token; the constant-time comparison after it is a second lock on the same door.
    """
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return None
    quote = connection.ops.quote_name
    schema = quote(connection.schema_name)

    def table(model: type[models.Model]) -> str:
        return f"{schema}.{quote(model._meta.db_table)}"

    # Only what the page shows and the checks need; the instance defers the rest.
    names = ("id", "uid", "job", "token", "pin_hash", "expires_at", "brand")
    gallery_fields = [Gallery._meta.get_field(name) for name in names]
    columns = ", ".join(f'g."{field.column}"' for field in gallery_fields)
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        cursor.execute(
            f'SELECT {columns}, c."id", c."is_primary", EXISTS (SELECT 1 FROM '
            f'{table(Favourite)} f WHERE f."gallery_id" = g."id" '
            'AND f."candidate_id" = c."id"), c."print_image" <> \'\', c."print_attempts" '
            f"FROM {table(Gallery)} g LEFT JOIN {table(Candidate)} c "
            'ON c."job_id" = g."job_id" AND c."shared_with_parent" '
            'WHERE g."token_digest" = %s AND g."pin_hash" = \'\' '
            'AND (g."expires_at" IS NULL OR g."expires_at" > now()) '
            f"AND NOT EXISTS (SELECT 1 FROM {table(GuessCount)} "
            'WHERE "scope" = %s AND "subject" = %s AND "hits" >= %s '
            'AND "window_ends_at" > now()) '
            'ORDER BY c."is_primary" DESC, c."rank"',
            [
                token_digest(token),
                throttle.TOKEN_GUESSES.scope,
                client_ip[:80],
                throttle.TOKEN_GUESSES.attempts,
            ],
        )
        rows = cursor.fetchall()
    if not rows:
        return None
    width = len(gallery_fields)
    gallery = Gallery.from_db(
        connection.alias, [f.attname for f in gallery_fields], rows[0][:width]
    )
    if not hmac.compare_digest(gallery.token.encode(), token.encode()):
        return None  # another token with the same SHA-256 digest: show nothing
    shared = tuple(
        PortraitTile(
            pk, is_primary, is_favourite, print_state(has_file=has_print, attempts=attempts)
        )
        for pk, is_primary, is_favourite, has_print, attempts in (row[width:] for row in rows)
        if pk is not None  # the LEFT JOIN's one row for a gallery with nothing shared yet
    )
    return gallery, shared


def gallery_count(*, gallery: Gallery, what: str) -> None:
    """Add one open, download or share: a single UPDATE, so concurrent parents never lose one.

    Counters are analytics: ``set_config(…, true)`` lets this statement's own commit skip the
    wait for the WAL to reach disk (a database crash may lose the last fraction of a second of
    them); everything else keeps PostgreSQL's durable commit.
    """
    if what not in ("opens", "downloads", "shares"):
        raise ValueError(f"Unknown gallery counter {what!r}")
    opened = ', "last_opened_at" = now()' if what == "opens" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH quiet AS (SELECT set_config('synchronous_commit', 'off', true)) "
            f'UPDATE "{Gallery._meta.db_table}" SET "{what}" = "{what}" + 1{opened} '
            'FROM quiet WHERE "id" = %s',
            [gallery.pk],
        )


def gallery_favourite_set(*, gallery: Gallery, candidate: Candidate, favourite: bool) -> bool:
    """Mark or unmark a portrait as the parent's favourite; safe to repeat."""
    if candidate.job_id != gallery.job_id or not candidate.shared_with_parent:
        raise ValidationError("That portrait is not in this gallery.")
    if favourite:
        try:
            with transaction.atomic():
                _, created = Favourite.objects.get_or_create(gallery=gallery, candidate=candidate)
        except IntegrityError:
            created = False  # two taps at once: the other one made it
        if created:  # the studio hears of it once she has stopped choosing (favourites_notice)
            Gallery.objects.filter(pk=gallery.pk).update(favourites_changed_at=timezone.now())
    else:
        Favourite.objects.filter(gallery=gallery, candidate=candidate).delete()
    return favourite


@transaction.atomic
def gallery_delete(
    *, gallery: Gallery, actor: object | None = None, with_portraits: bool = False
) -> None:
    """The link stops working at once; the portraits stay unless the owner asks otherwise."""
    detail = {
        "job": str(gallery.job.uid),
        "opens": gallery.opens,
        "downloads": gallery.downloads,
        "shares": gallery.shares,
        "with_portraits": with_portraits,
    }
    if with_portraits:
        for candidate in list(gallery.job.candidates.all()):
            portrait_delete(candidate=candidate, actor=actor)
    audit_log_write(action="gallery.deleted", obj=gallery, actor=actor, detail=detail)
    gallery.delete()


def gallery_republish(*, gallery: Gallery, actor: object | None = None) -> Gallery:
    """Give a sent gallery the studio's current name, contacts and brand (owner only, checked
    by the view): its portraits are framed again in it (web files now, print files again in
    the background) and its page, card and logo follow. Until this, a gallery keeps the brand
    it was sent with, whatever the brand editor says."""
    from render.print_size import candidate_print_enqueue

    snapshot = brand_snapshot_take()
    spec = brand_spec_from_snapshot(snapshot)
    candidates = list(gallery.job.candidates.all())
    # Framing takes a moment per portrait: done before the transaction, written in one.
    framed = {}
    for candidate in candidates:
        if not candidate.image:
            continue
        with candidate.image.open("rb") as handle, Image.open(handle) as raw:
            framed[candidate.pk] = portrait_finish(np.asarray(raw.convert("RGB")), spec=spec)
    old_names: list[str] = []  # deleted once the new files are committed
    with transaction.atomic():
        for candidate in candidates:
            if candidate.pk not in framed:
                continue
            if candidate.web_image:
                old_names.append(candidate.web_image.name)
            candidate.web_image.save(
                f"{candidate.seed}-web.jpg", ContentFile(framed[candidate.pk]), save=False
            )
            fields = ["web_image"]
            had_print = bool(candidate.print_image)
            if had_print:
                old_names.append(candidate.print_image.name)
                candidate.print_image = ""
                fields.append("print_image")
            candidate.save(update_fields=fields)
            if had_print or candidate.print_requested_at is not None:
                candidate_print_enqueue(candidate=candidate)  # framed again with the new brand
        before = gallery.brand.get("studio_name", "") if gallery.brand else ""
        Gallery.objects.filter(pk=gallery.pk).update(brand=snapshot, brand_taken_at=timezone.now())
        gallery.brand = snapshot
        audit_log_write(
            action="gallery.republished",
            obj=gallery,
            actor=actor,
            detail={
                "portraits": len(framed),
                "studio_name": {"from": before, "to": snapshot["studio_name"]},
            },
        )
        transaction.on_commit(lambda: [default_storage.delete(name) for name in old_names])
    return gallery


@transaction.atomic
def portrait_delete(*, candidate: Candidate, actor: object | None = None) -> None:
    """Delete one portrait and its files (full, web and print sizes)."""
    names = [f.name for f in (candidate.image, candidate.web_image, candidate.print_image) if f]
    audit_log_write(
        action="portrait.deleted",
        obj=candidate,
        actor=actor,
        detail={
            "job": str(candidate.job.uid),
            "rank": candidate.rank,
            "was_primary": candidate.is_primary,
            "files": len(names),
        },
    )
    storage = candidate.image.storage
    candidate.delete()
    # Files go after the row commits: a rollback must not leave a row pointing at nothing.
    transaction.on_commit(lambda: [storage.delete(name) for name in names])


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
    from studio_portal.accounts.models import User

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
            "gallery_url": f"{studio_base_url(studio)}/galleries/{gallery.uid}/",
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
            _enqueue_delivery(delivery.pk)
    return bool(deliveries)


# Erasure --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasureReport:
    scans: int
    portraits: int
    galleries: int
    deliveries: int
    files: int


@transaction.atomic
def parent_session_erase(*, session: ParentSession, actor: object) -> ErasureReport:
    """Everything Cradle holds about one parent, gone at her request: the session (name,
    email, phone, consent, skin tones), every scan and derivative, every portrait at every
    size, the galleries with their favourites, the deliveries, and the addresses in the
    providers' stored events. Owners only.

    Refused only while a worker is busy for her this very moment (rendering under a live
    lease, or a message being handed to the provider): that lasts minutes at most, since a
    dead worker's lease runs out. A render or a message that merely waits, or that can never
    move, is erased with the rest; its queued message then finds nothing to do.

    The audit row keeps counts and the session's uid, nothing personal. A number that replied
    STOP stays on the opt-out list: that is the parent's own instruction to respect.
    """
    require_owner(actor, "Only the studio owner can delete a parent's data.")
    session = ParentSession.objects.select_for_update().get(pk=session.pk)
    # Locked, so a worker's claim (a conditional UPDATE) waits for the erasure and then finds
    # no row, instead of starting on a job about to be deleted.
    jobs = list(RenderJob.objects.select_for_update().filter(session=session))
    now = timezone.now()
    if any(job.lease_expires_at and job.lease_expires_at > now for job in jobs):
        raise ValidationError(
            "Cradle is rendering for this parent right now. Cancel the render or wait a "
            "minute, then delete her data."
        )
    queued = Delivery.objects.filter(
        gallery__job__session=session, status=Delivery.Status.QUEUED
    ).values_list("pk", flat=True)
    # A worker holds a queued delivery's row lock only while it calls the provider.
    if len(queued.select_for_update(skip_locked=True, of=("self",))) < len(queued):
        raise ValidationError(
            "A message to this parent is being sent right now. Wait a minute, then delete her data."
        )
    scans = list(Scan.objects.filter(session=session))
    candidates = list(Candidate.objects.filter(job__session=session))
    galleries = Gallery.objects.filter(job__session=session)
    deliveries = Delivery.objects.filter(gallery__job__session=session)
    names = [f.name for scan in scans for f in scan.derivative_fields() if f]
    names += [f.name for c in candidates for f in (c.image, c.web_image, c.print_image) if f]
    report = ErasureReport(
        scans=len(scans),
        portraits=len(candidates),
        galleries=galleries.count(),
        deliveries=deliveries.count(),
        files=len(names),
    )
    ProviderEvent.objects.filter(delivery__in=deliveries).update(payload={}, delivery=None)
    audit_log_write(
        action="parent_session.erased",
        obj=session,
        actor=actor,
        detail={"session": str(session.uid), **report.__dict__},
    )
    storage = Scan._meta.get_field("deidentified").storage
    session.delete()  # cascades: scans, jobs, candidates, galleries, favourites, deliveries
    # Files go once the rows are gone for good: a rollback keeps both.
    transaction.on_commit(lambda: [storage.delete(name) for name in names])
    return report


def parent_session_export(*, session: ParentSession, studio: object, actor: object) -> Archive:
    """The studio's ZIP of everything it holds for one parent (galleries.archive), audited with
    counts only. Owners only, as erasure is: it carries her details and every file."""
    from galleries.archive import parent_export_zip

    require_owner(actor, "Only the studio owner can export a parent's data.")
    archive = parent_export_zip(session, studio=studio)
    audit_log_write(
        action="parent_session.exported",
        obj=session,
        actor=actor,
        detail={"session": str(session.uid), "files": archive.files},
    )
    return archive


# Sending --------------------------------------------------------------------------------------


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
            _enqueue_delivery(delivery.pk)
    return deliveries


def _shared_prints_request(job: RenderJob) -> None:
    """Every portrait the parent receives gets its print file (her "Print size" says "being
    prepared" until it exists). Asked for once: one already made or asked for is left alone
    (render.print_size retries and sweeps what was asked)."""
    from render.print_size import candidate_print_enqueue

    if not settings.PRINT_FILES_AUTOMATIC:
        return
    for candidate in job.candidates.filter(
        shared_with_parent=True, print_image="", print_requested_at__isnull=True
    ):
        candidate_print_enqueue(candidate=candidate)


def _enqueue_delivery(delivery_id: int) -> None:
    """Sent once the row commits; a broker that is away leaves it for the sweep (the request
    answers as usual: the delivery is queued, which is the truth)."""
    from galleries.tasks import delivery_send_task

    # The worker holds the row while it calls the provider and stamps it itself.
    outbox_send_on_commit(delivery_send_task, Delivery, delivery_id, skip_held=True)


def _message_for(delivery: Delivery) -> OutgoingMessage:
    from branding.selectors import brand_kit_get

    gallery = delivery.gallery
    studio = current_studio()
    base_url = studio_base_url(studio)
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
    ref = delivery_ref(connection.schema_name, delivery.uid)
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


def sms_opted_out(phone: str) -> bool:
    return SmsOptOut.objects.filter(phone=phone).exists()


def sms_opt_out_everywhere(*, phone: str, source: str) -> list[str]:
    """Twilio told us the number replied STOP to Cradle's one number (error 21610): opt it out
    of the current studio and of every studio that texted it, as a STOP reply does
    (sms_inbound_route). Written in the caller's transaction, schema by schema in name order,
    so two studios learning it at once cannot deadlock. Returns the schemas opted out."""
    here = connection.schema_name
    schemas = set(_studios_holding(Delivery, "recipient", [phone], channel=Delivery.Channel.SMS))
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
            _emit_delivery_failed(delivery.pk)
        _job_mark_delivered_when_done(delivery.gallery.job_id)
    return delivery


def _emit_delivery_failed(delivery_id: int) -> None:
    """Tell the studio's own systems (its outgoing webhooks); sent after the commit."""
    webhooks_emit("delivery.failed", delivery_event_payload(delivery_id))


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
    from galleries.tasks import delivery_send_task

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
        delivery_send_task, due, schema_name=connection.schema_name, skip_held=True
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
            _emit_delivery_failed(delivery_id)
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
        _enqueue_delivery(delivery.pk)
    return delivery


# Provider webhooks ----------------------------------------------------------------------------

# How far a status may move: a late "processed" must not undo "delivered"; final states stay.
_STATUS_RANK = {
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
        _emit_delivery_failed(delivery.pk)
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
    return read[1] if read and read[0] == connection.schema_name else None


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
        opt_out = SmsOptOut.objects.filter(phone=phone).first()
        if opt_out is not None:
            audit_log_write(action="sms.opted_in", obj=opt_out, detail={"phone_suffix": phone[-4:]})
            opt_out.delete()
        return "opted_in"
    return "ignored"


# Routing: one public URL for every studio -------------------------------------------------------
#
# SendGrid and Twilio each post every studio's events to one URL (Cradle's own host; the old
# per-studio /hooks/ URLs go through the same routing). Each event goes to the schema its
# signed delivery reference names (galleries.webhooks); one without a reference goes by the
# provider's own message id, which is unique across studios. Never by a sequential id.


def _studios_holding(
    model: type[models.Model],
    field_name: str,
    values: Iterable[str],
    *,
    channel: str = "",
) -> dict[str, set[str]]:
    """{schema: the values found} for every studio whose ``model`` rows have ``field_name`` in
    ``values`` (and that ``channel``): one statement over every studio's schema."""
    wanted = sorted({value for value in values if value})
    schemas = studio_schema_names()
    if not wanted or not schemas:
        return {}
    table = model._meta.db_table
    quote = connection.ops.quote_name
    column = quote(model._meta.get_field(field_name).column)
    with connection.cursor() as cursor:
        # Only schemas with the table: a studio being created has none for a few seconds.
        cursor.execute(
            "SELECT table_schema FROM information_schema.tables "
            "WHERE table_name = %s AND table_schema = ANY(%s)",
            [table, schemas],
        )
        ready = sorted(row[0] for row in cursor.fetchall())
        if not ready:
            return {}
        parts, params = [], []
        for schema in ready:
            parts.append(
                f"SELECT %s, {column} FROM {quote(schema)}.{quote(table)} "
                f"WHERE {column} = ANY(%s)" + (' AND "channel" = %s' if channel else "")
            )
            params += [schema, wanted, *([channel] if channel else [])]
        cursor.execute(" UNION ALL ".join(parts), params)
        found: dict[str, set[str]] = {}
        for schema, value in cursor.fetchall():
            found.setdefault(schema, set()).add(value)
    return found


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
        holders = _studios_holding(
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
        holders = _studios_holding(
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
    schemas = set(_studios_holding(Delivery, "recipient", [phone], channel=Delivery.Channel.SMS))
    schemas |= set(_studios_holding(SmsOptOut, "phone", [phone]))
    if fallback_schema:
        schemas.add(fallback_schema)  # the old per-studio URL: that studio heard it too
    for schema in sorted(schemas):
        with schema_context(schema):
            sms_inbound_record(phone=phone, body=body, message_sid=message_sid)
    return sorted(schemas)


# Retention ------------------------------------------------------------------------------------


def scan_derivative_field_names() -> list[str]:
    """The Scan file fields that hold the scan or anything made from it (render owns the list)."""
    return [field_file.field.name for field_file in Scan().derivative_fields()]


# Data read from the scan's pixels that outlives no file: cleared with the files.
_SCAN_DERIVED_DATA = {"anchors": {}, "dropped_anchors": [], "text_boxes": [], "render_box": []}


@dataclass
class PurgeReport:
    schema_name: str
    retention_days: int
    cutoff: datetime
    scans: int = 0
    files: int = 0
    scan_ids: list[int] = field(default_factory=list)


def scans_purge_expired(
    *, now: datetime | None = None, dry_run: bool = False, batch_size: int = 2000
) -> PurgeReport:
    """Delete every scan file and derivative older than the studio's window; keep the rows
    (marked ``purged_at``), the jobs, the candidates and the portraits; audit each scan.

    Files go first, then the rows are marked, batch by batch: a crash in between leaves files
    already gone and rows still unmarked, and the next run finishes them (deleting a missing
    file is a no-op). The other order could leave files nobody would ever delete.
    """
    now = now or timezone.now()
    studio = current_studio()
    days = studio_retention_days(studio)
    report = PurgeReport(connection.schema_name, days, now - timedelta(days=days))
    names = scan_derivative_field_names()
    storages = {name: Scan._meta.get_field(name).storage for name in names}
    last_pk = 0
    while True:
        rows = list(
            Scan.objects.filter(
                created_at__lt=report.cutoff, purged_at__isnull=True, pk__gt=last_pk
            )
            .order_by("pk")
            .values_list("pk", *names)[:batch_size]
        )
        if not rows:
            break
        last_pk = rows[-1][0]
        batch_files = 0
        deleted_fields: dict[int, list[str]] = {}
        for pk, *paths in rows:
            present = [(name, path) for name, path in zip(names, paths, strict=True) if path]
            deleted_fields[pk] = [name for name, _ in present]
            batch_files += len(present)
            if not dry_run:
                for name, path in present:
                    storages[name].delete(path)
        report.scans += len(rows)
        report.files += batch_files
        report.scan_ids.extend(deleted_fields)
        if dry_run:
            continue
        with transaction.atomic():
            Scan.objects.filter(pk__in=deleted_fields, purged_at__isnull=True).update(
                purged_at=now, **{name: "" for name in names}, **_SCAN_DERIVED_DATA
            )
            AuditLogEntry.objects.bulk_create(
                [
                    AuditLogEntry(
                        action="scan.purged",
                        object_type="Scan",
                        object_id=str(pk),
                        detail={
                            "reason": "retention",
                            "retention_days": days,
                            "files": fields,
                        },
                    )
                    for pk, fields in deleted_fields.items()
                ]
            )
    if not dry_run and report.scans:
        logger.info(
            "retention: %s scans (%s files) purged in %s",
            report.scans,
            report.files,
            report.schema_name,
        )
    return report


# Audit ----------------------------------------------------------------------------------------


def audit_log_write(
    *, action: str, obj: object, actor: object | None = None, detail: dict | None = None
) -> AuditLogEntry:
    return AuditLogEntry.objects.create(
        action=action,
        object_type=type(obj).__name__,
        object_id=str(getattr(obj, "pk", "") or ""),
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        detail=detail or {},
    )
