"""A member of one studio never reaches another studio's sessions, scans, jobs, galleries or
files, whatever ids she tries. Every URL is answered in the requesting host's schema only."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from django_tenants.utils import schema_context

from galleries.services.gallery import gallery_create
from render.models import Candidate, ParentSession, RenderJob, Scan


def _make_finished_job(label: str) -> dict[str, object]:
    """A session, scan, ready job, candidate and gallery written straight to the current schema."""
    session = ParentSession.objects.create(
        parent_name=f"{label} parent",
        email=f"{label}@example.com",
        consent_at=timezone.now(),
        consent_text_version="test",
        skin_swatches=["#a07e56"],
        target_tone_hex="#a07e56",
    )
    scan = Scan(
        session=session, sha256="0" * 64, detected_type="jpeg", size_bytes=1, width=8, height=8
    )
    pixels = np.full((8, 8, 3), 200 if label == "beta" else 10, dtype=np.uint8)
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    scan.original_encrypted.save("original.bin.enc", ContentFile(b"x"), save=False)
    scan.deidentified.save("deidentified.png", ContentFile(buffer.getvalue()), save=False)
    scan.report_image.save("report.png", ContentFile(buffer.getvalue()), save=False)
    scan.save()
    job = RenderJob.objects.create(
        scan=scan, session=session, base_seed=1, state=RenderJob.State.READY
    )
    candidate = Candidate(
        job=job, seed=1, rank=0, score=0.5, is_primary=True, shared_with_parent=True
    )
    candidate.image.save("1.png", ContentFile(buffer.getvalue()), save=False)
    candidate.web_image.save("1-web.jpg", ContentFile(f"{label}-portrait".encode()), save=False)
    candidate.save()
    gallery = gallery_create(job=job)
    return {
        "session": session,
        "scan": scan,
        "job": job,
        "candidate": candidate,
        "gallery": gallery,
    }


@pytest.fixture
def beta_objects(other_studio):
    with schema_context(other_studio.schema_name):
        return _make_finished_job("beta")


def test_a_member_of_studio_a_gets_404_for_every_studio_b_object(client_a, beta_objects) -> None:
    b = beta_objects
    urls = [
        f"/sessions/{b['session'].uid}/",
        f"/jobs/{b['job'].uid}/",
        f"/files/scans/{b['scan'].uid}/deidentified/",
        f"/files/scans/{b['scan'].uid}/report/",
        f"/api/jobs/{b['job'].uid}/",
        f"/g/{b['gallery'].token}/",
    ]
    for url in urls:
        response = client_a.get(url)
        assert response.status_code == 404, url
    response = client_a.post(f"/sessions/{b['session'].uid}/upload/", {})
    assert response.status_code == 404
    response = client_a.post(f"/jobs/{b['job'].uid}/send/", {"channel": "email"})
    assert response.status_code == 404
    response = client_a.get(f"/g/{b['gallery'].token}/p/{b['candidate'].pk}/")
    assert response.status_code == 404


def test_integer_ids_of_studio_b_resolve_only_inside_studio_a(
    client_a, studio, beta_objects
) -> None:
    b = beta_objects
    # Same integer primary key exists in both schemas: A must get A's own file, never B's.
    with schema_context(studio.schema_name):
        mine = _make_finished_job("alpha")
    response = client_a.get(f"/files/candidates/{b['candidate'].pk}/web/")
    if response.status_code == 200:
        body = b"".join(response.streaming_content)
        assert body == b"alpha-portrait"
        assert mine["candidate"].pk == b["candidate"].pk
    else:
        assert response.status_code == 404


def test_a_studio_a_session_cookie_is_anonymous_on_studio_b(client_a, beta_objects) -> None:
    client_a.defaults["HTTP_HOST"] = "beta.localhost"
    response = client_a.get(f"/jobs/{beta_objects['job'].uid}/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    response = client_a.get(f"/api/jobs/{beta_objects['job'].uid}/")
    assert response.status_code in (401, 403)


def test_scan_files_need_a_signed_in_member(studio, client_a) -> None:
    from django.test import Client

    with schema_context(studio.schema_name):
        mine = _make_finished_job("alpha")
    anonymous = Client(HTTP_HOST="alpha.localhost")
    response = anonymous.get(f"/files/scans/{mine['scan'].uid}/deidentified/")
    assert response.status_code == 302
    response = client_a.get(f"/files/scans/{mine['scan'].uid}/deidentified/")
    assert response.status_code == 200


def test_an_unknown_host_is_not_served_the_public_site_or_a_studio(db) -> None:
    from django.test import Client

    response = Client(HTTP_HOST="nosuchstudio.localhost").get("/")
    assert response.status_code == 404
