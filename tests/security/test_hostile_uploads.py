"""Every file in the hostile corpus, uploaded through the API, is refused with a sentence:
from its headers with a 4xx (bombs, polyglots, wrong types, tiny images: nothing stored), or,
when only decoding shows it (a cut-off image, a 2D B-mode screen), by the worker's check, which
rejects the job with the reason and deletes what the upload stored. None causes a server error
or leaves a file in storage or a Scan row."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from render.models import RenderJob, Scan
from render.tasks import render_job_check
from tests.api.conftest import api_client_for
from tests.security.hostile_corpus import hostile_corpus


@pytest.fixture
def session_uid(studio) -> str:
    from render.services import parent_session_create

    with schema_context(studio.schema_name):
        session = parent_session_create(
            parent_name="Hostile Test", consent_given=True, skin_swatches=["#a07e56"]
        )
    return str(session.uid)


def _files_under(root) -> list[str]:
    return (
        [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()] if root.exists() else []
    )


def test_the_corpus_has_at_least_sixty_distinct_files() -> None:
    corpus = hostile_corpus()
    assert len(corpus) >= 60
    assert len({data for _, data in corpus}) == len(corpus)


# Well-formed headers over pixels that only a decode shows to be unusable: the upload stores
# them (encrypted) and the worker's check refuses them. Everything else never reaches storage.
REFUSED_BY_THE_CHECK = {
    "jpeg-50pc.jpg",
    "jpeg-90pc.jpg",
    "png-half.png",
    "bmode-grey.jpg",
    "bmode-grey.png",
    "bmode-gold.jpg",
    "bmode-gold-seed7.png",
    "bmode-small.jpg",
}


def test_every_hostile_upload_is_refused_with_a_message_and_leaves_nothing(
    studio,
    session_uid,
    settings,
    django_capture_on_commit_callbacks,
) -> None:
    client, _ = api_client_for(studio)
    client.raise_request_exception = False  # count a crash as the 500 a caller would get
    before = _files_under(settings.MEDIA_ROOT)
    accepted, server_errors, silent = [], [], []
    checking: dict[str, str] = {}  # name → job uid, for the worker's check
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
            assert response.json()["state"] == "checking", name
            checking[name] = response.json()["uid"]
        elif not response.json().get("detail", "").strip():
            silent.append(name)
    print(f"hostile corpus: {sum(statuses.values())} files, statuses {sorted(statuses.items())}")
    assert server_errors == [], f"server errors for {server_errors} (render.pipeline.ingest)"
    assert set(checking) == REFUSED_BY_THE_CHECK, "only a decode may tell these from a scan"
    with schema_context(studio.schema_name):
        for name, uid in checking.items():
            job = RenderJob.objects.get(uid=uid)
            with django_capture_on_commit_callbacks(execute=True):
                render_job_check.fn(studio.schema_name, job.pk)  # the actor's body, as a worker
            job.refresh_from_db()
            if job.state != RenderJob.State.REJECTED:
                accepted.append(f"{name} ({job.state}: {job.reason})")
            elif not job.reason.strip():
                silent.append(name)
    assert accepted == [], (
        f"accepted {accepted}: ingest must refuse images too small to hold a face, and "
        "the check must refuse damaged images and 2D B-mode screens"
    )
    assert silent == [], f"refused without a message: {silent}"
    assert _files_under(settings.MEDIA_ROOT) == before
    with schema_context(studio.schema_name):
        assert Scan.objects.count() == 0
        assert set(RenderJob.objects.values_list("state", flat=True)) == {"rejected"}
