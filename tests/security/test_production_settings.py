"""Production settings (DEBUG=false, secrets from the environment) pass `check --deploy` with no
warning, and turn on HSTS, HTTPS redirects and secure cookies."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _production_env() -> dict[str, str]:
    from cryptography.fernet import Fernet

    # Not the test session's switches: the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTEST_VERSION", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        SCAN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        ALLOWED_HOSTS=".cradle.example",
        DJANGO_SETTINGS_MODULE="studio_portal.settings",
    )
    return env


def _manage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_production_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_no_issues_with_production_settings() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_turns_on_hsts_https_and_secure_cookies() -> None:
    names = [
        "DEBUG",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "CSRF_COOKIE_SECURE",
        "WEBHOOK_ALLOW_HTTP",
        "WEBHOOK_ALLOW_PRIVATE_HOSTS",
        "RATE_LIMITS_ENABLED",
        "X_FRAME_OPTIONS",
        "CRADLE_PUBLIC_PORT",
    ]
    code = (
        "from django.conf import settings; import json; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}))"
    )
    result = _manage("shell", "-c", code)
    assert result.returncode == 0, result.stderr[-2000:]
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values == {
        "DEBUG": False,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_SECURE": True,
        "WEBHOOK_ALLOW_HTTP": False,
        "WEBHOOK_ALLOW_PRIVATE_HOSTS": False,
        "RATE_LIMITS_ENABLED": True,
        "X_FRAME_OPTIONS": "DENY",
        "CRADLE_PUBLIC_PORT": "",  # a custom domain's links carry no ":8000"
    }


def _print_setting(name: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    code = f"from django.conf import settings; print(repr(settings.{name}))"
    return _manage("shell", "-c", code, env=env)


def test_debug_is_off_unless_the_environment_turns_it_on() -> None:
    env = _production_env()
    del env["DEBUG"]
    result = _print_setting("DEBUG", env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize(
    ("name", "dev_value"),
    [
        ("SECRET_KEY", "dev-only-not-secret-cradle"),
        ("SCAN_ENCRYPTION_KEY", "ZGV2LW9ubHktc2Nhbi1rZXktbm90LWZvci1wcm9kdWM="),
    ],
)
def test_production_refuses_to_start_with_a_development_secret(name: str, dev_value: str) -> None:
    env = _production_env()
    del env["DEBUG"]  # off by default
    env[name] = dev_value
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert f"{name} is the public development value" in result.stderr
    env.pop(name)
    missing = _manage("check", env=env)
    assert missing.returncode != 0 and f"{name} (or {name}_FILE) must be set" in missing.stderr
