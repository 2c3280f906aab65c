"""Billing: signup through Stripe Checkout, Stripe webhooks, upgrades and the pilot refund.

Stripe is the source of truth: a studio is created, upgraded, marked unpaid or lapsed only
from what Stripe says (a verified webhook or an API answer), never because a browser came
back from a redirect.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import stripe
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django_tenants.utils import schema_context

from billing.models import BillingAccount, Invoice, Signup, StripeEvent
from billing.plans import plan_for_price, plan_get
from billing.selectors import (
    PAYMENTS_NOT_CONFIGURED,
    PLAN_ORDER,
    billing_account_get,
    owner_set_password_url,
    pilot_refund_eligibility,
    signup_availability,
)
from billing.stripe_gateway import stripe_client, webhook_event_verify
from studio_portal.audit.services import audit_log_write
from studio_portal.messaging import (
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
    email_sender,
)
from studio_portal.outbox import outbox_due, outbox_resend_due, outbox_send_on_commit
from studio_portal.tenants.addresses import studio_base_url
from studio_portal.tenants.models import Domain, Studio
from studio_portal.tenants.services import RESERVED, SUBDOMAIN_RE, studio_create

logger = logging.getLogger(__name__)

# Checkout sessions for a signup expire after this long (Stripe's minimum is 30 minutes);
# until then the subdomain is held for the person paying.
SIGNUP_HOLD_SECONDS = 60 * 60
# Stripe subscription statuses → the studio's status.
SUBSCRIPTION_STATUS_TO_STUDIO = {
    "active": Studio.Status.ACTIVE,
    "trialing": Studio.Status.ACTIVE,
    "past_due": Studio.Status.PAST_DUE,
    "unpaid": Studio.Status.PAST_DUE,
    "incomplete": Studio.Status.PAST_DUE,
    "paused": Studio.Status.LAPSED,
    "canceled": Studio.Status.LAPSED,
    "incomplete_expired": Studio.Status.LAPSED,
}


class BillingError(Exception):
    """A billing action refused, with a message for the studio owner."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class WebhookRejected(Exception):
    """The request did not prove it came from Stripe: nothing was stored or changed."""


# --- the studio's plan and status --------------------------------------------------------


def studio_billing_state_set(
    *, studio: Studio, plan: str | None = None, status: str | None = None
) -> Studio:
    """The only writer of Studio.plan / Studio.status."""
    changes = {}
    if plan is not None:
        changes["plan"] = plan
    if status is not None:
        changes["status"] = status
    if changes:
        # update(), not save(): django-tenants refuses save() of a tenant from another schema.
        Studio.objects.filter(pk=studio.pk).update(**changes)
        for name, value in changes.items():
            setattr(studio, name, value)
    return studio


# --- signup ----------------------------------------------------------------------------


@transaction.atomic
def signup_start(
    *, studio_name: str, subdomain: str, owner_email: str, success_url: str, cancel_url: str
) -> tuple[Signup, str]:
    """Hold the subdomain and open a Stripe Checkout for the pilot; returns its URL.

    ``success_url`` should carry ``{CHECKOUT_SESSION_ID}``, which Stripe fills in.
    """
    studio_name = studio_name.strip()
    subdomain = subdomain.strip().lower()
    owner_email = owner_email.strip().lower()
    if not studio_name or len(studio_name) > 120:
        raise ValidationError("Give the studio's name (up to 120 characters).")
    if not SUBDOMAIN_RE.match(subdomain) or subdomain in RESERVED:
        raise ValidationError(
            "The subdomain must be 3–32 lowercase letters, digits or dashes, start with a "
            "letter and not end with a dash."
        )
    try:
        validate_email(owner_email)
    except ValidationError as exc:
        raise ValidationError("Give the owner's email address.") from exc
    # Two people choosing the same subdomain at once: the second waits here, then sees it held.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"signup:{subdomain}"])
    if _subdomain_taken(subdomain):
        raise ValidationError(f"{subdomain} is taken. Choose another subdomain.")
    plan = plan_get(Studio.Plan.PILOT)
    availability = signup_availability()
    if not availability.allowed:
        raise BillingError(availability.reason)
    signup = Signup.objects.create(
        studio_name=studio_name, subdomain=subdomain, owner_email=owner_email
    )
    try:
        session = stripe_client().v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "line_items": [{"price": plan.price_id, "quantity": 1}],
                "customer_email": owner_email,
                "customer_creation": "always",
                "client_reference_id": str(signup.uid),
                "metadata": {"purpose": "signup", "signup": str(signup.uid)},
                "payment_intent_data": {"metadata": {"signup": str(signup.uid)}},
                "invoice_creation": {"enabled": True},
                "success_url": success_url,
                "cancel_url": cancel_url,
                "expires_at": int(time.time()) + SIGNUP_HOLD_SECONDS,
            },
            options={"idempotency_key": f"signup-{signup.uid}"},
        )
    except stripe.StripeError as exc:
        logger.warning("checkout for signup %s failed: %s", signup.uid, exc)
        raise BillingError("Stripe could not start the payment. Please try again.") from exc
    signup.checkout_session_id = session.id
    signup.save(update_fields=["checkout_session_id"])
    return signup, session.url


