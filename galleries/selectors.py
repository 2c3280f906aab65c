from __future__ import annotations

import hmac
import time

from django.conf import settings
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


def gallery_brand() -> BrandKit:
    schema = connection.schema_name
    now = time.monotonic()
    memo = _brand_memo.get(schema)
    if memo is not None and now - memo[0] < BRAND_MEMO_SECONDS:
        return memo[1]
    kit = brand_kit_get()
    _brand_memo[schema] = (now, kit)
    return kit
