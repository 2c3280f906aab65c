"""Cradle's plans as configured in settings (``BILLING_PLANS``): labels, Stripe Price ids, caps."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class Plan:
    code: str  # the same codes as Studio.Plan
    label: str
    price_id: str
    mode: str  # "payment" (one-off, the pilot) or "subscription"
    months: int = 0
    delivery_cap: int | None = None
    amount_cents: int | None = None


def plan_get(code: str) -> Plan:
    config = settings.BILLING_PLANS.get(code)
    if config is None:
        raise ImproperlyConfigured(f"BILLING_PLANS has no plan {code!r}")
    return Plan(
        code=code,
        label=config["label"],
        price_id=config.get("price_id", ""),
        mode=config["mode"],
        months=config.get("months", 0),
        delivery_cap=config.get("delivery_cap"),
        amount_cents=config.get("amount_cents"),
    )


def plan_for_price(price_id: str) -> Plan | None:
    """The plan a Stripe Price belongs to, or None for a price Cradle does not sell."""
    for code in settings.BILLING_PLANS:
        plan = plan_get(code)
        if price_id and plan.price_id == price_id:
            return plan
    return None


def subscription_plans() -> list[Plan]:
    plans = [plan_get(code) for code in settings.BILLING_PLANS]
    return [plan for plan in plans if plan.mode == "subscription"]
