"""The app factory and its configuration from the environment."""
import pytest

from outreach import create_app
from outreach.config import INSTANCE_DIR, Config
from outreach.twilio_gateway import ConsoleGateway, TwilioRestGateway

PRODUCTION_VARIABLES = ("DATABASE_URL", "REDIS_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_BACKEND",
                        "JOBS_MODE", "PUBLIC_BASE_URL")


@pytest.fixture
def bare_environment(monkeypatch):
    for name in PRODUCTION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_with_nothing_configured_the_app_runs_on_its_embedded_default(bare_environment):
    config = Config()
    assert config.SQLALCHEMY_DATABASE_URI == f"sqlite:///{INSTANCE_DIR / 'outreach.sqlite3'}"
    assert config.JOBS_MODE == "thread"
    assert config.RUN_PERIODIC_THREAD is True
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert isinstance(app.extensions["twilio_gateway"], ConsoleGateway)


def test_production_settings_come_from_the_environment(bare_environment):
    bare_environment.setenv("DATABASE_URL", "postgres://outreach@db.internal/outreach")
    bare_environment.setenv("REDIS_URL", "redis://cache.internal:6379/0")
    bare_environment.setenv("PUBLIC_BASE_URL", "https://outreach.example.com/")
    bare_environment.setenv("TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    bare_environment.setenv("TWILIO_AUTH_TOKEN", "secret")
    config = Config()
    assert config.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://outreach@db.internal/outreach"
    assert config.JOBS_MODE == "rq" and config.RUN_PERIODIC_THREAD is False
    assert config.RATELIMIT_STORAGE_URI == "redis://cache.internal:6379/0"
    assert config.PUBLIC_BASE_URL == "https://outreach.example.com"
    assert config.SESSION_COOKIE_SECURE is True
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    gateway = app.extensions["twilio_gateway"]
    assert isinstance(gateway, TwilioRestGateway)
    gateway.close()


def test_test_config_overrides_the_environment(bare_environment):
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True, "JOBS_MODE": "inline"})
    assert app.testing and app.config["JOBS_MODE"] == "inline"


def test_logins_are_rate_limited(another_app):
    app = another_app(LOGIN_RATE_LIMIT="3 per minute")
    with app.app_context():
        client = app.test_client()
        answers = [client.post("/login", data={"email": "x@example.com", "password": "wrong"}).status_code
                   for _ in range(4)]
    assert answers == [401, 401, 401, 429]