def _subdomain_taken(subdomain: str) -> bool:
    if Studio.objects.filter(schema_name=subdomain.replace("-", "_")).exists():
        return True
    if Domain.objects.filter(domain=f"{subdomain}.{settings.CRADLE_BASE_DOMAIN}").exists():
        return True
    held_since = timezone.now() - timedelta(seconds=SIGNUP_HOLD_SECONDS)
    return (
        Signup.objects.filter(subdomain=subdomain)
        .exclude(status=Signup.Status.FAILED)
        .filter(created_at__gte=held_since)
        .exists()
    )


@transaction.atomic
def signup_password_link_reveal(*, signup: Signup) -> str | None:
    """The owner's set-password link, the first time the success page asks; then None."""
    signup = Signup.objects.select_for_update().get(pk=signup.pk)
    if signup.studio is None or signup.password_link_shown_at is not None:
        return None
    signup.password_link_shown_at = timezone.now()
    signup.save(update_fields=["password_link_shown_at"])
    return owner_set_password_url(signup.studio, email=signup.owner_email)


def _owner_welcome_send(signup_id: int) -> None:
    """Email the owner their studio's address and set-password link (after commit)."""
    signup = Signup.objects.select_related("studio").get(pk=signup_id)
    studio = signup.studio
    assert studio is not None, "sent only once the signup has its studio"
    context = {
        "studio_name": studio.name,
        "studio_url": studio_base_url(studio),
        "set_password_url": owner_set_password_url(studio, email=signup.owner_email),
        "username": signup.owner_email,
    }
    message = OutgoingMessage(
        to=signup.owner_email,
        subject=f"{studio.name} is ready on Cradle",
        text=render_to_string("billing/messages/welcome.txt", context),
        from_name="Cradle",
    )
    try:
        email_sender().send(message)
    except (PermanentDeliveryError, TransientDeliveryError) as exc:
        # The success page showed the same link; support can send a new one.
        logger.warning("welcome email for signup %s not sent: %s", signup.uid, exc)


# --- webhooks --------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: str
    note: str = ""


def stripe_event_receive(*, payload: bytes, signature: str) -> StripeEvent:
    """Verify, store and process one webhook delivery. A replay is stored once, acted on once."""
    try:
        webhook_event_verify(payload, signature)
        data = json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise WebhookRejected(str(exc)) from exc
    event = _stripe_event_record(data)
    if event.status in (StripeEvent.Status.PROCESSED, StripeEvent.Status.IGNORED):
        return event
    return stripe_event_process(event_id=event.event_id)


def _stripe_event_record(data: dict) -> StripeEvent:
    obj = data.get("data", {}).get("object", {}) or {}
    customer = obj.get("customer") if obj.get("object") != "customer" else obj.get("id")
    event, _ = StripeEvent.objects.get_or_create(
        event_id=data["id"],
        defaults={
            "type": data.get("type", ""),
            "api_version": data.get("api_version") or "",
            "livemode": bool(data.get("livemode")),
            "stripe_created": _ts(data.get("created")) or timezone.now(),
            "customer_id": customer if isinstance(customer, str) else "",
            "payload": data,
        },
    )
    return event


