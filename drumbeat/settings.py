"""Drumbeat settings: everything comes from the environment (see .env.example).

Defaults are safe for a laptop: SQLite under DRUMBEAT_HOME, messages kept in the outbox,
the embedded runner. Bad values are reported by the system checks in drumbeat/checks.py.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    """An integer setting; a malformed value keeps the default and is reported by checks."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        INVALID_SETTINGS.append(f"{name} must be a whole number, got {value!r}")
        return default


INVALID_SETTINGS: list[str] = []

HOME = Path(env_str("DRUMBEAT_HOME", "drumbeat-data")).expanduser().resolve()
HOME.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """DRUMBEAT_SECRET_KEY, or a key generated once into DRUMBEAT_HOME/secret_key."""
    key = env_str("DRUMBEAT_SECRET_KEY")
    if key:
        return key
    path = HOME / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DRUMBEAT_DEBUG", False)

BASE_URL = env_str("DRUMBEAT_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
_base = urlsplit(BASE_URL)
ALLOWED_HOSTS = [h for h in env_str("DRUMBEAT_ALLOWED_HOSTS").split(",") if h] or [
    "127.0.0.1",
    "localhost",
    "[::1]",
    "testserver",
    _base.hostname or "127.0.0.1",
]
CSRF_TRUSTED_ORIGINS = [f"{_base.scheme}://{_base.netloc}"] if _base.scheme else []

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",
    "axes",
    "drumbeat.accounts",
    "drumbeat.timeline",
    "drumbeat.brand",
    "drumbeat.contacts",
    "drumbeat.crm",
    "drumbeat.events",
    "drumbeat.mailing",
    "drumbeat.automation",
    "drumbeat.api",
    "drumbeat.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "drumbeat.lib.security.ContentSecurityPolicyMiddleware",
    "drumbeat.lib.security.RefuseNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "drumbeat.urls"
WSGI_APPLICATION = "drumbeat.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

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
                "drumbeat.mailing.circuit.transport_pauses",
            ],
        },
    },
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# --- Database -----------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{HOME / 'drumbeat.sqlite3'}"
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
except Exception as exc:  # reported by the system check, keep a usable default meanwhile
    INVALID_SETTINGS.append(f"DATABASE_URL is not a database URL: {exc}")
    _db = dj_database_url.parse(f"sqlite:///{HOME / 'drumbeat.sqlite3'}")
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
elif _db["ENGINE"] not in {"django.db.backends.postgresql"}:
    INVALID_SETTINGS.append(
        f"DATABASE_URL must point to SQLite or PostgreSQL, not {_db['ENGINE'].rsplit('.', 1)[-1]}"
    )
    # an unsupported backend would fail on import before the checks could say why
    _db = dj_database_url.parse(f"sqlite:///{HOME / 'drumbeat.sqlite3'}")
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
IS_POSTGRES = _db["ENGINE"] == "django.db.backends.postgresql"

