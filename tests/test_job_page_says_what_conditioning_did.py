"""The job page and the API say what conditioning did to the scan that the studio should know:
a face turned in the scan painted upright, a Fix Anatomy pass, and a Fix Anatomy pass that
found nothing over the face to take away (so the studio does not wait for a hand to vanish)."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from render import services
from render.models import RenderJob
from studio_portal.tenants.models import Studio
from tests.api.conftest import api_client_for
from tests.render_jobs import phantom_scan, rendered_job

pytestmark = pytest.mark.django_db

NOTHING_TO_TAKE_AWAY = "Fix Anatomy found nothing over the face to take away"


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
    job = rendered_job(phantom_scan(roll=90, seed=111), swatch="6")
    page = client_a.get(f"/jobs/{job.uid}/").content.decode()
    assert "The face was turned in the scan: painted upright" in page
    api, _ = api_client_for(studio)
    notes = api.get(f"/api/jobs/{job.uid}/").json()["notes"]
    assert any(note.startswith("the face was turned in the scan") for note in notes)


def test_fix_anatomy_on_a_bare_face_says_it_found_nothing_to_take_away(
    studio: Studio, client_a: Client
) -> None:
    first = rendered_job(phantom_scan(seed=1), swatch="6")
    assert "Fix Anatomy" not in " ".join(first.stage_log["conditioning"].get("notes", []))
    fixed = _fixed(client_a, first)
    page = client_a.get(f"/jobs/{fixed.uid}/").content.decode()
    assert "Fix Anatomy pass, correction strength" in page
    assert NOTHING_TO_TAKE_AWAY in page


def test_fix_anatomy_over_a_hand_does_not_say_so(studio: Studio, client_a: Client) -> None:
    fixed = _fixed(client_a, rendered_job(phantom_scan(occluder="hand", seed=3), swatch="6"))
    page = client_a.get(f"/jobs/{fixed.uid}/").content.decode()
    assert "Fix Anatomy pass, correction strength" in page
    assert NOTHING_TO_TAKE_AWAY not in page
