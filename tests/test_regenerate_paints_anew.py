"""Regenerate paints a new set (new seeds, in the chosen style); Fix Anatomy keeps the seeds so
what changes is the correction; a re-render after the sonographer moved anchors keeps them too."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from render import services
from render.models import RenderJob
from studio_portal.tenants.models import Studio

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready_job(studio: Studio, phantom_jpeg: bytes) -> RenderJob:
    with schema_context("alpha"):
        session = services.parent_session_create(
            parent_name="Maya Lopez",
            email="maya@example.com",
            consent_given=True,
            skin_swatches=["5"],
        )
        job = services.scan_upload(session=session, data=phantom_jpeg, enqueue=False)
        services.render_job_vision_run(job_id=job.pk, enqueue=False)
        job.refresh_from_db()
        return job


def _rerun(client: Client, job: RenderJob, data: dict) -> RenderJob:
    response = client.post(f"/jobs/{job.uid}/rerun/", data)
    assert response.status_code == 302
    with schema_context("alpha"):
        return RenderJob.objects.filter(parent_job=job).latest("pk")


def test_regenerate_paints_with_new_seeds_even_in_the_same_style(
    ready_job: RenderJob, client_a: Client
) -> None:
    again = _rerun(client_a, ready_job, {"style": ready_job.style})
    assert again.style == ready_job.style
    assert again.base_seed != ready_job.base_seed


def test_fix_anatomy_keeps_the_seeds_so_only_the_correction_changes(
    ready_job: RenderJob, client_a: Client
) -> None:
    fixed = _rerun(client_a, ready_job, {"fix_anatomy": "on"})
    assert fixed.correction_strength > 0
    assert fixed.base_seed == ready_job.base_seed


def test_moving_anchors_keeps_the_seeds(ready_job: RenderJob, studio: Studio) -> None:
    from django.db import connection

    with schema_context("alpha"):
        connection.tenant = studio
        anchors = {a: dict(p) for a, p in ready_job.scan.anchors.items()}
        name = next(iter(anchors))
        anchors[name]["x"] += 2.0
        moved = services.scan_anchors_correct(job=ready_job, anchors=anchors)
        assert moved.base_seed == ready_job.base_seed
