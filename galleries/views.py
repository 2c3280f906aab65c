"""The parent's gallery (no account: a token in the link, on the studio's own domain), the
studio's gallery and delivery pages, the audit log, and the providers' webhooks."""

from __future__ import annotations

import json
import logging
import mimetypes
from datetime import date, datetime, time, timedelta
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
)
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_tenants.utils import get_public_schema_name, schema_context

from branding.provenance import TAG_TEXT
from galleries import selectors, throttle
from galleries.archive import gallery_zip, parent_export_name
from galleries.audit_text import CHANNEL_WORDS, audit_rows
from galleries.models import Delivery, Gallery
from galleries.parent_page import (
    PRINT_UNAVAILABLE,
    BrandLook,
    GalleryLook,
    GalleryPage,
    PortraitTile,
    StudioLook,
    gallery_page_html,
    print_state,
)
from galleries.services import erasure, provider_webhooks, sending
from galleries.services import gallery as gallery_services
from galleries.share_card import share_card_jpeg, share_card_png
from galleries.webhooks import (
    SENDGRID_SIGNATURE_HEADER,
    SENDGRID_TIMESTAMP_HEADER,
    TWILIO_SIGNATURE_HEADER,
    sendgrid_signature_valid,
    twilio_signature_valid,
)
from render import selectors as render_selectors
from render.forms import ScanUploadForm
from render.models import Candidate, ParentSession, RenderJob
from render.selectors import portrait_file_stem
from render.views import session_page_context
from studio_portal.audit.selectors import audit_log_list
from studio_portal.permissions import owner_required, require_owner

UNLOCKED_SESSION_KEY = "galleries_unlocked"
logger = logging.getLogger(__name__)


# The parent's side ----------------------------------------------------------------------------


