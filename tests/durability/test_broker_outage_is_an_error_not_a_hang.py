"""Issue 16 item 2: a Redis that stops answering is an error within seconds for every broker
client, never a hang. The web request's send then leaves its row to the outbox's sweep, and the
scheduler (periodiq), whose send raises, exits and is restarted by its supervisor in
``make run`` (tests/test_supervise.py) or by its platform in production."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from periodiq import PeriodiqMiddleware, Scheduler, cron

from studio_portal.outbox import BROKER_ERRORS
from studio_portal.outbox_settings import broker_url_with_timeouts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stalled_redis() -> Iterator[int]:
    """A port that accepts connections and reads commands but never answers (a stopped Redis,
    a dropped network): without a socket timeout a client waits on it for ever."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in held:
        conn.close()


def _settings_broker_url(**env: str) -> str:
    """The URL the settings give the Redis broker, read in a fresh process (pytest's own
    settings use the in-process stub broker)."""
    program = (
        "from django.conf import settings; import django; django.setup(); "
        "print(settings.DRAMATIQ_BROKER['OPTIONS']['url'])"
    )
    clean = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "studio_portal.settings",
            "DEBUG": "true",
            "BROKER_URL": "redis://127.0.0.1:6390/0",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def test_the_settings_give_every_broker_client_socket_timeouts() -> None:
    url = _settings_broker_url()
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).port == 6390
    assert query["socket_connect_timeout"] == ["2"] and query["socket_timeout"] == ["10"]
    assert parse_qs(urlsplit(_settings_broker_url(BROKER_SOCKET_TIMEOUT="3")).query)[
        "socket_timeout"
    ] == ["3"]
    # Timeouts the operator wrote into BROKER_URL are kept.
    assert broker_url_with_timeouts("redis://h:1/0?socket_timeout=7", connect=2, read=10).endswith(
        "socket_timeout=7&socket_connect_timeout=2&health_check_interval=30"
    )


def _broker(port: int) -> RedisBroker:
    return RedisBroker(
        url=broker_url_with_timeouts(f"redis://127.0.0.1:{port}/0", connect=0.5, read=0.5)
    )


def test_a_send_to_a_stalled_redis_raises_a_broker_error_within_its_timeout(stalled_redis) -> None:
    broker = _broker(stalled_redis)
    probe = dramatiq.actor(lambda: None, broker=broker, actor_name="probe", queue_name="default")
    started = time.monotonic()
    with pytest.raises(BROKER_ERRORS) as raised:
        probe.send()
    assert isinstance(raised.value, redis.TimeoutError)
    assert time.monotonic() - started < 5  # not a hang: the outbox's caller answers as usual


def test_the_scheduler_raises_on_a_stalled_redis_so_its_process_exits_and_is_restarted(
    stalled_redis,
) -> None:
    broker = _broker(stalled_redis)
    broker.add_middleware(PeriodiqMiddleware())
    sweep = dramatiq.actor(
        lambda: None,
        broker=broker,
        actor_name="sweep",
        queue_name="default",
        periodic=cron("* * * * *"),
    )
    scheduler = Scheduler(actors=[sweep])
    started = time.monotonic()
    # periodiq's entrypoint turns this into exit status 1 (its main loop has no handler).
    with pytest.raises(redis.TimeoutError):
        scheduler.send_actors([sweep], now="2026-12-03T20:00:00+00:00")
    assert time.monotonic() - started < 5
