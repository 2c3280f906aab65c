"""pytest plugin (``-p tests.stack`` in pyproject.toml): the test run's development stack.

Loaded before pytest-django reads the settings, it starts the embedded PostgreSQL when no
``DATABASE_URL`` is set and exports its address, so the settings only read the environment, and
every subprocess a test starts (workers, ``manage.py``, gunicorn) uses the same server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    if early_config.getoption("help", False) or early_config.getoption("version", 0):
        return
    from studio_portal.embedded import development_services_start

    local_dir = Path(os.environ.get("CRADLE_LOCAL_DIR") or ROOT / ".local")
    development_services_start(local_dir, os.environ)
