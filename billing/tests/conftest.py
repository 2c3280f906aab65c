"""Billing fixtures: the real stripe SDK pointed at a local fake Stripe, signed webhooks."""

from __future__ import annotations

import json
from datetime import timedelta

import dramatiq
import pytest
from django.db import connection
from django.test import Client, TestCase
from django.utils import timezone

from billing.models import BillingAccount
from billing.tasks import signup_studio_set_up_task
from studio_portal.tenants.models import Studio
from studio_portal.tenants.services import public_tenant_ensure
from tests.fakes.stripe import FakeStripe, start_fake_stripe, webhook_signature
from tests.tenancy import drop_studio, signed_in_client

WEBHOOK_SECRET = "whsec_test_cradle_signing_secret"
PRICES = {"pilot": "price_pilot", "growth": "price_growth", "studio": "price_studio"}


@pytest.fixture
def fake_stripe(settings) -> FakeStripe:
    state, server = start_fake_stripe(settings.STRIPE_API_VERSION)
    settings.STRIPE_SECRET_KEY = "sk_test_cradle"
    settings.STRIPE_API_BASE = state.url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.BILLING_PLANS = {
        code: {**plan, "price_id": PRICES[code]} for code, plan in settings.BILLING_PLANS.items()
    }
    state.price_create(PRICES["pilot"], 3900, recurring=False)
    state.price_create(PRICES["growth"], 9900, recurring=True)
    state.price_create(PRICES["studio"], 24900, recurring=True)
    yield state
    server.shutdown()


@pytest.fixture
def public_client(db) -> Client:
    public_tenant_ensure()
    return Client(HTTP_HOST="localhost")


class WebhookSender:
    """Posts events to Cradle's webhook as Stripe would: JSON body, Stripe-Signature header."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def send(self, event: dict, *, secret: str = WEBHOOK_SECRET, body: bytes | None = None):
        payload = json.dumps(event).encode()
        signature = webhook_signature(payload, secret)
        response = self.client.post(
            "/stripe/webhook/",
            data=body if body is not None else payload,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature,
        )
        connection.set_schema_to_public()
        return response

    def send_all(self, events: list[dict]) -> list[int]:
        return [self.send(event).status_code for event in events]


@pytest.fixture
def webhooks(public_client) -> WebhookSender:
    return WebhookSender(public_client)


@pytest.fixture
def studios_to_drop():
    """Studios a test created through signup; their schemas are dropped afterwards."""
    created: list[str] = []
    yield created
    connection.set_schema_to_public()
    for schema_name in created:
        studio = Studio.objects.filter(schema_name=schema_name).first()
        if studio is not None:
            # Inside the test's transaction the schema's deferred FK checks are still pending;
            # PostgreSQL refuses to drop tables with pending trigger events.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            drop_studio(studio)


@pytest.fixture
def pilot_studio(studio, fake_stripe) -> Studio:
    """Alpha as a studio that paid its pilot a day ago (the payment exists in fake Stripe)."""
    customer, intent = fake_stripe.pilot_paid_customer("owner@alpha.example")
    paid_at = timezone.now() - timedelta(days=1)
    BillingAccount.objects.create(
        studio=studio,
        stripe_customer_id=customer,
        pilot_payment_intent_id=intent,
        pilot_paid_at=paid_at,
        pilot_ends_at=paid_at + timedelta(days=30),
        current_period_end=paid_at + timedelta(days=30),
        pilot_delivery_cap=25,
    )
    Studio.objects.filter(pk=studio.pk).update(plan=Studio.Plan.PILOT, status=Studio.Status.ACTIVE)
    studio.refresh_from_db()
    return studio


@pytest.fixture
def owner_client(pilot_studio) -> Client:
    return signed_in_client(pilot_studio, "owner")


@pytest.fixture
def broker() -> dramatiq.Broker:
    """The tests' stub broker, empty before and after."""
    broker = dramatiq.get_broker()
    broker.flush_all()
    yield broker
    broker.flush_all()


def queued_set_ups_run(broker: dramatiq.Broker) -> list[int]:
    """Be the worker: take every message waiting on the default queue, check it is a studio
    set-up, and run the actor's body in this process; returns the signup ids."""
    queue = broker.queues.get("default")
    signup_ids = []
    while queue is not None and queue.qsize():
        message = dramatiq.Message.decode(queue.get())
        queue.task_done()  # a get() without task_done() would hang every later broker.join()
        assert message.actor_name == "signup_studio_set_up_task"
        schema_name, signup_id = message.args
        with TestCase.captureOnCommitCallbacks(execute=True):
            signup_studio_set_up_task.fn(schema_name, signup_id)
        connection.set_schema_to_public()
        signup_ids.append(signup_id)
    return signup_ids
