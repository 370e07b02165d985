"""The app factory and its configuration from the environment."""
import pytest

from outreach import MissingSecretKey, create_app, instance_secret_key
from outreach.config import INSTANCE_DIR, Config
from outreach.twilio_gateway import ConsoleGateway
from outreach.twilio_gateway.rest import TwilioRestGateway

PRODUCTION_VARIABLES = ("DATABASE_URL", "REDIS_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_BACKEND",
                        "JOBS_MODE", "PUBLIC_BASE_URL", "SECRET_KEY")


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
    bare_environment.setenv("SECRET_KEY", "a-long-random-production-key")
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


def test_outside_the_embedded_default_the_app_refuses_to_start_without_a_secret_key(bare_environment):
    bare_environment.setenv("DATABASE_URL", "postgres://outreach@db.internal/outreach")
    with pytest.raises(MissingSecretKey, match="SECRET_KEY is not set"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_the_embedded_default_makes_its_own_key_once_and_keeps_it(bare_environment, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    kept = (INSTANCE_DIR / "secret_key").read_text().strip()
    assert app.config["SECRET_KEY"] == kept and len(kept) >= 32
    assert create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["SECRET_KEY"] == kept
    first = instance_secret_key(tmp_path / "instance")
    assert instance_secret_key(tmp_path / "instance") == first
    assert instance_secret_key(tmp_path / "elsewhere") != first
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o077 == 0


def test_the_command_line_says_plainly_that_the_key_is_missing(tmp_path):
    import os
    import subprocess
    import sys

    env = {name: value for name, value in os.environ.items() if name != "SECRET_KEY"}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'production.sqlite3'}"
    result = subprocess.run([sys.executable, "-c", "from outreach.cli import main; main()", "tick"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Error: SECRET_KEY is not set" in result.stderr and "Traceback" not in result.stderr
