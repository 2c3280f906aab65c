"""Billing answers questions about a studio's plan; it never drives jobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_tenants.utils import schema_context

from billing.models import BillingAccount, Invoice, Signup
from billing.plans import Plan, all_plans, plan_get, subscription_plans
from studio_portal.accounts.models import User
from studio_portal.tenants.addresses import studio_base_url
from studio_portal.tenants.models import Studio

PLAN_ORDER: list[str] = [Studio.Plan.PILOT, Studio.Plan.GROWTH, Studio.Plan.STUDIO]


@dataclass(frozen=True)
class Permission:
    allowed: bool
    reason: str = ""


@dataclass(frozen=True)
class DeliveryUsage:
    used: int
    cap: int | None  # None: this plan has no cap
    since: datetime | None = None  # counted from (the pilot's payment, the period's start)

    @property
    def remaining(self) -> int | None:
        return None if self.cap is None else max(self.cap - self.used, 0)

    @property
    def percent(self) -> int | None:
        """Share of the cap used, 0..100 (None without a cap)."""
        if not self.cap:
            return None
        return min(100, round(100 * self.used / self.cap))


@dataclass(frozen=True)
class PlanChoice:
    """A plan as the owner's billing page offers it."""

    plan: Plan
    current: bool
    available: bool  # the owner may move to it now
    reason: str = ""  # why not, when it is not the current plan and not available


@dataclass(frozen=True)
class BillingOverview:
    studio: Studio
    account: BillingAccount | None
    plan_label: str
    status_label: str
    renewal_date: datetime | None
    renews: bool  # False for the pilot: it ends, it does not renew
    usage: DeliveryUsage
    refund: Permission
    refund_deadline: datetime | None
    upgrades: list[Plan] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    plan: Plan | None = None
    plans: list[PlanChoice] = field(default_factory=list)
    changes: Permission = field(default_factory=lambda: Permission(True))


def billing_account_get(studio: Studio) -> BillingAccount | None:
    return BillingAccount.objects.filter(studio_id=studio.pk).first()


def _pilot_ended(account: BillingAccount | None, studio: Studio, now: datetime) -> bool:
    return (
        account is not None
        and studio.plan == Studio.Plan.PILOT
        and account.pilot_ends_at is not None
        and account.pilot_ends_at <= now
    )


def studio_may_render(studio: Studio) -> Permission:
    if studio.status == Studio.Status.LAPSED:
        return Permission(
            False,
            "Your Cradle plan has lapsed, so new portraits are paused. Existing galleries keep "
            "working. The studio owner can renew on the Billing page.",
        )
    if studio.status == Studio.Status.PAST_DUE:
        return Permission(
            False,
            "The last payment for your Cradle plan failed, so new portraits are paused until the "
            "studio owner updates the card on the Billing page.",
        )
    # The hourly sweep marks ended pilots lapsed; until it runs, the end date itself decides.
    if _pilot_ended(billing_account_get(studio), studio, timezone.now()):
        return Permission(
            False,
            "Your Cradle pilot month has ended, so new portraits are paused. Existing galleries "
            "keep working. The studio owner can choose Growth or Studio on the Billing page.",
        )
    return Permission(True)


def studio_is_white_label(studio: Studio) -> bool:
    return studio.plan == Studio.Plan.STUDIO


def pilot_delivery_usage(studio: Studio) -> DeliveryUsage:
    """Galleries sent to parents during the pilot, against the pilot's cap.

    A gallery counts once however many channels or resends it had. Studios without a Stripe
    account (made by Cradle staff or the demo seed) and paid plans have no cap.
    """
    account = billing_account_get(studio)
    if account is None or studio.plan != Studio.Plan.PILOT:
        return DeliveryUsage(used=_galleries_delivered(studio, since=None), cap=None)
    return DeliveryUsage(
        used=_galleries_delivered(studio, since=account.pilot_paid_at),
        cap=account.pilot_delivery_cap,
    )


# How many galleries a studio has sent (in the current schema), since a time or ever. Galleries
# sit above billing and hand their count in when Django starts (GalleriesConfig.ready), so the
# plan's cap never imports what it caps.
GalleriesDeliveredCount = Callable[[datetime | None], int]
_galleries_delivered_count: GalleriesDeliveredCount | None = None


def galleries_delivered_counter_set(count: GalleriesDeliveredCount) -> None:
    global _galleries_delivered_count
    _galleries_delivered_count = count


def _galleries_delivered(studio: Studio, *, since: datetime | None) -> int:
    if _galleries_delivered_count is None:
        raise ImproperlyConfigured("No delivery counter: galleries is not an installed app.")
    with schema_context(studio.schema_name):
        return _galleries_delivered_count(since)


def studio_may_deliver(studio: Studio, *, gallery: object | None = None) -> Permission:
    """May this studio send a gallery to a parent now? Call before creating Delivery rows.

    Pass the gallery when resending: a gallery already sent does not count a second time.
    """
    usage = pilot_delivery_usage(studio)
    if usage.cap is None or usage.used < usage.cap:
        return Permission(True)
    if gallery is not None and getattr(gallery, "pk", None) is not None:
        with schema_context(studio.schema_name):
            if gallery.deliveries.exists():  # type: ignore[attr-defined]
                return Permission(True)
    return Permission(
        False,
        f"Your pilot includes {usage.cap} gallery deliveries and all of them have been used. "
        "Existing galleries keep working; the studio owner can move to Growth or Studio on the "
        "Billing page to send more.",
    )


