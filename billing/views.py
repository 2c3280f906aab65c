"""Billing pages: public signup and Stripe webhooks; the owner's billing page on a studio."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing import selectors, services
from billing.forms import SignupForm
from billing.plans import all_plans, plan_get
from studio_portal.permissions import owner_required
from studio_portal.tenants.models import Studio
from studio_portal.tenants.selectors import current_studio

logger = logging.getLogger(__name__)
SIGNUP_SESSION_KEY = "billing_signup"

# The landing page's samples (``manage.py landing_samples`` renders them): file key, what the
# sonographer uploaded, the skin tone the parents chose.
LANDING_SAMPLES = (
    ("frontal-gold", "a Voluson HDlive scan in gold", "Monk 3"),
    ("frontal-skin", "an HDlive scan in skin tones", "Monk 6"),
    ("frontal-red", "a Samsung RealisticVue scan", "Monk 8"),
)


def landing(request: HttpRequest) -> HttpResponse:
    """Cradle's public page: what it does, sample portraits, plans and prices from settings,
    sign-up and sign-in. Billing's, since it sells the plans (its template and samples are
    studio_portal's static pages)."""
    return render(
        request,
        "studio_portal/landing.html",
        {
            "plans": all_plans(),
            "signup": selectors.signup_availability(),
            "samples": LANDING_SAMPLES,
            "retention_days": settings.SCAN_RETENTION_DAYS_MAX,
            "refund_days": settings.PILOT_REFUND_DAYS,
        },
    )


# --- public schema -----------------------------------------------------------------------


def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        done = request.build_absolute_uri(reverse("billing-signup-done"))
        try:
            signup_row, checkout_url = services.signup_start(
                **form.cleaned_data,
                success_url=f"{done}?session_id={{CHECKOUT_SESSION_ID}}",
                cancel_url=request.build_absolute_uri(reverse("billing-signup")),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except services.BillingError as exc:
            form.add_error(None, exc.message)
        else:
            # Only this browser is shown the set-password link after paying.
            request.session[SIGNUP_SESSION_KEY] = str(signup_row.uid)
            return redirect(checkout_url, permanent=False)
    return render(
        request,
        "billing/signup.html",
        {
            "form": form,
            "availability": selectors.signup_availability(),
            "pilot": plan_get(Studio.Plan.PILOT),
            "refund_days": settings.PILOT_REFUND_DAYS,
        },
        status=400 if form.errors else 200,
    )


def signup_done(request: HttpRequest) -> HttpResponse:
    signup_row = selectors.signup_get_by_checkout_session(request.GET.get("session_id", ""))
    if signup_row is None:
        return render(request, "billing/signup_done.html", {"signup": None}, status=404)
    link = None
    if signup_row.studio and request.session.get(SIGNUP_SESSION_KEY) == str(signup_row.uid):
        link = services.signup_password_link_reveal(signup=signup_row)
    return render(request, "billing/signup_done.html", {"signup": signup_row, "link": link})


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    try:
        payload = request.body
    except RequestDataTooBig:
        # Stripe's events are kilobytes; a body over DATA_UPLOAD_MAX_MEMORY_SIZE is not one, and
        # not a failure of ours to retry (a 5xx would ask Stripe to send it again).
        return HttpResponse("payload too large", status=413, content_type="text/plain")
    try:
        event = services.stripe_event_receive(
            payload=payload, signature=request.headers.get("Stripe-Signature", "")
        )
    except services.WebhookRejected:
        return HttpResponse("invalid signature", status=400, content_type="text/plain")
    except Exception:  # noqa: BLE001 - stored as failed; a 500 makes Stripe retry it
        return HttpResponse("processing failed", status=500, content_type="text/plain")
    return HttpResponse(event.status, content_type="text/plain")


# --- studio schema -----------------------------------------------------------------------


OWNER_ONLY = "Only the studio owner can manage billing."


@owner_required(message=OWNER_ONLY)
def billing_page(request: HttpRequest) -> HttpResponse:
    overview = selectors.billing_overview(current_studio())
    return render(request, "billing/billing.html", {"overview": overview})


@owner_required(message=OWNER_ONLY)
@require_POST
def billing_upgrade(request: HttpRequest) -> HttpResponse:
    page = request.build_absolute_uri(reverse("billing"))
    try:
        checkout_url = services.plan_upgrade_start(
            studio=current_studio(),
            plan_code=request.POST.get("plan", ""),
            success_url=f"{page}?upgraded=1",
            cancel_url=page,
        )
    except services.BillingError as exc:
        messages.error(request, exc.message)
        return redirect("billing")
    if checkout_url:
        return redirect(checkout_url)
    messages.success(request, "Your plan has changed. Stripe will send the invoice.")
    return redirect("billing")


@owner_required(message=OWNER_ONLY)
@require_POST
def billing_portal(request: HttpRequest) -> HttpResponse:
    try:
        url = services.customer_portal_url(
            studio=current_studio(), return_url=request.build_absolute_uri(reverse("billing"))
        )
    except services.BillingError as exc:
        messages.error(request, exc.message)
        return redirect("billing")
    return redirect(url)


@owner_required(message=OWNER_ONLY)
@require_POST
def billing_refund(request: HttpRequest) -> HttpResponse:
    try:
        services.pilot_refund(studio=current_studio(), actor=request.user)
    except services.BillingError as exc:
        messages.error(request, exc.message)
        return redirect("billing")
    messages.success(
        request,
        "Your $39 pilot has been refunded; Stripe returns it to the card within 5–10 days. "
        "New portraits are paused; galleries you sent keep working.",
    )
    return redirect("billing")


class OwnerSetPasswordView(auth_views.PasswordResetConfirmView):
    """The one-time link from signup: the owner chooses a password and is signed in."""

    template_name = "billing/set_password.html"
    post_reset_login = True

    def get_success_url(self) -> str:
        return reverse("billing")
