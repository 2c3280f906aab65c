"""Issue 16 item 1: every message to the broker that follows a write goes through the outbox.

With the broker away, a send answers as usual and its rows stay unsent; the sweep sends them
once the broker is back, never twice while their message is fresh. A job or delivery that
cannot move never blocks Cancel, Resend or the parent's erasure.
"""

from __future__ import annotations

from datetime import timedelta

import dramatiq
import pytest
from django.utils import timezone
from django_tenants.utils import schema_context
from redis.exceptions import ConnectionError as RedisConnectionError

from galleries.models import Delivery
from galleries.services.gallery import gallery_create
from galleries.services.sending import deliveries_sweep_due
from galleries.tasks import delivery_send_task
from galleries.tests.factories import parent_session, ready_job_with_portraits
from render import services as render_services
from render.models import ParentSession, RenderJob
from render.tasks import render_job_give_up
from studio_portal.api.models import WebhookDelivery, WebhookEndpoint
from studio_portal.api.services import webhook_deliveries_sweep_due, webhooks_emit
from tests.api.conftest import api_client_for
from tests.tenancy import signed_in_client


@pytest.fixture
def broker() -> dramatiq.Broker:
    broker = dramatiq.get_broker()
    broker.flush_all()
    yield broker
    broker.flush_all()


@pytest.fixture
def outage(broker, monkeypatch) -> dict[str, bool]:
    """Set ``outage["down"] = True`` and the broker refuses every message, as Redis does when
    it is not running; False brings it back."""
    state = {"down": False}
    enqueue = broker.enqueue

    def refusing(message: dramatiq.Message, *, delay: int | None = None) -> dramatiq.Message:
        if state["down"]:
            raise RedisConnectionError(
                "Error 111 connecting to 127.0.0.1:6390. Connection refused."
            )
        return enqueue(message, delay=delay)

    monkeypatch.setattr(broker, "enqueue", refusing)
    return state


@pytest.fixture
def tenant(studio):
    with schema_context(studio.schema_name):
        yield studio


def _drain(broker: dramatiq.Broker, queue_name: str) -> list[dramatiq.Message]:
    queue = broker.queues.get(queue_name)
    messages = []
    while queue is not None and queue.qsize():
        messages.append(dramatiq.Message.decode(queue.get()))
        queue.task_done()  # a get() without task_done() would hang every later broker.join()
    return messages


def _minutes(n: float) -> timezone.datetime:
    return timezone.now() + timedelta(minutes=n)


# Deliveries ------------------------------------------------------------------------------------


def test_a_send_while_the_broker_is_away_answers_and_goes_out_once_it_is_back(
    studio,
    broker,
    outage,
    django_capture_on_commit_callbacks,
) -> None:
    api, _ = api_client_for(studio)
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits()
        gallery = gallery_create(job=job)
    outage["down"] = True
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/api/galleries/{gallery.uid}/send/", {"channels": ["email", "sms"]}, format="json"
        )
    assert response.status_code == 202
    assert [d["status"] for d in response.json()] == ["queued", "queued"]
    with schema_context(studio.schema_name):
        deliveries = list(Delivery.objects.filter(gallery=gallery).order_by("pk"))
        assert [d.enqueued_at for d in deliveries] == [None, None]  # the broker never took them
        assert deliveries_sweep_due(now=_minutes(1)).requeued == 0  # still away: still unsent
        outage["down"] = False
        assert deliveries_sweep_due(now=_minutes(1)).requeued == 2
        assert deliveries_sweep_due(now=_minutes(2)).requeued == 0  # fresh: not sent twice
        assert Delivery.objects.filter(gallery=gallery, enqueued_at__isnull=True).count() == 0
    messages = _drain(broker, "default")
    assert sorted(tuple(m.args) for m in messages) == [
        (studio.schema_name, d.pk) for d in deliveries
    ]
    for message in messages:
        delivery_send_task.fn(*message.args)
    with schema_context(studio.schema_name):
        assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
        job.refresh_from_db()
        assert job.state == RenderJob.State.DELIVERED


def test_a_delivery_whose_message_was_lost_is_sent_again_after_the_lease_and_fails_after_a_day(
    tenant,
    broker,
) -> None:
    job = ready_job_with_portraits()
    gallery = gallery_create(job=job)
    RenderJob.objects.filter(pk=job.pk).update(state=RenderJob.State.DELIVERING)
    taken = Delivery.objects.create(
        gallery=gallery, channel="email", recipient="maya@example.com", enqueued_at=timezone.now()
    )
    assert deliveries_sweep_due(now=_minutes(10)).requeued == 0  # maybe waiting for its try
    assert deliveries_sweep_due(now=_minutes(16)).requeued == 1  # the broker lost it
    assert [tuple(m.args) for m in _drain(broker, "default")] == [(tenant.schema_name, taken.pk)]
    report = deliveries_sweep_due(now=_minutes(25 * 60))
    assert report.failed == 1
    taken.refresh_from_db()
    job.refresh_from_db()
    assert taken.status == Delivery.Status.FAILED and "Resend" in taken.error
    assert job.state == RenderJob.State.DELIVERED  # final: nothing is left "sending"


