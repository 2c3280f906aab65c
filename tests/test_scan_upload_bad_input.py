"""Bad uploads get a 400 with a message a sonographer understands, and nothing is stored."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tenants.utils import schema_context

from render.models import ParentSession, RenderJob, Scan


@pytest.fixture
def session(studio):
    with schema_context(studio.schema_name):
        return ParentSession.objects.create(
            parent_name="Ada",
            consent_at=timezone.now(),
            consent_text_version="test",
            skin_swatches=["#a07e56"],
            target_tone_hex="#a07e56",
        )


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "not a scan")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("notes.txt", b"Patient notes, definitely not an image"),
        ("empty.jpg", b""),
        ("archive.jpg", None),
        ("truncated.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"),
    ],
)
def test_a_file_that_is_not_a_scan_gets_400_and_nothing_is_stored(
    client_a,
    studio,
    session,
    settings,
    name,
    data,
) -> None:
    data = _zip_bytes() if data is None else data
    response = client_a.post(
        f"/sessions/{session.uid}/upload/",
        {"scan": SimpleUploadedFile(name, data, content_type="image/jpeg")},
    )
    assert response.status_code == 400
    assert b'role="alert"' in response.content
    with schema_context(studio.schema_name):
        assert Scan.objects.count() == 0
        assert RenderJob.objects.count() == 0
    stored = list((settings.MEDIA_ROOT).rglob("*")) if settings.MEDIA_ROOT.exists() else []
    assert [p for p in stored if p.is_file()] == []


def test_the_api_explains_a_rejected_upload(client_a, session) -> None:
    response = client_a.post(
        f"/api/sessions/{session.uid}/scans/",
        {"scan": SimpleUploadedFile("x.png", b"GIF89a not really", content_type="image/png")},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] and len(body["detail"]) > 20
