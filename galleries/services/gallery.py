"""A parent's gallery: made, protected (PIN, expiry), opened, counted, republished in the
studio's current brand, deleted; and the portraits in it."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any, cast

import numpy as np
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from PIL import Image

from branding.services import brand_snapshot_take, brand_spec_from_snapshot, portrait_finish
from galleries import throttle
from galleries.models import (
    Delivery,
    Favourite,
    Gallery,
    GallerySettings,
    GuessCount,
    token_digest,
)
from galleries.parent_page import PortraitTile, print_state
from galleries.selectors import (
    TOKEN_MAX_LENGTH,
    gallery_settings_get,
    sms_opted_out,
)
from galleries.services.delivery_outbox import delivery_enqueue
from render.models import Candidate, RenderJob
from render.print_size import candidate_print_enqueue
from studio_portal.audit.services import audit_log_write
from studio_portal.tenants.addresses import studio_base_url
from studio_portal.tenants.selectors import current_schema_name

PIN_DIGITS = (4, 8)
MAX_EXPIRY_DAYS = 365


def gallery_url(gallery: Gallery, *, base_url: str | None = None) -> str:
    return f"{base_url or studio_base_url()}/g/{gallery.token}/"


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
            delivery_enqueue(delivery.pk)
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
    schema = quote(current_schema_name())

    def table(model: type[models.Model]) -> str:
        return f"{schema}.{quote(model._meta.db_table)}"

    # Only what the page shows and the checks need; the instance defers the rest.
    names = ("id", "uid", "job", "token", "pin_hash", "expires_at", "brand")
    gallery_fields = [
        cast("models.Field[Any, Any]", Gallery._meta.get_field(name)) for name in names
    ]
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
            'AND "window_ends_at" > statement_timestamp()) '
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
        transaction.on_commit(lambda: files_delete(default_storage, old_names))
    return gallery


def files_delete(storage: Storage, names: Iterable[str | None]) -> None:
    """Delete stored files; called once the rows that named them are gone for good."""
    for name in names:
        if name:
            storage.delete(name)


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
    transaction.on_commit(lambda: files_delete(storage, names))
