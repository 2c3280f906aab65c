"""Cradle's one settings module. Everything that varies between machines comes from the
environment (see ``.env.example``); nothing secret lives in the repository.

Each name is set once, and importing this module starts nothing: the development stack
(``make run``, ``make test``, ``manage.py`` with DEBUG on) starts the embedded PostgreSQL and
Redis and hands their addresses over in ``DATABASE_URL`` / ``BROKER_URL``."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from studio_portal.embedded import embedded_database_url
from studio_portal.env import env_bool, env_float, env_int, env_list, env_secret, env_str
from studio_portal.outbox_settings import broker_url_with_timeouts

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(env_str("CRADLE_LOCAL_DIR", str(BASE_DIR / ".local")))
TESTING = "PYTEST_VERSION" in os.environ  # set by pytest itself before settings load

# Off unless the development stack turns it on: `make run` / `make test` (the Makefile) and
# pytest itself. With it off, the secrets below must be real: a missing one, or the public
# development value, stops the process at start-up.
DEBUG = env_bool("DEBUG", default=TESTING)
SECRET_KEY = env_secret("SECRET_KEY", debug=DEBUG, dev_default="dev-only-not-secret-cradle")
# Fernet key (urlsafe base64, 32 bytes) that encrypts original scans at rest.
SCAN_ENCRYPTION_KEY = env_secret(
    "SCAN_ENCRYPTION_KEY",
    debug=DEBUG,
    dev_default="ZGV2LW9ubHktc2Nhbi1rZXktbm90LWZvci1wcm9kdWM=",
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [".localhost", "localhost", "127.0.0.1", "testserver"])
# The parent domain studios get a subdomain of: demo.localhost, or <studio>.cradle.example.
CRADLE_BASE_DOMAIN = env_str("CRADLE_BASE_DOMAIN", "localhost")
CRADLE_PUBLIC_URL_SCHEME = env_str("CRADLE_PUBLIC_URL_SCHEME", "http")
# Links name a port only when one is set, or in development (runserver's 8000); in production
# the proxy answers on 443/80 and a custom domain's links must not carry ":8000".
CRADLE_PUBLIC_PORT = env_str("CRADLE_PUBLIC_PORT", "8000" if DEBUG else "")
# A custom domain a studio lets go (or a closed studio's) cannot be claimed by another studio for
# this many days: the parents' old links must not open someone else's studio.
CUSTOM_DOMAIN_HOLD_DAYS = env_int("CUSTOM_DOMAIN_HOLD_DAYS", 30)

SHARED_APPS = [
    "django_tenants",
    "studio_portal.tenants",
    "studio_portal.accounts",
    "billing",
    "verification",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_dramatiq",
    "studio_portal",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "studio_portal.accounts",
    "studio_portal.api",
    "studio_portal.audit",
    "branding",
    "render",
    "galleries",
]
INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Studio"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "studio_portal.urls_public"
ROOT_URLCONF = "studio_portal.urls_tenant"
# An unknown host is a 404, never the public site: a typo in a studio's domain must not leak.
SHOW_PUBLIC_IF_NO_TENANT_FOUND = False
AUTH_USER_MODEL = "accounts.User"

MIDDLEWARE = [
    # /healthz and /readyz answer before the host, HTTPS and tenant checks (studio_portal.health).
    "studio_portal.health.HealthCheckMiddleware",
    "django_tenants.middleware.main.TenantMainMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "studio_portal.security.SecurityHeadersMiddleware",
    "studio_portal.security.RateLimitMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "branding.context_processors.branding",
            ],
        },
    },
]
WSGI_APPLICATION = "studio_portal.wsgi.application"

# Development without DATABASE_URL: the embedded cluster under .local/, which make run, make test
# and manage.py start (studio_portal.embedded); production names its server.
DATABASE_URL = env_str("DATABASE_URL") or (embedded_database_url(LOCAL_DIR) if DEBUG else "")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL must be set when DEBUG is off (postgres://user:password@host:5432/name)"
    )
# Persistent connections (gunicorn's sync workers and the Dramatiq workers keep theirs for this
# many seconds; a request then skips the ~11 ms connect), each checked before reuse so a server
# restart costs one reconnect, never an error. 0 closes every connection after its request.
_database = dj_database_url.parse(
    DATABASE_URL,
    conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    conn_health_checks=True,
)
# A server that does not answer fails the request (and /readyz) in seconds, not minutes.
_database.setdefault("OPTIONS", {})["connect_timeout"] = env_int("DATABASE_CONNECT_TIMEOUT", 5)
_database["ENGINE"] = "django_tenants.postgresql_backend"
if TESTING:
    # One test database per pytest process: several test runs may share one server.
    _database["TEST"] = {"NAME": f"test_{_database['NAME']}_{os.getpid()}"}
DATABASES = {"default": _database}
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
# Set search_path once per schema switch instead of before every query.
TENANT_LIMIT_SET_CALLS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Files: local disk by default; S3 through django-storages when STORAGE_BACKEND says so. Scans
# and portraits are never served from a public media URL: views check the studio first.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(LOCAL_DIR / ("test-media" if TESTING else "media"))))
_storage = env_str("STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")
STORAGE_BACKEND = "storages.backends.s3.S3Storage" if _storage == "s3" else _storage
STORAGES = {
    "default": {"BACKEND": STORAGE_BACKEND},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if STORAGE_BACKEND.startswith("storages.backends.s3"):
    # Keys are not read here: boto3 finds AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or an
    # instance role) itself. Objects stay private and never overwrite each other; the views
    # stream them after checking the studio, so no URL to a bucket object is ever handed out.
    AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
    if not AWS_STORAGE_BUCKET_NAME:
        raise ImproperlyConfigured(
            f"STORAGE_BACKEND={STORAGE_BACKEND} needs AWS_STORAGE_BUCKET_NAME (the bucket's name)"
        )
    AWS_S3_SSE = env_str("AWS_S3_SSE")  # server-side encryption: AES256, aws:kms, or unset
    if AWS_S3_SSE not in {"", "AES256", "aws:kms"}:
        raise ImproperlyConfigured(
            f"AWS_S3_SSE must be AES256, aws:kms or unset, got {AWS_S3_SSE!r}"
        )
    STORAGES["default"]["OPTIONS"] = {
        "bucket_name": AWS_STORAGE_BUCKET_NAME,
        "region_name": env_str("AWS_S3_REGION_NAME") or None,  # unset: boto3's AWS_DEFAULT_REGION
        "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,  # MinIO or another S3 look-alike
        "addressing_style": env_str("AWS_S3_ADDRESSING_STYLE") or None,  # "path" for most MinIO
        "default_acl": "private",
        "querystring_auth": True,
        "file_overwrite": False,
        "object_parameters": {"ServerSideEncryption": AWS_S3_SSE} if AWS_S3_SSE else {},
    }
STATIC_URL = "/static/"
STATIC_ROOT = LOCAL_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "studio_portal" / "static"]

# Jobs. BROKER_URL picks the broker: redis://…, amqp://… (RabbitMQ) or stub:// (tests). Unset: the
# embedded Redis make run starts, on CRADLE_REDIS_PORT (as studio_portal.embedded reads it).
BROKER_URL = env_str(
    "BROKER_URL",
    "stub://" if TESTING else f"redis://127.0.0.1:{env_int('CRADLE_REDIS_PORT', 6390)}/0",
)
if BROKER_URL.startswith("stub://"):
    _broker = {"BROKER": "dramatiq.brokers.stub.StubBroker", "OPTIONS": {}}
elif BROKER_URL.startswith("amqp"):
    _broker = {"BROKER": "dramatiq.brokers.rabbitmq.RabbitmqBroker", "OPTIONS": {"url": BROKER_URL}}
else:
    # A worker that sent no heartbeat for this long is dead and its unacknowledged messages go
    # back on the queue; maintenance (the check) runs on this many commands per million.
    _broker = {
        "BROKER": "dramatiq.brokers.redis.RedisBroker",
        "OPTIONS": {
            # Socket timeouts for every broker client (web, workers, scheduler): a Redis that
            # stops answering is an error within seconds, never a hang (studio_portal.outbox).
            "url": broker_url_with_timeouts(
                BROKER_URL,
                connect=env_float("BROKER_CONNECT_TIMEOUT", 2.0),
                read=env_float("BROKER_SOCKET_TIMEOUT", 10.0),
            ),
            "heartbeat_timeout": env_int("DRAMATIQ_HEARTBEAT_TIMEOUT_MS", 60_000),
            "maintenance_chance": env_int("DRAMATIQ_MAINTENANCE_CHANCE", 1000),
        },
    }
DRAMATIQ_BROKER = {
    **_broker,
    "MIDDLEWARE": [
        "dramatiq.middleware.AgeLimit",
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Retries",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
        "periodiq.PeriodiqMiddleware",
    ],
}
DRAMATIQ_AUTODISCOVER_MODULES = ["tasks"]

# Pipeline
RENDER_ENGINE = env_str("RENDER_ENGINE", "relight")
RENDER_MODEL_DIR = env_str("RENDER_MODEL_DIR", str(LOCAL_DIR / "models" / "sd15-controlnet-depth"))
RENDER_CANDIDATES = 5
# A job whose best portrait scores under this (render.pipeline.scoring, 0..1) goes to "needs
# review" with the reason instead of "ready". Calibrated on known-good and known-bad renders:
# good relight sets score 0.78-0.97 at their best, a merged placenta, a misplaced lip or an
# ashy face 0.1-0.3 (render/tests/pipeline/test_scoring_known_bad.py).
RENDER_REVIEW_THRESHOLD = env_float("RENDER_REVIEW_THRESHOLD", 0.5)
# Make the print file (Real-ESRGAN ×4, ~15 s of a render worker) as soon as a job is ready, for
# the primary picked by score; a primary chosen by hand always gets one. Off in tests: their
# real-worker journeys would each wait for an upscale (test_print_size covers it).
PRINT_FILES_AUTOMATIC = env_bool("PRINT_FILES_AUTOMATIC", default=not TESTING)
# How long a worker holds a job without news before another may take it over (render.services).
RENDER_JOB_LEASE_SECONDS = env_int("RENDER_JOB_LEASE_SECONDS", 180)
SCAN_MAX_BYTES = env_int("SCAN_MAX_BYTES", 200_000_000)  # 200 MB, as the refusal says it
SCAN_MAX_PIXELS = env_int("SCAN_MAX_PIXELS", 40_000_000)
# The most memory the worker's decode of one upload may take (MB, estimated from its headers
# before decoding: render.pipeline.ingest.inspect); a clip samples fewer frames to fit, and a
# file that cannot fit is refused at the upload with the reason.
RENDER_DECODE_MEMORY_MB = env_int("RENDER_DECODE_MEMORY_MB", 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
SCAN_RETENTION_DAYS_MAX = 90
CONSENT_TEXT_VERSION = "2026-11"

# Provenance signing: production passes a real certificate chain and key; development generates
# a local CA once under .local/c2pa (readers then report the manifest as untrusted).
C2PA_CERT_CHAIN_FILE = env_str("C2PA_CERT_CHAIN_FILE")
C2PA_PRIVATE_KEY_FILE = env_str("C2PA_PRIVATE_KEY_FILE")
C2PA_DEV_DIR = LOCAL_DIR / "c2pa"

# Delivery: "console" prints messages; "sendgrid" / "twilio" use the real SDKs. The *_API_BASE
# settings point the SDKs at another host (a local fake in tests).
EMAIL_DELIVERY_BACKEND = env_str("EMAIL_DELIVERY_BACKEND", "console")
SMS_DELIVERY_BACKEND = env_str("SMS_DELIVERY_BACKEND", "console")
SENDGRID_API_KEY = env_str("SENDGRID_API_KEY")
SENDGRID_API_BASE = env_str("SENDGRID_API_BASE", "https://api.sendgrid.com")
DELIVERY_FROM_EMAIL = env_str("DELIVERY_FROM_EMAIL", "gallery@cradle.example")
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
TWILIO_FROM_NUMBER = env_str("TWILIO_FROM_NUMBER", "+15005550006")
TWILIO_API_BASE = env_str("TWILIO_API_BASE", "https://api.twilio.com")

# Billing
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env_str("STRIPE_API_BASE")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"  # a gallery link's token never leaves in a Referer
if not DEBUG:
    SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 60 * 60)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# One JSON object a line in production (LOG_FORMAT=json, the default with DEBUG off), for a log
# collector to index; readable lines in development.
LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "studio_portal.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own lines (a 5xx, a refused host) in the same format, once: its default
        # handlers (a DEBUG-only console, mail to ADMINS) go, and its records reach the root's.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # pgserver logs its shutdown from an atexit hook, after stderr may be closed.
        "pgserver": {"level": "WARNING"},
        # The SendGrid and Twilio SDKs log whole request bodies (a parent's name, address,
        # number) at DEBUG/INFO: they never log below WARNING here.
        **{
            name: {"level": "WARNING"}
            for name in ("python_http_client", "twilio", "sendgrid", "urllib3")
        },
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- billing ---
# The Stripe API version Cradle is written against; every request and the webhook endpoint
# (configure it with the same version in Stripe) use it, so a Stripe upgrade never surprises us.
STRIPE_API_VERSION = env_str("STRIPE_API_VERSION", "2026-10-28.endive")
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY")
# Plans: Pilot is one Checkout payment for one month with a cap on deliveries; Growth and
# Studio are monthly subscriptions with no cap. The Stripe Price ids come from the environment.
BILLING_PLANS = {
    "pilot": {
        "label": "Pilot",
        "price_id": env_str("STRIPE_PRICE_PILOT"),
        "mode": "payment",
        "amount_cents": env_int("PILOT_PRICE_CENTS", 3900),
        "months": 1,
        "delivery_cap": env_int("PILOT_DELIVERY_CAP", 25),
    },
    "growth": {
        "label": "Growth",
        "price_id": env_str("STRIPE_PRICE_GROWTH"),
        "mode": "subscription",
        # What the landing and billing pages quote: keep it equal to the Stripe Price's amount.
        "amount_cents": env_int("GROWTH_PRICE_CENTS", 9900),
    },
    "studio": {
        "label": "Studio",
        "price_id": env_str("STRIPE_PRICE_STUDIO"),
        "mode": "subscription",
        "amount_cents": env_int("STUDIO_PRICE_CENTS", 24900),
    },
}
PILOT_REFUND_DAYS = env_int("PILOT_REFUND_DAYS", 7)

# --- galleries ---
# SendGrid's Signed Event Webhook verification key (base64 DER, from Mail Settings); empty
# refuses every event. Twilio callbacks are checked with TWILIO_AUTH_TOKEN.
SENDGRID_WEBHOOK_PUBLIC_KEY = env_str("SENDGRID_WEBHOOK_PUBLIC_KEY")

# --- API & security ---
# The REST API: members' API keys (Bearer) or the dashboard session; one error shape; limits
# per studio member; the OpenAPI document covers /api/ only (drf-spectacular, Swagger UI served
# from drf-spectacular-sidecar's static files, no CDN).
REST_FRAMEWORK = {
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "studio_portal.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["studio_portal.api.throttling.StudioApiThrottle"],
    "EXCEPTION_HANDLER": "studio_portal.api.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Cradle studio API",
    "DESCRIPTION": (
        "Sessions, scan uploads, render jobs, portraits, galleries and deliveries of one studio, "
        "on the studio's own domain. Send `Authorization: Bearer <key>` (make keys at "
        "/api/settings/). Outgoing webhooks carry `Cradle-Signature: t=<unix>,v1=<hex>`, the "
        "HMAC-SHA256 of `<t>.<body>` under the endpoint's secret."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["studio_portal.api.schema.only_api_endpoints"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}
# Limits are off under pytest unless a test turns them on: the suite signs in hundreds of
# times from one address. Production CACHES must be shared by every web process (Redis).
RATE_LIMITS_ENABLED = env_bool("RATE_LIMITS_ENABLED", default=not TESTING)
API_RATE_LIMITS = {
    "api": env_str("API_RATE_LIMIT", "600/minute"),
    "scan_upload": env_str("API_UPLOAD_RATE_LIMIT", "30/minute"),
}
# The reverse proxies in front of Cradle (TLS terminator, load balancer), as addresses or CIDR
# networks, comma-separated: X-Forwarded-For is believed only from these hops, so the limits
# count each client and not the proxy (studio_portal.client_address). Unset: the header is
# ignored and the connecting address is the client.
CRADLE_TRUSTED_PROXIES = env_list("CRADLE_TRUSTED_PROXIES", [])
# Wrong passwords for one account from anywhere: past this many in 15 minutes the account takes
# one try every LOGIN_ACCOUNT_BACKOFF_SECONDS (a slower pace, never a lock a stranger can hold).
LOGIN_FAILURES_PER_ACCOUNT = env_int("LOGIN_FAILURES_PER_ACCOUNT", 10)
LOGIN_ACCOUNT_BACKOFF_SECONDS = env_int("LOGIN_ACCOUNT_BACKOFF_SECONDS", 30)
PAGE_RATE_LIMITS = {
    "login": {
        "url_names": ["login"],
        "attempts": env_int("LOGIN_ATTEMPTS_PER_10_MIN", 20),
        "window_seconds": 600,
    },
    "password_reset": {
        "url_names": ["password-reset"],
        "attempts": env_int("PASSWORD_RESETS_PER_HOUR", 5),
        "window_seconds": 3600,
    },
    "upload": {
        "url_names": ["scan-upload"],
        "attempts": env_int("UPLOADS_PER_10_MIN", 60),
        "window_seconds": 600,
    },
    # The public check (/verify/ and POST /api/verify/, one allowance for both): each reads a
    # stranger's image, so an address gets a few a minute, not a flood.
    "verify": {
        "url_names": ["verify", "api-verify"],
        "attempts": env_int("VERIFY_CHECKS_PER_10_MIN", 30),
        "window_seconds": 600,
    },
}
# The largest image the public check reads (in memory only, never stored).
VERIFY_MAX_UPLOAD_BYTES = env_int("VERIFY_MAX_UPLOAD_BYTES", 15 * 1024 * 1024)
CACHE_URL = env_str(
    "CACHE_URL",
    "" if TESTING or not BROKER_URL.startswith("redis") else BROKER_URL.rsplit("/", 1)[0] + "/1",
)
CACHES = {
    # Short socket timeouts: the cache holds only request limits, which fail open when it is down
    # (studio_portal.counters); a stalled Redis must not hold a parent's page for long.
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
    }
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
# Webhook URLs must be public https addresses; development and tests may use local http ones.
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", default=DEBUG)
WEBHOOK_ALLOW_PRIVATE_HOSTS = env_bool("WEBHOOK_ALLOW_PRIVATE_HOSTS", default=DEBUG)
