"""The owner's branding editor and its live preview image."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from billing.selectors import studio_is_white_label
from branding import services
from branding.forms import BrandKitForm
from branding.models import ReferencePortrait
from branding.selectors import brand_kit_get, reference_portraits
from studio_portal.permissions import owner_required
from studio_portal.tenants.selectors import current_studio, custom_domain_status


@owner_required(message=services.OWNER_ONLY)
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
    return _editor_page(request, form, status=400 if form.errors else 200)


def _editor_page(
    request: HttpRequest,
    form: BrandKitForm,
    *,
    status: int = 200,
    reference_errors: list[str] | None = None,
    reference_note: str = "",
) -> HttpResponse:
    studio = current_studio()
    references = reference_portraits()
    return render(
        request,
        "branding/edit.html",
        {
            "form": form,
            "kit": brand_kit_get(),
            "white_label": studio_is_white_label(studio),
            "custom_domain": custom_domain_status(studio, brand_kit_get().custom_domain),
            "cradle_domain": settings.CRADLE_BASE_DOMAIN,
            "plan_name": studio.get_plan_display(),
            "preview_fields": services.PREVIEW_FIELDS,
            "references": references,
            "references_full": len(references) >= services.MAX_REFERENCE_PORTRAITS,
            "max_references": services.MAX_REFERENCE_PORTRAITS,
            "reference_errors": reference_errors or [],
            "reference_note": reference_note,
        },
        status=status,
    )


@require_POST
@owner_required(message=services.OWNER_ONLY)
def brand_domain_verify(request: HttpRequest) -> HttpResponse:
    try:
        claim = services.brand_kit_custom_domain_verify(kit=brand_kit_get(), actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{claim.domain} now serves your galleries.")
    return redirect(f"{reverse('brand-kit-edit')}#domain")


@require_POST
@owner_required(message=services.OWNER_ONLY)
def reference_portrait_add(request: HttpRequest) -> HttpResponse:
    """Add a reference photo from the branding page; errors show beside its form (400)."""
    upload = request.FILES.get("image")
    note = request.POST.get("consent_note", "")
    try:
        if upload is None:
            raise ValidationError({"image": ["Choose a photo to upload."]})
        services.reference_portrait_add(
            actor=request.user,
            data=services.reference_upload_read(upload),
            consent=request.POST.get("consent") == "on",
            consent_note=note,
        )
    except ValidationError as error:
        form = BrandKitForm(initial=BrandKitForm.initial_from(brand_kit_get()))
        return _editor_page(
            request, form, status=400, reference_errors=error.messages, reference_note=note
        )
    messages.success(request, "Reference photo added. The next portraits take on its look.")
    return redirect(f"{reverse('brand-kit-edit')}#references")


@require_POST
@owner_required(message=services.OWNER_ONLY)
def reference_portrait_delete(request: HttpRequest, pk: int) -> HttpResponse:
    reference = get_object_or_404(ReferencePortrait, pk=pk)
    services.reference_portrait_delete(actor=request.user, reference=reference)
    messages.success(request, "Reference photo deleted.")
    return redirect(f"{reverse('brand-kit-edit')}#references")


@owner_required(message=services.OWNER_ONLY)
def reference_portrait_image(request: HttpRequest, pk: int) -> FileResponse:
    reference = get_object_or_404(ReferencePortrait, pk=pk)
    try:
        handle = reference.image.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(handle, content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response


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
@owner_required(message=services.OWNER_ONLY)
def brand_preview(request: HttpRequest) -> HttpResponse:
    """The sample portrait in the saved brand with the editor's unsaved colours, font, frame."""
    draft = {name: request.GET[name] for name in services.PREVIEW_FIELDS if name in request.GET}
    try:
        jpeg = services.brand_preview_render(kit=brand_kit_get(), **draft)
    except ValidationError as error:
        text = " ".join(error.messages)
        return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")
    return HttpResponse(jpeg, content_type="image/jpeg")