def stripe_event_process(*, event_id: str) -> StripeEvent:
    """Act on a stored event once. Raises when the handler fails (the event is marked failed
    and Stripe's retry processes it again)."""
    try:
        with transaction.atomic():
            # One customer's events take turns: an invoice handled while its checkout is still
            # creating the studio would otherwise be deferred after the checkout looked for
            # deferred events, and stay deferred. Taken before any event row lock (the replay
            # locks other events of the customer), so the order is always the same.
            customer_id = (
                StripeEvent.objects.filter(event_id=event_id)
                .values_list("customer_id", flat=True)
                .get()
            )
            if customer_id:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_advisory_xact_lock(hashtext(%s))",
                        [f"stripe-customer:{customer_id}"],
                    )
            # The row lock makes two deliveries of one event take turns; the second sees it done.
            event = StripeEvent.objects.select_for_update().get(event_id=event_id)
            if event.status in (StripeEvent.Status.PROCESSED, StripeEvent.Status.IGNORED):
                return event
            _event_apply(event)
            return event
    except Exception as exc:
        logger.exception("stripe event %s failed", event_id)
        with transaction.atomic():
            event = StripeEvent.objects.select_for_update().get(event_id=event_id)
            event.status = StripeEvent.Status.FAILED
            event.note = f"{type(exc).__name__}: {exc}"[:2000]
            event.attempts += 1
            event.save(update_fields=["status", "note", "attempts"])
        raise


def _event_apply(event: StripeEvent) -> None:
    handler = EVENT_HANDLERS.get(event.type)
    outcome = handler(event) if handler else Outcome(StripeEvent.Status.IGNORED, "not handled")
    event.status = outcome.status
    event.note = outcome.note
    event.attempts += 1
    event.processed_at = timezone.now()
    event.save(update_fields=["status", "note", "attempts", "processed_at"])


def _deferred_events_replay(customer_id: str) -> None:
    """Events that came before the studio they concern existed (Stripe does not promise
    order): apply them now, oldest first."""
    waiting = (
        StripeEvent.objects.select_for_update()
        .filter(customer_id=customer_id, status=StripeEvent.Status.DEFERRED)
        .order_by("stripe_created", "id")
    )
    for event in waiting:
        _event_apply(event)


