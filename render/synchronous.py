"""The whole path for one file without a broker: what ``render_scan`` and ``bench pipeline``
run. It calls exactly the services the actors call, in the order the queue would."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils import timezone

from galleries.services import delivery_send, gallery_send, gallery_url
from render import services
from render.models import ParentSession, RenderJob
from render.pipeline.types import ScanRejected


@dataclass
class PathResult:
    job: RenderJob | None
    state: str
    reason: str = ""
    gallery_url: str = ""
    outputs: list[str] = field(default_factory=list)


def run_scan_synchronously(
    *, session: ParentSession, data: bytes, channels: list[str]
) -> PathResult:
    try:
        job = services.scan_upload(session=session, data=data, enqueue=False)
    except ScanRejected as exc:
        return PathResult(job=None, state=RenderJob.State.REJECTED, reason=exc.message)
    services.render_job_vision_run(job_id=job.pk, enqueue=False)
    job.refresh_from_db()
    if job.state == RenderJob.State.CONDITIONING:
        services.render_job_render_run(job_id=job.pk)
        job.refresh_from_db()
    if job.state != RenderJob.State.READY:
        return PathResult(job=job, state=job.state, reason=job.reason)
    url = ""
    if channels:
        started_at, started = timezone.now(), time.perf_counter()
        try:
            deliveries = gallery_send(job=job, channels=channels, enqueue=False)
        except ValidationError as exc:
            return PathResult(job=job, state=job.state, reason=" ".join(exc.messages))
        for delivery in deliveries:
            delivery_send(delivery_id=delivery.pk)
        job.refresh_from_db()
        job.stage_log["deliver"] = {
            "started_at": started_at.isoformat(),
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
        RenderJob.objects.filter(pk=job.pk).update(stage_log=job.stage_log)
        url = gallery_url(deliveries[0].gallery)
    else:
        from galleries.services import gallery_create

        url = gallery_url(gallery_create(job=job))
    return PathResult(job=job, state=job.state, reason=job.reason, gallery_url=url)
