"""Job entry points run by RQ workers, the in-process runner and `rq cron`.

Each opens its own app context when run on a worker (where there is none),
then calls the service layer; the rules live there, not here.
"""
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, has_app_context

from outreach import jobs, process
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
        process.settle_after_start()  # a job's work horse runs one job and ends
    with _worker_app.app_context():
        yield _worker_app


def tick() -> None:
    """Periodic work; safe to run any number of times, from any number of processes."""
    from outreach.services import calendar_sync, call_lists, privacy, voicemail

    send_due_texts()  # first: texts are due to the minute, and nothing else may hold them back
    with app_context() as app:
        for build in call_lists.build_due_call_lists(db.session, utcnow(), base_url=app.config["PUBLIC_BASE_URL"]):
            if build.notification_ids:  # "your list is ready" texts: send now rather than on the next tick
                jobs.dispatch(send_texts, build.notification_ids)
        privacy.apply_retention(db.session, utcnow())  # does its work at most once a day per practice
        voicemail.delete_erased_recordings(db.session, app.extensions["twilio_gateway"], utcnow())
        # Each calendar is a job of its own, claimed first: a slow or failing one holds back no other.
        for source_id in calendar_sync.claim_due_sources(db.session, utcnow()):
            jobs.dispatch(sync_calendar, source_id)


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


# How far ahead each tick schedules the sends of upcoming texts: the rq cron
# interval (60 s) and slack for a late tick. A text scheduled twice by
# overlapping ticks is still sent once: every send is claimed first.
TEXTS_SCHEDULED_AHEAD = dt.timedelta(seconds=70)


def send_due_texts() -> None:
    """The texts outbox: schedule what falls due before the next tick, then send what is due now.

    The sweep (`sms_outbox.dispatch_due`) also checks abandoned sends with
    Twilio, so a lost job or a dead worker delays a text, never drops it.
    """
    from outreach.services import sms_outbox

    with app_context() as app:
        settings = sms_outbox.OutboxSettings.from_config(app.config)
        now = utcnow()
        for send_at, ids in sms_outbox.upcoming_batches(db.session, now, TEXTS_SCHEDULED_AHEAD, settings):
            jobs.dispatch(send_texts, ids, sms_outbox.batch_wait(settings).total_seconds(), at=send_at)
        sms_outbox.dispatch_due(db.session, app.extensions["twilio_gateway"], now, settings)


def send_texts(notification_ids: list[int], wait_seconds: float = 0) -> None:
    """Sends these outbox rows as they fall due within `wait_seconds`, each claimed first:
    running this twice sends nothing twice."""
    from outreach.services import sms_outbox

    with app_context() as app:
        sms_outbox.send_batch(db.session, app.extensions["twilio_gateway"], notification_ids,
                              sms_outbox.OutboxSettings.from_config(app.config),
                              wait_up_to=dt.timedelta(seconds=wait_seconds))


def sync_calendar(source_id: int) -> None:
    """Downloads and imports one synced calendar (a feed) now: its turn came, or staff pressed "Sync now"."""
    from outreach.models import CalendarSource
    from outreach.services import calendar_sync
    from outreach.services.ics_import import ImportLimits

    with app_context() as app:
        source = db.session.get(CalendarSource, source_id)
        if source is not None and calendar_sync.is_synced(source):
            calendar_sync.sync_sources(db.session, [source], now=utcnow(), limits=ImportLimits.from_config(app.config),
                                       config=app.config)
