"""Issue 16 item 6: a heavy upload is never decoded in the web request.

The upload checks headers only (type, size, dimensions, frames, polyglots, the decode's memory),
stores the encrypted original and answers with a job "checking"; the worker's check (the first
stage, on the vision queue, sent through the outbox) decodes, chooses the frame, de-identifies
and screens, then queues vision, or rejects the job with the reason and deletes what the upload
stored.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import dramatiq
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context
from PIL import Image

from render import services
from render.models import RenderJob, Scan
from render.pipeline.phantom import make_bmode, make_phantom
from render.pipeline.vision import MSG_BMODE
from render.tasks import render_job_check
from render.tests.pipeline.test_ingest_memory_budget import loop_dicom
from tests.api.conftest import api_client_for


@pytest.fixture
def broker() -> dramatiq.Broker:
    broker = dramatiq.get_broker()
    broker.flush_all()
    yield broker
    broker.flush_all()


@pytest.fixture
def api_a(studio):
    return api_client_for(studio)[0]


@pytest.fixture
def session_uid(studio) -> str:
    with schema_context(studio.schema_name):
        session = services.parent_session_create(
            parent_name="Heavy Upload", consent_given=True, skin_swatches=["#a07e56"]
        )
    return str(session.uid)


def _png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def large_png() -> bytes:
    """An 8-megapixel screen capture of a phantom render (the size that took 1.1 s in the
    request)."""
    return _png(cv2.resize(make_phantom().image, (3264, 2448), interpolation=cv2.INTER_CUBIC))


@pytest.fixture
def decoding_refused(monkeypatch):
    """Within the block, any decode or screening raises: the request must not need one."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a scan was decoded inside the web request")

    @contextmanager
    def block() -> Iterator[None]:
        with monkeypatch.context() as patch:
            for name in ("_decode_still", "_decode_video", "_decode_dicom", "ingest"):
                patch.setattr(f"render.pipeline.ingest.{name}", refuse)
            patch.setattr("render.services.vision.screen", refuse)
            patch.setattr(Image.Image, "load", refuse)
            yield

    return block


def _stored_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _upload(api, session_uid: str, name: str, data: bytes, capture):
    """POST the scan, the request's commit callbacks run (the outbox sends), and the time."""
    started = time.perf_counter()
    with capture(execute=True):
        response = api.post(
            f"/api/sessions/{session_uid}/scans/",
            {"scan": SimpleUploadedFile(name, data)},
            format="multipart",
        )
    return response, time.perf_counter() - started


def _check_in_the_worker(studio, job_uid: str, capture) -> RenderJob:
    with schema_context(studio.schema_name):
        job = RenderJob.objects.get(uid=job_uid)
        with capture(execute=True):
            render_job_check.fn(studio.schema_name, job.pk)  # the actor's body, as a worker
        job.refresh_from_db()
        return job


def _queued(broker: dramatiq.Broker, queue: str = "vision") -> list[str]:
    waiting = broker.queues[queue]
    names = []
    while waiting.qsize():
        names.append(dramatiq.Message.decode(waiting.get()).actor_name)
        waiting.task_done()
    return names


@pytest.mark.parametrize("kind", ["png", "dicom"])
def test_a_heavy_upload_answers_at_once_with_a_checking_job_and_the_worker_checks_it(
    kind,
    studio,
    api_a,
    session_uid,
    broker,
    large_png,
    decoding_refused,
    django_capture_on_commit_callbacks,
) -> None:
    data = large_png if kind == "png" else loop_dicom(500, sharp_at=477)
    with decoding_refused():
        response, seconds = _upload(
            api_a, session_uid, f"scan.{kind}", data, django_capture_on_commit_callbacks
        )
        assert response.status_code == 201, response.json()
        job = response.json()
        assert job["state"] == "checking" and job["stage_ms"] == {}
        # Before, this request decoded: 1.1 s for the PNG, 15 s and 4.4 GB for the loop.
        assert seconds < 5, f"the upload took {seconds:.1f} s"
        shown = api_a.get(f"/api/jobs/{job['uid']}/").json()
        assert shown["state"] == "checking" and shown["queue"]["name"] == "vision"
    assert _queued(broker) == ["render_job_check"]  # through the outbox, on the vision queue
    with schema_context(studio.schema_name):
        scan = Scan.objects.get()
        assert scan.detected_type == kind and not scan.deidentified
        assert RenderJob.objects.get().enqueued_at is not None  # the broker took it

    checked = _check_in_the_worker(studio, job["uid"], django_capture_on_commit_callbacks)
    assert checked.state == RenderJob.State.QUEUED, checked.reason
    scan = checked.scan
    assert scan.deidentified and scan.render_box and checked.enqueued_at is not None
    if kind == "png":
        # Worked on at ingest.WORKING_LONG_SIDE (the encrypted original keeps all 3264×2448).
        assert (scan.width, scan.height, scan.frame_index) == (1920, 1440, None)
    else:
        assert (scan.width, scan.height, scan.frame_index) == (256, 192, 477)
    assert {"ms", "upload_ms"} <= set(checked.stage_log["ingest"])
    assert _queued(broker) == ["render_job_vision"]
    assert api_a.get(f"/api/jobs/{job['uid']}/").json()["state"] == "queued"


