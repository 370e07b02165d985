"""Calendar feeds synced by real `rq worker` processes: each feed a job of its own.

Real Redis, real workers, feeds served over HTTP on loopback, the real
clock. One feed answers slowly and one fails: the others are synced all the
same, without waiting for them, and the failing one backs off.
"""
from __future__ import annotations

import datetime as dt
import time

import pytest
import redis
from rq.registry import FinishedJobRegistry
from sqlalchemy import select

from outreach import jobs, tasks
from outreach.extensions import db
from outreach.models import Appointment, CalendarSource
from outreach.services import feeds
from tests.feed_server import FeedServer

pytestmark = [pytest.mark.redis]

SLOW_SECONDS = 18  # below the 20-second download limit: slow, not failing


def calendar(uid: str, starts_at: dt.datetime) -> bytes:
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
            f"DTSTAMP:20260101T000000Z\r\nDTSTART:{starts_at:%Y%m%dT%H%M%SZ}\r\nDURATION:PT45M\r\n"
            f"SUMMARY:Client {uid} - visit\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()


@pytest.fixture
def servers():
    started = [FeedServer() for _ in range(5)]
    yield started
    for server in started:
        server.stop()


def fresh(source_id: int) -> CalendarSource:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(CalendarSource, source_id)


def wait_for(condition, workers, timeout: float = 60, what: str = ""):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n--- worker logs ---\n{workers.logs()[-6000:]}")
        time.sleep(0.2)
    return value


def test_a_slow_feed_and_a_failing_one_hold_back_no_other(rq_workers, servers, make, app):
    practitioner = make.practitioner(make.practice(timezone="America/New_York"))
    soon = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
    slow, failing, *good = servers
    slow.delay_seconds = SLOW_SECONDS
    failing.status = 500
    for number, server in enumerate(servers):
        server.body = calendar(f"visit-{number}", soon + dt.timedelta(hours=number))
    sources = [feeds.add_feed(db.session, practitioner, server.url, f"Feed {n}") for n, server in enumerate(servers)]
    db.session.commit()
    slow_id, failing_id, *good_ids = [source.id for source in sources]

    rq_workers.start(2)
    jobs.dispatch(tasks.tick)  # what `rq cron` enqueues every minute

    wait_for(lambda: all(fresh(source_id).last_success_at for source_id in good_ids), rq_workers,
             what="the good feeds")
    assert fresh(slow_id).last_success_at is None, "the good feeds waited for the slow one"
    wait_for(lambda: fresh(failing_id).last_error, rq_workers, what="the failing feed's error")
    wait_for(lambda: fresh(slow_id).last_success_at, rq_workers, what="the slow feed")

    synced = {source_id: fresh(source_id) for source_id in [slow_id, failing_id, *good_ids]}
    uids = db.session.scalars(select(Appointment.uid).order_by(Appointment.uid)).all()
    assert uids == ["visit-0", "visit-2", "visit-3", "visit-4"]
    failed = synced[failing_id]
    assert (failed.failed_syncs, failed.last_error) == (1, "the server answered 500 Internal Server Error")
    assert failed.next_sync_at - failed.last_attempt_at == dt.timedelta(minutes=30)
    # Every good feed is next due at its own moment within the coming half hour.
    moments = [synced[source_id].next_sync_at for source_id in [slow_id, *good_ids]]
    assert len(set(moments)) == len(moments)
    assert all(dt.timedelta(0) < moment - synced[slow_id].last_attempt_at <= dt.timedelta(minutes=31)
               for moment in moments)
    # The tick, and one job per feed.
    finished = FinishedJobRegistry(jobs.QUEUE_NAME, connection=redis.Redis.from_url(rq_workers.config["REDIS_URL"]))
    assert finished.count == 1 + len(servers)

    # Ticking again while nothing is due starts no sync.
    jobs.dispatch(tasks.tick)
    wait_for(lambda: finished.count == 2 + len(servers), rq_workers, what="the second tick")
    assert [len(server.requests) for server in servers] == [1] * len(servers)
