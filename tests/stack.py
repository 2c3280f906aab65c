"""The test run's development stack (``make test``), started from the root conftest.py.

Starts the embedded PostgreSQL when no ``DATABASE_URL`` is set and exports its address, so the
settings only ever read the environment and every subprocess a test starts (workers,
``manage.py``, gunicorn) uses the same server. It runs before any test touches the database:
the settings (read earlier, by pytest-django) already point at the embedded cluster's socket.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.conf import settings

from studio_portal.embedded import development_services_start

ROOT = Path(__file__).resolve().parent.parent


def services_start_for_tests() -> None:
    if os.environ.get("DATABASE_URL"):
        return
    local_dir = Path(os.environ.get("CRADLE_LOCAL_DIR") or ROOT / ".local")
    development_services_start(local_dir, os.environ)
    # pgserver picks a shorter socket directory than pgdata when its path is too long for a
    # socket: follow it (no connection has been opened yet).
    started = dj_database_url.parse(os.environ["DATABASE_URL"])
    settings.DATABASES["default"]["HOST"] = started["HOST"]
