"""The parent's gallery page as a pure function of what it shows.

Every open of a gallery renders the same HTML until something on it changes (a favourite, a
shared portrait, the brand, the expiry). ``GalleryPage`` holds exactly what the template reads,
as frozen values, so the rendered page can be kept per process and reused: a change to any of
them is a different key, and nothing else can reach the template, so a cached page is never
stale. The one per-request value (the CSRF token) is written in after. The page's script is a
static file (galleries/static/galleries/gallery.js), so the page needs no nonce.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from django.template import loader

from branding.provenance import TAG_TEXT
from render.models import Candidate

CSRF_SLOT = "CradleCsrfTokenSlot"

# A portrait's print file, as the parent's page offers it.
PRINT_READY = "ready"
PRINT_PREPARING = "preparing"  # asked for (or about to be): "being prepared", no link
PRINT_UNAVAILABLE = "unavailable"  # given up after its tries: "ask the studio"


def print_state(*, has_file: bool, attempts: int) -> str:
    if has_file:
        return PRINT_READY
    return PRINT_UNAVAILABLE if attempts >= Candidate.PRINT_MAX_ATTEMPTS else PRINT_PREPARING


@dataclass(frozen=True)
class StudioLook:
    name: str
    contact_email: str = ""
    contact_phone: str = ""


@dataclass(frozen=True)
class BrandLook:
    primary_hex: str
    accent_hex: str
    font: str
    logo: bool


@dataclass(frozen=True)
class GalleryLook:
    token: str
    expires_at: datetime | None
    has_pin: bool


@dataclass(frozen=True)
class PortraitTile:
    pk: int
    is_primary: bool
    is_favourite: bool
    print_state: str = PRINT_PREPARING


@dataclass(frozen=True)
class GalleryPage:
    studio: StudioLook
    brand: BrandLook
    gallery: GalleryLook
    portraits: tuple[PortraitTile, ...]
    base: str  # the gallery's path; the template builds every link from it
    page_url: str
    card_url: str
    shared: bool  # came back from the no-script share form: show the link to copy


def gallery_page_html(page: GalleryPage, *, csrf_token: str) -> str:
    return _gallery_page_template_html(page).replace(CSRF_SLOT, csrf_token)


@lru_cache(maxsize=512)
def _gallery_page_template_html(page: GalleryPage) -> str:
    # Rendered without the context processors (a brand-kit query and the auth/messages
    # lookups this page never shows): the page carries its own brand, studio and CSRF token.
    return loader.get_template("galleries/gallery.html").render(
        {
            "studio": page.studio,
            "brand": page.brand,
            "gallery": page.gallery,
            "portraits": page.portraits,
            "tag": TAG_TEXT,
            "base": page.base,
            "page_url": page.page_url,
            "card_url": page.card_url,
            "shared": page.shared,
            "csrf_token": CSRF_SLOT,
        }
    )
