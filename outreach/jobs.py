"""The jobs facade: routes, CLI commands and services hand work to `dispatch`
and never import RQ themselves.

- With `REDIS_URL` (JOBS_MODE "rq"), work is enqueued on RQ; `at=` uses
  `enqueue_at`, which needs `rq worker --with-scheduler`.
- Without it (JOBS_MODE "thread", the embedded default), work runs on a thread
  of this process, and `at=` on a timer thread.
- JOBS_MODE "inline" runs the work before `dispatch` returns (tests).

The database, not Redis, is the source of truth for what is due: the periodic
`tasks.tick` finds due work in the tables, so a lost job only delays work.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask, current_app

from outreach.clock import utcnow

log = logging.getLogger(__name__)
QUEUE_NAME = "outreach"


class _Runner:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.mode = app.config["JOBS_MODE"]
        self._executor: ThreadPoolExecutor | None = None
        self._queue = None

    @property
    def queue(self):
        if self._queue is None:
            from redis import Redis
            from rq import Queue

            self._queue = Queue(QUEUE_NAME, connection=Redis.from_url(self.app.config["REDIS_URL"]))
        return self._queue

    def dispatch(self, fn: Callable, args: tuple, kwargs: dict, at: dt.datetime | None) -> None:
        if self.mode == "rq":
            if at is None:
                self.queue.enqueue(fn, *args, **kwargs)
            else:
                self.queue.enqueue_at(at, fn, *args, **kwargs)
        elif self.mode == "inline":
            fn(*args, **kwargs)
        elif at is None:
            self._submit(fn, args, kwargs)
        else:
            delay = max(0.0, (at - utcnow()).total_seconds())
            timer = threading.Timer(delay, self._submit, (fn, args, kwargs))
            timer.daemon = True
            timer.start()

    def _submit(self, fn: Callable, args: tuple, kwargs: dict) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="outreach-job")
        self._executor.submit(self._run_in_app_context, fn, args, kwargs)

    def _run_in_app_context(self, fn: Callable, args: tuple, kwargs: dict) -> None:
        with self.app.app_context():
            try:
                fn(*args, **kwargs)
            except Exception:  # a background thread has nobody else to tell
                log.exception("job %s failed", getattr(fn, "__name__", fn))


def init_app(app: Flask) -> None:
    app.extensions["jobs"] = _Runner(app)


def dispatch(fn: Callable, *args: Any, at: dt.datetime | None = None, **kwargs: Any) -> None:
    """Run `fn(*args, **kwargs)` in the background, now or at `at` (aware UTC)."""
    current_app.extensions["jobs"].dispatch(fn, args, kwargs, at)


def start_periodic_thread(app: Flask, tick: Callable[[], None]) -> threading.Thread:
    """Embedded default only: run `tick` (the periodic work, `tasks.tick`) every few seconds on a daemon thread."""
    interval = app.config["PERIODIC_INTERVAL_SECONDS"]
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            with app.app_context():
                try:
                    tick()
                except Exception:
                    log.exception("periodic tick failed")

    thread = threading.Thread(target=loop, name="outreach-periodic", daemon=True)
    thread.stop_event = stop  # type: ignore[attr-defined]
    thread.start()
    return thread
