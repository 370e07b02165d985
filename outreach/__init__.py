"""outreach: pre-visit personal outreach for practitioners."""
import logging
import os
import secrets
from pathlib import Path

from flask import Flask, abort, request, session
from flask_babel import gettext
from flask_login import current_user

from outreach.config import PROJECT_ROOT, Config
from outreach import schema_migrations
from outreach.extensions import babel, csrf, db, limiter, login_manager
from outreach.messages import N_


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    app.config.from_object(Config())
    if test_config:
        app.config.update(test_config)
    register_secret_key(app)
    logging.basicConfig(level=logging.INFO)
    # The SDK logs every request and its headers at INFO; the gateway logs what matters.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)

    register_extensions(app)
    register_blueprints(app)
    register_error_pages(app)
    register_security_headers(app)
    register_input_guards(app)
    register_template_helpers(app)
    register_services(app)
    register_commands(app)
    return app


class MissingSecretKey(RuntimeError):
    """The app cannot sign its session cookies: it refuses to start."""


def register_secret_key(app: Flask) -> None:
    """SECRET_KEY from the configuration; the embedded default (the demo) keeps a random one in instance/.

    Anywhere else (a DATABASE_URL is set) a missing key stops the app: a key
    written in the code would let anyone sign a session cookie.
    """
    if app.config.get("SECRET_KEY"):
        return
    if app.testing:
        app.config["SECRET_KEY"] = secrets.token_urlsafe(32)
    elif app.config["EMBEDDED_DEFAULT"]:
        app.config["SECRET_KEY"] = instance_secret_key(Path(app.instance_path))
    else:
        raise MissingSecretKey(
            "SECRET_KEY is not set. Set it in the environment (or .env) to a long random value, e.g. the output "
            "of: python -c 'import secrets; print(secrets.token_urlsafe(32))'. Only the embedded default "
            "(no DATABASE_URL) makes one up, kept in instance/secret_key."
        )


def instance_secret_key(instance_dir: Path) -> str:
    """The embedded default's own random key, made once and kept, so sessions survive a restart."""
    path = instance_dir / "secret_key"
    instance_dir.mkdir(parents=True, exist_ok=True)
    try:
        # Created only if absent, readable by its owner alone; two processes starting at once agree.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as key_file:
        key_file.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    schema_migrations.register(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    # Flashed in the reader's language (Flask-Login's own text is English only).
    login_manager.login_message = N_("Please sign in to see this page.")
    login_manager.localize_callback = gettext
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    limiter.init_app(app)

    from outreach.services import accounts

    @login_manager.user_loader
    def load_user(session_id: str):
        return accounts.user_for_session(db.session, session_id)


def select_locale() -> str:
    """The user's own language, else their practice's, else the browser's."""
    if current_user and current_user.is_authenticated:
        return current_user.locale or current_user.practice.locale
    if session.get("locale"):
        return session["locale"]
    return request.accept_languages.best_match(["en", "ru"]) or "en"


def register_blueprints(app: Flask) -> None:
    from outreach.web import BLUEPRINTS
    from outreach.web.ids import IdConverter

    app.url_map.converters["id"] = IdConverter
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)


def register_error_pages(app: Flask) -> None:
    from outreach.web import errors

    errors.register(app)


def register_commands(app: Flask) -> None:
    from outreach import cli

    cli.register_commands(app)


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def set_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # Everything is served from this app: no CDN, works offline on a practice's own server.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'",
        )
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response


def register_input_guards(app: Flask) -> None:
    @app.before_request
    def refuse_nul_characters():
        """No text of ours holds a NUL character, and PostgreSQL refuses one even in a query: 400, said plainly."""
        texts = [*request.args.items(multi=True), *request.form.items(multi=True),
                 *((key, upload.filename or "") for key, upload in request.files.items(multi=True))]
        if any("\x00" in key or "\x00" in value for key, value in texts):
            abort(400, gettext("The request holds a NUL character, which no field accepts."))


def register_template_helpers(app: Flask) -> None:
    from outreach.web import formatting

    formatting.register(app)


def register_services(app: Flask) -> None:
    """The Twilio gateway and the jobs runner live on the app, one of each per process."""
    from outreach import jobs
    from outreach.services import twilio_events
    from outreach.twilio_gateway import build_gateway

    def console_status_sink(kind: str, params: dict) -> None:
        with app.app_context():
            twilio_events.apply_console_status(db.session, kind, params)
            db.session.remove()

    app.extensions["twilio_gateway"] = build_gateway(app.config, status_sink=console_status_sink)
    jobs.init_app(app)
