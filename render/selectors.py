"""Reads for sessions, scans and jobs. Every query runs inside the request's studio schema,
so a foreign studio's ids simply match nothing (404)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from render.models import Candidate, ParentSession, RenderJob


def parent_session_list(*, search: str = "") -> QuerySet[ParentSession]:
    sessions = ParentSession.objects.all()
    if search:
        sessions = sessions.filter(parent_name__icontains=search)
    return sessions


def parent_session_get(uid: object) -> ParentSession:
    return get_object_or_404(ParentSession, uid=uid)


def render_job_get(uid: object) -> RenderJob:
    return get_object_or_404(
        RenderJob.objects.select_related("scan", "session").prefetch_related("candidates"), uid=uid
    )


def candidate_get(pk: int) -> Candidate:
    return get_object_or_404(Candidate.objects.select_related("job"), pk=pk)


def render_job_stage_rows(job: RenderJob) -> list[dict[str, object]]:
    """One row per pipeline stage for the progress display: name, status, milliseconds."""
    labels = {
        "ingest": "Upload checked",
        "vision": "Face structure",
        "conditioning": "Preparing",
        "render": "Painting",
        "score": "Ranking",
        "overlay": "Branding",
        "deliver": "Sent",
    }
    rows = []
    for name in RenderJob.STAGES:
        entry = job.stage_log.get(name, {})
        if "ms" in entry:
            status = "done"
        elif entry:
            status = "running"
        else:
            status = "waiting"
        rows.append({"name": name, "label": labels[name], "status": status, "ms": entry.get("ms")})
    return rows
