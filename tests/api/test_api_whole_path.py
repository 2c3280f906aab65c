"""The whole studio path through the API alone: session, upload, job status with per-stage
timings, candidates, anchors correction and re-runs, gallery, sending, delivery status. The
worker's stages run in-process here (the actors call these same services)."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from render import services
from render.models import RenderJob


def _uploaded_job(api_a, studio, phantom_jpeg, *, render: bool) -> dict:
    response = api_a.post(
        "/api/sessions/",
        {
            "parent_name": "Maya Whole-Path",
            "email": "maya.path@example.com",
            "phone": "+1 415 555 0123",
            "consent_given": True,
            "skin_swatches": ["#a07e56", "4"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    session = response.json()
    upload = api_a.post(
        f"/api/sessions/{session['uid']}/scans/", {"scan": _file(phantom_jpeg)}, format="multipart"
    )
    assert upload.status_code == 201, upload.json()
    job = upload.json()
    assert job["state"] == "checking" and "ingest" not in job["stage_ms"]  # the worker's part
    with schema_context(studio.schema_name):
        job_id = RenderJob.objects.get(uid=job["uid"]).pk
        services.render_job_check_run(job_id=job_id, enqueue=False)
        services.render_job_vision_run(job_id=job_id, enqueue=False)
        if render:
            services.render_job_render_run(job_id=job_id)
    return {"session": session, "job": job}


@pytest.fixture
def ready_job(api_a, studio, phantom_jpeg) -> dict:
    return _uploaded_job(api_a, studio, phantom_jpeg, render=True)


@pytest.fixture
def analysed_job(api_a, studio, phantom_jpeg) -> dict:
    """Vision done (anchors and cues stored): enough for corrections and re-runs."""
    return _uploaded_job(api_a, studio, phantom_jpeg, render=False)


@pytest.fixture
def stored_job(studio) -> dict:
    """A session and a ready job written straight to the database (no pipeline run)."""
    from tests.test_studio_isolation import _make_finished_job

    with schema_context(studio.schema_name):
        objects = _make_finished_job("alpha")
        objects["gallery"].delete()
    return {
        "session": {"uid": str(objects["session"].uid)},
        "job": {"uid": str(objects["job"].uid)},
    }


def _file(data: bytes, name: str = "scan.jpg"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def test_a_studio_runs_a_scan_to_a_sent_gallery_through_the_api(
    api_a,
    studio,
    ready_job,
    fake_providers,
) -> None:
    job_uid = ready_job["job"]["uid"]
    job = api_a.get(f"/api/jobs/{job_uid}/").json()
    assert job["state"] == "ready"
    assert set(job["stage_ms"]) >= {
        "ingest",
        "vision",
        "conditioning",
        "render",
        "score",
        "overlay",
    }
    assert all(ms >= 0 for ms in job["stage_ms"].values())
    candidates = api_a.get(f"/api/jobs/{job_uid}/candidates/").json()
    assert len(candidates) == 5 and sum(c["is_primary"] for c in candidates) == 1

    other = next(c for c in candidates if not c["is_primary"])
    made_primary = api_a.post(f"/api/candidates/{other['id']}/primary/").json()
    assert made_primary["is_primary"] and made_primary["shared_with_parent"]
    primaries = [c for c in api_a.get(f"/api/jobs/{job_uid}/candidates/").json() if c["is_primary"]]
    assert [c["id"] for c in primaries] == [other["id"]]
    refused = api_a.post(f"/api/candidates/{other['id']}/share/", {"shared": False}, format="json")
    assert refused.status_code == 400 and "primary" in refused.json()["detail"]
    third = next(c for c in candidates if c["id"] != other["id"] and not c["shared_with_parent"])
    shared = api_a.post(f"/api/candidates/{third['id']}/share/", {"shared": True}, format="json")
    assert shared.status_code == 200 and shared.json()["shared_with_parent"] is True

    gallery = api_a.post("/api/galleries/", {"job": job_uid, "pin": "4821"}, format="json")
    assert gallery.status_code == 201, gallery.json()
    assert gallery.json()["has_pin"] is True and "/g/" in gallery.json()["url"]
    sent = api_a.post(
        f"/api/galleries/{gallery.json()['uid']}/send/",
        {"channels": ["email", "sms"]},
        format="json",
    )
    assert sent.status_code == 202, sent.json()
    assert {d["channel"] for d in sent.json()} == {"email", "sms"}
    assert {d["status"] for d in sent.json()} == {"queued"}
    from galleries.services.sending import delivery_send

    with schema_context(studio.schema_name):
        for delivery in sent.json():
            delivery_send(delivery_id=delivery["id"])
    deliveries = api_a.get("/api/deliveries/?status=sent").json()
    assert {d["channel"] for d in deliveries} == {"email", "sms"}
    assert api_a.get(f"/api/deliveries/{deliveries[0]['id']}/").json()["status"] == "sent"
    assert api_a.get(f"/api/jobs/{job_uid}/").json()["state"] == "delivered"


def test_anchor_corrections_and_reruns_make_new_jobs_from_conditioning(
    api_a,
    analysed_job,
) -> None:
    ready_job = analysed_job
    job_uid = ready_job["job"]["uid"]
    corrected = api_a.post(
        f"/api/jobs/{job_uid}/anchors/",
        {"anchors": {"nose_tip": {"x": 600, "y": 420}, "chin": {"x": 610, "y": 560}}},
        format="json",
    )
    assert corrected.status_code == 201, corrected.json()
    assert corrected.json()["parent_job"] == job_uid
    assert corrected.json()["state"] == "conditioning"
    rerun = api_a.post(
        f"/api/jobs/{job_uid}/rerun/", {"style": "classic", "fix_anatomy": True}, format="json"
    )
    assert rerun.status_code == 201
    assert rerun.json()["correction_strength"] == pytest.approx(0.8)
    listed = api_a.get(f"/api/jobs/?session={ready_job['session']['uid']}").json()
    assert {j["uid"] for j in listed} == {job_uid, corrected.json()["uid"], rerun.json()["uid"]}
    cancelled = api_a.post(f"/api/jobs/{rerun.json()['uid']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    again = api_a.post(f"/api/jobs/{rerun.json()['uid']}/cancel/")
    assert again.status_code == 400 and "nothing to cancel" in again.json()["detail"]


def test_bad_input_gets_a_400_with_a_sentence_per_problem(api_a, stored_job) -> None:
    ready_job = stored_job
    job_uid = ready_job["job"]["uid"]
    no_consent = api_a.post(
        "/api/sessions/",
        {"parent_name": "X", "consent_given": False, "skin_swatches": ["#a07e56"]},
        format="json",
    )
    assert no_consent.status_code == 400 and "consent" in no_consent.json()["detail"]
    missing = api_a.post("/api/sessions/", {}, format="json")
    assert missing.status_code == 400
    assert {"parent_name", "consent_given", "skin_swatches"} <= set(missing.json()["errors"])
    assert "parent_name: This field is required." in missing.json()["detail"]
    bad_anchor = api_a.post(
        f"/api/jobs/{job_uid}/anchors/", {"anchors": {"ear": {"x": 1, "y": 1}}}, format="json"
    )
    assert bad_anchor.status_code == 400 and "Unknown anchor 'ear'" in bad_anchor.json()["detail"]
    outside = api_a.post(
        f"/api/jobs/{job_uid}/anchors/", {"anchors": {"chin": {"x": 99999, "y": 1}}}, format="json"
    )
    assert outside.status_code == 400 and "outside the scan" in outside.json()["detail"]
    bad_style = api_a.post(f"/api/jobs/{job_uid}/rerun/", {"style": "cubist"}, format="json")
    assert bad_style.status_code == 400 and "style" in bad_style.json()["errors"]
    bad_pin = api_a.post("/api/galleries/", {"job": job_uid, "pin": "12"}, format="json")
    assert bad_pin.status_code == 400 and "4 to 8 digits" in bad_pin.json()["detail"]
    no_file = api_a.post(
        f"/api/sessions/{ready_job['session']['uid']}/scans/", {}, format="multipart"
    )
    assert no_file.status_code == 400 and "'scan' file field" in no_file.json()["detail"]
    bad_state = api_a.get("/api/jobs/?state=painting")
    assert bad_state.status_code == 400 and "Unknown state" in bad_state.json()["detail"]
