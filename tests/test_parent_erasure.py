"""A parent asks the studio to delete her data: everything about her goes, files included;
the audit log keeps only that it happened."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from galleries.models import Delivery, Gallery, ProviderEvent
from galleries.services.gallery import gallery_create
from galleries.tests.factories import parent_session, ready_job_with_portraits, scan_with_files
from render.models import Candidate, ParentSession, RenderJob, Scan
from studio_portal.audit.models import AuditLogEntry
from tests.api.conftest import api_client_for
from tests.tenancy import signed_in_client


@pytest.fixture
def owner_client(studio) -> Client:
    return signed_in_client(studio, "owner")


def _parent_with_everything(name: str = "Maya Okafor") -> dict:
    session = parent_session(parent_name=name)
    email = f"{name.split()[0].lower()}@example.com"
    scan = scan_with_files(session)
    job = ready_job_with_portraits(scan=scan)
    gallery = gallery_create(job=job)
    delivery = Delivery.objects.create(
        gallery=gallery, channel="email", recipient=email, status="delivered"
    )
    ProviderEvent.objects.create(
        provider="sendgrid",
        event_key=f"evt-{session.uid}",
        delivery=delivery,
        kind="delivered",
        payload={"email": email, "event": "delivered"},
    )
    files = [f.name for f in scan.derivative_fields() if f]
    for candidate in job.candidates.all():
        files += [
            f.name for f in (candidate.image, candidate.web_image, candidate.print_image) if f
        ]
    return {"session": session, "job": job, "gallery": gallery, "files": files}


def test_the_owner_erases_a_parent_and_every_trace_goes(
    studio, owner_client, django_capture_on_commit_callbacks
) -> None:
    with schema_context(studio.schema_name):
        maya = _parent_with_everything()
        other = _parent_with_everything("Ada Lovelace")
    assert all(default_storage.exists(name) for name in maya["files"])
    assert (
        Client(HTTP_HOST="alpha.localhost").get(f"/g/{maya['gallery'].token}/").status_code == 200
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            f"/sessions/{maya['session'].uid}/erase/", {"confirm_name": " maya okafor "}
        )
    assert response.status_code == 302
    assert "Deleted: 1 scan(s), 3 portrait(s)" in owner_client.get("/").content.decode()
    assert not any(default_storage.exists(name) for name in maya["files"])
    assert all(default_storage.exists(name) for name in other["files"])
    with schema_context(studio.schema_name):
        assert not ParentSession.objects.filter(pk=maya["session"].pk).exists()
        assert not Scan.objects.filter(session_id=maya["session"].pk).exists()
        assert not RenderJob.objects.filter(pk=maya["job"].pk).exists()
        assert not Candidate.objects.filter(job_id=maya["job"].pk).exists()
        assert not Gallery.objects.filter(pk=maya["gallery"].pk).exists()
        assert not Delivery.objects.filter(recipient="maya@example.com").exists()
        event = ProviderEvent.objects.get(event_key=f"evt-{maya['session'].uid}")
        assert event.payload == {} and event.delivery is None  # kept only against replays
        entry = AuditLogEntry.objects.get(action="parent_session.erased")
        assert entry.detail["scans"] == 1 and entry.detail["portraits"] == 3
        written = json.dumps(entry.detail) + entry.object_id
        assert "Maya" not in written and "maya@example.com" not in written
        assert ParentSession.objects.filter(pk=other["session"].pk).exists()
    assert (
        Client(HTTP_HOST="alpha.localhost").get(f"/g/{maya['gallery'].token}/").status_code == 404
    )


def test_a_wrong_name_or_a_running_render_stops_the_erasure(studio, owner_client) -> None:
    with schema_context(studio.schema_name):
        maya = _parent_with_everything()
    wrong = owner_client.post(f"/sessions/{maya['session'].uid}/erase/", {"confirm_name": "Maya"})
    assert wrong.status_code == 400
    assert "Type the parent&#x27;s name, Maya Okafor, to confirm." in wrong.content.decode()
    with schema_context(studio.schema_name):
        RenderJob.objects.create(
            session=maya["session"],
            base_seed=1,
            state=RenderJob.State.RENDER,
            lease_expires_at=timezone.now() + timedelta(minutes=1),  # a worker is on it
        )
    busy = owner_client.post(
        f"/sessions/{maya['session'].uid}/erase/", {"confirm_name": "Maya Okafor"}
    )
    assert busy.status_code == 400 and "rendering for this parent right now" in (
        busy.content.decode()
    )
    with schema_context(studio.schema_name):
        assert ParentSession.objects.filter(pk=maya["session"].pk).exists()
    assert all(default_storage.exists(name) for name in maya["files"])


def test_sonographers_cannot_erase_and_do_not_see_the_form(studio, client_a) -> None:
    with schema_context(studio.schema_name):
        maya = _parent_with_everything()
    page = client_a.get(f"/sessions/{maya['session'].uid}/").content.decode()
    assert "Delete this parent" not in page
    response = client_a.post(
        f"/sessions/{maya['session'].uid}/erase/", {"confirm_name": "Maya Okafor"}
    )
    assert response.status_code == 403
    api, _ = api_client_for(studio)
    assert api.delete(f"/api/sessions/{maya['session'].uid}/").status_code == 403
    with schema_context(studio.schema_name):
        assert ParentSession.objects.filter(pk=maya["session"].pk).exists()


def test_the_api_erases_for_the_owner_and_refuses_while_busy(studio) -> None:
    api, _ = api_client_for(studio, "owner")
    with schema_context(studio.schema_name):
        maya = _parent_with_everything()
        busy = _parent_with_everything("Ada Lovelace")
        RenderJob.objects.create(
            session=busy["session"],
            base_seed=1,
            state=RenderJob.State.VISION,
            lease_expires_at=timezone.now() + timedelta(minutes=1),
        )
    assert api.delete(f"/api/sessions/{maya['session'].uid}/").status_code == 204
    assert api.get(f"/api/sessions/{maya['session'].uid}/").status_code == 404
    refused = api.delete(f"/api/sessions/{busy['session'].uid}/")
    assert refused.status_code == 409
    assert "rendering for this parent right now" in refused.json()["detail"]
