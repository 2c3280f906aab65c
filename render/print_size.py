"""The print file: the primary candidate's raw render, Real-ESRGAN ×4, then brand + tag at
print size. Made in the background (queue ``render``) after a primary is chosen; until it
exists the gallery's print download falls back to the web-size file.

Making it takes tens of seconds on a CPU, so it never runs inside a request or a transaction.
"""

from __future__ import annotations

import logging

import numpy as np
from django.core.files.base import ContentFile
from django.db import connection, transaction
from PIL import Image

from branding.services import portrait_finish
from render.models import Candidate
from render.pipeline.upscale import upscale_x4

logger = logging.getLogger(__name__)


def candidate_print_enqueue(*, candidate: Candidate) -> None:
    """Queue the print file for ``candidate`` once the current transaction commits (a rolled
    back choice of primary must not leave a print job behind)."""
    from render.tasks import candidate_print_make_task

    schema = connection.schema_name
    candidate_id = candidate.pk
    transaction.on_commit(lambda: candidate_print_make_task.send(schema, candidate_id))


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
    if candidate.print_image:
        return candidate
    upscaled = upscale_x4(_raw_render(candidate))
    # The raw render is the input, never the web JPEG: upscaling a brand frame and tag would
    # blur them, and the overlay lays them out afresh for the print's size.
    print_jpeg = portrait_finish(upscaled, size="print")
    with transaction.atomic():
        locked = Candidate.objects.select_for_update().filter(pk=candidate_id).first()
        if locked is None:
            return None
        if locked.print_image:
            return locked
        locked.print_image.save(f"{locked.seed}-print.jpg", ContentFile(print_jpeg), save=False)
        locked.save(update_fields=["print_image"])
    logger.info("print file made for candidate %s (%d bytes)", candidate_id, len(print_jpeg))
    return locked


def candidate_print_make_logged(*, candidate_id: int) -> Candidate | None:
    """:func:`candidate_print_make` for the worker: a failure is logged and leaves the
    web-size download in place; it never propagates (a print file is a nice-to-have, and a
    retry of a deterministic failure would only burn the render queue)."""
    try:
        return candidate_print_make(candidate_id=candidate_id)
    except Exception:  # noqa: BLE001 - any failure here must leave the worker running
        logger.exception("could not make the print file for candidate %s", candidate_id)
        return None
