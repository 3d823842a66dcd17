"""Configuration classes. Every setting can come from the environment; see README "Configuration"."""
import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"

# Secrets that must never reach production: the development default and common placeholders.
WEAK_SECRET_KEYS = frozenset({"", "dev", "secret", "changeme", "change-me", "development-only-not-secret"})
MIN_SECRET_KEY_LENGTH = 32


def database_url(url: str | None) -> str:
    """Normalise DATABASE_URL: plain postgres URLs use the psycopg 3 driver; default is SQLite in instance/."""
    if not url:
        return f"sqlite:///{INSTANCE_DIR / 'encounters.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _proxy_count() -> int:
    value = os.environ.get("TRUSTED_PROXY_COUNT", "").strip() or "0"
    if not value.isdigit():
        raise RuntimeError(f"TRUSTED_PROXY_COUNT must be the number of reverse proxies in front of the app (0 = none), "
                           f"not {value!r}")
    return int(value)


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", "development-only-not-secret")
    # Keys the hash of a school's own pupil identifier (services/pupils.py). Unset, it is derived from SECRET_KEY;
    # set it separately so rotating SECRET_KEY does not make every pupil look new on the next import.
    PUPIL_ID_KEY = os.environ.get("PUPIL_ID_KEY")
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SQLITE_BUSY_TIMEOUT_MS = 10_000

    MAX_CONTENT_LENGTH = 5 * 1024 * 1024  # rosters are the biggest upload; 5 MB is ~100k rows
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_NAME = "encounters_session"
    PERMANENT_SESSION_LIFETIME = timedelta(hours=8)
    REMEMBER_COOKIE_DURATION = timedelta(days=0)

    WTF_CSRF_TIME_LIMIT = 8 * 3600

    MAIL_SERVER = os.environ.get("MAIL_SERVER", "127.0.0.1")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USE_TLS = _bool("MAIL_USE_TLS")
    MAIL_USE_SSL = _bool("MAIL_USE_SSL")
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Encounters <no-reply@encounters.localhost>")
    MAIL_TIMEOUT = 10
    OUTBOX_MAX_ATTEMPTS = 8

    # Links in mail must be absolute; the request is gone by the time `flask outbox send` runs.
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")

    # How many reverse proxies in front of the app append to X-Forwarded-For and set X-Forwarded-Proto
    # (docs/deploy.md). 0: none, the headers are ignored (anyone can send them) and the client is the peer address.
    TRUSTED_PROXY_COUNT = _proxy_count()

    # With REDIS_URL every worker and host counts in the same place; memory:// counts per process.
    RATELIMIT_STORAGE_URI = os.environ.get("REDIS_URL", "memory://")
    # Keys live under REDIS_KEY_PREFIX, so several portals (or test runs) can share one Redis; short timeouts
    # so a dead Redis costs a sign-in ~1 s, after which each process counts in memory until Redis is back.
    RATELIMIT_STORAGE_OPTIONS = {
        "key_prefix": os.environ.get("REDIS_KEY_PREFIX", "encounters"),
        "socket_connect_timeout": 1,
        "socket_timeout": 1,
    }
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;50 per hour")

    BOOTSTRAP_SERVE_LOCAL = True  # Bootstrap-Flask serves its own copy: no CDN, works offline
    BOOTSTRAP_BTN_STYLE = "primary"

    TOKEN_LIFETIMES = {
        "confirm_email": timedelta(days=2),
        "reset_password": timedelta(hours=1),
    }
    TOTP_ISSUER = "Encounters"
    TOTP_REQUIRED_ROLES = ("coordinator", "admin")


class DevelopmentConfig(Config):
    DEBUG = False  # the debugger is a remote shell; turn it on yourself with --debug when needed


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing-secret-key-that-is-long-enough-0123456789"  # noqa: S105
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    WTF_CSRF_ENABLED = False
    RATELIMIT_ENABLED = False
    RATELIMIT_STORAGE_URI = "memory://"
    MAIL_PORT = 2525
    MAIL_SUPPRESS_SEND = False  # Flask-Mail suppresses when TESTING; tests deliver to a real SMTP server
    PUBLIC_BASE_URL = "http://localhost"


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"

    @staticmethod
    def check(config: dict) -> None:
        """Refuse to start with settings that would be unsafe in production."""
        key = config.get("SECRET_KEY") or ""
        if key.lower() in WEAK_SECRET_KEYS or len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < 10:
            raise RuntimeError(
                "SECRET_KEY is missing or weak: set it to at least "
                f"{MIN_SECRET_KEY_LENGTH} random characters, e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        pupil_key = config.get("PUPIL_ID_KEY") or ""
        if pupil_key.lower() in WEAK_SECRET_KEYS or len(pupil_key) < MIN_SECRET_KEY_LENGTH or len(set(pupil_key)) < 10:
            raise RuntimeError(
                "PUPIL_ID_KEY is missing or weak: set it to at least "
                f"{MIN_SECRET_KEY_LENGTH} random characters (and keep it: changing it makes every pupil look new "
                "on the next roster import)."
            )


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
