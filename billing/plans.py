"""Cradle's plans as configured in settings (``BILLING_PLANS``): labels, Stripe Price ids, caps,
the prices the pages quote, and what each plan gives (said once here, for the landing page,
the signup page and the owner's billing page)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# What each plan gives, in the order the pages list it. The caps and prices come from settings.
PLAN_FEATURES: dict[str, tuple[str, ...]] = {
    "pilot": (
        "Every feature for one month",
        "Portraits cobranded: your logo and a small Cradle mark",
        "Full refund on request within {refund_days} days",
    ),
    "growth": (
        "Portraits cobranded: your logo and a small Cradle mark",
        "Your frame, colours, caption and house look",
        "Email and SMS galleries with delivery tracking",
    ),
    "studio": (
        "Fully white-label: only your brand on every portrait",
        "Galleries on your own domain",
        "Everything in Growth",
    ),
}
PLAN_SUMMARY: dict[str, str] = {
    "pilot": "Try Cradle with your own parents.",
    "growth": "For a studio sending portraits every week.",
    "studio": "Your brand alone, on your own domain.",
}


@dataclass(frozen=True)
class Plan:
    code: str  # the same codes as Studio.Plan
    label: str
    price_id: str
    mode: str  # "payment" (one-off, the pilot) or "subscription"
    months: int = 0
    delivery_cap: int | None = None
    amount_cents: int | None = None

    @property
    def price(self) -> str:
        """The amount as the pages write it: "$39", "$99", "$12.50"; "" when not configured."""
        if self.amount_cents is None:
            return ""
        dollars, cents = divmod(self.amount_cents, 100)
        return f"${dollars:,}" if cents == 0 else f"${dollars:,}.{cents:02d}"

    @property
    def price_period(self) -> str:
        if self.mode == "subscription":
            return "a month"
        return "once, for one month" if self.months == 1 else f"once, for {self.months} months"

    @property
    def cap_words(self) -> str:
        if self.delivery_cap is None:
            return "Unlimited galleries"
        return f"Up to {self.delivery_cap} galleries"

    @property
    def summary(self) -> str:
        return PLAN_SUMMARY.get(self.code, "")

    @property
    def features(self) -> tuple[str, ...]:
        days = settings.PILOT_REFUND_DAYS
        return tuple(f.format(refund_days=days) for f in PLAN_FEATURES.get(self.code, ()))

    @property
    def on_sale(self) -> bool:
        """Stripe can sell it here: a Price id and a key are configured."""
        return bool(self.price_id and settings.STRIPE_SECRET_KEY)


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


def all_plans() -> list[Plan]:
    """Every plan, in the order of settings (pilot, growth, studio)."""
    return [plan_get(code) for code in settings.BILLING_PLANS]


def subscription_plans() -> list[Plan]:
    return [plan for plan in all_plans() if plan.mode == "subscription"]
