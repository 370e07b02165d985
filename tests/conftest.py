"""Fixtures shared by the whole suite.

Every test that touches the database runs twice: on SQLite and on the real
PostgreSQL server (`TEST_POSTGRES_URL`, default 127.0.0.1:5432 with trust
auth). Tests that need Redis use the real server (`TEST_REDIS_URL`). Neither is
ever skipped: a missing service is a failure with a clear message.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from flask import Flask
from sqlalchemy import text

from outreach import create_app
from outreach.extensions import db
from tests.factories import Factory
from tests.caldav_server import RadicaleServer
from tests.feed_server import FeedServer

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
# A fixed Fernet key, so that stored CalDAV passwords decrypt in every test process.
TEST_CREDENTIALS_KEY = "AVqL-ElIWuvqqWD7s6VrSh57PMSIT9h9iX9eAvjUvDI="


def xdist_worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def private_database_name(purpose: str) -> str:
    """A PostgreSQL database name no other test process uses (xdist workers, a second run)."""
    return f"outreach_{purpose}_{os.getpid()}"


def create_postgres_database(name: str) -> str:
    """Creates an empty database of our own on the shared server; returns its SQLAlchemy URL."""
    try:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} ({exc}); ./scripts/test starts it", pytrace=False)
    base = POSTGRES_URL.rsplit("/", 1)[0]
    return base.replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"


def drop_postgres_database(name: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per backend (and per xdist worker) for the whole session."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'outreach.sqlite3'}"
        return
    name = private_database_name("test")
    url = create_postgres_database(name)
    yield url
    drop_postgres_database(name)


_schemas_created: set[str] = set()


def base_test_config(database_url: str, tmp_path: Path) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "CREDENTIALS_KEY": TEST_CREDENTIALS_KEY,
        "CREDENTIALS_KEY_FILE": None,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "JOBS_MODE": "inline",
        "RUN_PERIODIC_THREAD": False,
        "REDIS_URL": None,
        "RATELIMIT_STORAGE_URI": "memory://",
        "TWILIO_BACKEND": "console",
        "TWILIO_CONSOLE_STEP_SECONDS": 0.0,
        "CALL_RETRY_DELAYS_SECONDS": (0.0, 0.0, 0.0),
        "PUBLIC_BASE_URL": "http://localhost",
        "SERVER_NAME": None,
        # The loopback feed server (tests/feed_server.py) stands in for an on-premises calendar.
        "FEED_ALLOWED_PRIVATE_HOSTS": "127.0.0.1",
    }


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict:
    """Tests may change this before the `app` fixture is first used."""
    return base_test_config(database_url, tmp_path)


@pytest.fixture
def app(app_config: dict) -> Iterator[Flask]:
    app = create_app(app_config)
    with app.app_context():
        url = app_config["SQLALCHEMY_DATABASE_URI"]
        if url not in _schemas_created:
            db.drop_all()
            db.create_all()
            _schemas_created.add(url)
        yield app
        # Its pooled connections to the fake Twilio are closed now, not whenever the collector finds them.
        app.extensions["twilio_gateway"].close()
        db.session.remove()
        empty_all_tables()
        db.engine.dispose()


def empty_all_tables() -> None:
    tables = [table.name for table in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture
def another_app(app: Flask, app_config: dict):
    """Builds a second app on the same database with changed settings; its connections are closed after."""
    built: list[Flask] = []

    def build(**overrides) -> Flask:
        second = create_app({**app_config, **overrides})
        built.append(second)
        return second

    yield build
    for second in built:
        second.extensions["twilio_gateway"].close()
        with second.app_context():
            db.engine.dispose()


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def make(app: Flask) -> Factory:
    return Factory(db.session)


class AuthActions:
    def __init__(self, client) -> None:
        self._client = client

    def login(self, email: str, password: str = Factory.PASSWORD):
        return self._client.post("/login", data={"email": email, "password": password})

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database of this test's own, emptied before and after."""
    index = {"main": 15, "gw0": 14, "gw1": 13, "gw2": 12, "gw3": 11}.get(xdist_worker(), 10)
    url = f"{REDIS_URL.rstrip('/')}/{index}"
    connection = redis.Redis.from_url(url)
    try:
        connection.flushdb()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({exc}); ./scripts/test starts it", pytrace=False)
    yield url
    connection.flushdb()
    connection.close()


# --- Real parts: the fake Twilio server, a live HTTP server, RQ workers, a browser ---

TWILIO_TEST_SID = "AC" + "0" * 31 + "1"
TWILIO_TEST_TOKEN = "test-auth-token-0123456789abcdef"


@pytest.fixture
def fake_twilio(app_config: dict):
    """A fake Twilio REST server on loopback; the app's gateway (real SDK) is pointed at it."""
    from outreach.testing.fake_twilio import FakeTwilio

    fake = FakeTwilio(account_sid=TWILIO_TEST_SID, auth_token=TWILIO_TEST_TOKEN)
    fake.start()
    app_config.update(
        TWILIO_BACKEND="twilio",
        TWILIO_ACCOUNT_SID=TWILIO_TEST_SID,
        TWILIO_AUTH_TOKEN=TWILIO_TEST_TOKEN,
        TWILIO_API_URL=fake.url,
        TWILIO_TIMEOUT=5,
    )
    yield fake
    fake.stop()


