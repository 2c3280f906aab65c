"""Windowed counters in Django's cache, for the request limits: sign-in and upload attempts
(``studio_portal.security``) and, through DRF, the API throttles. (Gallery token and PIN
guesses are counted in PostgreSQL instead: ``galleries.throttle``.)

The limits guard against guessing and floods; they must not take the site down with them. When
the cache cannot be reached (Redis stopped, or slower than its socket timeout), every call here
fails open: it logs a warning and reports an empty count, so a parent's gallery still opens and
a sonographer can still sign in, without limits until the cache is back.
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache

try:
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - redis is in requirements.txt
    CACHE_ERRORS: tuple[type[Exception], ...] = (OSError,)
else:
    CACHE_ERRORS = (RedisError, OSError)

logger = logging.getLogger(__name__)
WARN_EVERY_SECONDS = 60.0
_last_warning = [-WARN_EVERY_SECONDS]  # one line a minute per process, not one per request


def cache_unreachable(action: str, error: Exception) -> None:
    now = time.monotonic()
    if now - _last_warning[0] >= WARN_EVERY_SECONDS:
        _last_warning[0] = now
        logger.warning(
            "Cache unreachable (%s: %s); request limits are off until it is back.", action, error
        )


def count_add(key: str, window_seconds: int) -> int:
    """Count one hit and return the window's total. The first hit starts the window; later hits
    keep its expiry. Returns 0 when the cache is unreachable."""
    try:
        if cache.add(key, 1, timeout=window_seconds):
            return 1
        try:
            return int(cache.incr(key))
        except ValueError:  # expired between add and incr: a fresh window
            cache.add(key, 1, timeout=window_seconds)
            return 1
    except CACHE_ERRORS as error:
        cache_unreachable("count", error)
        return 0
