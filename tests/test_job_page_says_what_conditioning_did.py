"""The job page and the API say what conditioning did to the scan that the studio should know:
a face turned in the scan painted upright, a Fix Anatomy pass, and a Fix Anatomy pass that
found nothing over the face to take away (so the studio does not wait for a hand to vanish)."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from django_tenants.utils import schema_context
from PIL import Image

from render import services
from render.models import RenderJob
from render.pipeline import phantom
from studio_portal.tenants.models import Studio
from tests.api.conftest import api_client_for

pytestmark = pytest.mark.django_db

NOTHING_TO_TAKE_AWAY = "Fix Anatomy found nothing over the face to take away"


def _jpeg(**kwargs: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(phantom.make_phantom(**kwargs).image).save(buffer, "JPEG", quality=92)  # type: ignore[arg-type]
    return buffer.getvalue()


def _rendered_job(data: bytes) -> RenderJob:
    with schema_context("alpha"):
        session = services.parent_session_create(
            parent_name="Maya Lopez",
            email="maya@example.com",
            consent_given=True,
            skin_swatches=["6"],
        )
        job = services.scan_upload(session=session, data=data, enqueue=False)
        services.render_job_vision_run(job_id=job.pk, enqueue=False)
        services.render_job_render_run(job_id=job.pk)
        job.refresh_from_db()
        return job


def _fixed(client: Client, job: RenderJob) -> RenderJob:
    assert client.post(f"/jobs/{job.uid}/rerun/", {"fix_anatomy": "on"}).status_code == 302
    with schema_context("alpha"):
        rerun = RenderJob.objects.filter(parent_job=job).latest("pk")
        services.render_job_render_run(job_id=rerun.pk)
        rerun.refresh_from_db()
        return rerun


def test_a_baby_lying_on_her_side_is_said_to_be_painted_upright(
    studio: Studio, client_a: Client
) -> None:
    job = _rendered_job(_jpeg(roll=90, seed=111))
    page = client_a.get(f"/jobs/{job.uid}/").content.decode()
    assert "The face was turned in the scan: painted upright" in page
    api, _ = api_client_for(studio)
    notes = api.get(f"/api/jobs/{job.uid}/").json()["notes"]
    assert any(note.startswith("the face was turned in the scan") for note in notes)


def test_fix_anatomy_on_a_bare_face_says_it_found_nothing_to_take_away(
    studio: Studio, client_a: Client
) -> None:
    first = _rendered_job(_jpeg(seed=1))
    assert "Fix Anatomy" not in " ".join(first.stage_log["conditioning"].get("notes", []))
    fixed = _fixed(client_a, first)
    page = client_a.get(f"/jobs/{fixed.uid}/").content.decode()
    assert "Fix Anatomy pass, correction strength" in page
    assert NOTHING_TO_TAKE_AWAY in page


def test_fix_anatomy_over_a_hand_does_not_say_so(studio: Studio, client_a: Client) -> None:
    fixed = _fixed(client_a, _rendered_job(_jpeg(occluder="hand", seed=3)))
    page = client_a.get(f"/jobs/{fixed.uid}/").content.decode()
    assert "Fix Anatomy pass, correction strength" in page
    assert NOTHING_TO_TAKE_AWAY not in page