def pilot_refund_eligibility(
    studio: Studio, *, account: BillingAccount | None = None, now: datetime | None = None
) -> Permission:
    account = account or billing_account_get(studio)
    now = now or timezone.now()
    if account is None or not account.pilot_payment_intent_id or account.pilot_paid_at is None:
        return Permission(False, "This studio has no pilot payment to refund.")
    if account.pilot_refunded_at is not None:
        return Permission(
            False, f"The pilot was already refunded on {account.pilot_refunded_at:%B %-d, %Y}."
        )
    if studio.plan != Studio.Plan.PILOT:
        return Permission(
            False,
            "Only the pilot can be refunded. To stop a Growth or Studio subscription, cancel it "
            "in the Stripe Customer Portal.",
        )
    deadline = pilot_refund_deadline(account)
    if now > deadline:
        return Permission(
            False,
            f"The {settings.PILOT_REFUND_DAYS}-day refund window for the pilot ended on "
            f"{deadline:%B %-d, %Y at %H:%M} UTC, so it can no longer be refunded.",
        )
    return Permission(True)


def pilot_refund_deadline(account: BillingAccount) -> datetime | None:
    if account.pilot_paid_at is None:
        return None
    return account.pilot_paid_at + timedelta(days=settings.PILOT_REFUND_DAYS)


def plan_upgrades_available(studio: Studio) -> list[Plan]:
    current = PLAN_ORDER.index(studio.plan) if studio.plan in PLAN_ORDER else 0
    # A lapsed studio may take any paid plan, its own included, to start again.
    if studio.status == Studio.Status.LAPSED:
        return subscription_plans()
    return [plan for plan in subscription_plans() if PLAN_ORDER.index(plan.code) > current]


PAYMENTS_NOT_CONFIGURED = (
    "Payments are not set up on this Cradle server yet (Stripe is not configured), so plans "
    "cannot be bought or changed here. Contact Cradle support to change your plan."
)


def signup_availability() -> Permission:
    """May a new studio sign up here now? Said on the landing and signup pages before anyone
    fills a form: the pilot is paid in Stripe Checkout, so without Stripe nobody can."""
    if not plan_get(Studio.Plan.PILOT).on_sale:
        return Permission(
            False,
            "Signups are closed on this server for now: its payments (Stripe) are not set "
            "up, so the pilot cannot be paid. Please come back later or contact Cradle.",
        )
    return Permission(True)


def billing_usage(studio: Studio, account: BillingAccount | None) -> DeliveryUsage:
    """Galleries delivered as the billing page shows them: the pilot's against its cap; on a
    paid plan, those of the current billing period (no cap); without a Stripe account (a
    studio Cradle set up), every gallery so far."""
    if account is not None and studio.plan == Studio.Plan.PILOT:
        usage = pilot_delivery_usage(studio)
        return DeliveryUsage(usage.used, usage.cap, since=account.pilot_paid_at)
    since = None
    if account is not None and account.current_period_end is not None:
        since = account.current_period_end - relativedelta(months=1)
    return DeliveryUsage(_galleries_delivered(studio, since=since), None, since=since)


def plan_choices(studio: Studio, *, changes: Permission) -> list[PlanChoice]:
    upgrades = {plan.code for plan in plan_upgrades_available(studio)}
    choices = []
    for plan in all_plans():
        current = plan.code == studio.plan and studio.status != Studio.Status.LAPSED
        reason = ""
        if current:
            available = False
        elif plan.code not in upgrades:
            available = False
            reason = (
                "The pilot is for new studios."
                if plan.code == Studio.Plan.PILOT
                else "To move to a smaller plan, use the Stripe customer portal below."
            )
        elif not changes.allowed or not plan.on_sale:
            available = False
            reason = changes.reason or PAYMENTS_NOT_CONFIGURED
        else:
            available = True
        choices.append(PlanChoice(plan=plan, current=current, available=available, reason=reason))
    return choices


def billing_overview(studio: Studio) -> BillingOverview:
    account = billing_account_get(studio)
    refund = pilot_refund_eligibility(studio, account=account)
    on_pilot = studio.plan == Studio.Plan.PILOT
    changes = (
        Permission(True)
        if settings.STRIPE_SECRET_KEY
        else Permission(False, PAYMENTS_NOT_CONFIGURED)
    )
    return BillingOverview(
        studio=studio,
        account=account,
        plan_label=plan_get(studio.plan).label,
        status_label=studio.get_status_display(),
        renewal_date=(account.pilot_ends_at if on_pilot else account.current_period_end)
        if account
        else None,
        renews=not on_pilot,
        usage=billing_usage(studio, account),
        refund=refund,
        refund_deadline=pilot_refund_deadline(account) if refund.allowed and account else None,
        upgrades=plan_upgrades_available(studio),
        invoices=list(account.invoices.all()[:24]) if account else [],
        plan=plan_get(studio.plan),
        plans=plan_choices(studio, changes=changes),
        changes=changes,
    )


def owner_set_password_url(studio: Studio, *, email: str) -> str:
    """A link the owner uses once to choose a password (Django's reset token: it stops
    working as soon as the password changes, or after PASSWORD_RESET_TIMEOUT)."""
    with schema_context(studio.schema_name):
        owners = User.objects.filter(role=User.Role.OWNER, email__iexact=email)
        owner = owners.order_by("pk").first()
        if owner is None:
            raise LookupError(f"studio {studio.schema_name} has no owner with that email")
        uid = urlsafe_base64_encode(force_bytes(owner.pk))
        token = default_token_generator.make_token(owner)
    return f"{studio_base_url(studio)}/billing/set-password/{uid}/{token}/"


def signup_get_by_checkout_session(checkout_session_id: str) -> Signup | None:
    if not checkout_session_id:
        return None
    return (
        Signup.objects.select_related("studio")
        .filter(checkout_session_id=checkout_session_id)
        .first()
    )
