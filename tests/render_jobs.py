"""A parent session's scan painted the whole way through the services, as a worker would, for
tests of what a finished job shows."""

from __future__ import annotations

import io

from django_tenants.utils import schema_context
from PIL import Image

from render import services
from render.models import RenderJob
from render.pipeline import phantom


def phantom_scan(**kwargs: object) -> bytes:
    """A phantom scan (``phantom.make_phantom``'s options) as the JPEG a studio uploads."""
    buffer = io.BytesIO()
    image = phantom.make_phantom(**kwargs).image  # type: ignore[arg-type]
    Image.fromarray(image).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def read_job(data: bytes, *, swatch: str = "8", schema: str = "alpha") -> RenderJob:
    """``data`` uploaded for a new session in ``swatch``'s tone and read by vision (queued
    for the render, or rejected)."""
    with schema_context(schema):
        session = services.parent_session_create(
            parent_name="Maya Lopez",
            email="maya@example.com",
            consent_given=True,
            skin_swatches=[swatch],
        )
        job = services.scan_upload(session=session, data=data, enqueue=False)
        services.render_job_vision_run(job_id=job.pk, enqueue=False)
        job.refresh_from_db()
        return job


def rendered_job(data: bytes, *, swatch: str = "8", schema: str = "alpha") -> RenderJob:
    """``data`` uploaded for a new session in ``swatch``'s tone, read and painted."""
    job = read_job(data, swatch=swatch, schema=schema)
    with schema_context(schema):
        services.render_job_render_run(job_id=job.pk)
        job.refresh_from_db()
        return job
