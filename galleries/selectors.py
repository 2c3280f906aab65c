from __future__ import annotations

import hmac
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.core.files.storage import default_storage
from django.db import connection, models
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from branding.models import BrandKit
from branding.selectors import brand_kit_get
from branding.services import brand_snapshot_take
from galleries.models import (
    Delivery,
    Favourite,
    Gallery,
    GallerySettings,
    SmsOptOut,
    token_digest,
)
from render.models import Candidate
from studio_portal.tenants.selectors import current_studio, studio_schema_names

TOKEN_MAX_LENGTH = 64


def gallery_for_token(token: str) -> Gallery | None:
    """The gallery for a token in the current studio's schema, or None.

    Looked up by the token's digest, then compared in constant time, so response timing
    says nothing about how much of a guessed token was right. The schema is the request's
    studio, so a token on another studio's domain finds nothing.
    """
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return None
    gallery = Gallery.objects.filter(token_digest=token_digest(token)).first()
    if gallery is None or not hmac.compare_digest(gallery.token.encode(), token.encode()):
        return None
    return gallery


def gallery_is_expired(gallery: Gallery) -> bool:
    return gallery.expires_at is not None and gallery.expires_at <= timezone.now()


def gallery_portraits(gallery: Gallery) -> list[Candidate]:
    """Primary first, then the alternates the studio chose to share; each carries
    ``is_favourite`` for this gallery. One query (the parent's common case is answered by
    ``services.gallery_for_parent``; this serves PIN-protected galleries and the studio).
    """
    favourite = Favourite.objects.filter(gallery=gallery, candidate=OuterRef("pk"))
    return list(
        Candidate.objects.filter(job_id=gallery.job_id, shared_with_parent=True)
        .annotate(is_favourite=Exists(favourite))
        .order_by("-is_primary", "rank")
    )


def gallery_portrait_numbers(gallery: Gallery) -> dict[int, int]:
    """{candidate id: its number in the parent's gallery}: 1 is the studio's pick, then the
    alternates in rank order, as the page shows them (file names use these numbers)."""
    ordered = (
        Candidate.objects.filter(job_id=gallery.job_id, shared_with_parent=True)
        .order_by("-is_primary", "rank")
        .values_list("pk", flat=True)
    )
    return {pk: number for number, pk in enumerate(ordered, start=1)}


def gallery_share_card_portrait(gallery: Gallery) -> Candidate | None:
    """The portrait a shared link's preview shows: the studio's pick (else the first shared)."""
    return (
        Candidate.objects.filter(job_id=gallery.job_id, shared_with_parent=True)
        .exclude(web_image="")
        .order_by("-is_primary", "rank")
        .first()
    )


def gallery_portrait(gallery: Gallery, candidate_id: int) -> Candidate | None:
    return Candidate.objects.filter(
        pk=candidate_id, job_id=gallery.job_id, shared_with_parent=True
    ).first()


def gallery_settings_get() -> GallerySettings:
    settings_row, _ = GallerySettings.objects.get_or_create(pk=1)
    return settings_row


def gallery_list_with_stats() -> QuerySet[Gallery]:
    """Every gallery with its counters and delivery tallies, newest first (the studio's page)."""
    return (
        Gallery.objects.select_related("job", "job__session")
        .annotate(
            favourite_count=Count("favourites", distinct=True),
            failed_count=Count(
                "deliveries", filter=Q(deliveries__status=Delivery.Status.FAILED), distinct=True
            ),
            delivered_count=Count(
                "deliveries", filter=Q(deliveries__status=Delivery.Status.DELIVERED), distinct=True
            ),
        )
        .order_by("-created_at")
    )


def gallery_get(uid: str) -> Gallery:
    return get_object_or_404(Gallery.objects.select_related("job", "job__session"), uid=uid)


def deliveries_failed() -> QuerySet[Delivery]:
    return Delivery.objects.filter(status=Delivery.Status.FAILED).select_related(
        "gallery", "gallery__job__session"
    )


