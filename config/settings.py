"""Touchline settings. Every knob is an environment variable listed in README.md.

With nothing set the product runs on embedded defaults: a SQLite file, in-process
(eager) Celery tasks, an in-memory channel layer and local-memory cache. Setting
DATABASE_URL / REDIS_URL moves the same code onto PostgreSQL and Redis.
"""

from __future__ import annotations

import os
from pathlib import Path

import csp.constants as csp
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_choice,
    env_database,
    env_int,
    env_list,
    env_networks,
    env_str,
    env_time_zone,
    env_url,
)
from config.security import DEMO_SECRETS, env_secrets

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DEBUG", False)
# Production mode is the default. A demo or development install says so (manage.py sets it for
# `demo` and the simulators, scripts/dev.py and the test settings too): only then may the
# public demo secrets below stand in for missing ones.
DEMO = env_bool("TOUCHLINE_DEMO", False)
PRODUCTION = not (DEBUG or DEMO)
_SECRETS = env_secrets(DEMO_SECRETS, allow_demo=not PRODUCTION)
SECRET_KEY = _SECRETS["SECRET_KEY"]
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "config.apps.TouchlineAdminConfig",  # django.contrib.admin with optional TOTP
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",  # staff tokens for crm's outbox status; the operator API refuses them
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc from our own static files: /api/docs/ works offline
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "channels",
    "wallet",
    "feeds",
    "parlays",
    "crm",
    "reports",
    "apikeys",
]

MIDDLEWARE = [
    "config.ops.metrics_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into its lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.site"  # runserver: the whole site; config.wsgi.application serves callbacks only
ASGI_APPLICATION = "config.asgi.application"

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

# --- Database -----------------------------------------------------------------
DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # money services open their own durable transactions
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Django's backend, except that a rollback keeps psycopg's prepared statements
    # (config/postgresql/base.py: a declined bet rolls back).
    DATABASES["default"]["ENGINE"] = "config.postgresql"
    DATABASES["default"].setdefault("OPTIONS", {})
    pool_size = env_int("DATABASE_POOL_SIZE", 0, minimum=0, maximum=500)
    if pool_size:
        # psycopg's pool: the right choice under ASGI, where Django's per-thread persistent
        # connections accumulate (one per executor thread) instead of being reused.
        DATABASES["default"]["OPTIONS"]["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": 10}
        DATABASES["default"]["CONN_MAX_AGE"] = 0
    else:
        # Persistent connections (WSGI workers, Celery, commands): a callback should not pay
        # for a TCP + auth handshake.
        DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 600, minimum=0)
        # Off by default: the check is a `SELECT 1` round trip at the start of every request.
        # Without it a connection the server dropped fails one request, and Django then
        # replaces it (it closes connections that saw errors at the end of the request).
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool("DATABASE_CONN_HEALTH_CHECKS", False)
    # Server-side binding: parameters travel separately and repeated statements are prepared
    # by psycopg after `prepare_threshold` runs. Django's default (client-side binding)
    # interpolated every statement in Python: ~160 µs each on the wallet's hot path
    # (profile in docs/BENCHMARKS.md).
    DATABASES["default"]["OPTIONS"].setdefault("server_side_binding", True)
    DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)
    # A money transaction waits this long for a row lock, then fails (and is retried by the
    # provider) instead of queueing behind a stuck transaction.
    DATABASES["default"]["OPTIONS"].setdefault(
        "options", f"-c lock_timeout={env_int('WALLET_LOCK_TIMEOUT_MS', 3000, minimum=1)}"
    )
    DATABASES["default"]["TEST"] = {"NAME": env_str("DATABASE_TEST_NAME", "") or None}
