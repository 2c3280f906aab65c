"""Writes to the mark registry: one id per delivered file, issued before its pixels are marked."""

from __future__ import annotations

import secrets

from django.db import connection
from django.utils import timezone

from branding.watermark import MARK_ID_BITS
from studio_portal.tenants.models import Studio
from verification.models import PortraitMark


class MarkIssueError(RuntimeError):
    pass


def portrait_mark_issue(*, studio: Studio, kind: str, source: str = "") -> PortraitMark:
    """A fresh random mark id for a file ``studio`` is about to deliver, recorded with the time.

    With a ``source`` (what the file is made from, e.g. ``candidate:42``) the same source and
    kind keep one mark, however often the file is made again. Ids are 40 random bits: a clash
    is rare and simply draws again. One round trip for a new mark (an INSERT that skips a clash
    instead of failing, so a caller's transaction is never spoiled and needs no savepoint): it
    is on the path of every delivered portrait.
    """
    if kind not in PortraitMark.Kind.values:
        raise ValueError(f"Unknown kind of delivered file: {kind!r}")
    if source:
        existing = PortraitMark.objects.filter(studio=studio, kind=kind, source=source).first()
        if existing is not None:
            return existing
    table = connection.ops.quote_name(PortraitMark._meta.db_table)
    insert = (
        f"INSERT INTO {table} (mark_id, studio_id, kind, source, issued_at) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING mark_id"
    )
    for _ in range(8):
        mark_id = secrets.randbits(MARK_ID_BITS)
        if mark_id == 0:
            continue
        issued_at = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(insert, [mark_id, studio.pk, kind, source, issued_at])
            inserted = cursor.fetchone() is not None
        if inserted:
            mark = PortraitMark(
                mark_id=mark_id, studio=studio, kind=kind, source=source, issued_at=issued_at
            )
            mark._state.adding, mark._state.db = False, connection.alias
            return mark
        if source:  # another process issued this source's mark a moment ago
            existing = PortraitMark.objects.filter(studio=studio, kind=kind, source=source).first()
            if existing is not None:
                return existing
    raise MarkIssueError("Could not draw an unused watermark id after 8 tries")
