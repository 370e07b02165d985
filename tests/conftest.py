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

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"


def _worker_suffix(request: pytest.FixtureRequest) -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


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
    name = f"outreach_test_{_worker_suffix(request)}"
    url = create_postgres_database(name)
    yield url
    drop_postgres_database(name)


_schemas_created: set[str] = set()


def base_test_config(database_url: str, tmp_path: Path) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "JOBS_MODE": "inline",
        "RUN_PERIODIC_THREAD": False,
        "REDIS_URL": None,
        "RATELIMIT_STORAGE_URI": "memory://",
        "TWILIO_BACKEND": "console",
        "TWILIO_CONSOLE_STEP_SECONDS": 0.0,
        "PUBLIC_BASE_URL": "http://localhost",
        "SERVER_NAME": None,
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
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A Redis database of this test's own, emptied before and after."""
    index = {"main": 15, "gw0": 14, "gw1": 13, "gw2": 12, "gw3": 11}.get(_worker_suffix(request), 10)
    url = f"{REDIS_URL.rstrip('/')}/{index}"
    connection = redis.Redis.from_url(url)
    try:
        connection.flushdb()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({exc}); ./scripts/test starts it", pytrace=False)
    yield url
    connection.flushdb()
    connection.close()
