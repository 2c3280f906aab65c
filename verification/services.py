"""Writes to the mark registry: one id per delivered file, issued before its pixels are marked."""

from __future__ import annotations

import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from branding.watermark import MARK_ID_BITS
from studio_portal.tenants.models import Studio
from verification.models import PortraitMark


class MarkIssueError(RuntimeError):
    pass


@transaction.atomic
def portrait_mark_issue(*, studio: Studio, kind: str, source: str = "") -> PortraitMark:
    """A fresh random mark id for a file ``studio`` is about to deliver, recorded with the time.

    With a ``source`` (what the file is made from, e.g. ``candidate:42``) the same source and
    kind keep one mark, however often the file is made again. Ids are 40 random bits: a clash
    is rare and simply draws again.
    """
    if kind not in PortraitMark.Kind.values:
        raise ValueError(f"Unknown kind of delivered file: {kind!r}")
    if source:
        existing = PortraitMark.objects.filter(studio=studio, kind=kind, source=source).first()
        if existing is not None:
            return existing
    for _ in range(8):
        mark_id = secrets.randbits(MARK_ID_BITS)
        if mark_id == 0:
            continue
        try:
            with transaction.atomic():  # a savepoint: a clash must not poison the caller's work
                return PortraitMark.objects.create(
                    mark_id=mark_id,
                    studio=studio,
                    kind=kind,
                    source=source,
                    issued_at=timezone.now(),
                )
        except IntegrityError:
            if source:  # another process issued this source's mark a moment ago
                existing = PortraitMark.objects.filter(
                    studio=studio, kind=kind, source=source
                ).first()
                if existing is not None:
                    return existing
    raise MarkIssueError("Could not draw an unused watermark id after 8 tries")
