"""Guess limits for gallery tokens and PINs, kept in Django's cache.

A wrong token or PIN adds one to a counter for (studio, IP[, gallery]); past the limit every
attempt from there gets a 429 until the window ends — even a right one, so the limit cannot be
used as an oracle. In production CACHES must be shared by all web processes (Redis).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest


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
    return int(cache.get(_key(limit, subject), 0)) >= limit.attempts


def guess_failed(limit: GuessLimit, subject: str) -> None:
    key = _key(limit, subject)
    # add() starts the window on the first failure; incr() keeps its expiry.
    if not cache.add(key, 1, timeout=limit.window_seconds):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=limit.window_seconds)


def guesses_clear(limit: GuessLimit, subject: str) -> None:
    cache.delete(_key(limit, subject))