# --- Engine and channels --------------------------------------------------------------------
BROKER_URL = env_str("DRUMBEAT_BROKER_URL")
EMAIL_URL = env_str("DRUMBEAT_EMAIL_URL", "outbox://")
SMS_URL = env_str("DRUMBEAT_SMS_URL", "outbox://")
FROM_EMAIL = env_str("DRUMBEAT_FROM_EMAIL", "Drumbeat <marketing@localhost>")
INBOUND_DOMAIN = env_str("DRUMBEAT_INBOUND_DOMAIN")
INBOUND_MAX_BYTES = env_int("DRUMBEAT_INBOUND_MAX_BYTES", 10 * 1024 * 1024)
INBOUND_TLS_CERT = env_str("DRUMBEAT_INBOUND_TLS_CERT")
INBOUND_TLS_KEY = env_str("DRUMBEAT_INBOUND_TLS_KEY")
HARD_BOUNCE_LIMIT = env_int("DRUMBEAT_HARD_BOUNCE_LIMIT", 1)
SOFT_BOUNCE_LIMIT = env_int("DRUMBEAT_SOFT_BOUNCE_LIMIT", 5)
DKIM_DOMAIN = env_str("DRUMBEAT_DKIM_DOMAIN")
DKIM_SELECTOR = env_str("DRUMBEAT_DKIM_SELECTOR")
DKIM_KEY_FILE = env_str("DRUMBEAT_DKIM_KEY_FILE")
FEEDBACK_SENDER_ID = env_str("DRUMBEAT_FEEDBACK_SENDER_ID", "drumbeat")
WEBHOOK_SECRET = env_str("DRUMBEAT_WEBHOOK_SECRET")
# The sender shown in every marketing email's footer (name and postal address); the brand kit
# in Configuration overrides them.
SENDER_NAME = env_str("DRUMBEAT_SENDER_NAME", "")
SENDER_ADDRESS = env_str("DRUMBEAT_SENDER_ADDRESS", "")
# The media library (Configuration → Media library, drumbeat/brand/storage.py): where uploaded
# images are kept (empty: DRUMBEAT_HOME/media; a folder path; or
# s3://bucket/prefix?endpoint=https://…&region=… with the usual AWS_* credentials), the public
# URL emails load them from (default: DRUMBEAT_BASE_URL/media/, served by Drumbeat) and the
# largest upload accepted. (Not Django's MEDIA_URL / MEDIA_ROOT, which Drumbeat does not use.)
MEDIA_STORAGE_URL = env_str("DRUMBEAT_MEDIA_URL")
MEDIA_PUBLIC_URL = env_str("DRUMBEAT_MEDIA_PUBLIC_URL") or f"{BASE_URL}/media/"
MEDIA_MAX_BYTES = env_int("DRUMBEAT_MEDIA_MAX_BYTES", 5 * 1024 * 1024)
SMS_OPTOUT_FOOTER = env_str("DRUMBEAT_SMS_OPTOUT_FOOTER", "Reply STOP to opt out")
SMS_STOP_REPLY = env_str(
    "DRUMBEAT_SMS_STOP_REPLY",
    "You will receive no more messages from us. Reply START to subscribe again.",
)
SMS_START_REPLY = env_str(
    "DRUMBEAT_SMS_START_REPLY", "You are subscribed again. Reply STOP to opt out."
)
SMS_HELP_REPLY = env_str(
    "DRUMBEAT_SMS_HELP_REPLY", "Reply STOP to opt out of our messages, START to opt back in."
)
WEBHOOK_LOG_DAYS = env_int("DRUMBEAT_WEBHOOK_LOG_DAYS", 30)
# Hosts and networks that webhooks may call although they are inside addresses (loopback,
# private, link-local…; lib/netguard.py): comma-separated host names and CIDR networks.
WEBHOOK_ALLOW = [e.strip() for e in env_str("DRUMBEAT_WEBHOOK_ALLOW").split(",") if e.strip()]
TICK_SECONDS = env_int("DRUMBEAT_TICK_SECONDS", 5)
# The filter sync (new matches, removals, goals) of every running campaign runs this often:
# the embedded runner's sync thread, the Celery beat's `drumbeat.sync`. Records created or
# changed through the app are enrolled at once, not by it.
SYNC_SECONDS = 60
BATCH_SIZE = env_int("DRUMBEAT_BATCH_SIZE", 1000)
# A claimed batch is renewed by its worker while it works; the lease expires (and the batch is
# recovered by another worker) only this long after its holder stopped renewing it.
LEASE_SECONDS = env_int("DRUMBEAT_LEASE_SECONDS", 30)
# Contact pressure (README "Contact pressure"): send windows in the recipient's time zone and
# frequency caps per channel; Configuration → Contact pressure overrides each of them.
PRESSURE_EMAIL_WINDOW = env_str("DRUMBEAT_EMAIL_WINDOW")
PRESSURE_SMS_WINDOW = env_str("DRUMBEAT_SMS_WINDOW")
PRESSURE_EMAIL_CAP = env_str("DRUMBEAT_EMAIL_CAP")
PRESSURE_SMS_CAP = env_str("DRUMBEAT_SMS_CAP")

CELERY_BROKER_URL = BROKER_URL or "memory://"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"

# --- Web ------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("DRUMBEAT_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = HOME / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns at start-up when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = _base.scheme == "https"
CSRF_COOKIE_SECURE = _base.scheme == "https"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
DEFAULT_EXCEPTION_REPORTER_FILTER = "drumbeat.lib.security.SecretsExceptionReporterFilter"
if _base.scheme == "https":
    SECURE_HSTS_SECONDS = 31536000
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

AXES_FAILURE_LIMIT = env_int("DRUMBEAT_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DRUMBEAT_LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
