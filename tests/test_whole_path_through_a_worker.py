"""Upload → real Dramatiq worker → ready → gallery → email and SMS seen by the fake providers."""

from __future__ import annotations

import re
import threading

import dramatiq
import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context
from dramatiq import Worker

from branding.provenance import TAG_TEXT, read_provenance
from galleries.models import Delivery
from galleries.services import delivery_outbox, sending
from render.models import RenderJob
from studio_portal.tenants.models import Studio
from tests.tenancy import drop_studio, make_studio_with_members, signed_in_client


@pytest.fixture
def e2e_studio(transactional_db):
    studio = make_studio_with_members("e2e", "Moonbeam Studio")
    yield studio
    drop_studio(studio)


@pytest.fixture
def worker():
    broker = dramatiq.get_broker()
    broker.flush_all()
    worker = Worker(broker, worker_timeout=50, worker_threads=2)
    worker.start()
    yield broker
    worker.stop()


def _drain(broker, queues=("vision", "render", "default")) -> None:
    # Each stage enqueues the next on commit: keep draining until every queue stays empty.
    for _ in range(5):
        for queue in queues:
            try:
                broker.join(queue, fail_fast=True, timeout=120_000)
            except dramatiq.errors.QueueJoinTimeout:
                with schema_context("e2e"):
                    jobs = list(RenderJob.objects.values("state", "reason", "lease_expires_at"))
                pending = {name: q.qsize() for name, q in broker.queues.items()}
                raise AssertionError(
                    f"{queue} did not drain: jobs {jobs}, queues {pending}"
                ) from None


def test_a_scan_becomes_a_tagged_portrait_in_a_gallery_sent_by_email_and_sms(
    e2e_studio: Studio, worker, fake_providers, phantom_jpeg
) -> None:
    client = signed_in_client(e2e_studio, "sono")
    response = client.post(
        "/sessions/new/",
        {
            "parent_name": "Maya Lopez",
            "email": "maya@example.com",
            "phone": "+1 415 555 0123",
            "consent_given": "on",
            "tone_1": "#a07e56",
            "tone_2": "3",
            "style": "classic",
        },
    )
    assert response.status_code == 302, response.content
    session_url = response["Location"]
    response = client.post(f"{session_url}upload/", {"scan": _upload("scan.jpg", phantom_jpeg)})
    assert response.status_code == 302, response.content.decode()[:2000]
    job_url = response["Location"]

    _drain(worker)

    with schema_context("e2e"):
        job = RenderJob.objects.get()
        assert job.state == RenderJob.State.READY, job.reason
        assert set(job.stage_ms()) >= {
            "ingest",
            "vision",
            "conditioning",
            "render",
            "score",
            "overlay",
        }
        assert job.candidates.count() == 5
        assert job.candidates.filter(is_primary=True).count() == 1

    response = client.get(job_url)
    assert response.status_code == 200
    assert b"Send gallery" in response.content

    response = client.post(f"{job_url}send/", {"channel": ["email", "sms"]})
    assert response.status_code == 302
    _drain(worker)

    with schema_context("e2e"):
        job.refresh_from_db()
        statuses = dict(Delivery.objects.values_list("channel", "status"))
        assert statuses == {"email": "sent", "sms": "sent"}
        assert job.state == RenderJob.State.DELIVERED
        token = job.gallery.token

    link = f"http://e2e.localhost:8000/g/{token}/"
    [email] = fake_providers.emails()
    mail = email.json()
    assert mail["personalizations"][0]["to"][0]["email"] == "maya@example.com"
    assert mail["from"]["name"] == "Moonbeam Studio"
    assert any(link in part["value"] for part in mail["content"])
    [sms] = fake_providers.sms()
    form = sms.form()
    assert form["To"] == "+14155550123"
    assert link in form["Body"] and "Moonbeam Studio" in form["Body"]

    # The parent (no account, a fresh browser) opens the link on the studio's domain.
    from django.test import Client

    parent = Client(HTTP_HOST="e2e.localhost")
    page = parent.get(f"/g/{token}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Moonbeam Studio" in html and TAG_TEXT in html
    portrait_url = re.search(r'<img src="(/g/[^"]+/p/\d+/)"', html).group(1)
    portrait = parent.get(portrait_url)
    assert portrait["Content-Type"] == "image/jpeg"
    report = read_provenance(b"".join(portrait.streaming_content))
    assert report.exif_has_tag and report.xmp_has_tag and report.c2pa_has_tag
    connection.set_schema_to_public()

    _a_delivery_whose_row_the_outbox_is_stamping_is_sent_not_skipped(job.gallery, worker)


def _a_delivery_whose_row_the_outbox_is_stamping_is_sent_not_skipped(gallery, broker) -> None:
    """The outbox stamps a delivery's row just after the broker took its message; a worker
    that picks the message up in that instant meets the row locked. It used to skip it (the job
    then stayed "sending" until the sweep's 15-minute lease: this test's old flake); it waits.

    Here the stamp is held open on another connection until a timer ends it, as a slow stamp
    would; rows commit for real (the worker test's database is transactional)."""
    with schema_context("e2e"):
        delivery = Delivery.objects.create(
            gallery=gallery, channel=Delivery.Channel.EMAIL, recipient="maya@example.com"
        )
    locked, release = threading.Event(), threading.Event()

    def stamp() -> None:  # outbox_send's stamp, on its own connection
        try:
            with schema_context("e2e"), transaction.atomic():
                Delivery.objects.filter(pk=delivery.pk).update(enqueued_at=timezone.now())
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=stamp)
    holder.start()
    assert locked.wait(timeout=30)
    threading.Timer(0.3, release.set).start()
    with schema_context("e2e"):
        sent = sending.delivery_send(delivery_id=delivery.pk)
    holder.join(timeout=30)
    assert sent is not None and sent.status == Delivery.Status.SENT and sent.attempts == 1
    connection.set_schema_to_public()

    _the_outbox_never_waits_for_a_worker_that_holds_the_delivery(gallery, broker)


