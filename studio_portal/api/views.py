"""The API settings page: make a key (shown once), see and revoke keys; the owner sees every
member's keys and the studio's webhook URLs."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from studio_portal.accounts.models import User
from studio_portal.api import services
from studio_portal.api.models import WebhookEndpoint
from studio_portal.api.selectors import api_keys_visible_to
from studio_portal.permissions import is_studio_owner


@login_required
@never_cache  # the page shows a new key once: no cache may keep a copy
def api_settings(request: HttpRequest) -> HttpResponse:
    new_key = ""
    if request.method == "POST":
        username = request.POST.get("username") or request.user.username
        member = User.objects.filter(username=username).first()
        try:
            if member is None:
                raise ValidationError("No such member in this studio.")
            key, new_key = services.api_key_create(
                user=member, name=request.POST.get("name", ""), created_by=request.user
            )
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        else:
            messages.success(request, f"Key “{key.name}” made. Copy it now: it is shown only once.")
    is_owner = is_studio_owner(request.user)
    context = {
        "keys": api_keys_visible_to(request.user),
        "new_key": new_key,
        "members": User.objects.filter(is_active=True).order_by("username") if is_owner else [],
        "endpoints": WebhookEndpoint.objects.all() if is_owner else [],
    }
    return render(request, "studio_api/settings.html", context)


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(api_keys_visible_to(request.user), pk=pk)
    services.api_key_revoke(key=key, revoked_by=request.user)
    messages.success(request, f"Key “{key.name}” revoked: it stops working at once.")
    return redirect("api-settings")
