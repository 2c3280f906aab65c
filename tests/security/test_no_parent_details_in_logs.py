"""The whole path — session, upload, vision, render, gallery, email and SMS, a failed delivery,
webhooks — writes no parent's name, email address or phone number into any log record."""

from __future__ import annotations

import logging

from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from galleries.services.sending import delivery_fail, delivery_send
from render import services
from render.models import RenderJob
from render.selectors import job_event_payload
from studio_portal.accounts.models import User
from studio_portal.api import services as api_services
from tests.api.conftest import api_client_for

NAME, EMAIL, PHONE = "Philippa Quorn-Lestrange", "philippa.quorn@example.com", "+14155550142"


def test_no_log_record_carries_a_parents_details(
    studio, phantom_jpeg, fake_providers, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    client, _ = api_client_for(studio)
    client.raise_request_exception = False
    with schema_context(studio.schema_name):
        owner = User.objects.get(username="owner")
        api_services.webhook_endpoint_create(
            url="http://127.0.0.1:9/unreachable",
            events=["job.ready", "delivery.failed"],
            actor=owner,
        )
    session = client.post(
        "/api/sessions/",
        {
            "parent_name": NAME,
            "email": EMAIL,
            "phone": "(415) 555-0142",
            "consent_given": True,
            "skin_swatches": ["#a07e56"],
        },
        format="json",
    ).json()
    bad = client.post(
        "/api/sessions/",
        {
            "parent_name": NAME,
            "email": "not-an-email",
            "consent_given": True,
            "skin_swatches": ["#zz"],
        },
        format="json",
    )
    assert bad.status_code == 400
    upload = client.post(
        f"/api/sessions/{session['uid']}/scans/",
        {"scan": SimpleUploadedFile("scan.jpg", phantom_jpeg)},
        format="multipart",
    )
    job_uid = upload.json()["uid"]
    with schema_context(studio.schema_name):
        job_id = RenderJob.objects.get(uid=job_uid).pk
        services.render_job_check_run(job_id=job_id, enqueue=False)
        services.render_job_vision_run(job_id=job_id, enqueue=False)
        services.render_job_render_run(job_id=job_id)
        [delivery] = api_services.webhooks_emit("job.ready", job_event_payload(job_id))
        try:
            api_services.webhook_delivery_attempt(delivery_id=delivery.pk)
        except api_services.WebhookRetry:
            pass  # the endpoint is unreachable on purpose: its failure is logged
    gallery = client.post("/api/galleries/", {"job": job_uid}, format="json").json()
    sent = client.post(
        f"/api/galleries/{gallery['uid']}/send/", {"channels": ["email", "sms"]}, format="json"
    ).json()
    with schema_context(studio.schema_name):
        delivery_send(delivery_id=sent[0]["id"])
        delivery_fail(delivery_id=sent[1]["id"], error="The provider refused the number.")
    client.get("/api/sessions/?q=Philippa")
    client.get("/api/jobs/00000000-0000-0000-0000-000000000000/")  # a logged 404
    messages = [record.getMessage() for record in caplog.records]
    messages += [str(record.args) for record in caplog.records if record.args]
    assert len(caplog.records) >= 3, "the path must have logged something to scan"
    for needle in (
        NAME,
        "Philippa",
        "Quorn",
        EMAIL,
        "philippa.quorn",
        PHONE,
        "5550142",
        "555-0142",
    ):
        found = [m for m in messages if needle.lower() in m.lower()]
        assert not found, f"{needle!r} appears in logs: {found[:2]}"
