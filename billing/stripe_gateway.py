"""The one place Cradle builds a Stripe client: pinned API version, base URL from settings."""

from __future__ import annotations

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def stripe_client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise ImproperlyConfigured("STRIPE_SECRET_KEY is not set: billing cannot reach Stripe.")
    base_addresses = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        # Pinned: the payloads parsed in services.py follow this version's shapes.
        stripe_version=settings.STRIPE_API_VERSION,
        base_addresses=base_addresses,
        max_network_retries=2,
    )


def webhook_event_verify(payload: bytes, signature_header: str) -> stripe.Event:
    """The event if ``Stripe-Signature`` proves Stripe sent this exact body recently.

    Raises ``stripe.SignatureVerificationError`` otherwise (forged, altered or replayed late).
    """
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise ImproperlyConfigured("STRIPE_WEBHOOK_SECRET is not set: webhooks cannot be verified.")
    return stripe.Webhook.construct_event(payload, signature_header, settings.STRIPE_WEBHOOK_SECRET)
