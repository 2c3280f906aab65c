"""Guess limits for gallery tokens and PINs, kept in the studio's own schema (``GuessCount``).

A wrong token or PIN adds one to a counter for (IP[, gallery]); past the limit every attempt
from there gets a 429 until the window ends — even a right one, so the limit cannot be used as
an oracle. The counters live in PostgreSQL, not the cache: every web process shares them with
no extra set-up, they hold when Redis is down, and the parent's page checks the token limit in
the same statement that finds the gallery (``services.gallery_for_parent``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models.functions import Now
from django.http import HttpRequest

from galleries.models import GuessCount


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


def guesses_exhausted(limit: GuessLimit, subject: str) -> bool:
    return GuessCount.objects.filter(
        scope=limit.scope, subject=subject[:80], hits__gte=limit.attempts, window_ends_at__gt=Now()
    ).exists()


def guess_failed(limit: GuessLimit, subject: str) -> None:
    """Count one wrong guess: the first starts the window, later ones keep its end, and the
    first after it ended starts a new one. One statement, so concurrent guesses all count."""
    table = GuessCount._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" ("scope", "subject", "hits", "window_ends_at") '  # noqa: S608
            "VALUES (%s, %s, 1, now() + make_interval(secs => %s)) "
            'ON CONFLICT ("scope", "subject") DO UPDATE SET '
            f'"hits" = CASE WHEN "{table}"."window_ends_at" > now() '
            f'THEN "{table}"."hits" + 1 ELSE 1 END, '
            f'"window_ends_at" = CASE WHEN "{table}"."window_ends_at" > now() '
            f'THEN "{table}"."window_ends_at" ELSE EXCLUDED."window_ends_at" END',
            [limit.scope, subject[:80], limit.window_seconds],
        )


def guesses_clear(limit: GuessLimit, subject: str) -> None:
    GuessCount.objects.filter(scope=limit.scope, subject=subject[:80]).delete()


def guess_counts_prune(now: datetime) -> int:
    """Forget windows that have ended (the nightly retention sweep calls this)."""
    deleted, _ = GuessCount.objects.filter(window_ends_at__lte=now).delete()
    return deleted
