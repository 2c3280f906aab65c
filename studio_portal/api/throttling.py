"""Request limits for the API. DRF's own throttles key on ``user.pk``, but user ids repeat in
every studio schema: these keys carry the schema name, so one studio never spends another's.
Like the page limits, they fail open when the cache is unreachable (``studio_portal.counters``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from studio_portal.client_address import client_subject
from studio_portal.counters import CACHE_ERRORS, cache_unreachable

if TYPE_CHECKING:  # rest_framework.views imports the throttle classes from settings
    from rest_framework.views import APIView


class _StudioThrottle(SimpleRateThrottle):
    scope = "api"

    def get_rate(self) -> str | None:
        # Read at request time (not import time), so settings overrides in tests apply.
        if not settings.RATE_LIMITS_ENABLED:
            return None
        return settings.API_RATE_LIMITS[self.scope]

    def allow_request(self, request: Request, view: APIView) -> bool:
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS as error:
            cache_unreachable("API throttle", error)
            return True

    def get_ident(self, request: Request) -> str:
        # DRF's own believes any X-Forwarded-For; this one only the trusted proxies'.
        return client_subject(request)

    def get_cache_key(self, request: Request, view: APIView) -> str:
        user = request.user
        who = (
            f"user:{user.pk}" if user and user.is_authenticated else f"ip:{self.get_ident(request)}"
        )
        return f"throttle:{self.scope}:{connection.schema_name}:{who}"


class StudioApiThrottle(_StudioThrottle):
    """Every API call, per member (or per address before sign-in)."""

    scope = "api"


class ScanUploadThrottle(_StudioThrottle):
    """Uploads are the expensive call (decoding, encryption, a render job)."""

    scope = "scan_upload"

    def allow_request(self, request: Request, view: APIView) -> bool:
        if request.method != "POST":
            return True
        return super().allow_request(request, view)