# The parent's page is the hot path: the brand kit is kept per process for a minute rather than
# read on every open. A studio's colour change reaches open galleries within that minute.
BRAND_MEMO_SECONDS = 60.0
_brand_memo: dict[str, tuple[float, BrandKit]] = {}


@dataclass(frozen=True)
class SentBrand:
    """The studio's name, contacts and brand as a gallery shows them: as it was sent
    (``Gallery.brand``), until the owner republishes it."""

    studio_name: str
    contact_email: str
    contact_phone: str
    primary_hex: str
    accent_hex: str
    font: str
    logo: str  # a storage name; "" for none


def gallery_sent_brand(gallery: Gallery) -> SentBrand:
    snapshot = gallery.brand
    if isinstance(snapshot, str):  # read through the driver's own cursor: JSON text
        snapshot = json.loads(snapshot)
    if snapshot:
        return SentBrand(
            studio_name=str(snapshot.get("studio_name", "")),
            contact_email=str(snapshot.get("contact_email", "")),
            contact_phone=str(snapshot.get("contact_phone", "")),
            primary_hex=str(snapshot.get("primary_hex", "")),
            accent_hex=str(snapshot.get("accent_hex", "")),
            font=str(snapshot.get("font", "")),
            logo=str(snapshot.get("logo") or ""),
        )
    # A gallery sent before snapshots were kept shows the studio as it is now.
    kit, studio = gallery_brand(), current_studio()
    return SentBrand(
        studio_name=studio.name,
        contact_email=studio.contact_email,
        contact_phone=studio.contact_phone,
        primary_hex=kit.primary_hex,
        accent_hex=kit.accent_hex,
        font=kit.font,
        logo=kit.logo.name if kit.logo else "",
    )


def gallery_brand_is_current(gallery: Gallery) -> bool:
    """Whether the studio's name, contacts and brand are still those the gallery was sent with."""
    return bool(gallery.brand) and gallery.brand == brand_snapshot_take(store=False)


def sent_brand_logo(brand: SentBrand) -> bytes:
    """The logo a gallery was sent with (b"" for none, or when its file is gone)."""
    if not brand.logo:
        return b""
    try:
        with default_storage.open(brand.logo, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, OSError):
        return b""


def gallery_brand() -> BrandKit:
    schema = connection.schema_name
    now = time.monotonic()
    memo = _brand_memo.get(schema)
    if memo is not None and now - memo[0] < BRAND_MEMO_SECONDS:
        return memo[1]
    kit = brand_kit_get()
    _brand_memo[schema] = (now, kit)
    return kit


def sms_opted_out(phone: str) -> bool:
    return SmsOptOut.objects.filter(phone=phone).exists()


def studios_holding(
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


def galleries_delivered_count(since: datetime | None) -> int:
    """Galleries sent to a parent (once each, however many channels or resends), since a time
    or ever: what billing counts against a pilot's cap."""
    galleries = Gallery.objects.filter(deliveries__isnull=False)
    if since is not None:
        galleries = galleries.filter(deliveries__created_at__gte=since)
    return galleries.distinct().count()


def gallery_brand_snapshot_for_job(job_id: int) -> dict | None:
    """The brand snapshot the job's gallery was sent with, if it has a gallery (print files
    are framed in it: render.print_size)."""
    return Gallery.objects.filter(job_id=job_id).values_list("brand", flat=True).first()


def delivery_event_payload(delivery_id: int) -> dict[str, object]:
    """What a delivery event tells the studio's systems (its outgoing webhooks): ids and
    outcome, never the parent's address."""
    delivery = Delivery.objects.select_related("gallery__job__session").get(pk=delivery_id)
    return {
        "delivery": delivery.pk,
        "gallery": str(delivery.gallery.uid),
        "job": str(delivery.gallery.job.uid),
        "session": str(delivery.gallery.job.session.uid),
        "channel": delivery.channel,
        "status": delivery.status,
        "error": delivery.error,
    }
