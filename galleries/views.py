"""The parent's gallery: no account, a token in the link, on the studio's own domain."""

from __future__ import annotations

from django.db.models import F
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from galleries import selectors
from galleries.models import Gallery
from branding.provenance import TAG_TEXT


def _gallery_or_404(token: str) -> Gallery:
    gallery = selectors.gallery_for_token(token)
    if gallery is None:
        raise Http404("No gallery at this address.")
    return gallery


def gallery_page(request: HttpRequest, token: str) -> HttpResponse:
    gallery = selectors.gallery_for_token(token)
    if gallery is None:
        return render(request, "galleries/not_found.html", status=404)
    if selectors.gallery_is_expired(gallery):
        return render(request, "galleries/expired.html", status=410)
    Gallery.objects.filter(pk=gallery.pk).update(opens=F("opens") + 1)
    return render(
        request,
        "galleries/gallery.html",
        {"gallery": gallery, "portraits": selectors.gallery_portraits(gallery), "tag": TAG_TEXT},
    )


def gallery_portrait(request: HttpRequest, token: str, pk: int) -> FileResponse:
    gallery = _gallery_or_404(token)
    if selectors.gallery_is_expired(gallery):
        raise Http404
    candidate = next((c for c in selectors.gallery_portraits(gallery) if c.pk == pk), None)
    if candidate is None or not candidate.web_image:
        raise Http404
    response = FileResponse(candidate.web_image.open("rb"), content_type="image/jpeg")
    if request.GET.get("download"):
        Gallery.objects.filter(pk=gallery.pk).update(downloads=F("downloads") + 1)
        response["Content-Disposition"] = f'attachment; filename="portrait-{candidate.rank + 1}.jpg"'
    return response
