"""Outgoing webhooks: only subscribed endpoints get an event; the body is signed with HMAC-SHA256
over timestamp + body; a failing endpoint is retried with backoff and the same event id; a URL
into a private network is refused in production."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context

from studio_portal.accounts.models import User
from studio_portal.api import services, tasks
from studio_portal.api.models import WebhookDelivery


class _Receiver:
    """A local HTTP endpoint that answers with the next status in ``statuses``."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/cradle"


@pytest.fixture
def receiver():
    made: list[_Receiver] = []

    def make(statuses: list[int] | None = None) -> _Receiver:
        made.append(_Receiver(list(statuses or [])))
        return made[-1]

    yield make
    for item in made:
        item.server.shutdown()


def _owner(studio) -> User:
    return User.objects.get(username="owner")


def test_a_subscribed_endpoint_gets_a_signed_event_it_can_verify(studio, receiver) -> None:
    hook = receiver()
    with schema_context(studio.schema_name):
        endpoint = services.webhook_endpoint_create(
            url=hook.url, events=["job.ready"], actor=_owner(studio)
        )
        [delivery] = services.webhooks_emit("job.ready", {"job": "j-1", "state": "ready"})
        assert services.webhooks_emit("delivery.failed", {"delivery": 1}) == []
        services.webhook_delivery_attempt(delivery_id=delivery.pk)
        delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 1
    [request] = hook.requests
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["cradle-event"] == "job.ready"
    assert headers["cradle-delivery"] == str(delivery.uid)
    assert services.webhook_signature_valid(
        secret=endpoint.secret, header=headers["cradle-signature"], body=request["body"]
    )
    assert not services.webhook_signature_valid(
        secret="whsec_wrong", header=headers["cradle-signature"], body=request["body"]
    )
    tampered = request["body"].replace("j-1", "j-2")
    assert not services.webhook_signature_valid(
        secret=endpoint.secret, header=headers["cradle-signature"], body=tampered
    )
    event = json.loads(request["body"])
    assert event["type"] == "job.ready" and event["data"] == {"job": "j-1", "state": "ready"}
    assert event["studio"] == studio.schema_name and event["id"] == str(delivery.uid)


def test_an_old_signature_is_refused_as_a_replay() -> None:
    header = f"t=1000,v1={services.webhook_signature(secret='s', timestamp=1000, body='{}')}"
    assert services.webhook_signature_valid(secret="s", header=header, body="{}", now=1100)
    assert not services.webhook_signature_valid(
        secret="s", header=header, body="{}", now=1000 + 301
    )


def test_a_failing_endpoint_is_retried_with_backoff_and_the_same_event(studio, receiver) -> None:
    hook = receiver([500, 503])
    with schema_context(studio.schema_name):
        services.webhook_endpoint_create(url=hook.url, events=["job.failed"], actor=_owner(studio))
        [delivery] = services.webhooks_emit("job.failed", {"job": "j-9", "reason": "no face"})
        for _ in range(2):
            with pytest.raises(services.WebhookRetry):
                tasks.webhook_deliver.fn(studio.schema_name, delivery.pk)
        delivery.refresh_from_db()
        assert delivery.status == "pending" and delivery.last_status_code == 503
        tasks.webhook_deliver.fn(studio.schema_name, delivery.pk)
        delivery.refresh_from_db()
        # A re-delivered message after success sends nothing more.
        tasks.webhook_deliver.fn(studio.schema_name, delivery.pk)
    assert delivery.status == "succeeded" and delivery.attempts == 3
    assert len(hook.requests) == 3
    assert len({r["body"] for r in hook.requests}) == 1
    # The actor retries only WebhookRetry, with exponential backoff from 5 s, capped at an hour.
    options = tasks.webhook_deliver.options
    assert options["min_backoff"] == 5_000 and options["max_backoff"] == 3_600_000
    assert options["retry_when"](3, services.WebhookRetry("x"))
    assert not options["retry_when"](3, ValueError("bug"))
    assert not options["retry_when"](tasks.WEBHOOK_MAX_RETRIES, services.WebhookRetry("x"))


def test_an_event_whose_retries_ran_out_is_marked_failed(studio, receiver) -> None:
    hook = receiver([500])
    with schema_context(studio.schema_name):
        services.webhook_endpoint_create(
            url=hook.url, events=["delivery.failed"], actor=_owner(studio)
        )
        [delivery] = services.webhooks_emit("delivery.failed", {"delivery": 3})
    tasks.webhook_give_up.fn({"args": [studio.schema_name, delivery.pk]}, {})
    with schema_context(studio.schema_name):
        assert WebhookDelivery.objects.get(pk=delivery.pk).status == "failed"


