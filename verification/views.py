"""``/verify/`` on Cradle's own host: anyone uploads an image and learns whether Cradle made it.

The upload is read in memory (``uploads``), checked (``selectors.image_origin_find``) and
forgotten: nothing is written, not even a log line with the file. Checks are limited per client
address (``PAGE_RATE_LIMITS["verify"]``, counted by ``studio_portal.security`` on the address
``studio_portal.client_address.client_ip`` trusts), shared with the API twin.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from branding.provenance import TAG_TEXT
from branding.services import c2pa_signer
from verification.selectors import ImageOrigin, VerifyRefused, image_origin_find
from verification.uploads import (
    bounded_upload_handler,
    declared_too_large,
    max_upload_words,
    too_large_sentence,
)


def origin_check(data: bytes) -> ImageOrigin:
    """The check on an upload's bytes, against Cradle's own signing certificate."""
    return image_origin_find(data, signer_identity=c2pa_signer().identity())


def _page(request: HttpRequest, *, status: int = 200, **context: object) -> HttpResponse:
    context = {
        "max_size": max_upload_words(),
        "tag_text": TAG_TEXT,
        **context,
    }
    return render(request, "verification/verify.html", context, status=status)


@csrf_exempt  # the handler must be set before the CSRF check reads the body; checked below
def verify_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if declared_too_large(request):
            return _page(request, status=413, error=too_large_sentence())
        handler = bounded_upload_handler(request)
        return _verify_upload(request, handler)
    if request.method in ("GET", "HEAD"):
        return _page(request)
    return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})


@csrf_protect
def _verify_upload(request: HttpRequest, handler) -> HttpResponse:
    upload = request.FILES.get("image")
    if handler.too_large:
        return _page(request, status=413, error=too_large_sentence())
    if upload is None:
        return _page(request, status=400, error="Choose an image to check.")
    try:
        origin = origin_check(upload.read())
    except VerifyRefused as refused:
        return _page(request, status=400, error=refused.message)
    return _page(request, origin=origin, file_name=upload.name)
