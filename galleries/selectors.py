from __future__ import annotations

import hmac
import json
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from branding.models import BrandKit
from branding.selectors import brand_kit_get
from galleries.models import (
    AuditLogEntry,
    Delivery,
    Favourite,
    Gallery,
    GallerySettings,
    token_digest,
)
from render.models import Candidate
from studio_portal.tenants.models import Studio
from studio_portal.tenants.selectors import current_studio

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


def studio_retention_days(studio: Studio) -> int:
    """The studio's scan window: its own setting, never more than the platform maximum."""
    maximum = settings.SCAN_RETENTION_DAYS_MAX
    days = studio.retention_days or maximum
    return max(1, min(days, maximum))


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
    from django.shortcuts import get_object_or_404

    return get_object_or_404(Gallery.objects.select_related("job", "job__session"), uid=uid)


def deliveries_failed() -> QuerySet[Delivery]:
    return Delivery.objects.filter(status=Delivery.Status.FAILED).select_related(
        "gallery", "gallery__job__session"
    )


def audit_log_list(*, action_prefix: str = "") -> QuerySet[AuditLogEntry]:
    entries = AuditLogEntry.objects.select_related("actor")
    if action_prefix:
        entries = entries.filter(action__startswith=action_prefix)
    return entries.order_by("-at", "-pk")


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
    from branding.services import brand_snapshot_take

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