else:
    DATABASES["default"].setdefault("OPTIONS", {})
    # Wait for the write lock instead of failing at once when the demo's processes overlap.
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Prometheus: one metrics directory for all of a host's processes (config/ops.py) ---
# prometheus_client reads the variable itself, at import; this only checks it early, by name.
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", "")
if PROMETHEUS_MULTIPROC_DIR and not (
    os.path.isdir(PROMETHEUS_MULTIPROC_DIR) and os.access(PROMETHEUS_MULTIPROC_DIR, os.W_OK)
):
    raise ImproperlyConfigured(
        f"PROMETHEUS_MULTIPROC_DIR={PROMETHEUS_MULTIPROC_DIR!r} is not a writable directory: create it (empty)"
        " before starting the processes, or unset it"
    )

# --- Redis: cache, Celery broker, channel layer ---------------------------------
REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss", "unix"))
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = env_url("CELERY_BROKER_URL", REDIS_URL, schemes=("redis", "rediss", "amqp", "amqps"))
# No broker: tasks run in-process at the call site, so the demo needs no worker.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Keep the worker's database connections across tasks (Celery's default closes them before and
# after every task); config/celery.py closes them as Django does around a request instead. The
# count only makes Celery recycle them every 10,000 tasks as well.
CELERY_DB_REUSE_MAX = 10_000
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Apps add their own periodic jobs in their AppConfig.ready (config.celery.app.conf.beat_schedule).
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "wallet-check-ledger": {"task": "wallet.check_ledger", "schedule": 900.0},
    "wallet-protection-apply-due": {"task": "wallet.protection_apply_due", "schedule": 60.0},
    "backoffice-dashboard": {"task": "backoffice.dashboard_broadcast", "schedule": 2.0},
}

# --- Auth, i18n, static ------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# --- Admin login: lockout after repeated failures (django-axes), optional TOTP (django-otp) ---
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out user or address before the password check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5, minimum=1)
# Either criterion locks: a user name tried from many addresses, or one address trying many names.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_COOLOFF_TIME = env_int("ADMIN_LOGIN_LOCKOUT_MINUTES", 30, minimum=1) / 60  # hours
AXES_RESET_ON_SUCCESS = True
# Staff who can approve money must log in with a TOTP code (docs/SECURITY.md).
ADMIN_TOTP_REQUIRED = env_bool("ADMIN_TOTP_REQUIRED", False)
OTP_TOTP_ISSUER = "Touchline"

# --- HTTPS and browser protections: on by default in production mode -------------------------
HTTPS = env_bool("TOUCHLINE_HTTPS", PRODUCTION)
SECURE_SSL_REDIRECT = HTTPS
# Load balancers probe over plain HTTP; Prometheus scrapes inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    # Only behind a proxy that sets the header itself (and drops the client's).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF, csp.NONCE],  # the dashboard's inline script carries the nonce
        # The admin's own templates use style attributes; styles cannot run code.
        "style-src": [csp.SELF, csp.UNSAFE_INLINE],
        "img-src": [csp.SELF, "data:"],
        "connect-src": [csp.SELF],  # the dashboard's WebSocket (same host)
        "object-src": [csp.NONE],
        "base-uri": [csp.SELF],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
    },
}

# --- /metrics: a bearer token or an address allow-list (config/ops.py) ---------------------
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = env_networks("METRICS_ALLOWED_IPS")

