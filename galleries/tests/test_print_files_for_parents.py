"""The parent's "Print size" (issue 17 item 4, the serving side): never the web file under a
print name; "being prepared" until the print file exists; a print file asked for every
portrait the parent is sent; print files say 300 dpi."""

from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django_tenants.utils import schema_context
from PIL import Image

from galleries.services.gallery import gallery_create
from galleries.services.sending import gallery_send
from galleries.tests.factories import jpeg_bytes, parent_session, ready_job_with_portraits
from render.models import Candidate, RenderJob
from render.print_size import candidate_print_make

HOST = "alpha.localhost"


def _tiny_raw_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (210, 170, 140)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_print_size_is_never_the_web_file_while_the_print_is_being_prepared(studio) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits(with_print=False))
        primary = gallery.job.candidates.get(rank=0)
    parent = Client(HTTP_HOST=HOST)
    response = parent.get(f"/g/{gallery.token}/p/{primary.pk}/?size=print&download=1")
    assert response.status_code == 503 and response["Retry-After"]
    assert not response.has_header("Content-Disposition")
    assert "being prepared" in response.content.decode()
    page = parent.get(f"/g/{gallery.token}/").content.decode()
    assert "size=print" not in page  # no link that could hand out the web file
    assert page.count("Print size: being prepared") == 2
    with schema_context(studio.schema_name):
        gallery.refresh_from_db()
    assert gallery.downloads == 0


def test_the_print_link_appears_once_the_print_file_exists(studio) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits(with_print=False))
        alternate = gallery.job.candidates.get(rank=1)
        alternate.print_image.save("p.jpg", ContentFile(jpeg_bytes((160, 160), (9, 9, 9))))
    parent = Client(HTTP_HOST=HOST)
    page = parent.get(f"/g/{gallery.token}/").content.decode()
    assert f"p/{alternate.pk}/?size=print&amp;download=1" in page
    assert page.count("Print size: being prepared") == 1  # the primary's is still coming
    printed = parent.get(f"/g/{gallery.token}/p/{alternate.pk}/?size=print&download=1")
    assert Image.open(io.BytesIO(b"".join(printed.streaming_content))).size == (160, 160)


def test_a_print_file_given_up_is_said_plainly_and_the_web_file_is_not_offered_instead(
    studio,
) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits(with_print=False, shared=1))
        Candidate.objects.filter(job=gallery.job).update(
            print_attempts=Candidate.PRINT_MAX_ATTEMPTS, print_error="boom"
        )
        primary = gallery.job.candidates.get(rank=0)
    parent = Client(HTTP_HOST=HOST)
    page = parent.get(f"/g/{gallery.token}/").content.decode()
    assert "Print size: ask" in page and "size=print" not in page
    response = parent.get(f"/g/{gallery.token}/p/{primary.pk}/?size=print")
    assert response.status_code == 404 and "Alpha Studio" in response.content.decode()


def test_sending_asks_for_a_print_file_of_every_portrait_the_parent_gets(
    studio,
    settings,
    django_capture_on_commit_callbacks,
) -> None:
    settings.PRINT_FILES_AUTOMATIC = True
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits(shared=3, unshared=1, with_print=False)
        with django_capture_on_commit_callbacks(execute=False):
            gallery_send(job=job, channels=["email"], enqueue=False)
        asked = dict(job.candidates.values_list("rank", "print_requested_at"))
    assert all(asked[rank] is not None for rank in (0, 1, 2)), asked
    assert asked[3] is None  # kept back from the parent: no print file needed


def test_a_print_file_says_300_dpi_in_jfif_and_exif(studio) -> None:
    with schema_context(studio.schema_name):
        job = RenderJob.objects.create(
            session=parent_session(), base_seed=1, state=RenderJob.State.READY
        )
        candidate = Candidate(job=job, seed=5, rank=0, score=0.9, is_primary=True)
        candidate.image.save("raw.png", ContentFile(_tiny_raw_png()), save=False)
        candidate.web_image.save("web.jpg", ContentFile(_tiny_raw_png()), save=False)
        candidate.save()
        candidate_print_make(candidate_id=candidate.pk)
        candidate.refresh_from_db()
        with candidate.print_image.open("rb") as handle:
            data = handle.read()
    with Image.open(io.BytesIO(data)) as image:
        assert image.info["dpi"] == pytest.approx((300, 300))
        exif = image.getexif()
        assert float(exif[0x011A]) == 300 and float(exif[0x011B]) == 300
        assert exif[0x0128] == 2  # inches


def test_a_portrait_shared_after_sending_is_given_a_print_file_and_swept_if_lost(
    studio,
    settings,
    django_capture_on_commit_callbacks,
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from render.print_size import candidate_prints_sweep_due
    from render.services import candidate_set_shared

    settings.PRINT_FILES_AUTOMATIC = True
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits(shared=1, unshared=1, with_print=False)
        with django_capture_on_commit_callbacks(execute=False):
            gallery_send(job=job, channels=["email"], enqueue=False)
            late = job.candidates.get(rank=1)
            late.refresh_from_db()
            late.job.refresh_from_db()
            candidate_set_shared(candidate=late, shared=True)
        late.refresh_from_db()
        assert late.print_requested_at is not None
        # Its message never reached the broker: the sweep sends it again, alternate or not.
        Candidate.objects.filter(pk=late.pk).update(
            print_requested_at=timezone.now() - timedelta(minutes=30), print_enqueued_at=None
        )
        with django_capture_on_commit_callbacks(execute=False):
            assert candidate_prints_sweep_due() == 1  # the primary's own request is fresh
        late.refresh_from_db()
        assert late.print_enqueued_at is not None
