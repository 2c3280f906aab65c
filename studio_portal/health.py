"""``/healthz`` and ``/readyz`` for the platform's probes, answered before anything else.

The middleware sits first: a probe names no studio's host (often the bare IP), speaks plain
http, and must not depend on the tenant lookup, so it never reaches ALLOWED_HOSTS, the HTTPS
redirect or the tenant middleware.

- ``/healthz`` (liveness): the process answers. Touches nothing, so a database outage never
  gets every web process restarted.
- ``/readyz`` (readiness): PostgreSQL answers a query and the job broker answers a ping; 503
  naming what is down otherwise, so the load balancer stops sending requests this process
  cannot serve. Details of a failure go to the log, never to the (unauthenticated) caller.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

# How long the broker gets to answer (seconds); a probe must fail fast, not hang.
BROKER_TIMEOUT = 2.0


def database_check() -> None:
    """Raise unless PostgreSQL answers ``SELECT 1`` on this process's connection."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        # A broken persistent connection is dropped, so the next probe connects afresh.
        connection.close()
        raise


@lru_cache(maxsize=4)
def _redis_client(url: str):
    import redis

    return redis.Redis.from_url(
        url, socket_connect_timeout=BROKER_TIMEOUT, socket_timeout=BROKER_TIMEOUT
    )


def broker_check() -> None:
    """Raise unless the Dramatiq broker named by ``BROKER_URL`` answers."""
    url = settings.BROKER_URL
    if url.startswith("stub://"):
        return  # the in-process broker of the tests: nothing to reach
    if url.startswith("amqp"):
        import pika

        parameters = pika.URLParameters(url)
        parameters.socket_timeout = BROKER_TIMEOUT
        parameters.blocked_connection_timeout = BROKER_TIMEOUT
        parameters.connection_attempts = 1
        pika.BlockingConnection(parameters).close()
        return
    _redis_client(url).ping()


CHECKS: dict[str, Callable[[], None]] = {"database": database_check, "broker": broker_check}


def readiness() -> tuple[bool, dict[str, str]]:
    """Run every check; ``(all ok, {name: "ok" | "unavailable"})``."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; logged
            logger.warning("readiness: %s unavailable: %s: %s", name, type(exc).__name__, exc)
            results[name] = "unavailable"
        else:
            results[name] = "ok"
    return all(value == "ok" for value in results.values()), results


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return _no_store(HttpResponse("ok", content_type="text/plain"))
        if request.path == "/readyz":
            ready, results = readiness()
            body = json.dumps({"status": "ready" if ready else "unavailable", **results})
            return _no_store(
                HttpResponse(body, status=200 if ready else 503, content_type="application/json")
            )
        return self.get_response(request)


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response
