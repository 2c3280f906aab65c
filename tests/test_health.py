"""/healthz answers while nothing else does; /readyz answers 503 the moment PostgreSQL or the
broker stops, and 200 again once they are back.

A real gunicorn (the Procfile's server) reaches a real PostgreSQL through a TCP relay the test
can cut, and a real redis-server the test kills."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from studio_portal.embedded import _redis_binary, port_open

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Relay:
    """TCP on 127.0.0.1 to the test session's PostgreSQL (socket or TCP); ``cut()`` closes the
    listener and every open connection, as a server that went away would."""

    def __init__(self, database: dict) -> None:
        host, port = database["HOST"] or "127.0.0.1", int(database["PORT"] or 5432)
        self.target = (
            (socket.AF_UNIX, f"{host}/.s.PGSQL.{port}")
            if host.startswith("/")
            else (socket.AF_INET, (host, port))
        )
        self.port = _free_port()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None

    def start(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def cut(self) -> None:
        for sock in [self.listener, *self.sockets]:
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
        self.sockets.clear()
        self.listener = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            family, address = self.target
            upstream = socket.socket(family, socket.SOCK_STREAM)
            upstream.connect(address)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _redis_start(port: int, directory: Path) -> subprocess.Popen:
    server = subprocess.Popen(
        [_redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not port_open(port):
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    return server


def _get(port: int, path: str, host: str = "10.1.2.3") -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[int, Relay, subprocess.Popen]]:
    database = settings.DATABASES["default"]
    relay = Relay(database)
    relay.start()
    redis_port = _free_port()
    redis = _redis_start(redis_port, tmp_path)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env.update(
        DEBUG="true",
        DATABASE_URL=f"postgres://{database['USER']}:{database['PASSWORD']}@127.0.0.1:"
        f"{relay.port}/postgres",
        BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
        LOG_LEVEL="WARNING",
        LOG_FORMAT="json",  # production's format (DEBUG stays on for the development secrets)
    )
    log = (tmp_path / "web.log").open("wb")
    web = subprocess.Popen(
        # The Procfile's command, on a port of the test's own and one worker.
        [sys.executable, "-m", "gunicorn", "studio_portal.wsgi:application"]
        + ["-c", "python:studio_portal.gunicorn_conf"]
        + ["--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not port_open(port):
        assert web.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
        time.sleep(0.1)
    yield port, relay, redis
    web.terminate()
    web.wait(timeout=30)
    log.close()
    relay.cut()
    redis.kill()
    redis.wait(timeout=10)


def test_readyz_fails_while_postgresql_or_redis_is_down_and_healthz_never(
    server,
    tmp_path,
) -> None:
    port, relay, redis = server
    assert _get(port, "/healthz") == (200, "ok")
    status, body = _get(port, "/readyz")
    assert (status, json.loads(body)) == (
        200,
        {"status": "ready", "database": "ok", "broker": "ok"},
    )

    relay.cut()  # PostgreSQL gone: the kept connection is found dead and no new one opens
    status, body = _get(port, "/readyz")
    assert (status, json.loads(body)) == (
        503,
        {"status": "unavailable", "database": "unavailable", "broker": "ok"},
    )
    assert _get(port, "/healthz") == (200, "ok")  # liveness touches nothing: no restart loop

    relay.start()  # back: the next probe connects afresh
    assert _get(port, "/readyz")[0] == 200

    redis.kill()
    redis.wait(timeout=10)
    status, body = _get(port, "/readyz")
    assert (status, json.loads(body)) == (
        503,
        {"status": "unavailable", "database": "ok", "broker": "unavailable"},
    )
    assert _get(port, "/healthz") == (200, "ok")

    # gunicorn's lines and the app's are JSON objects, one a line; the outages were logged.
    # (Python's own warnings, e.g. from a library at import, are not log records.)
    text = (tmp_path / "web.log").read_text().splitlines()
    lines = [json.loads(line) for line in text if line.startswith("{")]
    assert {"gunicorn.error", "studio_portal.health"} <= {line["logger"] for line in lines}
    warnings = [line["message"] for line in lines if line["logger"] == "studio_portal.health"]
    assert any(m.startswith("readiness: database unavailable") for m in warnings)
    assert any(m.startswith("readiness: broker unavailable") for m in warnings)


def test_healthz_answers_any_host_without_touching_the_database() -> None:
    # No database access is allowed in this test (no db fixture): a query would raise.
    response = Client(HTTP_HOST="10.1.2.3").get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"
    assert response["Cache-Control"] == "no-store"


def test_readyz_reports_a_broker_nobody_listens_on(db, settings) -> None:
    settings.BROKER_URL = f"redis://127.0.0.1:{_free_port()}/0"
    response = Client(HTTP_HOST="10.1.2.3").get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "broker": "unavailable"}