LANGUAGE_CODE = "en-us"
# Staff read times in this zone, its abbreviation shown beside each (config/formats); stored in UTC.
TIME_ZONE = env_time_zone("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# Staff read timestamps as "2026-12-06 14:03:12 UTC": ISO order, with the zone (config/formats).
FORMAT_MODULE_PATH = ["config.formats"]
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- REST framework -------------------------------------------------------------------
REST_FRAMEWORK = {
    # Operator API keys only (apikeys/): staff user tokens do not move money through the API.
    "DEFAULT_AUTHENTICATION_CLASSES": ["apikeys.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["apikeys.auth.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["apikeys.auth.ApiKeyRateThrottle"],
    # JSON numbers become Decimal, never float (wallet.jsonutil).
    "DEFAULT_PARSER_CLASSES": ["wallet.api.parsers.DecimalJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "apikeys.schema.OperatorAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "wallet.api.pagination.IdCursorPagination",
    "COERCE_DECIMAL_TO_STRING": True,
    "EXCEPTION_HANDLER": "wallet.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Touchline API",
    "DESCRIPTION": "Operator API and sportsbook wallet callbacks. See docs/ for each protocol.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set (otherwise drf-spectacular warns, and check --deploy with it).
    "ENUM_NAME_OVERRIDES": {
        "CurrencyEnum": "wallet.currencies.CURRENCY_CHOICES",
        "PlayerStatusEnum": "wallet.models.Player.Status",
    },
}

# --- Providers (each documented in README's configuration table) -----------------
IGPX_API_URL = env_url("IGPX_API_URL", schemes=("http", "https"))
IGPX_API_VERSION = env_str("IGPX_API_VERSION", "v1")
IGPX_USERNAME = env_str("IGPX_USERNAME")
IGPX_PASSWORD = env_str("IGPX_PASSWORD")
IGPX_SECURITY_HASH = _SECRETS["IGPX_SECURITY_HASH"]

BETSY_PARTNER_SECRET = _SECRETS["BETSY_PARTNER_SECRET"]
BETSY_IFRAME_URL = env_url("BETSY_IFRAME_URL", schemes=("http", "https"))

UOF_AMQP_URL = env_url("UOF_AMQP_URL", schemes=("amqp", "amqps"))
UOF_API_URL = env_url("UOF_API_URL", schemes=("http", "https"))
UOF_ACCESS_TOKEN = env_str("UOF_ACCESS_TOKEN")
UOF_NODE_ID = env_int("UOF_NODE_ID", 1, minimum=-2147483648, maximum=2147483647)

PROPHETX_API_URL = env_url("PROPHETX_API_URL", schemes=("http", "https"))
PROPHETX_ACCESS_KEY = env_str("PROPHETX_ACCESS_KEY")
PROPHETX_SECRET_KEY = env_str("PROPHETX_SECRET_KEY")
PROPHETX_WS_URL = env_url("PROPHETX_WS_URL", schemes=("ws", "wss"))

FASTTRACK_TRANSPORT = env_choice("FASTTRACK_TRANSPORT", "off", ("rest", "rabbitmq", "kafka", "off"))
FASTTRACK_API_URL = env_url("FASTTRACK_API_URL", schemes=("http", "https"))
FASTTRACK_API_KEY = env_str("FASTTRACK_API_KEY")
FASTTRACK_AMQP_URL = env_url("FASTTRACK_AMQP_URL", schemes=("amqp", "amqps"))
FASTTRACK_KAFKA_BOOTSTRAP = env_str("FASTTRACK_KAFKA_BOOTSTRAP")
FASTTRACK_ORIGIN = env_str("FASTTRACK_ORIGIN", "touchline")

# --- Reports (reports/conf.py; README's configuration table) ---------------------------
REPORT_TIMEZONE = env_time_zone("REPORT_TIMEZONE", TIME_ZONE)  # checked at start-up, like TIME_ZONE
REPORT_CURRENCY = env_str("REPORT_CURRENCY", "")
REPORT_EXCHANGE_RATES = env_list("REPORT_EXCHANGE_RATES", [])
REPORT_UPLOAD_DIR = env_str("REPORT_UPLOAD_DIR", str(VAR_DIR / "reconciliation"))
REPORT_RECONCILIATION_COLUMNS = env_str("REPORT_RECONCILIATION_COLUMNS", "")  # JSON, see docs/REPORTS.md

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # A refused request (403) is one line, not a traceback (config/logfilters.py).
    "filters": {"one_line_refusals": {"()": "config.logfilters.OneLineRefusals"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["one_line_refusals"]}},
    # Per-request chatter from the HTTP client and Celery's task tracer drowns what matters.
    "loggers": {
        "httpx": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
        # Its banner at every start and a line per failed login (a brute force would flood the log);
        # lockouts still log at WARNING, and failures are in its admin tables.
        "axes": {"level": "WARNING"},
    },
    "root": {
        "handlers": ["console"],
        "level": env_choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper(),
    },
}
