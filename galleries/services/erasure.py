"""A parent's data, all of it, exported for her or erased at her request (owners only)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from galleries.archive import Archive, parent_export_zip
from galleries.models import (
    Delivery,
    Gallery,
    ProviderEvent,
)
from galleries.services.gallery import files_delete
from render.models import Candidate, ParentSession, RenderJob, Scan
from studio_portal.audit.services import audit_log_write
from studio_portal.permissions import require_owner
from studio_portal.tenants.models import Studio


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
    transaction.on_commit(lambda: files_delete(storage, names))
    return report


def parent_session_export(*, session: ParentSession, studio: Studio, actor: object) -> Archive:
    """The studio's ZIP of everything it holds for one parent (galleries.archive), audited with
    counts only. Owners only, as erasure is: it carries her details and every file."""
    require_owner(actor, "Only the studio owner can export a parent's data.")
    archive = parent_export_zip(session, studio=studio)
    audit_log_write(
        action="parent_session.exported",
        obj=session,
        actor=actor,
        detail={"session": str(session.uid), "files": archive.files},
    )
    return archive
