from __future__ import annotations

import hmac

from django.utils import timezone

from galleries.models import Gallery, token_digest
from render.models import Candidate


def gallery_for_token(token: str) -> Gallery | None:
    """The gallery for a token in the current studio's schema, or None.

    Looked up by the token's digest, then compared in constant time, so response timing
    says nothing about how much of a guessed token was right.
    """
    if not token or len(token) > 64:
        return None
    gallery = (
        Gallery.objects.select_related("job", "job__session")
        .filter(token_digest=token_digest(token))
        .first()
    )
    if gallery is None or not hmac.compare_digest(gallery.token, token):
        return None
    return gallery


def gallery_is_expired(gallery: Gallery) -> bool:
    return gallery.expires_at is not None and gallery.expires_at <= timezone.now()


def gallery_portraits(gallery: Gallery) -> list[Candidate]:
    """Primary first, then the alternates the studio chose to share."""
    return list(
        gallery.job.candidates.filter(shared_with_parent=True).order_by("-is_primary", "rank")
    )
