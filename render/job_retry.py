"""Retrying a job that failed, from the furthest stage whose output is still stored.

Kept apart from ``render.services`` (owned by the job state machine) so the dashboard can offer
"Retry" on a job that failed before vision finished, where ``render_job_rerun`` cannot help.
"""

from __future__ import annotations

import random

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from billing.selectors import studio_may_render
from render import services
from render.models import RenderJob
from studio_portal.tenants.selectors import current_studio


@transaction.atomic
def render_job_retry(*, job: RenderJob, created_by: object | None = None) -> RenderJob:
    """A fresh job for a failed or cancelled one: from conditioning when vision's cues are kept,
    otherwise from vision on the same de-identified scan (the upload is never asked for again)."""
    if job.state not in (RenderJob.State.FAILED, RenderJob.State.CANCELLED):
        raise ValidationError("Only a failed or cancelled render can be retried.")
    scan = job.scan
    if scan is None or scan.purged_at or not scan.deidentified:
        raise ValidationError(
            "The scan behind this render has been deleted. Upload the scan again to retry."
        )
    if scan.cues_file:
        return services.render_job_rerun(job=job, created_by=created_by)
    permission = studio_may_render(current_studio())
    if not permission.allowed:
        raise services.RenderNotAllowed(permission.reason)
    retry = RenderJob.objects.create(
        scan=scan,
        session=job.session,
        engine=job.engine,
        style=job.style,
        base_seed=random.SystemRandom().randrange(1, 2**31),
        correction_strength=job.correction_strength,
        parent_job=job,
        stage_log={k: v for k, v in job.stage_log.items() if k == "ingest"},
        created_by=created_by,
    )
    from render.tasks import render_job_vision

    schema = connection.schema_name
    transaction.on_commit(lambda: render_job_vision.send(schema, retry.pk))
    return retry
