"""The owner's branding editor and its live preview image."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from billing.selectors import studio_is_white_label
from branding import services
from branding.forms import BrandKitForm
from branding.selectors import brand_kit_get
from studio_portal.tenants.selectors import current_studio


def owner_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in owners only: anonymous visitors go to the login page, sonographers get 403."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not getattr(request.user, "is_owner", False):
            raise PermissionDenied("Only the studio owner can change the studio's branding.")
        return view(request, *args, **kwargs)

    return wrapped


@owner_required
def brand_kit_edit(request: HttpRequest) -> HttpResponse:
    kit = brand_kit_get()
    if request.method == "POST":
        form = BrandKitForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                changes = form.changes()
                if form.cleaned_data.get("logo"):
                    changes["logo"] = services.logo_upload_read(form.cleaned_data["logo"])
                services.brand_kit_update(kit=kit, actor=request.user, **changes)
            except ValidationError as error:
                _add_errors(form, error)
            else:
                messages.success(request, "Brand saved. The next portraits will use it.")
                return redirect("brand-kit-edit")
    else:
        form = BrandKitForm(initial=BrandKitForm.initial_from(kit))
    studio = current_studio()
    return render(
        request,
        "branding/edit.html",
        {
            "form": form,
            "kit": kit,
            "white_label": studio_is_white_label(studio),
            "plan_name": studio.get_plan_display(),
            "preview_fields": services.PREVIEW_FIELDS,
        },
        status=400 if form.errors else 200,
    )


def _add_errors(form: BrandKitForm, error: ValidationError) -> None:
    """Show each service error next to its field (unknown keys go to the top of the form)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, field_messages in error.message_dict.items():
        target = field if field in form.fields else None
        for message in field_messages:
            form.add_error(target, message)


@never_cache
@owner_required
def brand_preview(request: HttpRequest) -> HttpResponse:
    """The sample portrait in the saved brand with the editor's unsaved colours, font, frame."""
    draft = {name: request.GET[name] for name in services.PREVIEW_FIELDS if name in request.GET}
    try:
        jpeg = services.brand_preview_render(kit=brand_kit_get(), **draft)
    except ValidationError as error:
        text = " ".join(error.messages)
        return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")
    return HttpResponse(jpeg, content_type="image/jpeg")