def _ts(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def _object(event: StripeEvent) -> dict:
    return event.payload["data"]["object"]


def _account_for(event: StripeEvent) -> BillingAccount | None:
    if not event.customer_id:
        return None
    return (
        BillingAccount.objects.select_for_update()
        .select_related("studio")
        .filter(stripe_customer_id=event.customer_id)
        .first()
    )


def _is_newest(account: BillingAccount, event: StripeEvent) -> bool:
    """True when no newer event has already set the plan/status (equal times: arrival order)."""
    newest = account.state_event_created
    return newest is None or event.stripe_created >= newest


def _newest_mark(account: BillingAccount, event: StripeEvent) -> None:
    account.state_event_created = event.stripe_created


WAITING_FOR_STUDIO = Outcome(
    StripeEvent.Status.DEFERRED, "no studio has this customer yet; applied once one does"
)


def _on_checkout_completed(event: StripeEvent) -> Outcome:
    session = _object(event)
    if session.get("payment_status") not in ("paid", "no_payment_required"):
        # Delayed payment methods: checkout.session.async_payment_succeeded follows.
        return Outcome(StripeEvent.Status.IGNORED, "not paid yet")
    purpose = (session.get("metadata") or {}).get("purpose")
    if purpose == "signup":
        return _signup_complete(event, session)
    if purpose == "upgrade":
        return _upgrade_complete(event, session)
    return Outcome(StripeEvent.Status.IGNORED, "not a Cradle checkout")


def _signup_complete(event: StripeEvent, session: dict) -> Outcome:
    """Record the payment and queue the studio's set-up (:func:`signup_studio_set_up`): making
    and migrating a schema takes seconds, too long for Stripe's request."""
    signup = (
        Signup.objects.select_for_update()
        .filter(uid=session["metadata"].get("signup"), checkout_session_id=session["id"])
        .first()
    )
    if signup is None:
        return Outcome(StripeEvent.Status.IGNORED, "no signup for this checkout session")
    if signup.studio_id is not None:
        return Outcome(StripeEvent.Status.PROCESSED, "studio already created")
    if signup.status == Signup.Status.FAILED:
        return Outcome(StripeEvent.Status.PROCESSED, f"signup failed earlier: {signup.error}")
    schema_name = signup.subdomain.replace("-", "_")
    if signup.status == Signup.Status.PAID:
        return Outcome(StripeEvent.Status.PROCESSED, f"studio {schema_name} being set up")
    customer_id = session.get("customer")
    if not customer_id or not session.get("payment_intent"):
        raise ValueError("checkout session has no customer or payment intent")
    signup.status = Signup.Status.PAID
    signup.stripe_customer_id = customer_id
    signup.payment_intent_id = session["payment_intent"]
    signup.paid_at = event.stripe_created
    signup.save(update_fields=["status", "stripe_customer_id", "payment_intent_id", "paid_at"])
    _on_commit_enqueue_set_up(signup)
    return Outcome(StripeEvent.Status.PROCESSED, f"paid; studio {schema_name} being set up")


def _on_commit_enqueue_set_up(signup: Signup) -> None:
    from billing.tasks import signup_studio_set_up_task  # billing.tasks imports this module

    outbox_send_on_commit(
        signup_studio_set_up_task, Signup, signup.pk, stamp_field="setup_enqueued_at"
    )


# A paid signup whose set-up job the broker has not confirmed taking is sent again after this
# long (the sweep, every minute); the job is idempotent, so a late duplicate does nothing.
SIGNUP_SET_UP_LEASE = timedelta(minutes=10)


def signups_set_up_sweep(*, now: datetime | None = None) -> int:
    """Send again the set-up jobs of paid signups the broker lost or never took."""
    from billing.tasks import signup_studio_set_up_task  # billing.tasks imports this module

    due = Signup.objects.filter(
        outbox_due(
            now=now or timezone.now(),
            waiting_since="paid_at",
            lease=SIGNUP_SET_UP_LEASE,
            stamp_field="setup_enqueued_at",
        ),
        status=Signup.Status.PAID,
    )
    return outbox_resend_due(
        signup_studio_set_up_task, due, schema_name="public", stamp_field="setup_enqueued_at"
    )


def signup_studio_set_up(*, signup_id: int) -> Signup:
    """The job after a paid checkout: create the studio's schema (migrated), domain and owner,
    its billing account, email the owner, and apply the customer's events that waited for it.

    Runs once per signup however often it is sent: a signup no longer ``paid`` is left alone.
    """
    with transaction.atomic():
        signup = Signup.objects.get(pk=signup_id)
        # The customer's webhook events take turns with the set-up (stripe_event_process takes
        # the same lock): an invoice handled meanwhile is deferred before the replay below.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                [f"stripe-customer:{signup.stripe_customer_id}"],
            )
        signup = Signup.objects.select_for_update().get(pk=signup_id)
        if signup.status != Signup.Status.PAID:
            return signup
        try:
            # A savepoint: if the studio cannot be made, the signup is still marked failed.
            with transaction.atomic():
                studio = studio_create(
                    name=signup.studio_name,
                    subdomain=signup.subdomain,
                    owner_username=signup.owner_email,
                    owner_email=signup.owner_email,
                    # Nobody knows this password: the owner chooses one through the emailed link.
                    owner_password=secrets.token_urlsafe(32),
                    plan=Studio.Plan.PILOT,
                )
        except ValidationError as exc:
            signup.status = Signup.Status.FAILED
            signup.error = " ".join(exc.messages)
            signup.save(update_fields=["status", "error"])
            logger.error("paid signup %s could not create its studio: %s", signup.uid, signup.error)
            return signup
        plan = plan_get(Studio.Plan.PILOT)
        pilot_ends_at = signup.paid_at + relativedelta(months=plan.months or 1)
        BillingAccount.objects.create(
            studio=studio,
            stripe_customer_id=signup.stripe_customer_id,
            pilot_payment_intent_id=signup.payment_intent_id,
            pilot_paid_at=signup.paid_at,
            pilot_ends_at=pilot_ends_at,
            pilot_delivery_cap=plan.delivery_cap or 25,
            current_period_end=pilot_ends_at,
            state_event_created=signup.paid_at,
        )
        signup.studio = studio
        signup.status = Signup.Status.COMPLETED
        signup.save(update_fields=["studio", "status"])
        transaction.on_commit(lambda: _owner_welcome_send(signup.pk))
        _deferred_events_replay(signup.stripe_customer_id)
    return signup