def test_resend_gives_a_stuck_delivery_a_new_message_and_cancel_stops_it(
    studio,
    broker,
    django_capture_on_commit_callbacks,
) -> None:
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits()
        gallery = gallery_create(job=job)
        RenderJob.objects.filter(pk=job.pk).update(state=RenderJob.State.DELIVERING)
        stuck = Delivery.objects.create(gallery=gallery, channel="email", recipient="m@example.com")
    client = signed_in_client(studio)
    with django_capture_on_commit_callbacks(execute=True):
        resent = client.post(f"/galleries/deliveries/{stuck.pk}/resend/", follow=True)
    assert "Sending the Email again." in resent.content.decode()
    assert [tuple(m.args) for m in _drain(broker, "default")] == [(studio.schema_name, stuck.pk)]

    api, _ = api_client_for(studio)
    cancelled = api.post(f"/api/jobs/{job.uid}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == RenderJob.State.READY
    with schema_context(studio.schema_name):
        stuck.refresh_from_db()
        assert stuck.status == Delivery.Status.FAILED
        assert stuck.error == "Cancelled by the studio before it was sent."
    delivery_send_task.fn(studio.schema_name, stuck.pk)  # the resent message, arriving late
    with schema_context(studio.schema_name):
        stuck.refresh_from_db()
        assert stuck.status == Delivery.Status.FAILED and stuck.attempts == 0
    again = api.post(f"/api/jobs/{job.uid}/cancel/")
    assert again.status_code == 400  # nothing is left to cancel


def test_erasure_goes_through_a_send_and_a_render_that_cannot_move(
    studio,
    broker,
) -> None:
    owner_api, _ = api_client_for(studio, "owner")
    with schema_context(studio.schema_name):
        job = ready_job_with_portraits()
        session = job.session
        gallery = gallery_create(job=job)
        RenderJob.objects.filter(pk=job.pk).update(state=RenderJob.State.DELIVERING)
        stuck = Delivery.objects.create(gallery=gallery, channel="email", recipient="m@example.com")
        RenderJob.objects.create(session=session, base_seed=1)  # queued; no worker ever came
        RenderJob.objects.create(  # its worker died: the lease ran out
            session=session,
            base_seed=2,
            state=RenderJob.State.RENDER,
            lease_expires_at=timezone.now() - timedelta(seconds=1),
        )
    response = owner_api.delete(f"/api/sessions/{session.uid}/")
    assert response.status_code == 204
    delivery_send_task.fn(studio.schema_name, stuck.pk)  # its message arriving afterwards
    with schema_context(studio.schema_name):
        assert not ParentSession.objects.filter(pk=session.pk).exists()
        assert not Delivery.objects.filter(pk=stuck.pk).exists()
        assert not RenderJob.objects.filter(session_id=session.pk).exists()


# Render jobs -----------------------------------------------------------------------------------


def test_the_sweep_leaves_merely_queued_jobs_alone_and_sends_lost_ones_once(
    tenant,
    broker,
) -> None:
    session = parent_session()
    now = timezone.now()
    waiting = [
        RenderJob.objects.create(session=session, base_seed=i, enqueued_at=now) for i in "12345"
    ]
    never_taken = RenderJob.objects.create(session=session, base_seed=6)
    RenderJob.objects.filter(pk=never_taken.pk).update(updated_at=now - timedelta(minutes=1))
    conditioning = RenderJob.objects.create(
        session=session,
        base_seed=7,
        state=RenderJob.State.CONDITIONING,
        enqueued_at=now - timedelta(minutes=11),
    )
    held = RenderJob.objects.create(
        session=session,
        base_seed=8,
        state=RenderJob.State.RENDER,
        enqueued_at=now - timedelta(hours=1),
        lease_expires_at=now + timedelta(hours=1),  # a long render, alive
    )
    first = render_services.render_jobs_sweep_due(now=now)
    assert first.requeued == 2
    assert [m.args[1] for m in _drain(broker, "vision")] == [never_taken.pk]
    assert [m.args[1] for m in _drain(broker, "render")] == [conditioning.pk]
    # Nine more sweeps a minute apart, the five queued jobs still waiting for a worker: the
    # sweep that sent ≈33 duplicates in ten minutes now sends none.
    resent = sum(
        render_services.render_jobs_sweep_due(now=now + timedelta(minutes=m)).requeued
        for m in range(1, 10)
    )
    assert resent == 0
    assert broker.queues["vision"].qsize() == broker.queues["render"].qsize() == 0
    # Past the lease every message still waiting counts as lost and is sent once more (the
    # seven waiting jobs); the held job never is.
    later = render_services.render_jobs_sweep_due(now=now + timedelta(minutes=10, seconds=5))
    assert later.requeued == len(waiting) + 2
    assert sorted(m.args[1] for m in _drain(broker, "vision")) == sorted(
        [j.pk for j in waiting] + [never_taken.pk]
    )
    assert [m.args[1] for m in _drain(broker, "render")] == [conditioning.pk]
    held.refresh_from_db()
    assert held.enqueued_at == now - timedelta(hours=1)  # never sent again while held


def test_a_job_the_broker_never_took_is_sent_by_the_sweep_once_the_broker_is_back(
    tenant,
    broker,
    outage,
    phantom_jpeg,
    django_capture_on_commit_callbacks,
) -> None:
    session = render_services.parent_session_create(
        parent_name="Ada", email="ada@example.com", consent_given=True, skin_swatches=["5"]
    )
    outage["down"] = True
    with django_capture_on_commit_callbacks(execute=True):
        job = render_services.scan_upload(session=session, data=phantom_jpeg)
    job.refresh_from_db()
    assert job.state == RenderJob.State.CHECKING and job.enqueued_at is None
    outage["down"] = False
    assert render_services.render_jobs_sweep_due(now=_minutes(1)).requeued == 1
    message = _drain(broker, "vision")[0]
    assert message.actor_name == "render_job_check"
    outage["down"] = True  # away again when the check hands vision its message
    with django_capture_on_commit_callbacks(execute=True):
        render_services.render_job_check_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == RenderJob.State.QUEUED and job.enqueued_at is None
    outage["down"] = False
    assert render_services.render_jobs_sweep_due(now=_minutes(1)).requeued == 1
    assert [m.actor_name for m in _drain(broker, "vision")] == ["render_job_vision"]
    render_services.render_job_vision_run(job_id=job.pk, enqueue=False)
    job.refresh_from_db()
    assert job.state == RenderJob.State.CONDITIONING and job.enqueued_at is None  # next stage


def test_cancel_is_immediate_when_no_worker_holds_the_job_and_swept_when_its_worker_dies(
    tenant,
) -> None:
    session = parent_session()
    now = timezone.now()
    orphan = RenderJob.objects.create(
        session=session,
        base_seed=1,
        state=RenderJob.State.RENDER,
        lease_expires_at=now - timedelta(seconds=5),
    )
    assert render_services.render_job_cancel(job=orphan).state == RenderJob.State.CANCELLED
    busy = RenderJob.objects.create(
        session=session,
        base_seed=2,
        state=RenderJob.State.VISION,
        lease_expires_at=now + timedelta(minutes=3),
    )
    busy = render_services.render_job_cancel(job=busy)
    assert busy.state == RenderJob.State.VISION and busy.cancel_requested
    assert render_services.render_jobs_sweep_due(now=now).cancelled == 0  # its worker is alive
    report = render_services.render_jobs_sweep_due(now=now + timedelta(minutes=4))
    assert report.cancelled == 1
    busy.refresh_from_db()
    assert busy.state == RenderJob.State.CANCELLED


def test_a_duplicate_messages_retries_running_out_fail_only_a_job_nobody_holds(
    tenant,
) -> None:
    session = parent_session()
    now = timezone.now()
    rendering = RenderJob.objects.create(
        session=session,
        base_seed=1,
        state=RenderJob.State.RENDER,
        lease_expires_at=now + timedelta(minutes=1),
    )
    ready = RenderJob.objects.create(session=session, base_seed=2, state=RenderJob.State.READY)
    dead = RenderJob.objects.create(
        session=session,
        base_seed=3,
        state=RenderJob.State.RENDER,
        lease_expires_at=now - timedelta(minutes=1),
    )
    for job in (rendering, ready, dead):
        render_job_give_up.fn({"args": [tenant.schema_name, job.pk]}, {})
    states = dict(RenderJob.objects.values_list("pk", "state"))
    assert states[rendering.pk] == RenderJob.State.RENDER
    assert states[ready.pk] == RenderJob.State.READY
    assert states[dead.pk] == RenderJob.State.FAILED


def test_a_job_that_never_finishes_fails_with_a_reason(tenant) -> None:
    job = RenderJob.objects.create(session=parent_session(), base_seed=1)
    report = render_services.render_jobs_sweep_due(now=timezone.now() + timedelta(hours=7))
    assert report.failed == 1
    job.refresh_from_db()
    assert job.state == RenderJob.State.FAILED and "retry" in job.reason


# Outgoing webhooks ------------------------------------------------------------------------------


def test_a_webhook_event_emitted_while_the_broker_is_away_is_swept_later(
    tenant,
    broker,
    outage,
    django_capture_on_commit_callbacks,
) -> None:
    WebhookEndpoint.objects.create(
        url="https://hooks.example.com/cradle", secret="whsec_x", events=["job.ready"]
    )
    outage["down"] = True
    with django_capture_on_commit_callbacks(execute=True):
        (event,) = webhooks_emit("job.ready", {"job": "j"})
    event.refresh_from_db()
    assert event.status == WebhookDelivery.Status.PENDING and event.enqueued_at is None
    outage["down"] = False
    assert webhook_deliveries_sweep_due(now=_minutes(1)).requeued == 1
    assert webhook_deliveries_sweep_due(now=_minutes(30)).requeued == 0
    assert [tuple(m.args) for m in _drain(broker, "default")] == [(tenant.schema_name, event.pk)]
    assert webhook_deliveries_sweep_due(now=_minutes(3 * 24 * 60)).failed == 1
