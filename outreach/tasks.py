"""Job entry points run by RQ workers, the in-process runner and `rq cron`.

Each opens its own app context when run on a worker (where there is none),
then calls the service layer; the rules live there, not here.
"""
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, has_app_context

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
