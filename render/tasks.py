"""Dramatiq actors: each enters the studio's schema, then calls one service.

Only transient errors (a busy lease, the database or storage briefly away) are retried; any
other error fails the job at once with its reason, and the worker carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import dramatiq
from django.db import InterfaceError, OperationalError
from django_tenants.utils import schema_context
from periodiq import cron

from render import services
from render.models import RenderJob
from render.print_size import TRANSIENT_ERRORS as PRINT_TRANSIENT_ERRORS
from render.print_size import (
    candidate_print_make_logged,
    candidate_prints_sweep_due,
)
from studio_portal.tenants.selectors import studio_schema_names

logger = logging.getLogger(__name__)

TEN_MINUTES_MS = 10 * 60 * 1000
TRANSIENT_ERRORS = (
    services.JobBusy,
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
)


def _retry_transient(retries: int, exception: Exception) -> bool:
    return isinstance(exception, TRANSIENT_ERRORS) and retries < 20


def _run(stage: Callable[..., object], schema_name: str, job_id: int) -> None:
    with schema_context(schema_name):
        try:
            stage(job_id=job_id)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            logger.exception("render job %s failed in %s", job_id, schema_name)
            state = RenderJob.objects.filter(pk=job_id).values_list("state", flat=True).first()
            services.render_job_fail(
                job_id=job_id,
                reason=f"The {state or 'render'} stage failed ({type(exc).__name__}: {exc}). "
                "Retry the job; if it fails again, contact Cradle support.",
            )


@dramatiq.actor(
    # On the vision workers, never the web: the decode of an upload (a long DICOM loop, a
    # 40-megapixel still) within RENDER_DECODE_MEMORY_MB.
    queue_name="vision",
    retry_when=_retry_transient,
    time_limit=TEN_MINUTES_MS,
    min_backoff=1000,
    max_backoff=30_000,
    on_retry_exhausted="render_job_give_up",
)
def render_job_check(schema_name: str, job_id: int) -> None:
    _run(services.render_job_check_run, schema_name, job_id)


@dramatiq.actor(
    queue_name="vision",
    retry_when=_retry_transient,
    time_limit=TEN_MINUTES_MS,
    min_backoff=1000,
    max_backoff=30_000,
    on_retry_exhausted="render_job_give_up",
)
def render_job_vision(schema_name: str, job_id: int) -> None:
    _run(services.render_job_vision_run, schema_name, job_id)


@dramatiq.actor(
    queue_name="render",
    retry_when=_retry_transient,
    time_limit=TEN_MINUTES_MS,
    min_backoff=1000,
    max_backoff=30_000,
    on_retry_exhausted="render_job_give_up",
)
def render_job_render(schema_name: str, job_id: int) -> None:
    _run(services.render_job_render_run, schema_name, job_id)


@dramatiq.actor(queue_name="default", max_retries=3, time_limit=60_000)
def render_job_give_up(message_data: dict, retry_info: dict) -> None:
    schema_name, job_id = message_data["args"]
    with schema_context(schema_name):
        # A duplicate message may run out of retries while another worker renders the job
        # fine: only a job nobody holds fails.
        services.render_job_fail(
            job_id=job_id,
            reason="Cradle could not finish this render after several tries. Please retry it.",
            unless_held=True,
        )


@dramatiq.actor(queue_name="default", periodic=cron("* * * * *"), max_retries=0, time_limit=120_000)
def render_jobs_sweep() -> None:
    """Every minute: jobs and print files whose message was never taken or was lost move
    again (studio_portal.outbox); stuck ones reach a final state."""
    for schema_name in studio_schema_names():
        with schema_context(schema_name):
            jobs = services.render_jobs_sweep_due()
            prints = candidate_prints_sweep_due()
            if jobs.requeued or jobs.cancelled or jobs.failed or prints:
                logger.warning(
                    "sweep %s: %d jobs sent again, %d cancelled, %d failed; %d print files",
                    schema_name,
                    jobs.requeued,
                    jobs.cancelled,
                    jobs.failed,
                    prints,
                )


def _retry_print(retries: int, exception: Exception) -> bool:
    return isinstance(exception, PRINT_TRANSIENT_ERRORS) and retries < 3


@dramatiq.actor(
    # Its own queue: a ×4 upscale takes a renderer most of a minute on a CPU, and a Fix Anatomy
    # or anchor re-render queued behind it would sit that long in "Preparing".
    queue_name="print",
    retry_when=_retry_print,
    min_backoff=5_000,
    max_backoff=60_000,
    time_limit=TEN_MINUTES_MS,
)
def candidate_print_make_task(schema_name: str, candidate_id: int) -> None:
    """The print file for a chosen primary; other failures are logged inside (web size stays)
    and tried again by the sweep."""
    with schema_context(schema_name):
        candidate_print_make_logged(candidate_id=candidate_id)
