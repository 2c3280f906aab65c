"""The print file: Real-ESRGAN ×4 of the raw render, then brand + tag at print size.

The candidate is tiny (96×72) so the real network and the real C2PA signing run in seconds.
"""

from __future__ import annotations

import io
import logging
from datetime import timedelta

import cv2
import dramatiq
import numpy as np
from django.core.files.base import ContentFile
from django.utils import timezone
from django_tenants.utils import schema_context
from PIL import Image

from branding.provenance import TAG_TEXT, read_provenance
from galleries.tests.factories import parent_session
from render import services
from render.models import Candidate, RenderJob
from render.print_size import candidate_print_make, candidate_prints_sweep_due
from render.tasks import candidate_print_make_task

RAW_SIZE = (96, 72)  # width, height


def _raw_render_png() -> bytes:
    """A small portrait-like render with an edge, so the network has detail to work on."""
    width, height = RAW_SIZE
    image = np.full((height, width, 3), (236, 222, 214), np.uint8)
    cv2.ellipse(image, (48, 36), (26, 30), 0, 0, 360, (196, 150, 112), -1)
    cv2.line(image, (36, 44), (60, 44), (120, 70, 60), 1)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _ready_candidate(raw: bytes, *, rank: int = 0) -> Candidate:
    job = RenderJob.objects.create(
        session=parent_session(), base_seed=3, state=RenderJob.State.READY
    )
    candidate = Candidate(job=job, seed=40 + rank, rank=rank, score=0.8)
    candidate.image.save("raw.png", ContentFile(raw), save=False)
    candidate.web_image.save("web.jpg", ContentFile(raw), save=False)
    candidate.save()
    return candidate


def _read_print(candidate: Candidate) -> bytes:
    candidate.refresh_from_db()
    with candidate.print_image.open("rb") as handle:
        return handle.read()


def test_the_print_file_is_four_times_the_raw_render_and_carries_the_tag(studio) -> None:
    with schema_context(studio.schema_name):
        candidate = _ready_candidate(_raw_render_png())
        candidate_print_make(candidate_id=candidate.pk)
        data = _read_print(candidate)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        assert max(image.size) == 4 * max(RAW_SIZE)
    report = read_provenance(data)
    assert report.exif_has_tag
    assert report.xmp_description == TAG_TEXT
    assert report.c2pa_present and report.c2pa_error is None
    assert report.c2pa_digital_source_type is not None
    assert "trainedAlgorithmicMedia" in report.c2pa_digital_source_type


def test_making_it_twice_keeps_the_first_file(studio) -> None:
    with schema_context(studio.schema_name):
        candidate = _ready_candidate(_raw_render_png())
        candidate_print_make(candidate_id=candidate.pk)
        candidate.refresh_from_db()
        first_name, first_bytes = candidate.print_image.name, _read_print(candidate)
        again = candidate_print_make(candidate_id=candidate.pk)
        assert again is not None and again.print_image.name == first_name
        assert _read_print(candidate) == first_bytes


def test_choosing_a_primary_queues_the_print_file_which_the_actor_then_makes(
    studio,
    django_capture_on_commit_callbacks,
) -> None:
    broker = dramatiq.get_broker()
    broker.flush_all()
    with schema_context(studio.schema_name):
        candidate = _ready_candidate(_raw_render_png(), rank=1)
        with django_capture_on_commit_callbacks(execute=True):
            services.candidate_choose_primary(candidate=candidate)
        assert broker.queues["render"].qsize() == 0  # re-renders never wait behind an upscale
        queue = broker.queues["print"]
        assert queue.qsize() == 1
        message = dramatiq.Message.decode(queue.get())
        queue.task_done()  # a get() without task_done() would hang every later broker.join()
        assert message.actor_name == "candidate_print_make_task"
        assert list(message.args) == [studio.schema_name, candidate.pk]
    candidate_print_make_task(*message.args)
    with schema_context(studio.schema_name):
        data = _read_print(candidate)
    assert read_provenance(data).exif_has_tag


