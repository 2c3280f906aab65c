"""Every file in the hostile corpus, uploaded through the API, is refused with a 4xx and a
sentence; none causes a server error, leaves a file in storage, or writes a Scan or job row."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from render.models import RenderJob, Scan
from tests.api.conftest import api_client_for
from tests.security.hostile_corpus import hostile_corpus


@pytest.fixture
def session_uid(studio) -> str:  # noqa: ANN001
    from render.services import parent_session_create

    with schema_context(studio.schema_name):
        session = parent_session_create(
            parent_name="Hostile Test", consent_given=True, skin_swatches=["#a07e56"]
        )
    return str(session.uid)


def _files_under(root) -> list[str]:  # noqa: ANN001
    return (
        [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()] if root.exists() else []
    )


def test_the_corpus_has_at_least_sixty_distinct_files() -> None:
    corpus = hostile_corpus()
    assert len(corpus) >= 60
    assert len({data for _, data in corpus}) == len(corpus)


def test_every_hostile_upload_is_refused_with_a_message_and_leaves_nothing(
    studio,
    session_uid,
    settings,  # noqa: ANN001
) -> None:
    client, _ = api_client_for(studio)
    client.raise_request_exception = False  # count a crash as the 500 a caller would get
    before = _files_under(settings.MEDIA_ROOT)
    accepted, server_errors, silent = [], [], []
    statuses: dict[int, int] = {}
    for name, data in hostile_corpus():
        upload = SimpleUploadedFile(name, data, content_type="application/octet-stream")
        response = client.post(
            f"/api/sessions/{session_uid}/scans/", {"scan": upload}, format="multipart"
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            server_errors.append(name)
        elif response.status_code < 400:
            accepted.append(name)
        elif not response.json().get("detail", "").strip():
            silent.append(name)
    print(f"hostile corpus: {sum(statuses.values())} files, statuses {sorted(statuses.items())}")
    assert server_errors == [], f"server errors for {server_errors} (render.pipeline.ingest)"
    assert accepted == [], (
        f"accepted {accepted}: ingest must refuse images too small to hold a face, and "
        "scan_upload must refuse 2D B-mode screens before storing anything"
    )
    assert silent == [], f"refused without a message: {silent}"
    assert _files_under(settings.MEDIA_ROOT) == before
    with schema_context(studio.schema_name):
        assert Scan.objects.count() == 0 and RenderJob.objects.count() == 0
