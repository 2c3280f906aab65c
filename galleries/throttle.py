"""Guess limits for gallery tokens and PINs, kept in the studio's own schema (``GuessCount``).

A wrong token adds one to a counter for the client's address; a wrong PIN to one for (gallery,
address) and one for the gallery. Past an address's limit every attempt from it gets a 429
until the window ends — even a right one, so the limit cannot be used as an oracle. The
gallery's own counter is no lock: past it the gallery takes one PIN try every
``PIN_GALLERY_SPACING_SECONDS`` from anyone, which stops guessing spread over many addresses
while the parent, at worst, waits half a minute. The address is the one the trusted proxies
vouch for (``studio_portal.client_address``), an IPv6 client's /64.

The counters live in PostgreSQL, not the cache: every web process shares them with no extra
set-up, they hold when Redis is down, and the parent's page checks the token limit in the same
statement that finds the gallery (``services.gallery_for_parent``). Every window is read and
written on the statement's clock (``statement_timestamp()``, what Django's ``Now()`` is on
PostgreSQL), never ``now()``, the transaction's start: both sides of a comparison use one clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models.functions import Now
from django.http import HttpRequest

from galleries.models import GuessCount
from studio_portal.client_address import client_subject


@dataclass(frozen=True)
class GuessLimit:
    scope: str
    attempts: int
    window_seconds: int


# A 4-digit PIN has 10,000 values: 5 tries per address per 15 minutes; past 20 wrong ones in
# an hour from anywhere, one try per 30 s for the gallery (at most ~120 an hour, so half the
# PINs take days to try) instead of a lock a stranger could hold over the parent.
TOKEN_GUESSES = GuessLimit("token", attempts=20, window_seconds=10 * 60)
PIN_GUESSES_PER_IP = GuessLimit("pin-ip", attempts=5, window_seconds=15 * 60)
PIN_GUESSES_PER_GALLERY = GuessLimit("pin-gallery", attempts=20, window_seconds=60 * 60)
PIN_GALLERY_SPACING_SECONDS = 30
_PIN_SLOT_SCOPE = "pin-slot"


def client_ip(request: HttpRequest) -> str:
    """The subject the per-address limits count (an IPv6 client's /64)."""
    return client_subject(request)


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
            f'INSERT INTO "{table}" ("scope", "subject", "hits", "window_ends_at") '
            "VALUES (%s, %s, 1, statement_timestamp() + make_interval(secs => %s)) "
            'ON CONFLICT ("scope", "subject") DO UPDATE SET '
            f'"hits" = CASE WHEN "{table}"."window_ends_at" > statement_timestamp() '
            f'THEN "{table}"."hits" + 1 ELSE 1 END, '
            f'"window_ends_at" = CASE WHEN "{table}"."window_ends_at" > statement_timestamp() '
            f'THEN "{table}"."window_ends_at" ELSE EXCLUDED."window_ends_at" END',
            [limit.scope, subject[:80], limit.window_seconds],
        )


def pin_try_wait(gallery_pk: int) -> int:
    """Seconds before this gallery takes another PIN try; 0 to try now.

    Free until the gallery's wrong PINs pass PIN_GUESSES_PER_GALLERY; then the first try of
    each PIN_GALLERY_SPACING_SECONDS, from whoever makes it, claims the slot (one statement:
    of concurrent tries exactly one gets it) and the others wait for the next."""
    if not guesses_exhausted(PIN_GUESSES_PER_GALLERY, str(gallery_pk)):
        return 0
    table = GuessCount._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" ("scope", "subject", "hits", "window_ends_at") '
            "VALUES (%s, %s, 1, statement_timestamp() + make_interval(secs => %s)) "
            'ON CONFLICT ("scope", "subject") DO UPDATE SET '
            f'"hits" = "{table}"."hits" + 1, "window_ends_at" = EXCLUDED."window_ends_at" '
            f'WHERE "{table}"."window_ends_at" <= statement_timestamp() '
            "RETURNING 0",
            [_PIN_SLOT_SCOPE, str(gallery_pk), PIN_GALLERY_SPACING_SECONDS],
        )
        if cursor.fetchone() is not None:
            return 0
        cursor.execute(
            'SELECT ceil(extract(epoch FROM "window_ends_at" - statement_timestamp())) '
            f'FROM "{table}" WHERE "scope" = %s AND "subject" = %s',
            [_PIN_SLOT_SCOPE, str(gallery_pk)],
        )
        row = cursor.fetchone()
    return max(1, int(row[0])) if row and row[0] is not None else PIN_GALLERY_SPACING_SECONDS


def guesses_clear(limit: GuessLimit, subject: str) -> None:
    GuessCount.objects.filter(scope=limit.scope, subject=subject[:80]).delete()


def guess_counts_prune(now: datetime) -> int:
    """Forget windows that have ended (the nightly retention sweep calls this)."""
    deleted, _ = GuessCount.objects.filter(window_ends_at__lte=now).delete()
    return deleted
