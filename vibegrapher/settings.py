"""Vibegrapher settings: every value comes from the environment (or a `.env` file), read once here."""

import os
import socket
import tempfile
from pathlib import Path

import dj_database_url
from corsheaders.defaults import default_headers
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
# pytest (>= 8.2) sets PYTEST_VERSION, inherited by the servers tests start: a developer's .env never leaks into tests.
if "PYTEST_VERSION" not in os.environ:
    load_dotenv(BASE_DIR / ".env")


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


VERSION = "0.1.0"
DEBUG = _env_bool("DEBUG", False)
# VIBEGRAPHER_PRODUCTION=1: deployed behind a TLS-terminating proxy (fly.io); enables the HTTPS-only
# settings below. Off by default so local development over plain http keeps working.
PRODUCTION = _env_bool("VIBEGRAPHER_PRODUCTION", False)
_DEV_SECRET = "insecure-development-key-set-SECRET_KEY-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY") or _DEV_SECRET
if SECRET_KEY == _DEV_SECRET and PRODUCTION:
    raise RuntimeError("SECRET_KEY must be set when VIBEGRAPHER_PRODUCTION is on.")

if PRODUCTION:
    # The proxy terminates TLS and says so in X-Forwarded-Proto; plain-http requests are redirected,
    # except /health, which the platform's health checker calls over http inside its network.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^health$"]
    SECURE_HSTS_SECONDS = _env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "*")
HOST = os.environ.get("HOST", "0.0.0.0")
PORT = _env_int("PORT", 8000)
# How long the production server (scripts/start-web) waits on SIGTERM for open requests and sockets
# before it cancels them and exits: below fly.toml's kill_timeout (30 s), so a stop never ends in SIGKILL.
SHUTDOWN_TIMEOUT_S = _env_int("SHUTDOWN_TIMEOUT_S", 20)
# Threads per server process that run sync views, each keeping its SQLite connection
# (vibegrapher/asgi_handler.py); more only contend for the GIL and the SQLite write lock.
WEB_THREADS = _env_int("WEB_THREADS", 4)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "projects",
    "sessions.apps.VibecodeSessionsConfig",
    "diffs",
    "testcases",
    "vibegrapher.apps.VibegrapherConfig",  # database connection handling
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ADMIN_URL = "admin/"

ROOT_URLCONF = "vibegrapher.urls"
ASGI_APPLICATION = "vibegrapher.asgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'vibegrapher.sqlite3'}"
_default_db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
if _default_db["ENGINE"] == "django.db.backends.sqlite3":
    _default_db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
    }
    # Tests use a file, not ":memory:", so threads and server processes share one database;
    # one per test process, so parallel test runs never share it.
    _test_url = os.environ.get("TEST_DATABASE_URL", "")
    _test_name = dj_database_url.parse(_test_url)["NAME"] if _test_url.startswith("sqlite") else None
    _default_db["TEST"] = {"NAME": _test_name or f"{tempfile.gettempdir()}/vibegrapher-test-{os.getpid()}.sqlite3"}
elif _default_db["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with a pool that gets over a PostgreSQL restart in one step
    # (vibegrapher/postgresql/base.py; vibegrapher/connections.py for connections in use).
    _default_db["ENGINE"] = "vibegrapher.postgresql"
    _default_db["OPTIONS"] = {"pool": {"min_size": 2, "max_size": _env_int("DB_POOL_SIZE", 20)}}
    _test_url = os.environ.get("TEST_DATABASE_URL", "")
    if _test_url:
        _default_db["TEST"] = {"NAME": dj_database_url.parse(_test_url)["NAME"]}
DATABASES = {"default": _default_db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer ----------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
CHANNEL_CAPACITY = _env_int("CHANNEL_CAPACITY", 1000)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout by default, as long as channels_redis's
                # blocking 5 s BZPOPMIN: every idle consumer would die with TimeoutError (code 1011).
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "capacity": CHANNEL_CAPACITY,
                "expiry": 60,
            },
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "vibegrapher.layers.ProcessChannelLayer", "CONFIG": {"capacity": CHANNEL_CAPACITY}}
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Files and storage ------------------------------------------------------------------------
MEDIA_PATH = Path(os.environ.get("MEDIA_PATH", "media"))
if not MEDIA_PATH.is_absolute():
    MEDIA_PATH = BASE_DIR / MEDIA_PATH
MEDIA_ROOT = MEDIA_PATH
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DATA_UPLOAD_MAX_MEMORY_SIZE = _env_int("MAX_REQUEST_BYTES", 1_000_000)

GIT_AUTHOR_NAME = os.environ.get("GIT_AUTHOR_NAME", "Vibegrapher")
GIT_AUTHOR_EMAIL = os.environ.get("GIT_AUTHOR_EMAIL", "vibegrapher@localhost")

# --- HTTP: CORS, REST framework, OpenAPI ------------------------------------------------------
CORS_ORIGINS = _env_list("CORS_ORIGINS", "*")
CORS_ALLOW_ALL_ORIGINS = "*" in CORS_ORIGINS
CORS_ALLOWED_ORIGINS = [] if CORS_ALLOW_ALL_ORIGINS else CORS_ORIGINS
# `Prefer: respond-async` (POST /sessions/:id/messages) must survive a browser's preflight.
CORS_ALLOW_HEADERS = (*default_headers, "prefer")

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["vibegrapher.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["vibegrapher.access.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["vibegrapher.access.ApiTokenRequired"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "vibegrapher.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Vibegrapher API",
    "DESCRIPTION": "Edit OpenAI Agents SDK workflows by conversation: projects, sessions, diffs, tests.",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    # /docs works offline: Swagger UI's files come from drf-spectacular-sidecar, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "vibegrapher.openapi.token_errors_document",
        "vibegrapher.openapi.session_combinations_document",
        "vibegrapher.openapi.test_case_kinds_document",
        "vibegrapher.openapi.links_document",
    ],
}
# When set, every REST call and WebSocket needs this token (see vibegrapher/access.py).
VIBEGRAPHER_API_TOKEN = os.environ.get("VIBEGRAPHER_API_TOKEN", "")