def test_the_job_page_says_the_scan_is_being_checked(
    studio, client_a, session_uid, large_png, decoding_refused
) -> None:
    with decoding_refused():
        response = client_a.post(
            f"/sessions/{session_uid}/upload/", {"scan": SimpleUploadedFile("a.png", large_png)}
        )
        assert response.status_code == 302
        page = client_a.get(response["Location"]).content.decode()
    assert "Checking the scan…" in page
    assert "data-live-url" in page  # the page keeps polling until the check is done


def test_a_2d_scan_refused_by_the_check_is_rejected_with_the_reason_and_nothing_stays(
    studio,
    client_a,
    api_a,
    session_uid,
    settings,
    broker,
    django_capture_on_commit_callbacks,
) -> None:
    bmode = _png(make_bmode(2400, 1640, seed=4))
    response, _ = _upload(api_a, session_uid, "scan.png", bmode, django_capture_on_commit_callbacks)
    assert response.status_code == 201 and response.json()["state"] == "checking"
    assert _stored_files(settings.MEDIA_ROOT)  # the encrypted original, until the check
    assert _queued(broker) == ["render_job_check"]

    job = _check_in_the_worker(studio, response.json()["uid"], django_capture_on_commit_callbacks)
    assert job.state == RenderJob.State.REJECTED and job.reason == MSG_BMODE  # the same words
    assert job.scan is None
    with schema_context(studio.schema_name):
        assert Scan.objects.count() == 0
    assert _stored_files(settings.MEDIA_ROOT) == []
    shown = api_a.get(f"/api/jobs/{job.uid}/").json()
    assert (shown["state"], shown["reason"]) == ("rejected", MSG_BMODE)
    page = client_a.get(f"/jobs/{job.uid}/").content.decode()
    assert "This scan cannot become a portrait" in page and "2D" in page
    assert _queued(broker) == []  # nothing goes on to vision


def test_a_decode_over_the_memory_budget_is_refused_at_the_upload_and_nothing_is_stored(
    studio,
    api_a,
    session_uid,
    settings,
    large_png,
    decoding_refused,
    django_capture_on_commit_callbacks,
) -> None:
    settings.RENDER_DECODE_MEMORY_MB = 40
    with decoding_refused():
        response, _ = _upload(
            api_a, session_uid, "scan.png", large_png, django_capture_on_commit_callbacks
        )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "too-many-pixels"
    assert body["detail"].startswith("Decoding this image of 3264×2448 pixels would take about ")
    assert "more than Cradle allows for one scan (40 MB)" in body["detail"]
    assert _stored_files(settings.MEDIA_ROOT) == []
    with schema_context(studio.schema_name):
        assert Scan.objects.count() == 0 and RenderJob.objects.count() == 0


def test_the_worker_holds_its_decode_to_the_budget_it_runs_with(
    studio,
    api_a,
    session_uid,
    settings,
    large_png,
    django_capture_on_commit_callbacks,
) -> None:
    response, _ = _upload(
        api_a, session_uid, "scan.png", large_png, django_capture_on_commit_callbacks
    )
    assert response.status_code == 201
    settings.RENDER_DECODE_MEMORY_MB = 40  # the worker is configured tighter than the web
    job = _check_in_the_worker(studio, response.json()["uid"], django_capture_on_commit_callbacks)
    assert job.state == RenderJob.State.REJECTED
    assert job.reason.startswith("Decoding this image of 3264×2448 pixels would take about ")
    assert _stored_files(settings.MEDIA_ROOT) == []


def test_a_check_that_crashes_fails_the_job_and_retry_checks_the_stored_original_again(
    studio,
    api_a,
    session_uid,
    monkeypatch,
    broker,
    phantom_jpeg,
    django_capture_on_commit_callbacks,
) -> None:
    response, _ = _upload(
        api_a, session_uid, "scan.jpg", phantom_jpeg, django_capture_on_commit_callbacks
    )
    _queued(broker)

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("decoder crashed")

    with monkeypatch.context() as patch:
        patch.setattr("render.services.ingest.ingest", crash)
        failed = _check_in_the_worker(
            studio, response.json()["uid"], django_capture_on_commit_callbacks
        )
    assert failed.state == RenderJob.State.FAILED and "decoder crashed" in failed.reason
    with schema_context(studio.schema_name):
        with django_capture_on_commit_callbacks(execute=True):
            retry = services.render_job_retry(job=failed)
        assert retry.state == RenderJob.State.CHECKING and retry.scan_id == failed.scan_id
    assert _queued(broker) == ["render_job_check"]
    retried = _check_in_the_worker(studio, str(retry.uid), django_capture_on_commit_callbacks)
    assert retried.state == RenderJob.State.QUEUED and retried.scan.deidentified


def test_a_caller_that_runs_the_stages_itself_gets_the_check_done_by_scan_upload(
    studio,
    settings,
    django_capture_on_commit_callbacks,
) -> None:
    with schema_context(studio.schema_name):
        session = services.parent_session_create(
            parent_name="Render Scan", consent_given=True, skin_swatches=["#a07e56"]
        )
        with django_capture_on_commit_callbacks(execute=True):
            job = services.scan_upload(
                session=session, data=_png(make_bmode(seed=2)), enqueue=False
            )
        assert (job.state, job.reason, job.scan) == (RenderJob.State.REJECTED, MSG_BMODE, None)
        assert Scan.objects.count() == 0
    assert _stored_files(settings.MEDIA_ROOT) == []
