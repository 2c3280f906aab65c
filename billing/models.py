"""Billing lives in the public schema: Stripe talks to Cradle, not to one studio."""

from __future__ import annotations

import uuid

from django.db import models


class Signup(models.Model):
    """A studio someone is paying for: the studio itself exists only once Stripe says paid."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for payment"
        PAID = "paid", "Paid, studio being set up"
        COMPLETED = "completed", "Studio created"
        FAILED = "failed", "Paid but not created (needs support)"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    studio_name = models.CharField(max_length=120)
    subdomain = models.CharField(max_length=32)
    owner_email = models.EmailField()
    checkout_session_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    studio = models.OneToOneField(
        "tenants.Studio", null=True, blank=True, on_delete=models.SET_NULL, related_name="signup"
    )
    # What Stripe's paid checkout said, kept for the job that sets the studio up (the webhook
    # only records the payment: creating and migrating a schema takes seconds).
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    payment_intent_id = models.CharField(max_length=255, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # Outbox stamp (studio_portal.outbox): when the broker took the set-up job.
    setup_enqueued_at = models.DateTimeField(null=True, blank=True)
    # The set-password link is shown once on the success page; afterwards only by email.
    password_link_shown_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.subdomain} ({self.status})"


class BillingAccount(models.Model):
    """A studio's Stripe customer and what Stripe last told us about its plan."""

    studio = models.OneToOneField(
        "tenants.Studio", on_delete=models.CASCADE, related_name="billing_account"
    )
    stripe_customer_id = models.CharField(max_length=255, unique=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True)
    subscription_status = models.CharField(max_length=32, blank=True)
    # Pilot: a one-off Checkout payment.
    pilot_payment_intent_id = models.CharField(max_length=255, blank=True)
    pilot_paid_at = models.DateTimeField(null=True, blank=True)
    pilot_ends_at = models.DateTimeField(null=True, blank=True)
    pilot_delivery_cap = models.PositiveIntegerField(default=25)
    pilot_refund_id = models.CharField(max_length=255, blank=True)
    pilot_refunded_at = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    # `created` of the newest Stripe event applied to plan/status: an older event that arrives
    # late must not undo a newer one (Stripe does not promise delivery order).
    state_event_created = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.studio_id} / {self.stripe_customer_id}"


class Invoice(models.Model):
    """A Stripe invoice, kept from its webhooks so the billing page never waits on Stripe."""

    account = models.ForeignKey(BillingAccount, on_delete=models.CASCADE, related_name="invoices")
    stripe_invoice_id = models.CharField(max_length=255, unique=True)
    number = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=32)
    amount_due = models.PositiveIntegerField(default=0)
    amount_paid = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=8, default="usd")
    hosted_invoice_url = models.URLField(max_length=1000, blank=True)
    stripe_created = models.DateTimeField()

    class Meta:
        ordering = ["-stripe_created"]

    def __str__(self) -> str:
        return self.number or self.stripe_invoice_id

    @property
    def amount_paid_display(self) -> str:
        return f"{self.amount_paid / 100:.2f}"


class StripeEvent(models.Model):
    """Every verified webhook event, kept with what became of it."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (type not handled or stale)"
        DEFERRED = "deferred", "Waiting for the studio it concerns"
        FAILED = "failed", "Failed (Stripe will retry)"

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    api_version = models.CharField(max_length=40, blank=True)
    livemode = models.BooleanField(default=False)
    stripe_created = models.DateTimeField()
    customer_id = models.CharField(max_length=255, blank=True, db_index=True)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    note = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["stripe_created", "id"]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} ({self.status})"
