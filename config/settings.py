"""Consign settings. Configuration comes only from environment variables (config/env.py)."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

from celery.schedules import crontab
from csp.constants import NONE, SELF

from config.env import (
    BASE_DIR,
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    DEFAULT_SANDBOX_URL,
    DEVELOPMENT_SECRETS_KEY,
    env,
)

# Production is the default: development (debug pages, the public development secrets key)
# is asked for explicitly, as `make run`, `make test` (config/settings_test.py) and the
# dev tooling (scripts/devservices.py) do.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY",
    default="django-insecure-development-only-key-change-me-in-production-0123456789",
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "inventory",
    "logistics",
    "orders",
    "partners",
    "backoffice",
    "returns",
    "economics",
    "routing",
    # Outside the domain apps: demo data (seed_demo) and the LSP sandbox (run_lsp_sandbox).
    "demo",
    "sandbox",
    # Last, so that its post_migrate handler runs after every app's permissions exist.
    "core",
]

MIDDLEWARE = [
    # Outermost: a Content-Security-Policy on every answer, including those made or replaced
    # outside django-csp (problem+json under /api/, /webhooks/ errors, the database-outage 503).
    "core.middleware.CSPFallbackMiddleware",
    # Cache-Control: no-store, private on every answer but static files (core/middleware.py).
    "core.middleware.NoStoreMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Problem+json for everything under /api/, and the 1 MiB body cap there.
    "core.middleware.ApiProblemMiddleware",
    # A lost database connection is a 503 (problem+json under /api/), never a 500 page.
    "core.middleware.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Sessions, session users, messages, CSP and the agent's time zone are for browser pages: the
    # core.middleware versions skip the partner API under /api/v1/ (bearer key, JSON).
    "core.middleware.SessionMiddleware",
    # Django's, minus the trailing-slash redirect under /api/.
    "core.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "core.middleware.AuthenticationMiddleware",
    "core.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Back office: render times in the agent's browser time zone.
    "backoffice.middleware.AgentTimezoneMiddleware",
    # Content-Security-Policy header (CONTENT_SECURITY_POLICY below).
    "core.middleware.CSPMiddleware",
    # Security log line for every 401/403 and login bounce (core/security_audit.py).
    "core.security_audit.SecurityAuditMiddleware",
    # NUL in a path is a 404, in a query string or form field a 400 (Postgres text cannot
    # store it), before any view sends one to the database; inside the session, CSP and
    # audit middleware, so these answers get the usual headers and log lines.
    "core.middleware.UnstorableInputMiddleware",
    # Login throttling; django-axes wants to be last.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out username/IP before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": env.db_url("DATABASE_URL", default=DEFAULT_DATABASE_URL)}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})
# A statement that runs away must not hold locks forever.
DATABASES["default"]["OPTIONS"].setdefault(
    "options", f"-c statement_timeout={env.int('DATABASE_STATEMENT_TIMEOUT_MS', default=30000)}"
)
# Django's own cursors bind parameters on the client and never prepare; this only
# lets the few hot statements sent through core.pipeline.prepared_cursor be
# planned once per connection (docs/decisions/0002). No pooler sits in between.
DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default=DEFAULT_REDIS_URL)
CACHES = {
    "default": {
        # Django's RedisCache, but a Redis outage reads as a miss instead of a 500.
        "BACKEND": "core.cache.ResilientRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="consign"),
        "TIMEOUT": 300,
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")
MEDIA_URL = "media/"
# Development serves static files straight from the finders, no collectstatic needed.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "admin:login"
# After logging in without a `next`, `/` sends each role to its own start screen
# (backoffice.views.home); logging out shows the login form again.
LOGIN_REDIRECT_URL = "backoffice:home"
LOGOUT_REDIRECT_URL = "admin:login"

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "logistics.tasks.dispatch_*": {"queue": "dispatch"},
    "logistics.tasks.tracking_*": {"queue": "tracking"},
}
# Longer than any countdown or retry backoff we schedule, so Redis never
# redelivers a task that is merely waiting for its ETA.
# The longest countdown is a partner-webhook retry (PARTNER_WEBHOOK_RETRY_MAX_SECONDS, 1 h);
# tests/core/test_deploy_settings.py fails if a countdown ever reaches this value.
CELERY_VISIBILITY_TIMEOUT_SECONDS = env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=7200)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS}
# A message delivered this many times without finishing (it kills its worker) is dropped
# and logged instead of looping forever (core/tasks.py GuardedTask).
CELERY_MAX_DELIVERIES = env.int("CELERY_MAX_DELIVERIES", default=5)
# With acks_late, a task still running when the broker connection drops would be run twice.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 86400
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker never gives up on its broker (Celery's default stops after 100 attempts,
# about 50 minutes): it keeps retrying until the broker is back.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# After a broker outage the worker tries again every this many seconds at most (kombu's
# default back-off grows to 30 s; core/broker_reconnect.py).
BROKER_RECONNECT_MAX_SECONDS = env.float("BROKER_RECONNECT_MAX_SECONDS", default=2.0)
# The queues a worker must consume (Procfile, docs/operations.md); /readyz names each one
# that no live worker stamped within 3 heartbeats (core/worker_health.py).
WORKER_QUEUES = ("dispatch", "tracking", "default")
WORKER_HEARTBEAT_SECONDS = env.float("WORKER_HEARTBEAT_SECONDS", default=5.0)
# kombu's Redis transport can crash the worker when the broker drops while tasks run;
# core/broker_redis.py explains the race and holds the fix (issue 15, decision 0007).
CELERY_BROKER_TRANSPORT = (
    "core.broker_redis:Transport"
    if CELERY_BROKER_URL.split("://", 1)[0] in ("redis", "rediss")
    else None
)

# --- API --------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "core.problems.problem_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Consign partner API",
    "DESCRIPTION": (
        "Order intake, status, shipments and stock availability for sales channels. "
        "The webhooks Consign sends to a channel are described under `x-webhooks`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The machine running the docs may be offline: Swagger UI and Redoc come from the sidecar.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.Order.Status",
        "ShipmentStatusEnum": "logistics.models.Shipment.Status",
        "TrackingStatusEnum": "logistics.models.TrackingStatus",
        "AllocationStatusEnum": "inventory.models.Allocation.Status",
        "ReasonEnum": "returns.models.ReturnLine.Reason",
        # One name for the webhook topics, whether a field holds one (`topic`) or a list.
        "TopicsEnum": "logistics.webhook_topics.Topic",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "partners.schema.postprocess_schema",
    ],
}
# Partner API (partners app).
# Per-key rate, DRF syntax "<n>/<second|minute|hour|day>".
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="1200/minute")
# Requests without a valid key (none, unknown, revoked, malformed) per client IP; over it
# they get 429 instead of 401. Requests with a valid key never count here.
API_AUTH_FAILURE_RATE = env.str("API_AUTH_FAILURE_RATE", default="30/minute")
# `api_key.used` security-log line: at most one per key and client IP per this many
# seconds per web process, counting the uses it stands for (0: one line per request).
API_KEY_USE_LOG_SECONDS = env.int("API_KEY_USE_LOG_SECONDS", default=60)
# Active API keys are remembered per web process this long, checked against a shared
# generation in Redis that every revocation or key/channel change renews (0: off).
API_KEY_CACHE_SECONDS = env.int("API_KEY_CACHE_SECONDS", default=30)
# Largest request body accepted under /api/ (413 above it).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
# How long Idempotency-Key records are kept (never less than 24).
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# Channel connectors (partners/connectors/, docs/channels.md).
CHANNEL_HTTP_TIMEOUT_SECONDS = env.float("CHANNEL_HTTP_TIMEOUT_SECONDS", default=10.0)
CHANNEL_CONNECTOR_POLL_SECONDS = env.float("CHANNEL_CONNECTOR_POLL_SECONDS", default=60.0)
CHANNEL_CONNECTOR_FAILURE_THRESHOLD = env.int("CHANNEL_CONNECTOR_FAILURE_THRESHOLD", default=5)
CHANNEL_CONNECTOR_COOLDOWN_SECONDS = env.float("CHANNEL_CONNECTOR_COOLDOWN_SECONDS", default=300.0)
CHANNEL_CONNECTOR_RETRY_BASE_SECONDS = env.float(
    "CHANNEL_CONNECTOR_RETRY_BASE_SECONDS", default=5.0
)
CHANNEL_CONNECTOR_RETRY_MAX_SECONDS = env.float(
    "CHANNEL_CONNECTOR_RETRY_MAX_SECONDS", default=600.0
)

# --- Consign ----------------------------------------------------------------
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="consign-demo")
LSP_SANDBOX_URL = env.str("LSP_SANDBOX_URL", default=DEFAULT_SANDBOX_URL)
LSP_SANDBOX_STEP_SECONDS = env.float("LSP_SANDBOX_STEP_SECONDS", default=10.0)
# SQLite file the LSP sandbox keeps its shipments in (empty: var/lsp-sandbox-<port>.sqlite3;
# ":memory:" forgets them on exit). seed_demo registers the demo's shipments in it.
LSP_SANDBOX_STATE = env.str("LSP_SANDBOX_STATE", default="")
CONSIGN_PUBLIC_URL = env.str("CONSIGN_PUBLIC_URL", default="http://127.0.0.1:8000")
READYZ_TIMEOUT_SECONDS = env.float("READYZ_TIMEOUT_SECONDS", default=2.0)
# The rate-card CSV the sandbox bills its work with (GET /invoices/<YYYY-MM>.csv); "" = none.
LSP_SANDBOX_RATE_CARD = env.str("LSP_SANDBOX_RATE_CARD", default="")

# --- Logistics (dispatch, tracking, partner webhooks) -------------------------
# Secret the LSP sandbox signs its webhooks with; the demo `sandbox` provider uses it.
LSP_SANDBOX_WEBHOOK_SECRET = env.str(
    "LSP_SANDBOX_WEBHOOK_SECRET", default="whsec_Y29uc2lnbi1zYW5kYm94LWRlbW8tc2VjcmV0"
)
# Provider code used when neither the order's service level nor the warehouse names one.
LOGISTICS_DEFAULT_PROVIDER = env.str("LOGISTICS_DEFAULT_PROVIDER", default="sandbox")
# The delivery promise (docs/routing.md): carrier days when no transit time row and no
# service level says, and how long before a site's cut-off an unshipped order is at risk.
PROMISE_DEFAULT_TRANSIT_DAYS = env.int("PROMISE_DEFAULT_TRANSIT_DAYS", default=3)
PROMISE_AT_RISK_MINUTES = env.int("PROMISE_AT_RISK_MINUTES", default=60)
LSP_HTTP_TIMEOUT_SECONDS = env.float("LSP_HTTP_TIMEOUT_SECONDS", default=10.0)
# How long a process reuses the routing tables (rule set, sites, rate cards) it read
# (routing/tables.py): a published change reaches every process within this time.
ROUTING_TABLES_TTL_SECONDS = env.float("ROUTING_TABLES_TTL_SECONDS", default=5.0)
LSP_WEBHOOK_TOLERANCE_SECONDS = env.int("LSP_WEBHOOK_TOLERANCE_SECONDS", default=300)
LSP_WEBHOOK_MAX_BYTES = env.int("LSP_WEBHOOK_MAX_BYTES", default=256 * 1024)
DISPATCH_MAX_ATTEMPTS = env.int("DISPATCH_MAX_ATTEMPTS", default=8)
DISPATCH_RETRY_BASE_SECONDS = env.float("DISPATCH_RETRY_BASE_SECONDS", default=2.0)
DISPATCH_RETRY_MAX_SECONDS = env.float("DISPATCH_RETRY_MAX_SECONDS", default=300.0)
# Work (outbox row, inbound webhook, partner webhook) still not done this long after it was
# due is re-enqueued by the sweepers.
LOGISTICS_ACK_TIMEOUT_SECONDS = env.float("LOGISTICS_ACK_TIMEOUT_SECONDS", default=60.0)
# First tracking poll after dispatch: providers without webhooks / safety net for lost webhooks.
TRACKING_POLL_SECONDS = env.int("TRACKING_POLL_SECONDS", default=300)
# An event matched only by a provider reference or tracking number is not attached to a
# shipment that finished more than this many days before it: the number was recycled.
TRACKING_NUMBER_REUSE_DAYS = env.int("TRACKING_NUMBER_REUSE_DAYS", default=30)
TRACKING_SAFETY_POLL_SECONDS = env.int("TRACKING_SAFETY_POLL_SECONDS", default=1800)
TRACKING_POLL_MAX_SECONDS = env.int("TRACKING_POLL_MAX_SECONDS", default=6 * 3600)
# Inbound webhooks are processed in batches of up to this many, one transaction each.
TRACKING_BATCH_SIZE = env.int("TRACKING_BATCH_SIZE", default=100)
# A drain task hands over to a fresh one after this many seconds of back-to-back batches.
TRACKING_DRAIN_SECONDS = env.float("TRACKING_DRAIN_SECONDS", default=30.0)
# At most this many drain tasks wait in the `tracking` queue (instead of one per webhook);
# a slot held by a lost message frees itself after TRACKING_DRAIN_SLOT_SECONDS.
TRACKING_DRAIN_SLOTS = env.int("TRACKING_DRAIN_SLOTS", default=2)
TRACKING_DRAIN_SLOT_SECONDS = env.int("TRACKING_DRAIN_SLOT_SECONDS", default=10)
# A stored webhook whose processing failed this many times is parked as `failed` (shown in the
# ops exception queue) instead of being retried on: it is poison, not unlucky.
TRACKING_WEBHOOK_MAX_ATTEMPTS = env.int("TRACKING_WEBHOOK_MAX_ATTEMPTS", default=10)
PARTNER_WEBHOOK_MAX_ATTEMPTS = env.int("PARTNER_WEBHOOK_MAX_ATTEMPTS", default=10)
PARTNER_WEBHOOK_RETRY_BASE_SECONDS = env.float("PARTNER_WEBHOOK_RETRY_BASE_SECONDS", default=5.0)
PARTNER_WEBHOOK_RETRY_MAX_SECONDS = env.float("PARTNER_WEBHOOK_RETRY_MAX_SECONDS", default=3600.0)
PARTNER_WEBHOOK_TIMEOUT_SECONDS = env.float("PARTNER_WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# stock.changed: a channel hears of a SKU's changes at most once per window (beat period).
PARTNER_WEBHOOK_STOCK_WINDOW_SECONDS = env.float(
    "PARTNER_WEBHOOK_STOCK_WINDOW_SECONDS", default=60.0
)
# A webhook endpoint whose every delivery failed for this long is disabled (issue 18).
PARTNER_WEBHOOK_DISABLE_AFTER_HOURS = env.float("PARTNER_WEBHOOK_DISABLE_AFTER_HOURS", default=72.0)
# Beat periods (seconds): sweepers + due polls, and late-shipment detection.
LOGISTICS_SWEEP_SECONDS = env.float("LOGISTICS_SWEEP_SECONDS", default=15.0)
# How often the expected cost of new and newly dispatched shipments is priced (docs/economics.md).
ECONOMICS_SWEEP_SECONDS = env.float("ECONOMICS_SWEEP_SECONDS", default=30.0)
# An invoice line within max(absolute, percent of the expected amount) of what the rate
# card says is matched; an invoice profile may set its own (docs/economics.md).
ECONOMICS_TOLERANCE_ABSOLUTE = Decimal(env.str("ECONOMICS_TOLERANCE_ABSOLUTE", default="0.01"))
ECONOMICS_TOLERANCE_PERCENT = Decimal(env.str("ECONOMICS_TOLERANCE_PERCENT", default="0.5"))
# The provider scorecard's daily aggregates: how often beat recomputes them, and how many
# days back (today included) each run recomputes (docs/economics.md).
SCORECARD_SWEEP_SECONDS = env.float("SCORECARD_SWEEP_SECONDS", default=600.0)
SCORECARD_RECOMPUTE_DAYS = env.int("SCORECARD_RECOMPUTE_DAYS", default=2)
LOGISTICS_LATE_CHECK_SECONDS = env.float("LOGISTICS_LATE_CHECK_SECONDS", default=600.0)

# --- Production hardening (active whenever DEBUG is off) --------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
# Staff sessions end after 8 hours (a working day), not Django's two weeks.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# --- Security controls (SECURITY.md) ----------------------------------------------
# Strict: only our own scripts and styles, no inline code, no framing, no plugins.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Login throttling (django-axes): this many failures per username+IP locks that
# pair out for AXES_COOLOFF_MINUTES; a success resets the count.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
# ...and this many failures of one username from any IPs lock the username everywhere
# (core/login_throttle.py): password spraying from many addresses.
LOGIN_USERNAME_FAILURE_LIMIT = env.int("LOGIN_USERNAME_FAILURE_LIMIT", default=20)
AXES_HANDLER = "core.login_throttle.LoginAttemptsHandler"
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "core.security_audit.lockout_response"
AXES_VERBOSE = False
# Uploads and form bodies: Django answers 400 above these (core.views.bad_request says why).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("UPLOAD_MAX_BYTES", default=5 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("UPLOAD_MAX_FILES", default=10)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("UPLOAD_MAX_FIELDS", default=2000)
# Outbound HTTP to user-configured URLs (partner webhooks, LSP base URLs) refuses loopback
# and private addresses (core/ssrf.py), whatever DEBUG says. Destinations listed here
# (`host:port`, or `host` for any port) may be loopback or private: the local LSP sandbox
# (`make run` lists 127.0.0.1:8700), an LSP inside the operator's own network.
OUTBOUND_ALLOW_HOSTS = [
    h.strip() for h in env.list("OUTBOUND_ALLOW_HOSTS", default=[]) if h.strip()
]
# Deadlock (40P01) / serialization failure (40001): rerun the transaction this many times
# in all, with full-jitter backoff from this base (core/db_retry.py).
DB_RETRY_ATTEMPTS = env.int("DB_RETRY_ATTEMPTS", default=4)
DB_RETRY_BASE_SECONDS = env.float("DB_RETRY_BASE_SECONDS", default=0.05)
# Stored secrets (provider tokens, webhook secrets) are encrypted with these Fernet keys,
# comma-separated, newest first: the first encrypts, all decrypt (core/secrets.py; rotation in
# docs/operations.md). Development falls back to a fixed public key; production has none and
# `manage.py check` fails until it is set.
CONSIGN_SECRETS_KEY = [k.strip() for k in env.list("CONSIGN_SECRETS_KEY", default=[]) if k.strip()]
if DEBUG and not CONSIGN_SECRETS_KEY:
    CONSIGN_SECRETS_KEY = [DEVELOPMENT_SECRETS_KEY]
# Error reports mask every POST parameter and local variable named like a secret.
DEFAULT_EXCEPTION_REPORTER_FILTER = "core.secrets.SecretsExceptionReporterFilter"
# Also log to this file as JSON lines when set (the security log always goes to stderr).
SECURITY_LOG_FILE = env.str("SECURITY_LOG_FILE", default="")

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "core.security_log.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "security": {"class": "logging.StreamHandler", "formatter": "json"},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # JSON lines, UTC, never a secret (core/security_log.py).
        "consign.security": {
            "handlers": ["security"],
            "level": env.str("SECURITY_LOG_LEVEL", default="INFO"),
            "propagate": False,
        },
        "axes": {"level": "WARNING"},
        # Django's own security events (bad Host header, CSRF failure, oversized upload).
        "django.security": {"handlers": ["security"], "level": "INFO", "propagate": False},
    },
}
if SECURITY_LOG_FILE:
    LOGGING["handlers"]["security_file"] = {
        "class": "logging.handlers.WatchedFileHandler",
        "filename": SECURITY_LOG_FILE,
        "formatter": "json",
    }
    LOGGING["loggers"]["consign.security"]["handlers"].append("security_file")

# --- Inventory --------------------------------------------------------------
# Seconds between sweeps that retry every backordered order (safety net for a
# lost on-commit enqueue); receipts normally trigger allocation immediately.
INVENTORY_BACKORDER_SWEEP_SECONDS = env.int("INVENTORY_BACKORDER_SWEEP_SECONDS", default=300)
# Seconds between fetches of every LSP warehouse's stock snapshot (differences
# wait in the admin for an operations manager to accept).
INVENTORY_LSP_SNAPSHOT_SECONDS = env.int("INVENTORY_LSP_SNAPSHOT_SECONDS", default=3600)

# --- Partner API ------------------------------------------------------------

# --- Returns and customs (docs/returns-and-customs.md) --------------------------
# The shipper's EORI and VAT numbers printed on customs declarations and invoices.
CUSTOMS_EXPORTER_EORI = env.str("CUSTOMS_EXPORTER_EORI", default="NL000000000")
CUSTOMS_EXPORTER_VAT = env.str("CUSTOMS_EXPORTER_VAT", default="NL000000000B01")
# Seller name and address printed on commercial invoices and packing slips.
DOCUMENTS_SELLER_NAME = env.str("DOCUMENTS_SELLER_NAME", default="Consign Demo B.V.")
DOCUMENTS_SELLER_ADDRESS = env.str(
    "DOCUMENTS_SELLER_ADDRESS", default="Keizersgracht 1, 1015 CC Amsterdam, NL"
)

# --- Periodic tasks: the one place they are declared ----------------------------
CELERY_BEAT_SCHEDULE = {
    "logistics-dispatch-sweep": {
        "task": "logistics.tasks.dispatch_sweep_task",
        "schedule": LOGISTICS_SWEEP_SECONDS,
    },
    # ASNs to LSPs whose send message was lost (logistics.services.asn).
    "logistics-asn-sweep": {
        "task": "logistics.tasks.dispatch_asn_sweep_task",
        "schedule": LOGISTICS_SWEEP_SECONDS,
    },
    # ASN receipts from LSPs without webhooks (logistics.services.asn.asn_poll).
    "logistics-asn-poll": {
        "task": "logistics.tasks.tracking_asn_poll_due_task",
        "schedule": LOGISTICS_SWEEP_SECONDS,
    },
    "logistics-tracking-sweep": {
        "task": "logistics.tasks.tracking_sweep_task",
        "schedule": LOGISTICS_SWEEP_SECONDS,
    },
    "logistics-tracking-poll": {
        "task": "logistics.tasks.tracking_poll_due_task",
        "schedule": LOGISTICS_SWEEP_SECONDS,
    },
    "logistics-webhook-endpoints-disable-failing": {
        "task": "logistics.tasks.webhook_endpoints_disable_failing_task",
        "schedule": 900.0,
    },
    "logistics-partner-webhook-sweep": {
        "task": "logistics.tasks.partner_webhook_sweep_task",
        "schedule": LOGISTICS_SWEEP_SECONDS,
    },
    "logistics-late-shipments": {
        "task": "logistics.tasks.tracking_flag_late_task",
        "schedule": LOGISTICS_LATE_CHECK_SECONDS,
    },
    # Yesterday's storage at LSP-operated sites, shortly after midnight UTC.
    "economics-storage": {
        "task": "economics.tasks.storage_accrue_task",
        "schedule": crontab(hour=0, minute=15),
    },
    "economics-expected-costs": {
        "task": "economics.tasks.expected_costs_sweep_task",
        "schedule": ECONOMICS_SWEEP_SECONDS,
    },
    # One stock.changed per channel and window, coalescing each SKU's changes.
    "orders-stock-changed": {
        "task": "orders.tasks.stock_changed_publish_task",
        "schedule": PARTNER_WEBHOOK_STOCK_WINDOW_SECONDS,
    },
    "economics-scorecard": {
        "task": "economics.tasks.provider_days_refresh_task",
        "schedule": SCORECARD_SWEEP_SECONDS,
    },
    "orders-backorders-sweep": {
        "task": "orders.tasks.backorders_sweep_task",
        "schedule": INVENTORY_BACKORDER_SWEEP_SECONDS,
    },
    "inventory-lsp-snapshots": {
        "task": "logistics.tasks.lsp_snapshots_fetch_task",
        "schedule": INVENTORY_LSP_SNAPSHOT_SECONDS,
    },
    # Idempotency-Key records past IDEMPOTENCY_KEY_TTL_HOURS.
    "partners-idempotency-purge": {
        "task": "partners.tasks.idempotency_records_purge_task",
        "schedule": 3600.0,
    },
    # Channel connectors: pull orders, push fulfilments, cancellations and stock.
    "partners-connectors-run": {
        "task": "partners.tasks.connectors_run_due_task",
        "schedule": CHANNEL_CONNECTOR_POLL_SECONDS,
    },
    # Return-label requests whose task message was lost (broker outage, killed worker).
    "returns-label-sweep": {
        "task": "returns.tasks.return_labels_sweep_task",
        "schedule": LOGISTICS_SWEEP_SECONDS,
    },
}