def _upgrade_complete(event: StripeEvent, session: dict) -> Outcome:
    metadata = session.get("metadata") or {}
    studio = Studio.objects.filter(schema_name=metadata.get("studio")).first()
    if studio is None:
        return Outcome(StripeEvent.Status.IGNORED, "studio in metadata not found")
    account = BillingAccount.objects.select_for_update().filter(studio=studio).first()
    if account is None:
        # A studio Cradle staff created (no pilot payment): its first Checkout makes the customer.
        account = BillingAccount.objects.create(
            studio=studio, stripe_customer_id=session["customer"]
        )
    if not _is_newest(account, event):
        return Outcome(StripeEvent.Status.IGNORED, "stale: a newer event already set the plan")
    account.stripe_subscription_id = session.get("subscription") or ""
    account.subscription_status = "active"
    _newest_mark(account, event)
    account.save()
    studio_billing_state_set(studio=studio, plan=metadata["plan"], status=Studio.Status.ACTIVE)
    _deferred_events_replay(account.stripe_customer_id)
    return Outcome(StripeEvent.Status.PROCESSED, f"{studio.schema_name} now on {metadata['plan']}")


def _invoice_subscription_id(invoice: dict) -> str:
    # Since API version 2025-03-31 the subscription sits under parent.subscription_details.
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return details.get("subscription") or invoice.get("subscription") or ""


def _invoice_period_end(invoice: dict) -> datetime | None:
    lines = (invoice.get("lines") or {}).get("data") or []
    ends = [line.get("period", {}).get("end") for line in lines if line.get("period")]
    return _ts(max(ends)) if ends else _ts(invoice.get("period_end"))


def _invoice_record(account: BillingAccount, invoice: dict) -> Invoice:
    row, _ = Invoice.objects.update_or_create(
        stripe_invoice_id=invoice["id"],
        defaults={
            "account": account,
            "number": invoice.get("number") or "",
            "status": invoice.get("status") or "",
            "amount_due": invoice.get("amount_due") or 0,
            "amount_paid": invoice.get("amount_paid") or 0,
            "currency": invoice.get("currency") or "usd",
            "hosted_invoice_url": invoice.get("hosted_invoice_url") or "",
            "stripe_created": _ts(invoice.get("created")) or timezone.now(),
        },
    )
    return row


def _on_invoice(event: StripeEvent) -> Outcome:
    account = _account_for(event)
    if account is None:
        return WAITING_FOR_STUDIO
    invoice = _object(event)
    _invoice_record(account, invoice)
    subscription_id = _invoice_subscription_id(invoice)
    if not subscription_id or subscription_id != account.stripe_subscription_id:
        return Outcome(StripeEvent.Status.PROCESSED, "invoice recorded")
    if account.subscription_status == "canceled" or not _is_newest(account, event):
        return Outcome(StripeEvent.Status.PROCESSED, "invoice recorded; plan state is newer")
    _newest_mark(account, event)
    if event.type == "invoice.paid":
        account.subscription_status = "active"
        account.current_period_end = _invoice_period_end(invoice) or account.current_period_end
        account.save()
        studio_billing_state_set(studio=account.studio, status=Studio.Status.ACTIVE)
        return Outcome(StripeEvent.Status.PROCESSED, "invoice paid; studio active")
    account.subscription_status = "past_due"
    account.save()
    studio_billing_state_set(studio=account.studio, status=Studio.Status.PAST_DUE)
    return Outcome(StripeEvent.Status.PROCESSED, "payment failed; studio past due")


def _subscription_plan(subscription: dict) -> str | None:
    for item in (subscription.get("items") or {}).get("data") or []:
        plan = plan_for_price((item.get("price") or {}).get("id", ""))
        if plan is not None:
            return plan.code
    return None


def _subscription_period_end(subscription: dict) -> datetime | None:
    # Since API version 2025-03-31 the period lives on each item.
    items = (subscription.get("items") or {}).get("data") or []
    ends = [item["current_period_end"] for item in items if item.get("current_period_end")]
    return _ts(max(ends)) if ends else _ts(subscription.get("current_period_end"))


