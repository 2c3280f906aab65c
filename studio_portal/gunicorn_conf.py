"""gunicorn's settings for the Procfile's web process (``-c python:studio_portal.gunicorn_conf``).

The Procfile passes the address and the worker count (``PORT``, ``WEB_CONCURRENCY``); the rest
is here. gunicorn's own log lines take the app's format (``LOG_FORMAT``: JSON lines unless
DEBUG is on). No access log: request paths carry gallery tokens and reset links, and the
platform's router logs requests already.
"""

from __future__ import annotations

from studio_portal.env import env_bool, env_int, env_str

# A sync worker handles one request at a time; an upload reads only headers (the check runs in
# a worker), so 2 minutes is a hung request, not a slow one.
timeout = env_int("WEB_TIMEOUT", 120)
graceful_timeout = 30
# Workers are replaced now and then, so a slow leak never grows without bound.
max_requests = 1000
max_requests_jitter = 100
# X-Forwarded-Proto is believed from these proxies only (comma-separated; "*" behind a platform
# router that is the only way in).
forwarded_allow_ips = env_str("FORWARDED_ALLOW_IPS", "127.0.0.1")

_format = env_str("LOG_FORMAT", "plain" if env_bool("DEBUG") else "json")
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "studio_portal.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if _format == "json" else "plain",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
    },
}
