from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from studio_portal.tenants.addresses import studio_base_url
from studio_portal.tenants.selectors import studio_for_address

STATIC_DIR = Path(__file__).resolve().parent / "static"


def studio_find(request: HttpRequest) -> HttpResponse:
    """ "Sign in" on Cradle's own host: each studio signs in on its own address, so ask which
    and send the member there."""
    address = request.GET.get("studio", "").strip()
    error = ""
    if address:
        studio = studio_for_address(address)
        if studio is not None:
            return redirect(f"{studio_base_url(studio)}/login/")
        error = (
            f"No studio answers at {address}. Check the address in your invitation or "
            "welcome email (it looks like yourstudio."
            f"{settings.CRADLE_BASE_DOMAIN})."
        )
    return render(
        request,
        "studio_portal/studio_find.html",
        {"address": address, "error": error, "suffix": f".{settings.CRADLE_BASE_DOMAIN}"},
        status=404 if error else 200,
    )


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
