"""The settings module: read from the environment only, each name once, nothing started on
import; persistent, health-checked database connections; JSON logs in production."""

from __future__ import annotations

import ast
import json
import logging
import runpy
import sys

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from studio_portal.logs import JsonFormatter

SETTINGS_FILE = django_settings.BASE_DIR / "studio_portal" / "settings.py"
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-production-secret-of-enough-length-0123456789-abcdefghij",
    "SCAN_ENCRYPTION_KEY": "cHJvZHVjdGlvbi1zY2FuLWtleS0zMi1ieXRlcy1sb25n",
    "DATABASE_URL": "postgres://cradle:pw@db.internal:5432/cradle",
}


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str | None) -> dict[str, object]:
    """Evaluate studio_portal/settings.py afresh with these variables (None: unset)."""
    with monkeypatch.context() as patch:
        for name in ("DATABASE_CONN_MAX_AGE", "LOG_FORMAT", "STORAGE_BACKEND"):
            patch.delenv(name, raising=False)
        for name, value in env.items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        return runpy.run_path(str(SETTINGS_FILE))


def _assigned_names(body: list[ast.stmt]) -> list[str]:
    names = []
    for node in body:
        if isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
        elif isinstance(node, ast.If):
            # Alternatives (if / else) may each set a name once; a name set before the if and
            # again inside it is set twice.
            branch = _assigned_names(node.body)
            other = _assigned_names(node.orelse)
            names += sorted(set(branch) | set(other))
    return names


def test_each_public_setting_is_defined_once() -> None:
    names = [
        n
        for n in _assigned_names(ast.parse(SETTINGS_FILE.read_text()).body)
        if not n.startswith("_")
    ]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
    assert {"MIDDLEWARE", "REST_FRAMEWORK", "LOGGING", "RENDER_JOB_LEASE_SECONDS"} <= set(names)


def test_the_merged_settings_keep_every_part(settings) -> None:
    assert settings.MIDDLEWARE[:2] == [
        "studio_portal.health.HealthCheckMiddleware",
        "django_tenants.middleware.main.TenantMainMiddleware",
    ]
    assert settings.MIDDLEWARE[-2:] == [
        "studio_portal.security.SecurityHeadersMiddleware",
        "studio_portal.security.RateLimitMiddleware",
    ]
    assert settings.REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"] == [
        "rest_framework.permissions.IsAuthenticated"
    ]
    assert settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"][0] == (
        "studio_portal.api.authentication.ApiKeyAuthentication"
    )
    for name in ("python_http_client", "twilio", "sendgrid", "urllib3", "pgserver"):
        assert settings.LOGGING["loggers"][name] == {"level": "WARNING"}


def test_importing_the_settings_starts_no_database(monkeypatch, tmp_path) -> None:
    local = tmp_path / ".local"
    values = _settings(monkeypatch, DEBUG="true", DATABASE_URL=None, CRADLE_LOCAL_DIR=str(local))
    # Development points at the embedded cluster's socket, which only the dev stack starts.
    assert values["DATABASES"]["default"]["HOST"] == str(local / "pgdata")
    assert values["DATABASES"]["default"]["NAME"] == "cradle"
    assert not (local / "pgdata").exists()


def test_production_without_a_database_url_refuses_to_start(monkeypatch) -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must be set when DEBUG is off"):
        _settings(monkeypatch, **{**PRODUCTION, "DATABASE_URL": None})


def test_database_connections_persist_and_are_checked_before_reuse(monkeypatch) -> None:
    database = _settings(monkeypatch, **PRODUCTION)["DATABASES"]["default"]
    assert database["CONN_MAX_AGE"] == 60
    assert database["CONN_HEALTH_CHECKS"] is True
    assert database["ENGINE"] == "django_tenants.postgresql_backend"
    assert (database["HOST"], database["NAME"]) == ("db.internal", "cradle")
    closed = _settings(monkeypatch, **PRODUCTION, DATABASE_CONN_MAX_AGE="0")["DATABASES"]
    assert closed["default"]["CONN_MAX_AGE"] == 0


def test_production_logs_are_json_and_development_logs_plain(monkeypatch) -> None:
    production = _settings(monkeypatch, **PRODUCTION)["LOGGING"]
    assert production["handlers"]["console"]["formatter"] == "json"
    development = _settings(monkeypatch, **{**PRODUCTION, "DEBUG": "true"})["LOGGING"]
    assert development["handlers"]["console"]["formatter"] == "plain"
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT must be plain or json"):
        _settings(monkeypatch, **PRODUCTION, LOG_FORMAT="xml")


def test_a_json_log_line_carries_the_message_extras_and_traceback() -> None:
    try:
        raise ValueError("bad scan")
    except ValueError:
        record = logging.getLogger("render.services").makeRecord(
            "render.services",
            logging.ERROR,
            __file__,
            1,
            "job %s failed",
            ("j-42",),
            sys.exc_info(),
            extra={"studio": "alpha", "path": SETTINGS_FILE},
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "render.services"
    assert entry["message"] == "job j-42 failed"
    assert entry["studio"] == "alpha"
    assert entry["path"] == str(SETTINGS_FILE)
    assert entry["exc"].startswith("Traceback") and "ValueError: bad scan" in entry["exc"]
    assert entry["time"].endswith("+00:00")
