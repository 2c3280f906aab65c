"""Stripe delivers one checkout event several times at once: the studio is still made once.

Unlike test_signup_creates_the_studio_once (repeats one after another, inside one rolled-back
transaction), these deliveries race for real: each thread posts with its own database
connection and every transaction commits.
"""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from billing.models import BillingAccount, Invoice, Signup, StripeEvent
from billing.tests.conftest import WEBHOOK_SECRET, queued_set_ups_run
from studio_portal.accounts.models import User
from studio_portal.tenants.models import Domain, Studio
from tests.fakes.stripe import webhook_signature

SUBDOMAIN = "racing-hooks"
SCHEMA = "racing_hooks"
DUPLICATES = 4
TIMEOUT_SECONDS = 60


@pytest.fixture
def _no_schema_left(transactional_db) -> None:
    """Tenant schemas outlive a transactional test's flush; if a failed run left the studio's
    schema without its row (so studios_to_drop cannot find it), drop it here."""
    yield
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


def _post_from_own_connection(event: dict, barrier: threading.Barrier, results: dict) -> None:
    """One Stripe delivery, as WebhookSender.send makes it, on this thread's own connection."""
    try:
        payload = json.dumps(event).encode()
        client = Client(HTTP_HOST="localhost")
        barrier.wait(timeout=TIMEOUT_SECONDS)
        response = client.post(
            "/stripe/webhook/",
            data=payload,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=webhook_signature(payload, WEBHOOK_SECRET),
        )
        results[threading.current_thread().name] = (response.status_code, response.content)
    except Exception as exc:  # noqa: BLE001 - reported by the assertions in the test
        results[threading.current_thread().name] = (None, repr(exc).encode())
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_duplicate_checkout_events_at_the_same_moment_create_one_studio(
    _no_schema_left,
    public_client,
    fake_stripe,
    fake_providers,
    studios_to_drop,
    broker,
) -> None:
    response = public_client.post(
        "/signup/",
        {"studio_name": "Racing Hooks", "subdomain": SUBDOMAIN, "owner_email": "rae@race.example"},
    )
    assert response.status_code == 302
    session_id = response["Location"].rsplit("/", 1)[1]
    studios_to_drop.append(SCHEMA)
    fake_stripe.checkout_complete(session_id)
    events = {event["type"]: event for event in fake_stripe.events_take()}
    checkout, invoice = events["checkout.session.completed"], events["invoice.paid"]

    deliveries = [(f"checkout-{n}", checkout) for n in range(DUPLICATES)]
    deliveries.append(("invoice", invoice))
    barrier = threading.Barrier(len(deliveries))
    results: dict[str, tuple[int | None, bytes]] = {}
    threads = [
        threading.Thread(target=_post_from_own_connection, args=(event, barrier, results), name=n)
        for n, event in deliveries
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_SECONDS)
    assert not [thread.name for thread in threads if thread.is_alive()], "a delivery hung"
    connection.set_schema_to_public()

    # Every duplicate is answered 200 "processed": the losers waited for the winner's lock
    # and saw its work done. The invoice is either applied at once or deferred until the
    # studio exists; both are 200.
    assert {name: results[name] for name, _ in deliveries if name != "invoice"} == {
        f"checkout-{n}": (200, b"processed") for n in range(DUPLICATES)
    }
    assert results["invoice"] in ((200, b"processed"), (200, b"deferred"))
    # The studio is set up by one job, queued once whatever the number of deliveries.
    assert len(queued_set_ups_run(broker)) == 1

    [studio] = Studio.objects.filter(schema_name=SCHEMA)
    assert (studio.name, studio.plan, studio.status) == ("Racing Hooks", "pilot", "active")
    assert list(Domain.objects.filter(tenant=studio).values_list("domain", flat=True)) == [
        f"{SUBDOMAIN}.localhost"
    ]
    assert Domain.objects.filter(domain__startswith=f"{SUBDOMAIN}.").count() == 1
    with schema_context(SCHEMA):
        assert list(User.objects.values_list("username", "role")) == [("rae@race.example", "owner")]
    [account] = BillingAccount.objects.all()
    assert account.studio_id == studio.pk
    assert account.stripe_customer_id == checkout["data"]["object"]["customer"]
    signup = Signup.objects.get(checkout_session_id=session_id)
    assert (signup.status, signup.studio_id) == ("completed", studio.pk)

    [checkout_row] = StripeEvent.objects.filter(event_id=checkout["id"])
    # attempts counts the handler's runs: one, however many deliveries raced.
    assert (checkout_row.status, checkout_row.attempts, checkout_row.note) == (
        "processed",
        1,
        f"paid; studio {SCHEMA} being set up",
    )
    # Whichever order the invoice and the checkout took, the invoice ends up applied (a
    # deferred invoice the checkout missed would stay "deferred" here), and recorded once.
    [invoice_row] = StripeEvent.objects.filter(event_id=invoice["id"])
    assert invoice_row.status == "processed", invoice_row.note
    assert StripeEvent.objects.count() == 2
    [recorded] = Invoice.objects.all()
    assert (recorded.account_id, recorded.stripe_invoice_id, recorded.amount_paid) == (
        account.pk,
        invoice["data"]["object"]["id"],
        3900,
    )

    [email] = fake_providers.emails()
    assert json.loads(email.body)["personalizations"][0]["to"][0]["email"] == "rae@race.example"
