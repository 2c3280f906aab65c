"""Owner pages: the team (invite, role, remove) and studio settings; the invite landing page;
sign-in and "forgot password" for every member."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from studio_portal import security
from studio_portal.accounts import services
from studio_portal.accounts.models import User
from studio_portal.permissions import owner_required
from studio_portal.tenants.models import Studio
from studio_portal.tenants.selectors import current_studio


class SignInView(auth_views.LoginView):
    """Django's sign-in, paced per account (``security.sign_in_account_wait``); the per-address
    limit is the rate-limit middleware's."""

    template_name = "studio_portal/login.html"

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        wait = security.sign_in_account_wait(request.POST.get("username", ""))
        if wait:
            return security.too_many_attempts(wait)  # before the password check: no oracle
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: forms.Form) -> HttpResponse:
        security.sign_in_failed(self.request.POST.get("username", ""))
        return super().form_invalid(form)


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(label="Your email address")


def password_reset(request: HttpRequest) -> HttpResponse:
    """Ask for a "choose a new password" link by email. The answer is the same whether or not
    the address has an account (no oracle); the rate-limit middleware caps asks per address."""
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.password_reset_send(email=form.cleaned_data["email"])
        return redirect("password-reset-sent")
    return render(
        request,
        "accounts/password_reset.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


def password_reset_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/password_reset_sent.html")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """The emailed link: choose a new password, then signed in on the dashboard."""

    template_name = "accounts/password_reset_confirm.html"
    post_reset_login = True
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"
    success_url = reverse_lazy("dashboard")

    def form_valid(self, form: forms.Form) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, "Your new password is saved; you are signed in.")
        return response


OWNER_ONLY = "Only the studio's owners can open this page."


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(choices=User.Role.choices, initial=User.Role.SONOGRAPHER)


class RetentionForm(forms.Form):
    retention_days = forms.IntegerField(
        min_value=1, max_value=services.MAX_RETENTION_DAYS, label="Keep scans and portraits for"
    )


class StudioProfileForm(forms.Form):
    """Carries the fields only; ``studio_profile_update`` checks them all and says every
    problem at once."""

    name = forms.CharField(label="Studio name", max_length=200, required=False)
    contact_email = forms.CharField(
        label="Email parents can write to", max_length=254, required=False
    )
    contact_phone = forms.CharField(label="Phone parents can call", max_length=32, required=False)


class SetPasswordForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput, label="New password")
    password_again = forms.CharField(widget=forms.PasswordInput, label="The same password again")

    def clean(self) -> dict:
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password_again"):
            raise ValidationError("The two passwords are not the same.")
        return data


def _team_page(request: HttpRequest, invite_form: InviteForm, status: int = 200) -> HttpResponse:
    members = User.objects.filter(is_active=True).order_by("-role", "username")
    return render(
        request,
        "accounts/team.html",
        {"members": members, "invite_form": invite_form, "roles": User.Role.choices},
        status=status,
    )


@owner_required(message=OWNER_ONLY)
def team(request: HttpRequest) -> HttpResponse:
    return _team_page(request, InviteForm())


@owner_required(message=OWNER_ONLY)
@require_POST
def team_invite(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            member = services.team_member_invite(
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                invited_by=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Invitation sent to {member.email}.")
            return redirect("team")
    return _team_page(request, form, status=400)


@owner_required(message=OWNER_ONLY)
@require_POST
def team_role(request: HttpRequest, pk: int) -> HttpResponse:
    member = get_object_or_404(User, pk=pk, is_active=True)
    try:
        services.team_member_role_change(
            member=member, role=request.POST.get("role", ""), changed_by=request.user
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"{member.get_username()} is now {member.get_role_display().lower()}."
        )
    return redirect("team")


@owner_required(message=OWNER_ONLY)
@require_POST
def team_remove(request: HttpRequest, pk: int) -> HttpResponse:
    member = get_object_or_404(User, pk=pk, is_active=True)
    try:
        services.team_member_remove(member=member, removed_by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{member.get_username()} no longer has access.")
    return redirect("team")


# The settings page also carries the other apps' studio-wide choices (render's engine card).
# Those apps sit above accounts: each hands its part of the page in when Django starts (its
# AppConfig.ready), given the studio and the error to show, if any.
SettingsPagePart = Callable[[Studio, str], dict[str, object]]
_settings_page_parts: list[SettingsPagePart] = []


def settings_page_part_add(part: SettingsPagePart) -> None:
    _settings_page_parts.append(part)


def settings_page(
    request: HttpRequest,
    *,
    retention: RetentionForm | None = None,
    profile: StudioProfileForm | None = None,
    engine_error: str = "",
) -> HttpResponse:
    """The studio's settings page; ``engine_error`` is the engine card's refusal (render)."""
    studio = current_studio()
    retention = retention or RetentionForm(initial={"retention_days": studio.retention_days})
    profile = profile or StudioProfileForm(
        initial={
            "name": studio.name,
            "contact_email": studio.contact_email,
            "contact_phone": studio.contact_phone,
        }
    )
    context: dict[str, object] = {
        "form": retention,
        "profile": profile,
        "studio_row": studio,
        "max_days": services.MAX_RETENTION_DAYS,
    }
    for part in _settings_page_parts:
        context.update(part(studio, engine_error))
    return render(
        request,
        "accounts/settings.html",
        context,
        status=400 if retention.errors or profile.errors or engine_error else 200,
    )


@owner_required(message=OWNER_ONLY)
def studio_settings(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return settings_page(request)
    studio = current_studio()
    form = RetentionForm(request.POST)
    if form.is_valid():
        try:
            services.studio_retention_set(
                studio=studio, days=form.cleaned_data["retention_days"], changed_by=request.user
            )
        except ValidationError as exc:
            form.add_error("retention_days", exc)
        else:
            messages.success(
                request, f"Scans and portraits are now kept for {studio.retention_days} days."
            )
            return redirect("studio-settings")
    return settings_page(request, retention=form)


@owner_required(message=OWNER_ONLY)
@require_POST
def studio_profile(request: HttpRequest) -> HttpResponse:
    """The studio's name and contact details (the settings page's first card)."""
    form = StudioProfileForm(request.POST)
    if form.is_valid():
        try:
            services.studio_profile_update(
                studio=current_studio(), changed_by=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            for field, field_errors in exc.message_dict.items():
                for error in field_errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(
                request,
                "Studio details saved. New galleries and messages use them; galleries already "
                "sent keep theirs until you republish them from the Galleries page.",
            )
            return redirect("studio-settings")
    return settings_page(request, profile=form)


def invite_accept(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    member = services.invite_user_for_link(uidb64=uidb64, token=token)
    if member is None:
        return render(request, "accounts/invite_invalid.html", status=404)
    form = SetPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            member = services.invite_accept(
                uidb64=uidb64, token=token, password=form.cleaned_data["password"]
            )
        except ValidationError as exc:
            form.add_error("password", exc)
        else:
            login(request, member, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome to {current_studio().name}.")
            return redirect("dashboard")
    return render(
        request,
        "accounts/invite_accept.html",
        {"form": form, "member": member},
        status=400 if form.errors else 200,
    )