class _Refusal(Exception):
    """Stop serving a parent request with this friendly page."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def _page(request: HttpRequest, template: str, status: int, **context: object) -> HttpResponse:
    response = render(request, f"galleries/{template}", {"tag": TAG_TEXT, **context}, status=status)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "same-origin"  # the token never leaves for other sites
    return response


def _studio_look(sent: selectors.SentBrand) -> StudioLook:
    return StudioLook(sent.studio_name, sent.contact_email, sent.contact_phone)


def _brand_look(sent: selectors.SentBrand) -> BrandLook:
    return BrandLook(sent.primary_hex, sent.accent_hex, sent.font, bool(sent.logo))


def _pin_page(
    request: HttpRequest, gallery: Gallery, status: int, **context: object
) -> HttpResponse:
    """The PIN form in the name and colours the gallery was sent with."""
    sent = selectors.gallery_sent_brand(gallery)
    return _page(
        request,
        "pin.html",
        status,
        gallery=gallery,
        studio=_studio_look(sent),
        brand=_brand_look(sent),
        **context,
    )


def _gallery_open(request: HttpRequest, token: str) -> Gallery:
    """The live gallery for this token on this studio's domain, or a refusal page.

    Unknown and wrong tokens look the same (404, nothing about why); each counts as a guess
    for the caller's address, and past the limit even a right token gets the 429 page.
    """
    ip = throttle.client_ip(request)
    if throttle.guesses_exhausted(throttle.TOKEN_GUESSES, ip):
        raise _Refusal(_too_many(request, throttle.TOKEN_GUESSES.window_seconds))
    gallery = selectors.gallery_for_token(token)
    if gallery is None:
        throttle.guess_failed(throttle.TOKEN_GUESSES, ip)
        raise _Refusal(_page(request, "not_found.html", 404))
    if selectors.gallery_is_expired(gallery):
        raise _Refusal(_page(request, "expired.html", 410))
    return gallery


def _too_many(request: HttpRequest, wait_seconds: int) -> HttpResponse:
    minutes = max(1, round(wait_seconds / 60))
    wait = f"{wait_seconds} seconds" if wait_seconds < 90 else f"{minutes} minutes"
    response = _page(request, "too_many.html", 429, wait=wait)
    response["Retry-After"] = str(wait_seconds)
    return response


def _is_unlocked(request: HttpRequest, gallery: Gallery) -> bool:
    if not gallery.has_pin:
        return True  # no PIN: the session is never touched (and no session row is written)
    return str(gallery.uid) in request.session.get(UNLOCKED_SESSION_KEY, [])


def _parent_view(view):
    """Open the gallery (token, expiry, PIN) before the view; refusals become their pages."""

    @wraps(view)
    def wrapper(request: HttpRequest, token: str, *args: object, **kwargs: object) -> HttpResponse:
        try:
            gallery = _gallery_open(request, token)
        except _Refusal as refusal:
            return refusal.response
        if not _is_unlocked(request, gallery):
            return redirect("gallery", token=token)
        return view(request, gallery, *args, **kwargs)

    return wrapper


class _PageThenCount(HttpResponse):
    """The parent's page first; her open is counted once the server has sent it (a WSGI server
    calls ``close()`` after writing the body), so she never waits for that write. A failed
    count is logged, never shown to her."""

    def __init__(self, content: str, *, gallery: Gallery) -> None:
        super().__init__(content)
        self._gallery = gallery
        self._schema = connection.schema_name

    def close(self) -> None:
        try:
            with schema_context(self._schema):
                gallery_services.gallery_count(gallery=self._gallery, what="opens")
        except Exception:
            logger.exception("Could not count an open of gallery %s", self._gallery.pk)
        finally:
            super().close()


@never_cache
def gallery_page(request: HttpRequest, token: str) -> HttpResponse:
    # Most opens are of a live gallery without a PIN, from an address with guesses left:
    # checked, found and listed in one statement. Anything else takes the slow path.
    opened = gallery_services.gallery_for_parent(token, client_ip=throttle.client_ip(request))
    if opened is not None:
        gallery, portraits = opened
    else:
        try:
            gallery = _gallery_open(request, token)
        except _Refusal as refusal:
            return refusal.response
        if not _is_unlocked(request, gallery):
            return _pin_page(request, gallery, 200)
        portraits = tuple(
            PortraitTile(
                p.pk,
                p.is_primary,
                p.is_favourite,
                print_state(has_file=bool(p.print_image), attempts=p.print_attempts),
            )
            for p in selectors.gallery_portraits(gallery)
        )
    base = request.path  # this view's own URL, /g/<token>/: the template builds links from it
    page_url = request.build_absolute_uri(base)
    # The name and brand the gallery was sent with, not the brand editor's latest.
    sent = selectors.gallery_sent_brand(gallery)
    # The share card shows the portrait when anyone with the link may see it anyway (no PIN).
    card = "card.jpg" if portraits and not gallery.has_pin else "card.png"
    page = GalleryPage(
        studio=_studio_look(sent),
        brand=_brand_look(sent),
        gallery=GalleryLook(gallery.token, gallery.expires_at, gallery.has_pin),
        portraits=portraits,
        base=base,
        page_url=page_url,
        card_url=f"{page_url}{card}",
        shared=bool(request.GET.get("shared")),
    )
    html = gallery_page_html(page, csrf_token=get_token(request))
    response = _PageThenCount(html, gallery=gallery)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "same-origin"
    return response


@require_POST
@never_cache
def gallery_unlock(request: HttpRequest, token: str) -> HttpResponse:
    try:
        gallery = _gallery_open(request, token)
    except _Refusal as refusal:
        return refusal.response
    if not gallery.has_pin:
        return redirect("gallery", token=token)
    per_ip = f"{gallery.pk}:{throttle.client_ip(request)}"
    if throttle.guesses_exhausted(throttle.PIN_GUESSES_PER_IP, per_ip):
        return _too_many(request, throttle.PIN_GUESSES_PER_IP.window_seconds)
    # Many wrong PINs from anywhere slow the gallery down; they never lock the parent out.
    wait = throttle.pin_try_wait(gallery.pk)
    if wait:
        return _too_many(request, wait)
    if not gallery_services.gallery_pin_matches(gallery=gallery, pin=request.POST.get("pin", "")):
        throttle.guess_failed(throttle.PIN_GUESSES_PER_IP, per_ip)
        throttle.guess_failed(throttle.PIN_GUESSES_PER_GALLERY, str(gallery.pk))
        return _pin_page(request, gallery, 403, error="That PIN is not right. Try again.")
    throttle.guesses_clear(throttle.PIN_GUESSES_PER_IP, per_ip)
    request.session.cycle_key()
    unlocked = request.session.get(UNLOCKED_SESSION_KEY, [])
    request.session[UNLOCKED_SESSION_KEY] = [*unlocked, str(gallery.uid)][-20:]
    return redirect("gallery", token=token)


@_parent_view
def gallery_portrait(request: HttpRequest, gallery: Gallery, pk: int) -> FileResponse:
    """A shared portrait, web size to view; ``?size=print`` gives the print file when the
    studio made one; ``?download=1`` saves it and counts a download."""
    candidate = selectors.gallery_portrait(gallery, pk)
    if candidate is None:
        raise Http404
    size = "print" if request.GET.get("size") == "print" else "web"
    if size == "print" and not candidate.print_image:
        # Never the web file under a print name: a print shop would print it blurred.
        return _print_not_ready(request, gallery, candidate)
    file = candidate.print_image if size == "print" else candidate.web_image
    if not file:
        raise Http404
    try:
        handle = file.open("rb")
    except FileNotFoundError:  # gone from storage (deleted by hand, or an S3 object lost)
        raise Http404 from None
    content_type = mimetypes.guess_type(file.name)[0] or "image/jpeg"
    download = bool(request.GET.get("download"))
    if download:
        gallery_services.gallery_count(gallery=gallery, what="downloads")
    filename = ""
    if download:
        extension = mimetypes.guess_extension(content_type) or ".jpg"
        filename = _parent_file_name(request, gallery, candidate, size) + extension
    response = FileResponse(
        handle, content_type=content_type, as_attachment=download, filename=filename
    )
    response["Cache-Control"] = "private, max-age=3600"
    return response


PRINT_RETRY_SECONDS = 120


def _print_not_ready(request: HttpRequest, gallery: Gallery, candidate: Candidate) -> HttpResponse:
    state = print_state(has_file=False, attempts=candidate.print_attempts)
    if state == PRINT_UNAVAILABLE:
        return _page(request, "print_pending.html", 404, gallery=gallery, given_up=True)
    response = _page(request, "print_pending.html", 503, gallery=gallery, given_up=False)
    response["Retry-After"] = str(PRINT_RETRY_SECONDS)
    return response


def _parent_file_name(
    request: HttpRequest, gallery: Gallery, candidate: Candidate, size: str
) -> str:
    """Studio, the portrait's number in her gallery, the day; never the parent's name (a
    gallery link may be shared) and never an id."""
    return portrait_file_stem(
        studio_name=request.tenant.name,
        number=selectors.gallery_portrait_numbers(gallery).get(candidate.pk, candidate.rank + 1),
        made_at=gallery.job.created_at,
        size="" if size == "web" else size,
    )


@require_POST
@_parent_view
def gallery_favourite(request: HttpRequest, gallery: Gallery, pk: int) -> HttpResponse:
    candidate = get_object_or_404(Candidate, pk=pk)
    favourite = request.POST.get("favourite", "1") == "1"
    try:
        gallery_services.gallery_favourite_set(
            gallery=gallery, candidate=candidate, favourite=favourite
        )
    except ValidationError:
        raise Http404 from None
    if request.headers.get("X-Requested-With") == "fetch":
        return JsonResponse({"favourite": favourite})
    return redirect(f"{reverse('gallery', args=[gallery.token])}#p{pk}")


@require_POST
@_parent_view
def gallery_share(request: HttpRequest, gallery: Gallery) -> HttpResponse:
    gallery_services.gallery_count(gallery=gallery, what="shares")
    if request.headers.get("X-Requested-With") == "fetch":
        return JsonResponse({"shared": True})
    return redirect(f"{reverse('gallery', args=[gallery.token])}?shared=1#share")


def gallery_card(request: HttpRequest, token: str) -> HttpResponse:
    """The OpenGraph card: brand and tag only, so it is served even before the PIN."""
    try:
        gallery = _gallery_open(request, token)
    except _Refusal as refusal:
        return refusal.response
    sent = selectors.gallery_sent_brand(gallery)
    png = share_card_png(sent, studio_name=sent.studio_name, logo=selectors.sent_brand_logo(sent))
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "public, max-age=86400"
    return response


def gallery_card_with_portrait(request: HttpRequest, token: str) -> HttpResponse:
    """The share card with the studio's pick, for a gallery without a PIN (anyone with the
    link sees the portraits anyway); a PIN gallery's card stays brand-only."""
    try:
        gallery = _gallery_open(request, token)
    except _Refusal as refusal:
        return refusal.response
    primary = None if gallery.has_pin else selectors.gallery_share_card_portrait(gallery)
    if primary is None:
        return redirect("gallery-card", token=token)
    try:
        with primary.web_image.open("rb") as handle:
            portrait = handle.read()
    except FileNotFoundError:
        return redirect("gallery-card", token=token)
    sent = selectors.gallery_sent_brand(gallery)
    jpeg = share_card_jpeg(
        sent,
        studio_name=sent.studio_name,
        logo=selectors.sent_brand_logo(sent),
        portrait=portrait,
    )
    response = HttpResponse(jpeg, content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=600"  # a deleted portrait leaves it soon
    return response


@_parent_view
def gallery_download_all(request: HttpRequest, gallery: Gallery) -> FileResponse:
    """Every shared portrait in one ZIP: web size, and print size where it is made."""
    archive = gallery_zip(gallery, studio_name=request.tenant.name)
    if not archive.files:
        raise Http404
    gallery_services.gallery_count(gallery=gallery, what="downloads")
    name = portrait_file_stem(
        studio_name=request.tenant.name, number=0, made_at=gallery.job.created_at
    ).replace("-portrait-0-", "-portraits-")
    response = FileResponse(
        archive.file, content_type="application/zip", as_attachment=True, filename=f"{name}.zip"
    )
    response["Cache-Control"] = "private, no-store"
    return response


def gallery_logo(request: HttpRequest, token: str) -> HttpResponse:
    """The studio's logo for its gallery pages and emails, under the gallery's own URL."""
    try:
        gallery = _gallery_open(request, token)
    except _Refusal as refusal:
        return refusal.response
    logo = selectors.sent_brand_logo(selectors.gallery_sent_brand(gallery))  # as it was sent
    if not logo:
        raise Http404
    response = HttpResponse(logo, content_type="image/png")
    response["Cache-Control"] = "public, max-age=86400"
    return response


# The studio's side ----------------------------------------------------------------------------


@login_required
def gallery_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.gallery_list_with_stats(), 50).get_page(request.GET.get("page"))
    totals = {
        "opens": sum(g.opens for g in page),
        "downloads": sum(g.downloads for g in page),
        "shares": sum(g.shares for g in page),
    }
    return render(
        request,
        "galleries/studio_list.html",
        {"page": page, "totals": totals, "failed": selectors.deliveries_failed()[:50]},
    )