def test_production_refuses_http_and_private_network_urls(studio, settings) -> None:
    settings.WEBHOOK_ALLOW_HTTP = False
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    with schema_context(studio.schema_name):
        owner = _owner(studio)
        for url, message in [
            ("http://example.com/hook", "https://"),
            ("https://127.0.0.1/hook", "public internet"),
            ("https://10.1.2.3/hook", "public internet"),
            ("https://[::1]/hook", "public internet"),
            ("https://169.254.169.254/latest/meta-data", "public internet"),
            ("https://user:pw@example.com/hook", "no user name"),
        ]:
            with pytest.raises(ValidationError, match=message):
                services.webhook_endpoint_create(url=url, events=["job.ready"], actor=owner)


def test_only_the_owner_manages_webhooks_through_the_api(api_a, owner_api_a, receiver) -> None:
    hook = receiver()
    assert api_a.get("/api/webhooks/").status_code == 403
    refused = api_a.post(
        "/api/webhooks/", {"url": hook.url, "events": ["job.ready"]}, format="json"
    )
    assert refused.status_code == 403
    made = owner_api_a.post(
        "/api/webhooks/", {"url": hook.url, "events": ["job.ready", "job.failed"]}, format="json"
    )
    assert made.status_code == 201 and made.json()["secret"].startswith("whsec_")
    bad = owner_api_a.post(
        "/api/webhooks/", {"url": hook.url, "events": ["job.done"]}, format="json"
    )
    assert bad.status_code == 400 and "events" in bad.json()["errors"]
    detail = owner_api_a.get(f"/api/webhooks/{made.json()['uid']}/")
    assert detail.json()["endpoint"]["events"] == ["job.failed", "job.ready"]
    assert owner_api_a.delete(f"/api/webhooks/{made.json()['uid']}/").status_code == 204
    assert owner_api_a.get("/api/webhooks/").json() == []


def _subscribe_everything(studio, receiver) -> None:
    services.webhook_endpoint_create(
        url=receiver().url,
        events=["job.ready", "job.failed", "delivery.failed"],
        actor=_owner(studio),
    )


def _sent() -> list[tuple[str, str]]:
    """(event type, job uid) of every queued webhook, oldest first, read from the signed body."""
    bodies = [
        json.loads(body)
        for body in WebhookDelivery.objects.order_by("created_at", "pk").values_list(
            "body", flat=True
        )
    ]
    return [(body["type"], body["data"]["job"]) for body in bodies]


def test_a_finished_job_and_a_crashed_one_emit_job_ready_and_job_failed(
    studio,
    receiver,
    phantom_jpeg,
    monkeypatch,
) -> None:
    from render import services as render_services
    from render.tasks import render_job_vision

    with schema_context(studio.schema_name):
        _subscribe_everything(studio, receiver)
        session = render_services.parent_session_create(
            parent_name="Ada", email="ada@example.com", consent_given=True, skin_swatches=["5"]
        )
        ok = render_services.scan_upload(session=session, data=phantom_jpeg, enqueue=False)
        render_services.render_job_vision_run(job_id=ok.pk, enqueue=False)
        render_services.render_job_render_run(job_id=ok.pk)
        # Another parent: the same file again for Ada would answer with her first job.
        other = render_services.parent_session_create(
            parent_name="Bea", email="bea@example.com", consent_given=True, skin_swatches=["5"]
        )
        broken = render_services.scan_upload(session=other, data=phantom_jpeg, enqueue=False)
        monkeypatch.setattr("render.services.vision.analyze", lambda scan: 1 / 0)
        render_job_vision.fn(studio.schema_name, broken.pk)
        sent = _sent()
    assert sent == [("job.ready", str(ok.uid)), ("job.failed", str(broken.uid))]


def test_a_permanently_failed_delivery_emits_delivery_failed(
    studio, receiver, fake_providers
) -> None:
    from django.utils import timezone

    from galleries.services.sending import delivery_send, gallery_send
    from render.models import ParentSession, RenderJob

    fake_providers.fail_with = 400
    with schema_context(studio.schema_name):
        _subscribe_everything(studio, receiver)
        session = ParentSession.objects.create(
            parent_name="Maya",
            phone="+14155550123",
            consent_at=timezone.now(),
            consent_text_version="test",
            skin_swatches=["#a07e56"],
            target_tone_hex="#a07e56",
        )
        job = RenderJob.objects.create(session=session, base_seed=7, state=RenderJob.State.READY)
        [delivery] = gallery_send(job=job, channels=["sms"], enqueue=False)
        delivery_send(delivery_id=delivery.pk)
        sent = _sent()
    assert sent == [("delivery.failed", str(job.uid))]
