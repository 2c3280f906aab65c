"""Typed readers for settings that come from the environment.

A secret may be given directly (``NAME``) or as a path to a file holding it (``NAME_FILE``), the
way container orchestrators mount secrets.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = env_str(name)
    if not value:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_float(name: str, default: float) -> float:
    value = env_str(name)
    if not value:
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_secret(name: str, *, debug: bool, dev_default: str) -> str:
    """A secret that must be set in production; development gets a fixed, clearly fake value,
    which production refuses too (it is in the repository for anyone to read)."""
    value = env_str(name)
    if debug:
        return value or dev_default
    if not value:
        raise ImproperlyConfigured(
            f"{name} (or {name}_FILE) must be set when DEBUG is off "
            "(for development, set DEBUG=true: make run and make test do)"
        )
    if value == dev_default:
        raise ImproperlyConfigured(
            f"{name} is the public development value; set a secret of your own in production"
        )
    return value
