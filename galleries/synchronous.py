"""The whole path for one file without a broker: what ``render_scan`` and ``bench pipeline``
run. It calls exactly the services the actors call, in the order the queue would. It sits in
galleries, the top of the layers (docs/ARCHITECTURE.md), because the path ends in a gallery.

Nothing here needs Redis: the few messages the services still hand to the outbox on the way
(the print file, outgoing webhooks) go to an in-process broker and are dropped, so a fresh
checkout without ``make run`` (no broker on port 6390) runs it all the same."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dramatiq
from django.core.exceptions import ValidationError
from django.utils import timezone
from dramatiq.brokers.stub import StubBroker

from galleries.services.gallery import gallery_create, gallery_url
from galleries.services.sending import delivery_send, gallery_send
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


@contextmanager
def broker_in_process() -> Iterator[StubBroker]:
    """Every actor sends to a fresh in-process broker until the block ends, then to the
    configured one again. Actors keep the broker they were declared on, so each is moved."""
    declared = dramatiq.get_broker()
    stub = StubBroker()
    kinds = {type(middleware) for middleware in stub.middleware}
    for middleware in declared.middleware:  # periodiq's: its actors need it declared
        if type(middleware) not in kinds:
            stub.add_middleware(middleware)
    actors = [declared.get_actor(name) for name in declared.get_declared_actors()]
    for actor in actors:
        actor.broker = stub
        stub.declare_actor(actor)
    dramatiq.set_broker(stub)
    try:
        yield stub
    finally:
        for actor in actors:
            actor.broker = declared
        dramatiq.set_broker(declared)


def run_scan_synchronously(
    *, session: ParentSession, data: bytes, channels: list[str]
) -> PathResult:
    with broker_in_process():
        return _run(session=session, data=data, channels=channels)


def _run(*, session: ParentSession, data: bytes, channels: list[str]) -> PathResult:
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
        url = gallery_url(gallery_create(job=job))
    return PathResult(job=job, state=job.state, reason=job.reason, gallery_url=url)
