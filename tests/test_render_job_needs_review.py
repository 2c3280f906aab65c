"""A job whose best portrait scores under RENDER_REVIEW_THRESHOLD is not "ready": it waits in
"needs review" with the scoring's reason, on the page and in the API, and every action of a
ready job stays open (choose, send, paint again)."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django_tenants.utils import schema_context

from render import services
from render.models import RenderJob
from render.pipeline import scoring
from render.tests.pipeline.known_bad import ashy
from studio_portal.tenants.models import Studio
from tests.api.conftest import api_client_for
from tests.render_jobs import phantom_scan, rendered_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def grey_job(studio: Studio, phantom_jpeg: bytes, monkeypatch) -> RenderJob:
    """Every candidate comes out of the engine an ashy grey: the set has nothing good to offer."""
    real = services.house_look_candidates

    def grey(conditioning, candidates):
        return [ashy(c, conditioning.cues, lift=15.0) for c in real(conditioning, candidates)]

    monkeypatch.setattr(services, "house_look_candidates", grey)
    return rendered_job(phantom_jpeg)


def test_a_set_that_scores_under_the_threshold_needs_review_with_the_reason(
    grey_job: RenderJob, settings
) -> None:
    assert grey_job.state == RenderJob.State.NEEDS_REVIEW
    with schema_context("alpha"):
        best = grey_job.candidates.get(rank=0)
        assert best.score < settings.RENDER_REVIEW_THRESHOLD
        assert grey_job.reason == (
            f"The best portrait scored {best.score:.2f}: the skin does not read as the parents' "
            "tone; check the skin tones chosen for the session or re-render."
        )
        # The set is kept as it would be when ready: five ranked, a primary chosen by score.
        assert grey_job.candidates.count() == 5
        assert grey_job.candidates.filter(is_primary=True, rank=0).exists()


def test_a_good_set_is_ready_and_under_a_stricter_threshold_needs_review(
    studio: Studio, phantom_jpeg: bytes, settings
) -> None:
    ready = rendered_job(phantom_jpeg)
    assert ready.state == RenderJob.State.READY, ready.reason
    assert ready.reason == ""
    with schema_context("alpha"):
        assert ready.candidates.get(rank=0).score >= settings.RENDER_REVIEW_THRESHOLD
    settings.RENDER_REVIEW_THRESHOLD = 0.99  # a studio's bar no portrait of this scan reaches
    strict = rendered_job(phantom_jpeg)
    assert strict.state == RenderJob.State.NEEDS_REVIEW
    with schema_context("alpha"):
        best = strict.candidates.get(rank=0).score
    assert strict.reason.startswith(f"The best portrait scored {best:.2f}: ")


def test_a_face_whose_eyes_the_cord_hides_needs_review_however_it_scores(studio: Studio) -> None:
    # The cord across both eyes: vision keeps no eye sure enough to draw, so the portrait has
    # none; a person looks before a parent sees it.
    job = rendered_job(phantom_scan(occluder="cord", seed=54))
    assert job.state == RenderJob.State.NEEDS_REVIEW
    assert job.reason == f"{scoring.EYES_UNSEEN}."
    with schema_context("alpha"):
        assert job.candidates.count() == 5  # the set is kept, to be looked at


def test_a_turned_face_whose_mouth_a_fist_hides_needs_review(studio: Studio) -> None:
    # No lips are drawn where the fist was: a face with eyes and nothing below them scored
    # well enough to go straight to the parents.
    job = rendered_job(phantom_scan(pose="three-quarter-left", occluder="fist", seed=1))
    assert job.state == RenderJob.State.NEEDS_REVIEW
    assert job.reason == f"{scoring.MOUTH_UNSEEN}."


def test_the_job_page_shows_the_reason_and_keeps_every_action_open(
    grey_job: RenderJob, client_a: Client
) -> None:
    page = client_a.get(f"/jobs/{grey_job.uid}/").content.decode()
    assert "Needs review" in page
    assert "Look before you send" in page
    assert grey_job.reason.replace("'", "&#x27;") in page
    assert "Reviewed: send gallery" in page  # send, clearly labelled
    assert "Regenerate with this style" in page and "Fix Anatomy" in page
    assert "Save points and paint again" in page
    assert page.count("Make primary") == 4


def test_a_reviewed_set_can_be_sent_to_the_parent(grey_job: RenderJob, client_a: Client) -> None:
    with schema_context("alpha"):
        second = grey_job.candidates.get(rank=1)
    client_a.post(f"/candidates/{second.pk}/primary/")
    response = client_a.post(f"/jobs/{grey_job.uid}/send/", {"channel": ["email"]})
    assert response.status_code == 302
    with schema_context("alpha"):
        grey_job.refresh_from_db()
        assert grey_job.state == RenderJob.State.DELIVERING
        assert grey_job.candidates.get(is_primary=True).pk == second.pk


def test_a_set_under_review_can_be_painted_again(grey_job: RenderJob, client_a: Client) -> None:
    response = client_a.post(f"/jobs/{grey_job.uid}/rerun/", {"style": "soft-light"})
    assert response.status_code == 302
    with schema_context("alpha"):
        rerun = RenderJob.objects.get(parent_job=grey_job)
        assert rerun.state == RenderJob.State.CONDITIONING and rerun.style == "soft-light"


def test_the_api_shows_the_state_and_the_reason(grey_job: RenderJob, studio: Studio) -> None:
    api, _ = api_client_for(studio)
    job = api.get(f"/api/jobs/{grey_job.uid}/").json()
    assert job["state"] == "needs_review"
    assert job["reason"] == grey_job.reason
    assert {"subject", "features", "legibility", "leak", "stray"} <= set(
        job["candidates"][0]["score_terms"]
    )
    listed = api.get("/api/jobs/", {"state": "needs_review"}).json()
    assert [j["uid"] for j in listed] == [str(grey_job.uid)]
    gallery = api.post("/api/galleries/", {"job": str(grey_job.uid)}, format="json")
    assert gallery.status_code == 201, gallery.content
    assert not mail.outbox  # nothing reaches the parent until someone sends it
