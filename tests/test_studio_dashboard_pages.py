"""The sonographer's pages through the test client: list filters, XHR upload answers, and the
job actions (cancel, retry, anchors, sharing) reaching the services."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from render import services
from render.models import ParentSession, RenderJob
from studio_portal.tenants.models import Studio

pytestmark = pytest.mark.django_db


def _session(name: str, **extra: object) -> ParentSession:
    return services.parent_session_create(
        parent_name=name, consent_given=True, skin_swatches=["#a07e56"], **extra
    )


@pytest.fixture
def queued_job(studio: Studio, phantom_jpeg: bytes) -> RenderJob:
    with schema_context("alpha"):
        session = _session("Maya Lopez", email="maya@example.com")
        return services.scan_upload(session=session, data=phantom_jpeg, enqueue=False)


def test_the_list_finds_sessions_by_name_and_by_latest_status(
    client_a: Client, queued_job: RenderJob
) -> None:
    with schema_context("alpha"):
        _session("Ana Silva")
    everyone = client_a.get("/").content.decode()
    assert everyone.index("Ana Silva") < everyone.index("Maya Lopez")  # newest first
    by_name = client_a.get("/", {"q": "mAyA"}).content.decode()
    assert "Maya Lopez" in by_name and "Ana Silva" not in by_name
    queued = client_a.get("/", {"status": "queued"}).content.decode()
    assert "Maya Lopez" in queued and "Ana Silva" not in queued
    no_scan = client_a.get("/", {"status": "none"}).content.decode()
    assert "Ana Silva" in no_scan and "Maya Lopez" not in no_scan
    nobody = client_a.get("/", {"q": "Zed"}).content.decode()
    assert "No session matches" in nobody


def test_the_new_session_form_blends_two_tones_only_when_asked(client_a: Client) -> None:
    form = {
        "parent_name": "Kim",
        "consent_given": "on",
        "tone_1": "#a07e56",
        "tone_2": "#f7ead0",
        "tone_toggle": "1",
        "style": "warm-studio",
    }
    assert client_a.post("/sessions/new/", form).status_code == 302
    assert (
        client_a.post(
            "/sessions/new/", {**form, "parent_name": "Lee", "use_tone_2": "on"}
        ).status_code
        == 302
    )
    with schema_context("alpha"):
        assert ParentSession.objects.get(parent_name="Kim").skin_swatches == ["#a07e56"]
        assert ParentSession.objects.get(parent_name="Lee").skin_swatches == ["#a07e56", "#f7ead0"]


def test_an_xhr_upload_gets_json_with_the_job_page_or_the_reason(
    client_a: Client, studio: Studio, phantom_jpeg: bytes
) -> None:
    with schema_context("alpha"):
        session = _session("Maya Lopez")
    url = f"/sessions/{session.uid}/upload/"
    bad = client_a.post(
        url, {"scan": SimpleUploadedFile("a.txt", b"hello")}, HTTP_X_REQUESTED_WITH="XMLHttpRequest"
    )
    assert bad.status_code == 400 and bad.json()["error"]
    good = client_a.post(
        url,
        {"scan": SimpleUploadedFile("s.jpg", phantom_jpeg)},
        HTTP_X_REQUESTED_WITH="XMLHttpRequest",
    )
    with schema_context("alpha"):
        job = RenderJob.objects.get(session=session)
    assert good.json() == {"redirect": f"/jobs/{job.uid}/"}


def test_a_queued_job_can_be_cancelled_and_then_retried_from_vision(
    client_a: Client, queued_job: RenderJob, django_capture_on_commit_callbacks
) -> None:
    client_a.post(f"/jobs/{queued_job.uid}/cancel/")
    with schema_context("alpha"):
        queued_job.refresh_from_db()
        assert queued_job.state == RenderJob.State.CANCELLED
    page = client_a.get(f"/jobs/{queued_job.uid}/").content.decode()
    assert "Retry the render" in page and "Cancel this render" not in page
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_a.post(f"/jobs/{queued_job.uid}/retry/")
    with schema_context("alpha"):
        retry = RenderJob.objects.get(parent_job=queued_job)
        assert retry.state == RenderJob.State.QUEUED and retry.scan_id == queued_job.scan_id
    assert response["Location"] == f"/jobs/{retry.uid}/"
    assert len(callbacks) == 1  # the vision actor is sent once the retry commits


def test_the_partial_keeps_polling_only_while_the_job_is_live(
    client_a: Client, queued_job: RenderJob
) -> None:
    live = client_a.get(f"/jobs/{queued_job.uid}/", HTTP_X_PARTIAL="1").content.decode()
    assert live.startswith('<div id="job-progress" data-live-url=')
    assert "<html" not in live
    with schema_context("alpha"):
        services.render_job_fail(job_id=queued_job.pk, reason="The disk was full.")
    done = client_a.get(f"/jobs/{queued_job.uid}/", HTTP_X_PARTIAL="1").content.decode()
    assert "data-live-url" not in done and "Failed" in done


def test_saving_anchors_needs_every_point_inside_the_scan(
    client_a: Client, queued_job: RenderJob
) -> None:
    garbled = client_a.post(f"/jobs/{queued_job.uid}/anchors/", {"anchors": "{nope"}, follow=True)
    assert "did not arrive" in garbled.content.decode()
    outside = client_a.post(
        f"/jobs/{queued_job.uid}/anchors/",
        {"anchors": json.dumps({"chin": {"x": 99999, "y": 5}})},
        follow=True,
    )
    assert "outside the scan" in outside.content.decode()
    with schema_context("alpha"):
        assert not RenderJob.objects.filter(parent_job=queued_job).exists()


def test_corrected_anchors_in_original_pixels_start_a_rerun_from_conditioning(
    client_a: Client, queued_job: RenderJob, django_capture_on_commit_callbacks
) -> None:
    with schema_context("alpha"):
        services.render_job_vision_run(job_id=queued_job.pk, enqueue=False)
        queued_job.refresh_from_db()
        anchors = dict(queued_job.scan.anchors)
    page = client_a.get(f"/jobs/{queued_job.uid}/").content.decode()
    assert page.count('class="anchor"') == len(anchors)
    anchors["chin"] = {"x": anchors["chin"]["x"] + 6, "y": anchors["chin"]["y"] + 4}
    with django_capture_on_commit_callbacks():
        response = client_a.post(
            f"/jobs/{queued_job.uid}/anchors/", {"anchors": json.dumps(anchors)}
        )
    with schema_context("alpha"):
        rerun = RenderJob.objects.get(parent_job=queued_job)
        assert rerun.state == RenderJob.State.CONDITIONING
        assert rerun.scan.anchors["chin"]["confidence"] == 1.0
        assert rerun.scan.anchors["chin"]["x"] == pytest.approx(anchors["chin"]["x"], abs=0.1)
    assert response["Location"] == f"/jobs/{rerun.uid}/"


def test_the_studio_downloads_the_web_and_print_files_from_the_job_page(studio, client_a) -> None:
    from galleries.tests.factories import parent_session, ready_job_with_portraits, scan_with_files

    with schema_context(studio.schema_name):
        job = ready_job_with_portraits(scan=scan_with_files(parent_session()))
        primary = job.candidates.get(rank=0)
        alternate = job.candidates.get(rank=1)
        alternate.print_image.delete(save=True)  # only the primary's print file is made
    html = client_a.get(f"/jobs/{job.uid}/").content.decode()
    print_link = f"/files/candidates/{primary.pk}/print/?download=1"
    assert print_link in html
    assert f"/files/candidates/{alternate.pk}/web/?download=1" in html
    assert f"/files/candidates/{alternate.pk}/print/" not in html
    response = client_a.get(print_link)
    assert response.status_code == 200
    day = f"{timezone.localdate(job.created_at):%Y-%m-%d}"
    assert response["Content-Disposition"] == (
        f'attachment; filename="Alpha-Studio-Maya-Okafor-portrait-1-{day}-print.jpg"'
    )
    with schema_context(studio.schema_name):
        with primary.print_image.open("rb") as handle:
            assert b"".join(response.streaming_content) == handle.read()
    assert client_a.get(f"/files/candidates/{alternate.pk}/print/").status_code == 404
