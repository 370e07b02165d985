"""Configuration read from the environment (and a `.env` file when present).

With nothing configured the app runs on its embedded default: SQLite in
`instance/`, jobs in-process and the console Twilio backend.
"""
import os
from pathlib import Path

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"

load_dotenv(PROJECT_ROOT / ".env")


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        INSTANCE_DIR.mkdir(exist_ok=True)
        return f"sqlite:///{INSTANCE_DIR / 'outreach.sqlite3'}"
    # Heroku-style URLs say postgres://; SQLAlchemy wants a driver name.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    """Settings of one running app; tests override fields through `create_app(test_config)`."""

    def __init__(self) -> None:
        # Required unless the app runs on its embedded default (see `register_secret_key`).
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or None
        self.EMBEDDED_DEFAULT = not os.environ.get("DATABASE_URL")
        self.SQLALCHEMY_DATABASE_URI = _database_url()
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.REDIS_URL = os.environ.get("REDIS_URL") or None
        self.PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/")

        self.TWILIO_BACKEND = os.environ.get("TWILIO_BACKEND", "")
        self.TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
        self.TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
        self.TWILIO_API_URL = os.environ.get("TWILIO_API_URL", "")
        self.TWILIO_TIMEOUT = _int("TWILIO_TIMEOUT", 10)
        # Backoff between tries when Twilio answers 5xx or times out placing a call.
        self.CALL_RETRY_DELAYS_SECONDS = (1.0, 4.0, 15.0)
        # How long the Call button waits for Twilio's answer to the create before the page answers.
        self.CALL_CREATE_WAIT_SECONDS = float(os.environ.get("CALL_CREATE_WAIT_SECONDS", "8"))
        self.TWILIO_CONSOLE_STEP_SECONDS = float(os.environ.get("TWILIO_CONSOLE_STEP_SECONDS", "1.0"))

        # "inline" runs dispatched jobs synchronously (tests); "thread" runs them
        # on a background thread of the app (embedded default); with REDIS_URL
        # they go to RQ.
        self.JOBS_MODE = os.environ.get("JOBS_MODE", "rq" if self.REDIS_URL else "thread")
        # The embedded default runs periodic work (weekend build, due texts,
        # feed syncs) on a thread of the web process; production uses `rq cron`.
        self.RUN_PERIODIC_THREAD = os.environ.get("RUN_PERIODIC_THREAD", "1" if not self.REDIS_URL else "0") == "1"
        self.PERIODIC_INTERVAL_SECONDS = _int("PERIODIC_INTERVAL_SECONDS", 30)

        self.IMPORT_MAX_BYTES = _int("IMPORT_MAX_BYTES", 20 * 1024 * 1024)
        self.IMPORT_MAX_OCCURRENCES_PER_SERIES = _int("IMPORT_MAX_OCCURRENCES_PER_SERIES", 2000)
        # Hostile files are stopped by the size, line, nesting and recurrence caps long
        # before this; the time limit is the last guard, generous enough for a 20 MB export.
        self.IMPORT_TIME_LIMIT_SECONDS = _int("IMPORT_TIME_LIMIT_SECONDS", 120)
        self.FEED_TIMEOUT_SECONDS = _int("FEED_TIMEOUT_SECONDS", 20)
        # Feeds are fetched from public addresses only; these host names (comma-separated, as written in
        # the feed URL) may be on a private network, e.g. an on-premises calendar server.
        self.FEED_ALLOWED_PRIVATE_HOSTS = os.environ.get("FEED_ALLOWED_PRIVATE_HOSTS", "")
        # Encrypts stored CalDAV passwords (a Fernet key: `outreach credentials-key` makes one). The
        # embedded default keeps a generated key in instance/; with REDIS_URL (production) it must be set.
        self.CREDENTIALS_KEY = os.environ.get("CREDENTIALS_KEY", "")
        self.CREDENTIALS_KEY_FILE = None if self.REDIS_URL else str(INSTANCE_DIR / "credentials.key")

        self.BABEL_DEFAULT_LOCALE = "en"
        self.LANGUAGES = ["en", "ru"]
        self.BABEL_TRANSLATION_DIRECTORIES = str(Path(__file__).parent / "translations")

        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = self.PUBLIC_BASE_URL.startswith("https://")
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.RATELIMIT_STORAGE_URI = self.REDIS_URL or "memory://"
        self.LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
        self.MAX_CONTENT_LENGTH = self.IMPORT_MAX_BYTES * 5