def _the_outbox_never_waits_for_a_worker_that_holds_the_delivery(gallery, broker) -> None:
    """The other way round: a worker picks the message up at once and holds the row while the
    provider answers; the request that sent it must not wait for the provider to stamp it (the
    worker stamps it itself). It used to wait, for as long as the provider took."""
    with schema_context("e2e"):
        delivery = Delivery.objects.create(
            gallery=gallery, channel=Delivery.Channel.SMS, recipient="+14155550123"
        )
    held, release = threading.Event(), threading.Event()

    def provider_call() -> None:  # delivery_send's lock while Twilio answers, on its own connection
        try:
            with schema_context("e2e"), transaction.atomic():
                Delivery.objects.select_for_update().filter(pk=delivery.pk).first()
                held.set()
                release.wait(timeout=60)
        finally:
            connection.close()

    worker_thread = threading.Thread(target=provider_call)
    worker_thread.start()
    assert held.wait(timeout=30)

    def send() -> None:  # what gallery_send, Resend or the sweep does for a delivery
        try:
            with schema_context("e2e"), transaction.atomic():
                delivery_outbox.delivery_enqueue(delivery.pk)  # sent and stamped on commit
        finally:
            connection.close()

    sender = threading.Thread(target=send)
    sender.start()
    sender.join(timeout=20)
    answered_while_held = not sender.is_alive()
    release.set()
    worker_thread.join(timeout=30)
    sender.join(timeout=30)
    assert answered_while_held, "the outbox waited for the worker's provider call"
    _drain(broker)  # the real worker then sends it, once
    with schema_context("e2e"):
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.SENT and delivery.attempts == 1
    connection.set_schema_to_public()


def _upload(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="image/jpeg")
