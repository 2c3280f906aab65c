"""Issue 16 item 7: the same scan uploaded four times at once makes one render.

A repeat of the same file for the same parent within minutes answers with the job the first
upload made (API: 200 instead of 201), even when the uploads race each other.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from render import services
from render.models import RenderJob, Scan
from studio_portal.tenants.models import Studio
from tests.api.conftest import api_client_for
from tests.tenancy import drop_studio, make_studio_with_members


def _session() -> object:
    return services.parent_session_create(
        parent_name="Ada", email="ada@example.com", consent_given=True, skin_swatches=["5"]
    )


def test_a_repeat_upload_answers_with_the_first_job_unless_that_one_failed(
    studio,
    phantom_jpeg,
) -> None:
    with schema_context(studio.schema_name):
        session, other = _session(), _session()
        first = services.scan_upload(session=session, data=phantom_jpeg, enqueue=False)
        assert services.scan_upload(session=session, data=phantom_jpeg, enqueue=False) == first
        assert Scan.objects.filter(session=session).count() == 1
        # Another parent's upload of the same file is her own render.
        assert services.scan_upload(session=other, data=phantom_jpeg, enqueue=False) != first
        # Uploading again after a failure is how a sonographer tries again.
        RenderJob.objects.filter(pk=first.pk).update(state=RenderJob.State.FAILED)
        retry = services.scan_upload(session=session, data=phantom_jpeg, enqueue=False)
        assert retry != first
        # Past the window the same file is a new visit's render.
        RenderJob.objects.filter(pk=retry.pk).update(
            created_at=retry.created_at - services.REPEAT_UPLOAD_WINDOW - timedelta(seconds=1)
        )
        assert services.scan_upload(session=session, data=phantom_jpeg, enqueue=False) != retry


@pytest.fixture
def race_studio(transactional_db):
    studio = make_studio_with_members("repeats", "Repeat Studio")
    yield studio
    drop_studio(studio)


def test_the_same_scan_uploaded_four_times_at_once_makes_one_render(
    race_studio: Studio,
    phantom_jpeg: bytes,
) -> None:
    with schema_context(race_studio.schema_name):
        session = _session()
    connection.set_schema_to_public()
    api, _ = api_client_for(race_studio)
    start = threading.Barrier(4)
    answers: list[tuple[int, str]] = []

    def upload(index: int) -> None:
        try:
            start.wait()
            response = api.post(
                f"/api/sessions/{session.uid}/scans/",
                {"scan": _named(phantom_jpeg, f"scan-{index}.jpg")},
                format="multipart",
            )
            answers.append((response.status_code, response.json().get("uid", "")))
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(code for code, _ in answers) == [200, 200, 200, 201]
    assert len({uid for _, uid in answers}) == 1
    with schema_context(race_studio.schema_name):
        assert RenderJob.objects.filter(session=session).count() == 1
        assert Scan.objects.filter(session=session).count() == 1


def _named(data: bytes, name: str) -> object:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="image/jpeg")