# --- Model provider ---------------------------------------------------------------------------
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")
OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL", "")
VIBECODER_MODEL = os.environ.get("VIBECODER_MODEL", "gpt-5-mini")
EVALUATOR_MODEL = os.environ.get("EVALUATOR_MODEL", "gpt-5-mini")
OPENAI_TIMEOUT_S = _env_float("OPENAI_TIMEOUT_S", 120.0)
OPENAI_MAX_RETRIES = _env_int("OPENAI_MAX_RETRIES", 3)
OPENAI_TRACING = _env_bool("OPENAI_TRACING", False)
REASONING_EFFORT = os.environ.get("REASONING_EFFORT", "low")
VIBECODE_MAX_ROUNDS = 3
VIBECODE_MAX_TURNS = _env_int("VIBECODE_MAX_TURNS", 6)
# "inline": runs execute in the web process; "worker": in `manage.py vibecode_worker` processes.
VIBECODE_EXECUTOR = os.environ.get("VIBECODE_EXECUTOR", "inline")
RUN_HEARTBEAT_S = _env_float("RUN_HEARTBEAT_S", 10.0)
RUN_STALE_AFTER_S = _env_float("RUN_STALE_AFTER_S", 60.0)
RUN_REAPER_ENABLED = _env_bool("RUN_REAPER_ENABLED", True)
# The name of the place a run-executing process runs in, the same across its restarts (a fly machine,
# a container, a host). A process that starts marks the runs of an earlier boot of the same instance
# interrupted at once; two processes executing runs side by side need names of their own.
INSTANCE_NAME = os.environ.get("INSTANCE_NAME") or os.environ.get("FLY_MACHINE_ID") or socket.gethostname()
WORKER_CONCURRENCY = _env_int("WORKER_CONCURRENCY", 20)
# Seconds between database looks while waiting for a run executed by another process. The executing
# process also says when a run ends, through the channel layer; only Redis carries that across
# processes, so without it the database is looked at often.
RUN_WAIT_POLL_S = _env_float("RUN_WAIT_POLL_S", 1.0 if REDIS_URL else 0.1)
# Per-run ceiling on model tokens (both agents, all rounds); 0 disables it.
VIBECODE_TOKEN_BUDGET = _env_int("VIBECODE_TOKEN_BUDGET", 400_000)
# Tokens (estimated as UTF-8 bytes / 4) of conversation memory a model call starts with: the newest
# whole turns that fit, plus the current request, which is always sent whole; older turns stay
# stored. 0 sends the whole history. 30k keeps a run (up to 9 calls in 3 rounds) under its budget above
# and far inside gpt-5-mini's 272k input tokens.
MEMORY_TOKEN_BUDGET = _env_int("MEMORY_TOKEN_BUDGET", 30_000)
# Vibecode requests per client (DRF throttle rate syntax); shared through Redis when REDIS_URL is set.
VIBECODE_RATE = os.environ.get("VIBECODE_RATE", "60/min")

# --- Real-time --------------------------------------------------------------------------------
HEARTBEAT_INTERVAL_S = _env_float("HEARTBEAT_INTERVAL_S", 30.0)

# --- Sandbox ----------------------------------------------------------------------------------
SANDBOX_QUICK_TIMEOUT_S = _env_float("SANDBOX_QUICK_TIMEOUT_S", 5.0)
SANDBOX_TIMEOUT_S = _env_float("SANDBOX_TIMEOUT_S", 30.0)
SANDBOX_MEMORY_MB = _env_int("SANDBOX_MEMORY_MB", 512)
# Interpreter start-up and `import agents` (seconds of CPU) happen before a test's timeout starts.
SANDBOX_STARTUP_S = _env_float("SANDBOX_STARTUP_S", 30.0)
# Sandboxed tests running at once in one server process (about one per core).
SANDBOX_CONCURRENCY = _env_int("SANDBOX_CONCURRENCY", 2)
# The bubblewrap binary (name on PATH or a path). Without a working bubblewrap test runs answer 503...
SANDBOX_BWRAP = os.environ.get("SANDBOX_BWRAP", "bwrap")
# ...unless this is set: then tests run with rlimits and a scrubbed environment only. UNSAFE.
SANDBOX_ALLOW_WEAK = _env_bool("SANDBOX_ALLOW_WEAK", False)
# The playground (POST /projects/:id/playground, scenario tests): the workflow's wall-clock limit per run,
# the one model its calls may use (whatever the workflow asks for) and the tokens one run may spend.
PLAYGROUND_TIMEOUT_S = _env_float("PLAYGROUND_TIMEOUT_S", 60.0)
PLAYGROUND_MODEL = os.environ.get("PLAYGROUND_MODEL", "gpt-5-mini")
PLAYGROUND_TOKEN_BUDGET = _env_int("PLAYGROUND_TOKEN_BUDGET", 100_000)

# --- Misc -------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# Also uvicorn's (vibegrapher/uvicorn_logging.json).
LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": LOG_FORMAT}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
    },
}
