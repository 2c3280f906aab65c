#!/usr/bin/env python
import os
import sys
from pathlib import Path

from studio_portal.embedded import development_services_start
from studio_portal.env import env_bool, env_str


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio_portal.settings")

    if env_bool("DEBUG") and not env_str("DATABASE_URL"):
        # Development by hand: the embedded PostgreSQL (started here, not by the settings).
        root = Path(__file__).resolve().parent
        local_dir = Path(env_str("CRADLE_LOCAL_DIR", str(root / ".local")))
        development_services_start(local_dir, os.environ)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
