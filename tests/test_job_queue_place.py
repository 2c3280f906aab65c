"""A job waiting for a worker says where it is in line, on the job page and in the API; a
Fix Anatomy re-render never waits behind a print upscale (issue 17 item 5)."""

from __future__ import annotations

import dramatiq
import pytest
from django.test import Client
from django_tenants.utils import schema_context

from render import services
from render.models import RenderJob
from render.tasks import render_job_render
from studio_portal.tenants.models import Studio

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker():
    broker = dramatiq.get_broker()
    broker.flush_all()
    yield broker
    broker.flush_all()


def _ready_job(phantom_jpeg: bytes) -> RenderJob:
    session = services.parent_session_create(
        parent_name="Maya", consent_given=True, skin_swatches=["#a07e56"]
    )
    job = services.scan_upload(session=session, data=phantom_jpeg, enqueue=False)
    services.render_job_vision_run(job_id=job.pk, enqueue=False)
    services.render_job_render_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.state in RenderJob.REVIEWABLE
    return job


def test_a_fix_anatomy_rerun_waits_only_behind_renders_and_says_where_it_is(
    studio: Studio,
    client_a: Client,
    phantom_jpeg: bytes,
    broker,
    django_capture_on_commit_callbacks,
) -> None:
    with schema_context("alpha"):
        job = _ready_job(phantom_jpeg)
        # The sonographer picks another primary: its print file is asked for (a long upscale).
        with django_capture_on_commit_callbacks(execute=True):
            services.candidate_choose_primary(candidate=job.candidates.get(rank=1))
        # Another studio's render is already waiting on the renderer.
        render_job_render.send("beta", 424242)
        with django_capture_on_commit_callbacks(execute=True):
            rerun = services.render_job_rerun(job=job, fix_anatomy=True)
        rerun.refresh_from_db()
        assert rerun.state == RenderJob.State.CONDITIONING and rerun.enqueued_at is not None
    assert broker.queues["print"].qsize() == 1
    assert broker.queues["render"].qsize() == 2  # the other studio's, then the rerun

    api = client_a.get(f"/api/jobs/{rerun.uid}/").json()
    assert api["queue"] == {
        "name": "render",
        "ahead": 1,
        "ahead_being_made": 0,
        "ahead_kinds": {"render": 1},  # never the print file: it has its own queue
        "sent": True,
        "words": "Waiting for a renderer: 1 ahead of it (1 portrait set).",
    }

    page = client_a.get(f"/jobs/{rerun.uid}/").content.decode()
    assert 'class="big-state" role="status">Waiting in line' in page
    assert "Waiting for a renderer: 1 ahead of it (1 portrait set)." in page

    # The other studio's render is taken: the rerun is next.
    dramatiq.Message.decode(broker.queues["render"].get())
    broker.queues["render"].task_done()
    assert client_a.get(f"/api/jobs/{rerun.uid}/").json()["queue"]["words"] == (
        "Next in line for a renderer."
    )
    # Once a worker holds it, the stages say what happens instead.
    with schema_context("alpha"):
        services.render_job_render_run(job_id=rerun.pk)
    assert client_a.get(f"/api/jobs/{rerun.uid}/").json()["queue"] is None


def test_a_job_the_broker_never_took_says_it_will_be_sent_again(
    studio: Studio,
    client_a: Client,
    phantom_jpeg: bytes,
    broker,
) -> None:
    with schema_context("alpha"):
        session = services.parent_session_create(
            parent_name="Ada", consent_given=True, skin_swatches=["#a07e56"]
        )
        job = services.scan_upload(session=session, data=phantom_jpeg, enqueue=False)
    queue = client_a.get(f"/api/jobs/{job.uid}/").json()["queue"]
    assert queue["name"] == "vision" and queue["sent"] is False
    assert "sent again automatically" in queue["words"]