def _subscription_apply(account: BillingAccount, subscription: dict) -> None:
    account.stripe_subscription_id = subscription["id"]
    account.subscription_status = subscription.get("status", "")
    period_end = _subscription_period_end(subscription)
    account.current_period_end = period_end or account.current_period_end
    account.save()
    studio_billing_state_set(
        studio=account.studio,
        plan=_subscription_plan(subscription),
        status=SUBSCRIPTION_STATUS_TO_STUDIO.get(account.subscription_status),
    )


def _on_subscription(event: StripeEvent) -> Outcome:
    account = _account_for(event)
    if account is None:
        return WAITING_FOR_STUDIO
    subscription = _object(event)
    if account.stripe_subscription_id and subscription["id"] != account.stripe_subscription_id:
        if account.subscription_status != "canceled":
            return Outcome(StripeEvent.Status.IGNORED, "not the studio's current subscription")
    elif account.subscription_status == "canceled":
        # A cancelled subscription never comes back (a new one has a new id).
        return Outcome(StripeEvent.Status.IGNORED, "subscription already ended")
    if not _is_newest(account, event):
        return Outcome(StripeEvent.Status.IGNORED, "stale: a newer event already set the plan")
    _newest_mark(account, event)
    if event.type == "customer.subscription.deleted":
        subscription = {**subscription, "status": "canceled"}
    _subscription_apply(account, subscription)
    return Outcome(
        StripeEvent.Status.PROCESSED,
        f"subscription {subscription['status']}; plan {account.studio.plan}, "
        f"studio {account.studio.status}",
    )


def _on_charge_refunded(event: StripeEvent) -> Outcome:
    account = _account_for(event)
    if account is None:
        return WAITING_FOR_STUDIO
    charge = _object(event)
    if charge.get("payment_intent") != account.pilot_payment_intent_id:
        return Outcome(StripeEvent.Status.IGNORED, "not the pilot payment")
    if not charge.get("refunded"):
        return Outcome(StripeEvent.Status.PROCESSED, "partial refund; plan unchanged")
    if account.pilot_refunded_at is None:
        account.pilot_refunded_at = event.stripe_created
        account.save(update_fields=["pilot_refunded_at", "updated_at"])
    if account.studio.plan == Studio.Plan.PILOT:
        studio_billing_state_set(studio=account.studio, status=Studio.Status.LAPSED)
        return Outcome(StripeEvent.Status.PROCESSED, "pilot refunded; studio lapsed")
    return Outcome(StripeEvent.Status.PROCESSED, "pilot refunded after an upgrade; plan kept")


EVENT_HANDLERS: dict[str, Callable[[StripeEvent], Outcome]] = {
    "checkout.session.completed": _on_checkout_completed,
    "checkout.session.async_payment_succeeded": _on_checkout_completed,
    "invoice.paid": _on_invoice,
    "invoice.payment_failed": _on_invoice,
    "customer.subscription.updated": _on_subscription,
    "customer.subscription.deleted": _on_subscription,
    "charge.refunded": _on_charge_refunded,
}


# --- the owner's billing page ------------------------------------------------------------