@login_required
def gallery_detail(request: HttpRequest, uid: str) -> HttpResponse:
    gallery = selectors.gallery_get(uid)
    portraits = selectors.gallery_portraits(gallery)
    return render(
        request,
        "galleries/studio_detail.html",
        {
            "gallery": gallery,
            "portraits": portraits,
            "deliveries": gallery.deliveries.all(),
            "link": gallery_services.gallery_url(gallery),
            "sent_brand": selectors.gallery_sent_brand(gallery),
            "brand_is_current": selectors.gallery_brand_is_current(gallery),
        },
    )


@owner_required
@require_POST
def gallery_republish(request: HttpRequest, uid: str) -> HttpResponse:
    gallery = selectors.gallery_get(uid)
    gallery_services.gallery_republish(gallery=gallery, actor=request.user)
    messages.success(
        request,
        "The gallery now shows your current studio details and brand; its portraits are framed "
        "again (print files follow in a few minutes).",
    )
    return redirect("gallery-detail", uid=gallery.uid)


@login_required
@require_POST
def gallery_protect(request: HttpRequest, uid: str) -> HttpResponse:
    gallery = selectors.gallery_get(uid)
    pin = request.POST.get("pin", "").strip()
    expiry = request.POST.get("expires_on", "").strip()
    try:
        expires_at = None
        if expiry:
            day = datetime.strptime(expiry, "%Y-%m-%d").date()
            expires_at = timezone.make_aware(datetime.combine(day, time(23, 59)))
        gallery_services.gallery_protect(
            gallery=gallery,
            pin=None if request.POST.get("keep_pin") and not pin else pin,
            expires_at=expires_at,
            clear_expiry=not expiry,
            actor=request.user,
        )
    except ValueError:
        messages.error(request, "Give the expiry date as YYYY-MM-DD.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        told = [CHANNEL_WORDS[channel] for channel in getattr(gallery, "pin_sent_on", [])]
        messages.success(
            request,
            f"Saved. The new PIN is on its way to the parent by {' and '.join(told)}."
            if told
            else "Saved.",
        )
    return redirect("gallery-detail", uid=gallery.uid)


def _confirmation_page(
    request: HttpRequest, *, question: str, consequence: str, yes: str, back: str, keep: dict
) -> HttpResponse | None:
    """The server's own "are you sure?" for a delete that arrives without ``confirmed=1`` (the
    page's confirm.js did not run); None once the answer is yes."""
    if request.POST.get("confirmed") == "1":
        return None
    return render(
        request,
        "galleries/confirm_delete.html",
        {
            "question": question,
            "consequence": consequence,
            "yes": yes,
            "back": back,
            "action": request.path,
            "keep": [(name, value) for name, value in keep.items() if value],
        },
    )


@owner_required
@require_POST
def gallery_delete(request: HttpRequest, uid: str) -> HttpResponse:
    gallery = selectors.gallery_get(uid)
    asked = _confirmation_page(
        request,
        question="Delete this gallery? Its link will stop working.",
        consequence=(
            "The parent's link stops working at once. "
            + (
                "Every portrait of this render is deleted too, for good."
                if request.POST.get("with_portraits")
                else "The portraits stay with the studio."
            )
        ),
        yes="Delete the gallery",
        back=reverse("gallery-detail", args=[gallery.uid]),
        keep={"with_portraits": request.POST.get("with_portraits", "")},
    )
    if asked is not None:
        return asked
    gallery_services.gallery_delete(
        gallery=gallery, actor=request.user, with_portraits=bool(request.POST.get("with_portraits"))
    )
    messages.success(request, "The gallery is deleted; its link no longer opens.")
    return redirect("gallery-list")


@owner_required
@require_POST
def portrait_delete(request: HttpRequest, pk: int) -> HttpResponse:
    candidate = get_object_or_404(Candidate.objects.select_related("job"), pk=pk)
    gallery = Gallery.objects.filter(job_id=candidate.job_id).first()
    asked = _confirmation_page(
        request,
        question="Delete this portrait for good? The parent will no longer see it.",
        consequence="Its files (full, web and print size) are deleted; this cannot be undone.",
        yes="Delete the portrait",
        back=(
            reverse("gallery-detail", args=[gallery.uid])
            if gallery is not None
            else reverse("job-detail", args=[candidate.job.uid])
        ),
        keep={},
    )
    if asked is not None:
        return asked
    gallery_services.portrait_delete(candidate=candidate, actor=request.user)
    messages.success(request, "The portrait is deleted.")
    if gallery is not None:
        return redirect("gallery-detail", uid=gallery.uid)
    return redirect("gallery-list")


@owner_required
def parent_export(request: HttpRequest, uid: str) -> FileResponse:
    """Everything the studio holds for one parent as a ZIP (portraits at every size, the scan
    while retention keeps it, a manifest): the studio's own copy before the scan is deleted."""
    session = get_object_or_404(ParentSession, uid=uid)
    archive = erasure.parent_session_export(
        session=session, studio=request.tenant, actor=request.user
    )
    response = FileResponse(
        archive.file,
        content_type="application/zip",
        as_attachment=True,
        filename=parent_export_name(session, studio=request.tenant),
    )
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def delivery_resend(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(Delivery.objects.select_related("gallery"), pk=pk)
    try:
        sending.delivery_resend(delivery=delivery, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Sending the {delivery.get_channel_display()} again.")
    return redirect("gallery-detail", uid=delivery.gallery.uid)


@owner_required
def gallery_settings(request: HttpRequest) -> HttpResponse:
    current = selectors.gallery_settings_get()
    error = ""
    if request.method == "POST":
        raw = request.POST.get("default_expiry_days", "").strip()
        try:
            days = int(raw) if raw else None
            gallery_services.gallery_settings_update(
                default_expiry_days=days,
                favourites_email=bool(request.POST.get("favourites_email")),
                actor=request.user,
            )
        except ValueError:
            error = "Give a whole number of days, or leave it empty for links that never expire."
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, "Saved. New galleries follow this setting.")
            return redirect("gallery-settings")
    return render(
        request,
        "galleries/studio_settings.html",
        {"settings_row": current, "error": error, "retention_days": request.tenant.retention_days},
        status=400 if error else 200,
    )


@owner_required
def audit_log(request: HttpRequest) -> HttpResponse:
    action = request.GET.get("action", "").strip()
    page = Paginator(audit_log_list(action_prefix=action), 100).get_page(request.GET.get("page"))
    return render(
        request,
        "galleries/audit_log.html",
        {"page": page, "rows": audit_rows(list(page)), "action": action},
    )


# Provider webhooks -----------------------------------------------------------------------------
# One public URL per hook on Cradle's own host (galleries/urls_public.py), routed to each
# studio by the signed delivery reference (services.*_route). The same paths on a studio's host
# are the old URLs: they go through the same routing, falling back to that studio only for an
# event that names no delivery.


def _fallback_schema() -> str | None:
    schema = connection.schema_name
    return None if schema == get_public_schema_name() else schema


@csrf_exempt
@require_POST
def sendgrid_events(request: HttpRequest) -> HttpResponse:
    if not sendgrid_signature_valid(
        body=request.body,
        signature=request.headers.get(SENDGRID_SIGNATURE_HEADER, ""),
        timestamp=request.headers.get(SENDGRID_TIMESTAMP_HEADER, ""),
        public_key=settings.SENDGRID_WEBHOOK_PUBLIC_KEY,
    ):
        return HttpResponseBadRequest("Bad signature.")
    try:
        events = json.loads(request.body)
    except ValueError:
        return HttpResponseBadRequest("The body is not JSON.")
    if not isinstance(events, list):
        return HttpResponseBadRequest("Expected a list of events.")
    result = provider_webhooks.sendgrid_events_route(
        events=events, fallback_schema=_fallback_schema()
    )
    return JsonResponse(result.__dict__)


def _twilio_verified(request: HttpRequest) -> bool:
    return twilio_signature_valid(
        url=request.build_absolute_uri(),
        params=request.POST.dict(),
        signature=request.headers.get(TWILIO_SIGNATURE_HEADER, ""),
        auth_token=settings.TWILIO_AUTH_TOKEN,
    )


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    if not _twilio_verified(request):
        return HttpResponseBadRequest("Bad signature.")
    result = provider_webhooks.twilio_status_route(
        params=request.POST.dict(),
        ref=request.GET.get("ref", ""),
        fallback_schema=_fallback_schema(),
    )
    return JsonResponse(result.__dict__)


@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    if not _twilio_verified(request):
        return HttpResponseBadRequest("Bad signature.")
    provider_webhooks.sms_inbound_route(
        phone=request.POST.get("From", ""),
        body=request.POST.get("Body", ""),
        message_sid=request.POST.get("MessageSid", ""),
        fallback_schema=_fallback_schema(),
    )
    # Twilio answers STOP/START itself on long codes; we add nothing to its reply.
    return HttpResponse("<Response></Response>", content_type="text/xml")


# Render's pages: the parts that are galleries' own ------------------------------------------------


def job_page_part(job: RenderJob) -> dict[str, object]:
    """The job page's messages and its send form's closing day (the studio's default expiry
    from today); render's job page takes it in through GalleriesConfig.ready."""
    days = (
        selectors.gallery_settings_get().default_expiry_days
        if job.state in RenderJob.REVIEWABLE
        else None
    )
    return {
        "deliveries": list(Delivery.objects.filter(gallery__job=job).order_by("created_at")),
        "send_closes_on": timezone.localdate() + timedelta(days=days) if days else None,
    }


@login_required
@require_POST
def job_send(request: HttpRequest, uid: str) -> HttpResponse:
    job = render_selectors.render_job_get(uid)
    channels = request.POST.getlist("channel")
    # The PIN and the closing day are chosen here, before sending: the messages tell her both.
    pin = request.POST.get("pin", "").strip()
    expiry = request.POST.get("expires_on", "").strip()
    try:
        closes_on = date.fromisoformat(expiry) if expiry else None
        expires_at = gallery_services.expiry_end_of_day(closes_on) if closes_on else None
        sending.gallery_send(
            job=job,
            channels=channels,
            actor=request.user,
            pin=pin,
            expires_at=expires_at,
            never_expires=not expiry,
        )
    except ValueError:
        messages.error(request, "Give the closing day as a date, or leave it empty.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "The gallery link is on its way to the parent.")
    return redirect("job-detail", uid=job.uid)


@login_required
@require_POST
def session_erase(request: HttpRequest, uid: str) -> HttpResponse:
    """The owner deletes everything about one parent, at her request (typed name to confirm)."""
    session = render_selectors.parent_session_get(uid)
    require_owner(request.user, "Only the studio owner can delete a parent's data.")
    error = ""
    if request.POST.get("confirm_name", "").strip().casefold() != session.parent_name.casefold():
        error = f"Type the parent's name, {session.parent_name}, to confirm."
    else:
        try:
            report = erasure.parent_session_erase(session=session, actor=request.user)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(
                request,
                f"Deleted: {report.scans} scan(s), {report.portraits} portrait(s), "
                f"{report.galleries} gallery link(s) and {report.deliveries} message record(s).",
            )
            return redirect("dashboard")
    context = session_page_context(session, ScanUploadForm())
    return render(
        request, "render/session_detail.html", {**context, "erase_error": error}, status=400
    )
