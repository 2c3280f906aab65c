"""Response headers and request limits that Django does not give by itself.

* Content-Security-Policy: strict on the parents' gallery pages (scripts only from Cradle or
  with the page's nonce: ``<script nonce="{{ request.csp_nonce }}">``), and a baseline on every
  other response (no framing, no plugins, no foreign <base>).
* Rate limits, per studio and client address, in Django's cache: sign-in attempts and scan
  uploads from the pages (the API has its own DRF throttles; gallery tokens and PINs are limited
  in ``galleries.throttle``). In production CACHES must be shared by all web processes; when
  it cannot be reached, the limits fail open (``studio_portal.counters``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse

from studio_portal.counters import count_add

# Pages a parent opens from the link (url names): the strict policy applies to these.
PARENT_PAGE_PREFIX = "gallery"

BASELINE_CSP = "frame-ancestors 'none'; object-src 'none'; base-uri 'self'"


def gallery_csp(nonce: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            # Inline style attributes carry the studio's brand colours; styles cannot run code.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self'",
            "connect-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
        ]
    )


def _url_name(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.url_name or "") if match else ""


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.csp_nonce = secrets.token_urlsafe(16)
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            if _url_name(request).startswith(PARENT_PAGE_PREFIX):
                response["Content-Security-Policy"] = gallery_csp(request.csp_nonce)
            else:
                response["Content-Security-Policy"] = BASELINE_CSP
        return response


@dataclass(frozen=True)
class RateLimit:
    url_names: tuple[str, ...]
    attempts: int
    window_seconds: int


def _rate_limits() -> dict[str, RateLimit]:
    return {
        name: RateLimit(tuple(rule["url_names"]), rule["attempts"], rule["window_seconds"])
        for name, rule in settings.PAGE_RATE_LIMITS.items()
    }


def rate_limit_hit(name: str, limit: RateLimit, subject: str) -> bool:
    """Count one attempt; True when the subject has used up the window's attempts."""
    key = f"ratelimit:{connection.schema_name}:{name}:{subject}"
    return count_add(key, limit.window_seconds) > limit.attempts


class RateLimitMiddleware:
    """POSTs to the listed pages, per studio and client address: past the limit, a 429 with a
    plain sentence (and Retry-After), whatever the credentials — so it is no oracle."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):  # noqa: ANN001, ANN201
        if request.method != "POST" or not settings.RATE_LIMITS_ENABLED:
            return None
        url_name = _url_name(request)
        for name, limit in _rate_limits().items():
            if url_name not in limit.url_names:
                continue
            subject = request.META.get("REMOTE_ADDR", "") or "unknown"
            if rate_limit_hit(name, limit, subject):
                minutes = max(1, limit.window_seconds // 60)
                response = HttpResponse(
                    f"Too many attempts. Please wait {minutes} minutes and try again.",
                    status=429,
                    content_type="text/plain; charset=utf-8",
                )
                response["Retry-After"] = str(limit.window_seconds)
                return response
        return None
