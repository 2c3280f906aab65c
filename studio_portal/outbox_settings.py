"""The broker's client settings that the outbox relies on (imported by the settings module:
nothing here imports Django)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def broker_url_with_timeouts(url: str, *, connect: float, read: float) -> str:
    """``url`` (redis://…) with socket timeouts in its query, which redis-py's connection pool
    reads: connecting gives up after ``connect`` seconds and a command after ``read``, so a Redis
    that stops answering (a stalled host, a dropped network) raises ``redis.TimeoutError`` (the
    outbox leaves the row for its sweep, the scheduler exits and its supervisor restarts it)
    instead of hanging the request or process. Timeouts already in the URL are kept."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("socket_connect_timeout", f"{connect:g}")
    query.setdefault("socket_timeout", f"{read:g}")
    # A pooled connection idle this long is checked before use (a restarted Redis is noticed).
    query.setdefault("health_check_interval", "30")
    return urlunsplit(parts._replace(query=urlencode(query)))
