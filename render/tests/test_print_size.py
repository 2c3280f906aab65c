"""The print file: Real-ESRGAN ×4 of the raw render, then brand + tag at print size.

The candidate is tiny (96×72) so the real network and the real C2PA signing run in seconds.
"""

from __future__ import annotations

import io
import logging

import cv2
import dramatiq
import numpy as np
from django.core.files.base import ContentFile
from django_tenants.utils import schema_context
from PIL import Image

from branding.provenance import TAG_TEXT, read_provenance
from galleries.tests.factories import parent_session
from render import services
from render.models import Candidate, RenderJob
from render.print_size import candidate_print_make
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


def test_the_print_file_is_four_times_the_raw_render_and_carries_the_tag(studio) -> None:  # noqa: ANN001
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


def test_making_it_twice_keeps_the_first_file(studio) -> None:  # noqa: ANN001
    with schema_context(studio.schema_name):
        candidate = _ready_candidate(_raw_render_png())
        candidate_print_make(candidate_id=candidate.pk)
        candidate.refresh_from_db()
        first_name, first_bytes = candidate.print_image.name, _read_print(candidate)
        again = candidate_print_make(candidate_id=candidate.pk)
        assert again is not None and again.print_image.name == first_name
        assert _read_print(candidate) == first_bytes


def test_choosing_a_primary_queues_the_print_file_which_the_actor_then_makes(
    studio,  # noqa: ANN001
    django_capture_on_commit_callbacks,  # noqa: ANN001
) -> None:
    broker = dramatiq.get_broker()
    broker.flush_all()
    with schema_context(studio.schema_name):
        candidate = _ready_candidate(_raw_render_png(), rank=1)
        with django_capture_on_commit_callbacks(execute=True):
            services.candidate_choose_primary(candidate=candidate)
        queue = broker.queues["render"]
        assert queue.qsize() == 1
        message = dramatiq.Message.decode(queue.get())
        queue.task_done()  # a get() without task_done() would hang every later broker.join()
        assert message.actor_name == "candidate_print_make_task"
        assert list(message.args) == [studio.schema_name, candidate.pk]
    candidate_print_make_task(*message.args)
    with schema_context(studio.schema_name):
        data = _read_print(candidate)
    assert read_provenance(data).exif_has_tag


def test_a_failure_is_logged_and_leaves_the_web_download(studio, caplog) -> None:  # noqa: ANN001
    with schema_context(studio.schema_name):
        candidate = _ready_candidate(b"this is not a PNG")
    with caplog.at_level(logging.ERROR, logger="render.print_size"):
        candidate_print_make_task(studio.schema_name, candidate.pk)  # must not raise
    assert any("could not make the print file" in r.getMessage() for r in caplog.records)
    with schema_context(studio.schema_name):
        candidate.refresh_from_db()
        assert not candidate.print_image
        assert candidate.web_image


def test_a_deleted_candidate_is_skipped(studio) -> None:  # noqa: ANN001
    with schema_context(studio.schema_name):
        candidate = _ready_candidate(_raw_render_png())
        candidate_id = candidate.pk
        candidate.delete()
        assert candidate_print_make(candidate_id=candidate_id) is None
