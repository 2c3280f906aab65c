"""Guess limits for gallery tokens and PINs, kept in Django's cache.

A wrong token or PIN adds one to a counter for (studio, IP[, gallery]); past the limit every
attempt from there gets a 429 until the window ends — even a right one, so the limit cannot be
used as an oracle. In production CACHES must be shared by all web processes (Redis); when it
cannot be reached the limits fail open (``studio_portal.counters``) and the gallery still opens.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.http import HttpRequest

from studio_portal.counters import count_add, count_clear, count_read


@dataclass(frozen=True)
class GuessLimit:
    scope: str
    attempts: int
    window_seconds: int


# A 4-digit PIN has 10,000 values: 5 tries per IP per 15 minutes, 20 per gallery per hour
# from anywhere, so spreading guesses over many addresses does not help either.
TOKEN_GUESSES = GuessLimit("token", attempts=20, window_seconds=10 * 60)
PIN_GUESSES_PER_IP = GuessLimit("pin-ip", attempts=5, window_seconds=15 * 60)
PIN_GUESSES_PER_GALLERY = GuessLimit("pin-gallery", attempts=20, window_seconds=60 * 60)


def client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _key(limit: GuessLimit, subject: str) -> str:
    return f"guess:{connection.schema_name}:{limit.scope}:{subject}"


def guesses_exhausted(limit: GuessLimit, subject: str) -> bool:
    return count_read(_key(limit, subject)) >= limit.attempts


def guess_failed(limit: GuessLimit, subject: str) -> None:
    count_add(_key(limit, subject), limit.window_seconds)


def guesses_clear(limit: GuessLimit, subject: str) -> None:
    count_clear(_key(limit, subject))