@pytest.fixture
def fake():
    """A fake Twilio server on its own, for tests of the gateway without the app."""
    from outreach.testing.fake_twilio import FakeTwilio

    with FakeTwilio() as server:
        yield server


@pytest.fixture
def gateway(fake):
    """The real-SDK gateway pointed at `fake`."""
    from outreach.twilio_gateway.rest import TwilioRestGateway

    rest_gateway = TwilioRestGateway(fake.account_sid, fake.auth_token, api_url=fake.url, timeout=2)
    yield rest_gateway
    rest_gateway.close()


def closing_every_response(app: Flask):
    """The app as a WSGI callable whose responses are read and closed before the server writes them.

    Werkzeug's development server drains the request in a `finally` before it closes the response;
    when the browser has already dropped the connection (a page left while its script loads) the
    drain raises first, the static file stays open and its ResourceWarning fails whichever test is
    running. The app's responses are small pages and files, so holding one in memory costs nothing.
    """

    def wsgi(environ, start_response):
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return wsgi


class LiveServer:
    def __init__(self, app: Flask) -> None:
        import threading

        from werkzeug.serving import make_server

        self._server = make_server("127.0.0.1", 0, closing_every_response(app), threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        # Twilio signs the URL it called: the app must know its own public address.
        app.config["PUBLIC_BASE_URL"] = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The app served over real HTTP on loopback (for callbacks and the browser)."""
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture
def clock_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Pins `outreach.clock.utcnow` in this process and in the workers it starts."""
    path = tmp_path / "clock"
    path.write_text("")
    monkeypatch.setenv("OUTREACH_CLOCK_FILE", str(path))
    return path


@pytest.fixture
def rq_config(app_config: dict, redis_url: str) -> dict:
    """App configuration that enqueues on the real Redis instead of running jobs inline."""
    app_config.update(REDIS_URL=redis_url, JOBS_MODE="rq", RATELIMIT_STORAGE_URI=redis_url)
    return app_config


class Workers:
    """Real `rq worker` processes against the test's Redis and database."""

    def __init__(self, config: dict, tmp_path: Path) -> None:
        self.config = config
        self.tmp_path = tmp_path
        self.processes: list = []

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.config["SQLALCHEMY_DATABASE_URI"],
            REDIS_URL=self.config["REDIS_URL"],
            JOBS_MODE="rq",
            PUBLIC_BASE_URL=self.config["PUBLIC_BASE_URL"],
            TWILIO_BACKEND=self.config["TWILIO_BACKEND"],
            TWILIO_ACCOUNT_SID=self.config.get("TWILIO_ACCOUNT_SID", ""),
            TWILIO_AUTH_TOKEN=self.config.get("TWILIO_AUTH_TOKEN", ""),
            TWILIO_API_URL=self.config.get("TWILIO_API_URL", ""),
            TWILIO_CONSOLE_STEP_SECONDS="0",
            SECRET_KEY=self.config["SECRET_KEY"],
            FEED_ALLOWED_PRIVATE_HOSTS=self.config.get("FEED_ALLOWED_PRIVATE_HOSTS", ""),
            CREDENTIALS_KEY=self.config["CREDENTIALS_KEY"],
        )
        return env

    def start(self, count: int = 1, *, burst: bool = False) -> list:
        import subprocess
        import sys

        from outreach.jobs import QUEUE_NAME

        started = []
        for _ in range(count):
            index = len(self.processes)
            log = open(self.tmp_path / f"worker-{index}.log", "wb")
            command = [sys.executable, "-m", "rq.cli", "worker", QUEUE_NAME, "--url", self.config["REDIS_URL"],
                       "--with-scheduler", "--worker-ttl", "10", "--name", f"test-worker-{os.getpid()}-{index}"]
            if burst:
                command.append("--burst")
            process = subprocess.Popen(command, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                       cwd=REPO_ROOT)
            log.close()  # the worker has its own handle now
            process.log_path = self.tmp_path / f"worker-{index}.log"
            self.processes.append(process)
            started.append(process)
        return started

    def logs(self) -> str:
        return "\n".join(p.log_path.read_text(errors="replace") for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except Exception:
                process.kill()


@pytest.fixture
def rq_workers(rq_config: dict, tmp_path: Path) -> Iterator[Workers]:
    workers = Workers(rq_config, tmp_path)
    yield workers
    workers.stop()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A calendar feed served over HTTP on loopback; the test sets what it answers."""
    server = FeedServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    """A real CalDAV server (Radicale) on loopback; each test makes its own calendars in it."""
    server = RadicaleServer(tmp_path_factory.mktemp("radicale"))
    server.start()
    yield server
    server.stop()


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; ./scripts/test installs Debian's chromium", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
