from functools import lru_cache
from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

STATIC_DIR = Path(__file__).resolve().parent / "static"


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "studio_portal/landing.html")


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@lru_cache(maxsize=4)
def _icon_bytes(name: str) -> bytes:
    return (STATIC_DIR / name).read_bytes()


ICONS = {"favicon.ico": "image/x-icon", "apple-touch-icon.png": "image/png"}


@require_safe
@cache_control(public=True, max_age=7 * 24 * 3600)
def icon(request: HttpRequest, name: str) -> HttpResponse:
    """The icons browsers ask for at the root of every host (Cradle's and each studio's),
    whatever the page links to: without them every page view logs a 404."""
    return HttpResponse(_icon_bytes(name), content_type=ICONS[name])
