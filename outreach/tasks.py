"""Job entry points run by RQ workers, the in-process runner and `rq cron`.

Each opens its own app context when run on a worker (where there is none),
then calls the service layer; the rules live there, not here.
"""
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, has_app_context

from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import CallAttempt

_worker_app: Flask | None = None


@contextmanager
def app_context() -> Iterator[Flask]:
    global _worker_app
    if has_app_context():
        yield current_app._get_current_object()
        return
    if _worker_app is None:
        from outreach import create_app

        _worker_app = create_app()
    with _worker_app.app_context():
        yield _worker_app


def tick() -> None:
    """Periodic work; safe to run any number of times, from any number of processes."""
    with app_context():
        pass


def place_call(attempt_id: int) -> None:
    """Asks Twilio to ring the practitioner for one call attempt (retrying transient failures)."""
    from outreach.services import calls

    with app_context() as app:
        attempt = db.session.get(CallAttempt, attempt_id)
        if attempt is None:
            return
        calls.place_call(db.session, attempt, app.extensions["twilio_gateway"],
                         base_url=app.config["PUBLIC_BASE_URL"], now=utcnow(),
                         retry_delays=tuple(app.config["CALL_RETRY_DELAYS_SECONDS"]))
        db.session.commit()