def test_a_failure_is_logged_and_leaves_the_web_download(studio, caplog) -> None:
    with schema_context(studio.schema_name):
        candidate = _ready_candidate(b"this is not a PNG")
    with caplog.at_level(logging.ERROR, logger="render.print_size"):
        candidate_print_make_task(studio.schema_name, candidate.pk)  # must not raise
    assert any("could not make the print file" in r.getMessage() for r in caplog.records)
    with schema_context(studio.schema_name):
        candidate.refresh_from_db()
        assert not candidate.print_image
        assert candidate.web_image


def test_a_deleted_candidate_is_skipped(studio) -> None:
    with schema_context(studio.schema_name):
        candidate = _ready_candidate(_raw_render_png())
        candidate_id = candidate.pk
        candidate.delete()
        assert candidate_print_make(candidate_id=candidate_id) is None


# The print file's outbox: never lost, retried, and given up with a reason -------------------


def _primary_asked_for(raw: bytes) -> Candidate:
    """A primary whose print file was asked for at a commit whose message the broker never
    took (the broker was away, or the process died just after the commit)."""
    candidate = _ready_candidate(raw)
    Candidate.objects.filter(pk=candidate.pk).update(
        is_primary=True, print_requested_at=timezone.now() - timedelta(minutes=1)
    )
    return candidate


def _sweep(minutes_later: float) -> list[dramatiq.Message]:
    broker = dramatiq.get_broker()
    candidate_prints_sweep_due(now=timezone.now() + timedelta(minutes=minutes_later))
    queue = broker.queues["print"]
    messages = []
    while queue.qsize():
        messages.append(dramatiq.Message.decode(queue.get()))
        queue.task_done()
    return messages


def test_a_print_file_the_broker_never_took_is_sent_by_the_sweep_and_made(studio) -> None:
    dramatiq.get_broker().flush_all()
    with schema_context(studio.schema_name):
        candidate = _primary_asked_for(_raw_render_png())
        (message,) = _sweep(0)
        assert message.actor_name == "candidate_print_make_task"
        assert _sweep(1) == []  # its message is fresh: not sent twice
    candidate_print_make_task(*message.args)
    with schema_context(studio.schema_name):
        candidate.refresh_from_db()
        assert candidate.print_image and candidate.print_attempts == 1
        assert _sweep(60) == []  # made: nothing left to send


def test_a_print_whose_worker_was_killed_mid_upscale_is_sent_again_after_the_lease(studio) -> None:
    dramatiq.get_broker().flush_all()
    with schema_context(studio.schema_name):
        candidate = _primary_asked_for(_raw_render_png())
        # The try started (counted, stamped) and its worker died: no file, no error written.
        Candidate.objects.filter(pk=candidate.pk).update(
            print_attempts=1, print_enqueued_at=timezone.now()
        )
        assert _sweep(10) == []  # perhaps still upscaling
        (message,) = _sweep(16)
    candidate_print_make_task(*message.args)
    with schema_context(studio.schema_name):
        candidate.refresh_from_db()
        assert candidate.print_image and candidate.print_attempts == 2


def test_a_print_file_that_keeps_failing_is_given_up_and_the_api_says_why(studio) -> None:
    from tests.api.conftest import api_client_for

    dramatiq.get_broker().flush_all()
    with schema_context(studio.schema_name):
        candidate = _primary_asked_for(b"this is not a PNG")
    tries = 0
    for minute in range(0, 40, 3):  # a sweep every few minutes
        with schema_context(studio.schema_name):
            messages = _sweep(minute)
        for message in messages:
            candidate_print_make_task(*message.args)
            tries += 1
    assert tries == Candidate.PRINT_MAX_ATTEMPTS
    with schema_context(studio.schema_name):
        candidate.refresh_from_db()
        assert candidate.print_given_up and "UnidentifiedImageError" in candidate.print_error
    api, _ = api_client_for(studio)
    response = api.get(f"/api/candidates/{candidate.pk}/image/?size=print")
    assert response.status_code == 404 and "Retry-After" not in response
    assert response.json()["detail"].startswith(
        "Cradle could not make the print-size file after several tries (UnidentifiedImageError"
    )
    with schema_context(studio.schema_name):
        services.candidate_choose_primary(candidate=candidate)  # asking again starts afresh
        candidate.refresh_from_db()
        assert candidate.print_attempts == 0 and not candidate.print_given_up
