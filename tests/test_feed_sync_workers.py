"""Calendar feeds synced by real `rq worker` processes: each feed a job of its own.

Real Redis, real workers, feeds served over HTTP on loopback, the real
clock. One feed never answers and one fails: the others are synced all the
same, without waiting for them, and the two back off.
"""
from __future__ import annotations

import datetime as dt
import time

import pytest
import redis
from rq.job import Job
from rq.registry import FinishedJobRegistry
from sqlalchemy import select

from outreach import jobs, tasks
from outreach.extensions import db
from outreach.models import Appointment, CalendarSource
from outreach.services import feeds
from tests.feed_server import FeedServer

pytestmark = [pytest.mark.redis]

HANGING_SECONDS = 25  # longer than the 20-second download limit: the feed that never answers


def calendar(uid: str, starts_at: dt.datetime) -> bytes:
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
            f"DTSTAMP:20260101T000000Z\r\nDTSTART:{starts_at:%Y%m%dT%H%M%SZ}\r\nDURATION:PT45M\r\n"
            f"SUMMARY:Client {uid} - visit\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()


@pytest.fixture
def servers():
    started = [FeedServer() for _ in range(4)]
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


def test_a_hanging_feed_and_a_failing_one_hold_back_no_other(rq_workers, servers, make, app):
    practitioner = make.practitioner(make.practice(timezone="America/New_York"))
    soon = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
    hanging, failing, *good = servers
    hanging.delay_seconds = HANGING_SECONDS
    failing.status = 500
    for number, server in enumerate(servers):
        server.body = calendar(f"visit-{number}", soon + dt.timedelta(hours=number))
    sources = [feeds.add_feed(db.session, practitioner, server.url, f"Feed {n}", allowed_private_hosts=("127.0.0.1",))
               for n, server in enumerate(servers)]
    db.session.commit()
    hanging_id, failing_id, *good_ids = [source.id for source in sources]

    rq_workers.start(2)
    jobs.dispatch(tasks.tick)  # what `rq cron` enqueues every minute
    finished = FinishedJobRegistry(jobs.QUEUE_NAME, connection=redis.Redis.from_url(rq_workers.config["REDIS_URL"]))
    wait_for(lambda: finished.count == 1 + len(servers), rq_workers, timeout=120, what="the tick and a job per feed")

    sync_jobs = {job.args[0]: job for job in Job.fetch_many(finished.get_job_ids(), connection=finished.connection)
                 if job.func_name == "outreach.tasks.sync_calendar"}
    assert sorted(sync_jobs) == sorted(source.id for source in sources)
    # The good feeds were synced by the other worker while the hanging one was still waiting for its server.
    assert all(sync_jobs[source_id].ended_at < sync_jobs[hanging_id].ended_at for source_id in good_ids)

    synced = {source.id: fresh(source.id) for source in sources}
    assert db.session.scalars(select(Appointment.uid).order_by(Appointment.uid)).all() == ["visit-2", "visit-3"]
    assert all(synced[source_id].last_success_at for source_id in good_ids)
    for source_id, error in [(hanging_id, "the server did not answer within 20 seconds"),
                             (failing_id, "the server answered 500 Internal Server Error")]:
        source = synced[source_id]
        assert (source.failed_syncs, source.last_error, source.last_success_at) == (1, error, None)
        assert source.next_sync_at - source.last_attempt_at == dt.timedelta(minutes=30)
    # The good feeds are next due each at its own moment within the coming half hour.
    moments = [synced[source_id].next_sync_at for source_id in good_ids]
    assert len(set(moments)) == len(moments)
    assert all(dt.timedelta(0) < moment - synced[source_id].last_attempt_at <= dt.timedelta(minutes=30)
               for source_id, moment in zip(good_ids, moments))

    # Ticking again while nothing is due starts no sync.
    jobs.dispatch(tasks.tick)
    wait_for(lambda: finished.count == 2 + len(servers), rq_workers, what="the second tick")
    assert [len(server.requests) for server in servers] == [1] * len(servers)