def plan_upgrade_start(
    *, studio: Studio, plan_code: str, success_url: str, cancel_url: str
) -> str | None:
    """Move the studio to a bigger plan. Returns a Checkout URL to send the owner to, or None
    when an existing subscription was switched in place (the plan is already changed)."""
    if plan_code not in (Studio.Plan.GROWTH, Studio.Plan.STUDIO):
        raise BillingError("Choose Growth or Studio.")
    plan = plan_get(plan_code)
    lapsed = studio.status == Studio.Status.LAPSED
    if not lapsed and PLAN_ORDER.index(plan_code) <= PLAN_ORDER.index(studio.plan):
        raise BillingError(f"Your studio is already on {plan_get(studio.plan).label}.")
    if not plan.on_sale:
        raise BillingError(PAYMENTS_NOT_CONFIGURED)
    account = billing_account_get(studio)
    client = stripe_client()
    try:
        if (
            account
            and account.stripe_subscription_id
            and account.subscription_status
            not in (
                "canceled",
                "incomplete_expired",
                "",
            )
        ):
            return _subscription_switch(client, account, plan.price_id)
        params: dict = {
            "mode": "subscription",
            "line_items": [{"price": plan.price_id, "quantity": 1}],
            "metadata": {"purpose": "upgrade", "studio": studio.schema_name, "plan": plan_code},
            "subscription_data": {"metadata": {"studio": studio.schema_name}},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        if account:
            params["customer"] = account.stripe_customer_id
        session = client.v1.checkout.sessions.create(params=params)
    except stripe.StripeError as exc:
        logger.warning("upgrade of %s to %s failed: %s", studio.schema_name, plan_code, exc)
        raise BillingError("Stripe could not start the upgrade. Please try again.") from exc
    return session.url


@transaction.atomic
def _subscription_switch(
    client: stripe.StripeClient, account: BillingAccount, price_id: str
) -> None:
    account = BillingAccount.objects.select_for_update().select_related("studio").get(pk=account.pk)
    current = client.v1.subscriptions.retrieve(account.stripe_subscription_id)
    item_id = current["items"]["data"][0]["id"]
    updated = client.v1.subscriptions.update(
        account.stripe_subscription_id,
        params={
            "items": [{"id": item_id, "price": price_id}],
            "proration_behavior": "always_invoice",
        },
    )
    # Stripe's answer is authoritative; the customer.subscription.updated webhook that follows
    # carries the same state. state_event_created is left alone: the webhook sets it.
    _subscription_apply(account, updated.to_dict())


def customer_portal_url(*, studio: Studio, return_url: str) -> str:
    """A Stripe Customer Portal session for card changes, invoices and cancellation."""
    account = billing_account_get(studio)
    if account is None:
        raise BillingError("This studio has no Stripe customer yet: choose a plan first.")
    try:
        session = stripe_client().v1.billing_portal.sessions.create(
            params={"customer": account.stripe_customer_id, "return_url": return_url}
        )
    except stripe.StripeError as exc:
        raise BillingError("Stripe could not open the customer portal. Please try again.") from exc
    return session.url


@transaction.atomic
def pilot_refund(*, studio: Studio, actor: object | None = None) -> BillingAccount:
    """Refund the whole pilot within the refund window; the studio lapses at once."""
    account = BillingAccount.objects.select_for_update().filter(studio_id=studio.pk).first()
    eligibility = pilot_refund_eligibility(studio, account=account)
    if not eligibility.allowed:
        raise BillingError(eligibility.reason)
    assert account is not None, "an allowed refund has a billing account"
    try:
        refund = stripe_client().v1.refunds.create(
            params={
                "payment_intent": account.pilot_payment_intent_id,
                "reason": "requested_by_customer",
                "metadata": {"studio": studio.schema_name, "purpose": "pilot_refund"},
            },
            # One refund per account, however often the button is pressed.
            options={"idempotency_key": f"pilot-refund-{account.pk}"},
        )
    except stripe.StripeError as exc:
        logger.warning("pilot refund for %s failed: %s", studio.schema_name, exc)
        message = getattr(exc, "user_message", None) or "Stripe could not make the refund."
        raise BillingError(f"{message} Please try again or contact Cradle support.") from exc
    account.pilot_refund_id = refund.id
    account.pilot_refunded_at = timezone.now()
    account.save(update_fields=["pilot_refund_id", "pilot_refunded_at", "updated_at"])
    studio_billing_state_set(studio=studio, status=Studio.Status.LAPSED)
    _audit(studio, "billing.pilot_refunded", account, actor, {"refund": refund.id})
    return account


def _audit(studio: Studio, action: str, obj: object, actor: object | None, detail: dict) -> None:
    with schema_context(studio.schema_name):
        audit_log_write(action=action, obj=obj, actor=actor, detail=detail)


def billing_pilots_lapse_ended(*, now: datetime | None = None) -> int:
    """Mark studios whose pilot month is over (and that did not move to a paid plan) lapsed."""
    now = now or timezone.now()
    ended = Studio.objects.filter(
        plan=Studio.Plan.PILOT,
        status=Studio.Status.ACTIVE,
        billing_account__pilot_ends_at__lte=now,
    )
    return ended.update(status=Studio.Status.LAPSED)
