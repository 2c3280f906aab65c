"""The print file: the primary candidate's raw render, Real-ESRGAN ×4, then brand + tag at
print size. Made in the background after a primary is chosen, on a queue of its own (``print``:
a re-render on ``render`` never waits behind an upscale); until it exists the gallery's print
download falls back to the web-size file.

Making it takes tens of seconds on a CPU, so it never runs inside a request or a transaction.

The request is kept on the candidate (``print_requested_at``), so a message the broker never
took or lost, and a worker killed mid-upscale, are made good by the sweep; every try counts,
and after Candidate.PRINT_MAX_ATTEMPTS the file is given up with its reason (the web size stays).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from PIL import Image

from branding.overlay import BrandSpec
from branding.services import brand_spec_from_snapshot, portrait_finish
from render.models import Candidate
from render.pipeline.upscale import upscale_x4
from studio_portal.outbox import outbox_due, outbox_resend_due, outbox_send_on_commit

logger = logging.getLogger(__name__)

# A print message the broker took longer ago than this, with no file made, was lost: longer
# than the actor's time limit, so a print being made is never sent again.
PRINT_MESSAGE_LEASE = timedelta(minutes=15)
# A try that failed is tried again after this long.
PRINT_RETRY_AFTER = timedelta(minutes=2)
# The database or storage briefly away: the actor retries these itself.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


# The brand a job's gallery was sent with ({} before it was sent, or for a gallery made before
# brands were kept). Galleries keeps it and sits above render: it hands this in when Django
# starts (GalleriesConfig.ready), so render never imports it.
SentBrandSnapshot = Callable[[int], dict | None]
_sent_brand_snapshot: SentBrandSnapshot | None = None


def sent_brand_snapshot_reader_set(read: SentBrandSnapshot) -> None:
    global _sent_brand_snapshot
    _sent_brand_snapshot = read


def _sent_brand_spec(candidate: Candidate) -> BrandSpec | None:
    """The brand of the gallery the candidate was sent in; None (the current brand) before."""
    if _sent_brand_snapshot is None:
        raise ImproperlyConfigured("No sent brand reader: galleries is not an installed app.")
    snapshot = _sent_brand_snapshot(candidate.job_id)
    return brand_spec_from_snapshot(snapshot) if snapshot else None


def candidate_print_enqueue(*, candidate: Candidate) -> None:
    """Ask for the print file of ``candidate``: recorded on the row, queued once the current
    transaction commits (a rolled back choice of primary leaves nothing behind), swept until
    it is made or given up. Asking again starts the count of tries afresh."""
    from render.tasks import candidate_print_make_task  # lazy: render.tasks imports this module

    Candidate.objects.filter(pk=candidate.pk).update(
        print_requested_at=timezone.now(), print_enqueued_at=None, print_attempts=0, print_error=""
    )
    outbox_send_on_commit(
        candidate_print_make_task, Candidate, candidate.pk, stamp_field="print_enqueued_at"
    )


def candidate_prints_sweep_due(
    *, now: datetime | None = None, lease: timedelta = PRINT_MESSAGE_LEASE
) -> int:
    """Send again the print file of every shared portrait asked for and still missing whose message
    was never taken or lost, or whose last try failed a while ago; run every minute by the
    scheduler with the job sweep. Returns how many went."""
    from render.tasks import candidate_print_make_task  # lazy: render.tasks imports this module

    now = now or timezone.now()
    due = Candidate.objects.filter(
        Q(print_error__gt="", print_enqueued_at__lt=now - PRINT_RETRY_AFTER)
        | outbox_due(
            now=now,
            waiting_since="print_requested_at",
            lease=lease,
            stamp_field="print_enqueued_at",
        ),
        Q(is_primary=True) | Q(shared_with_parent=True),  # every portrait the parent gets
        print_requested_at__isnull=False,
        print_image="",
        print_attempts__lt=Candidate.PRINT_MAX_ATTEMPTS,
    )
    return outbox_resend_due(
        candidate_print_make_task,
        due,
        schema_name=connection.schema_name,
        stamp_field="print_enqueued_at",
    )


def _raw_render(candidate: Candidate) -> np.ndarray:
    with candidate.image.open("rb") as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


def candidate_print_make(*, candidate_id: int) -> Candidate | None:
    """Make ``Candidate.print_image`` unless it exists; returns the candidate (None if gone).

    Safe to run twice or concurrently: the slow work happens outside any transaction, then the
    file is stored only if no other run stored one meanwhile (checked under a row lock).
    """
    candidate = Candidate.objects.filter(pk=candidate_id).first()
    if candidate is None:
        return None
    if candidate.print_image or candidate.print_given_up:
        return candidate
    # Counted before the slow work, so a try whose worker is killed counts too.
    Candidate.objects.filter(pk=candidate_id).update(
        print_attempts=F("print_attempts") + 1, print_enqueued_at=timezone.now()
    )
    try:
        upscaled = upscale_x4(_raw_render(candidate))
        # The raw render is the input, never the web JPEG: upscaling a brand frame and tag
        # would blur them, and the overlay lays them out afresh for the print's size.
        # A sent gallery's portrait keeps the brand the gallery was sent with.
        print_jpeg = portrait_finish(upscaled, size="print", spec=_sent_brand_spec(candidate))
    except Exception as exc:
        Candidate.objects.filter(pk=candidate_id).update(
            print_error=f"{type(exc).__name__}: {exc}"[:300]
        )
        raise
    with transaction.atomic():
        locked = Candidate.objects.select_for_update().filter(pk=candidate_id).first()
        if locked is None:
            return None
        if locked.print_image:
            return locked
        locked.print_image.save(f"{locked.seed}-print.jpg", ContentFile(print_jpeg), save=False)
        locked.print_error = ""
        locked.save(update_fields=["print_image", "print_error"])
    logger.info("print file made for candidate %s (%d bytes)", candidate_id, len(print_jpeg))
    return locked


def candidate_print_make_logged(*, candidate_id: int) -> Candidate | None:
    """:func:`candidate_print_make` for the worker: a failure is logged and leaves the
    web-size download in place. Transient errors propagate (the actor retries them soon);
    any other is left to the sweep, which tries a few times more, minutes apart, then stops
    (a deterministic failure must not burn the render queue)."""
    try:
        return candidate_print_make(candidate_id=candidate_id)
    except TRANSIENT_ERRORS:
        raise
    except Exception:
        logger.exception("could not make the print file for candidate %s", candidate_id)
        return None
