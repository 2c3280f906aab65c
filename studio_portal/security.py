"""Response headers and request limits that Django does not give by itself.

* Content-Security-Policy: strict on the parents' gallery pages (scripts only from Cradle or
  with the page's nonce: ``<script nonce="{{ request.csp_nonce }}">``), and a baseline on every
  other response (no framing, no plugins, no foreign <base>).
* Rate limits, per studio and client address (``studio_portal.client_address``: behind a
  proxy, the address the trusted hops vouch for), in Django's cache: sign-in attempts and scan
  uploads from the pages (the API has its own DRF throttles; gallery tokens and PINs are limited
  in ``galleries.throttle``). Sign-in is also paced per account: past a number of wrong
  passwords from anywhere, one try every so often, so guessing from many addresses gains
  nothing and a stranger cannot lock a member out. In production CACHES must be shared by all
  web processes; when it cannot be reached, the limits fail open (``studio_portal.counters``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from studio_portal.client_address import client_subject
from studio_portal.counters import CACHE_ERRORS, cache_unreachable, count_add

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

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if request.method != "POST" or not settings.RATE_LIMITS_ENABLED:
            return None
        url_name = _url_name(request)
        for name, limit in _rate_limits().items():
            if url_name not in limit.url_names:
                continue
            if rate_limit_hit(name, limit, client_subject(request)):
                return too_many_attempts(limit.window_seconds, json=url_name.startswith("api-"))
        return None


def too_many_attempts(wait_seconds: int, *, json: bool = False) -> HttpResponse:
    """A 429 with the wait in words: plain text, or the API's ``{"detail": …}`` for API URLs."""
    minutes = max(1, wait_seconds // 60)
    wait = f"{minutes} minutes" if wait_seconds >= 120 else f"{wait_seconds} seconds"
    sentence = f"Too many attempts. Please wait {wait} and try again."
    if json:
        response: HttpResponse = JsonResponse({"detail": sentence}, status=429)
    else:
        response = HttpResponse(sentence, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(wait_seconds)
    return response


# Sign-in per account ---------------------------------------------------------------------------

SIGN_IN_FAILURE_WINDOW_SECONDS = 15 * 60


def _account_key(kind: str, username: str) -> str:
    # Hashed: a typed username may hold anything, and cache keys must be plain.
    account = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return f"signin:{connection.schema_name}:{kind}:{account}"


def sign_in_account_wait(username: str) -> int:
    """Seconds before this account may be tried again; 0 to try now.

    Under the failure threshold every try is free. Past it the account takes one try per
    LOGIN_ACCOUNT_BACKOFF_SECONDS, whoever makes it: the first request of each interval is
    let through (to the password check, right or wrong) and the rest wait. A guesser spread
    over many addresses gets a few tries a minute; the member herself waits seconds, never an
    hour. A try let through here is not yet counted: only a wrong password counts.
    """
    if not settings.RATE_LIMITS_ENABLED:
        return 0
    backoff = settings.LOGIN_ACCOUNT_BACKOFF_SECONDS
    try:
        failures = int(cache.get(_account_key("failures", username), 0))
        if failures < settings.LOGIN_FAILURES_PER_ACCOUNT:
            return 0
        # add() is atomic (SET NX in Redis): of concurrent tries, exactly one gets the slot.
        return 0 if cache.add(_account_key("slot", username), 1, timeout=backoff) else backoff
    except CACHE_ERRORS as error:
        cache_unreachable("sign-in pace", error)
        return 0


def sign_in_failed(username: str) -> None:
    if settings.RATE_LIMITS_ENABLED:
        count_add(_account_key("failures", username), SIGN_IN_FAILURE_WINDOW_SECONDS)
