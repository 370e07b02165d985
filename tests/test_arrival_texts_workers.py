"""Arrival texts sent by real `rq worker --with-scheduler` processes.

Real Redis, the fake Twilio server (callbacks and replies over HTTP to the
live app), and a clock pinned for every process through `clock_file`, or the
real clock where RQ's scheduler has to fire on time. The fault tests kill a
worker with SIGKILL mid-batch, and stop and restart a Redis server of their
own while texts go out: every text must reach the client exactly once.
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from rq.registry import FinishedJobRegistry, ScheduledJobRegistry
from sqlalchemy import func, select

from outreach import jobs, tasks
from outreach.clock import set_clock, utcnow
from outreach.extensions import db
from outreach.models import AuditEvent, Client, Notification, Practitioner
from outreach.services import arrival_texts
from tests.test_arrival_texts import (
    ANNA_PHONE, ANNA_TEXT, NEW_YORK, PRACTICE_PHONE, book_visit, create_requests, messages_received, midday_zone,
    practice_at_midday, texts_of,
)

pytestmark = [pytest.mark.redis]

DAYTIME = dt.datetime(2026, 12, 1, 10, 0, tzinfo=NEW_YORK)


@pytest.fixture
def workers(fake_twilio, rq_workers, live_server):
    """RQ workers (not started yet) that send to the fake Twilio, which calls back the live app."""
    rq_workers.config["PUBLIC_BASE_URL"] = live_server.url
    return rq_workers


def wait_for(condition: Callable, workers, timeout: float = 45, what: str = "") -> object:
    """Polls `condition` (reading fresh rows each time) until it is truthy; fails with the workers' logs."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()
        db.session.expire_all()
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or condition}\n--- worker logs ---\n{workers.logs()[-6000:]}")
        time.sleep(0.2)


def statuses(appointment_id: int) -> list[str]:
    return [text.status for text in texts_of(appointment_id)]


def real_now() -> dt.datetime:
    """Twilio's (the fake's) clock is the real one: fault tests pin ours next to it."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def tick() -> None:
    """What `rq cron` enqueues every minute (its texts part)."""
    jobs.dispatch(tasks.send_due_texts)


def book_many(make, numbers: list[str], starts_at: dt.datetime, *, zone: str = "America/New_York") -> None:
    """Visits at `starts_at` with Glen of Smile Dental (in `zone`, as are the clients), at the places of clients
    with these numbers."""
    glen = db.session.scalar(select(Practitioner)) or make.practitioner(
        make.practice("Smile Dental", phone=PRACTICE_PHONE, timezone=zone), email="glen@example.com")
    visits = [make.appointment(glen, make.client(glen.practice, full_name=f"Client {n}", phone=number, timezone=zone),
                               starts_at, at_client_place=True) for n, number in enumerate(numbers)]
    arrival_texts.plan_arrival_texts(db.session, [visit.id for visit in visits], utcnow())
    db.session.commit()


def phone_numbers(count: int, first: int = 2000) -> list[str]:
    return [f"+1202555{first + n:04d}" for n in range(count)]


def all_sent() -> bool:
    unsent = db.session.scalar(select(func.count()).select_from(Notification).where(Notification.message_sid.is_(None)))
    return unsent == 0


def assert_each_received_exactly_once(app, fake_twilio, numbers: list[str]) -> None:
    fake_twilio.latency = 0
    received = {number: len(messages_received(app, number)) for number in numbers}
    assert received == {number: 1 for number in numbers}


# --- on time, and not at all -------------------------------------------------------------------------


def test_texts_go_out_at_their_moments_and_their_delivery_comes_back(workers, clock_file, fake_twilio, make, app):
    practice = practice_at_midday(make, utcnow())  # the real clock: RQ's scheduler fires on time
    soon = utcnow() + dt.timedelta(minutes=15, seconds=8)
    # Due 8, 10 and 12 seconds from now: one scheduled job, each text sent at its own moment.
    visits = [book_visit(make, soon + dt.timedelta(seconds=2 * n), practice=practice, email=f"g{n}@example.com",
                         client_phone=f"+1202555014{n}", timezone=practice.timezone) for n in range(3)]
    workers.start(1)
    tick()  # schedules the sends; RQ's scheduler starts them at the first one's moment

    for appointment_id in [visit.appointment.id for visit in visits]:
        [text] = wait_for(lambda: [t for t in texts_of(appointment_id) if t.sent_at], workers, what="the send")
        lateness = (text.sent_at - text.due_at).total_seconds()
        assert 0 <= lateness < 5, lateness
        wait_for(lambda: statuses(appointment_id) == ["delivered"], workers, what="delivered")
    [create] = create_requests(fake_twilio, visits[0].client.phone)
    assert create.form_value("Body") == ANNA_TEXT


def test_a_visit_cancelled_by_a_reimport_gets_no_text(workers, clock_file, fake_twilio, make, app):
    practice = practice_at_midday(make, utcnow())
    # Due 20 seconds from now: time for a loaded machine to schedule the send before it is due.
    visit = book_visit(make, utcnow() + dt.timedelta(minutes=15, seconds=20), practice=practice,
                       timezone=practice.timezone)
    [worker] = workers.start(1)
    connection = redis.Redis.from_url(workers.config["REDIS_URL"])
    scheduled = ScheduledJobRegistry(jobs.QUEUE_NAME, connection=connection)
    tick()
    wait_for(lambda: scheduled.count == 1, workers, what="the send to be scheduled")

    visit.appointment.status = "cancelled"  # as the importer does, then it re-plans
    arrival_texts.plan_arrival_texts(db.session, [visit.appointment.id], utcnow())
    db.session.commit()

    finished = FinishedJobRegistry(jobs.QUEUE_NAME, connection=connection)
    wait_for(lambda: scheduled.count == 0 and finished.count == 2, workers, what="the scheduled send to run")
    assert statuses(visit.appointment.id) == ["cancelled"]
    assert create_requests(fake_twilio, ANNA_PHONE) == []


def test_quiet_hours_hold_the_automatic_text_but_not_on_my_way(workers, clock_file, fake_twilio, make, app,
                                                                client, auth):
    late_visit = dt.datetime(2026, 12, 1, 22, 45, tzinfo=NEW_YORK)
    set_clock(clock_file, late_visit - dt.timedelta(minutes=15))
    visit = book_visit(make, late_visit)
    workers.start(1)
    tick()
    wait_for(lambda: statuses(visit.appointment.id) == ["skipped"], workers, what="skipped")
    assert texts_of(visit.appointment.id)[0].status_detail == "quiet hours"

    auth.login("glen@example.com")
    client.post(f"/appointments/{visit.appointment.id}/on-my-way", data={"eta_minutes": "20"})
    wait_for(lambda: statuses(visit.appointment.id) == ["skipped", "delivered"], workers, what="On my way")
    [create] = create_requests(fake_twilio, ANNA_PHONE)
    assert "about 20 minutes" in create.form_value("Body")
    page = client.get("/today").get_data(as_text=True)
    assert "delivered" in page and "quiet hours" in page


def test_stop_then_start(workers, clock_file, fake_twilio, live_server, make, app):
    set_clock(clock_file, DAYTIME)
    morning = book_visit(make, DAYTIME + dt.timedelta(minutes=30))
    afternoon = make.appointment(morning.appointment.practitioner, morning.client, DAYTIME + dt.timedelta(hours=5),
                                 at_client_place=True)
    arrival_texts.plan_arrival_texts(db.session, [afternoon.id], utcnow())
    db.session.commit()
    workers.start(1)
    inbound = f"{live_server.url}/twilio/inbound-sms"

    assert fake_twilio.send_inbound_sms(inbound, from_=ANNA_PHONE, to=PRACTICE_PHONE, body="STOP") == 200
    set_clock(clock_file, DAYTIME + dt.timedelta(minutes=15))
    tick()
    wait_for(lambda: statuses(morning.appointment.id) == ["skipped"], workers, what="skipped")
    assert texts_of(morning.appointment.id)[0].status_detail == "client opted out"

    assert fake_twilio.send_inbound_sms(inbound, from_=ANNA_PHONE, to=PRACTICE_PHONE, body="Start") == 200
    db.session.expire_all()
    assert db.session.get(Client, morning.client.id).opted_out_at is None
    set_clock(clock_file, DAYTIME + dt.timedelta(hours=4, minutes=45))
    tick()
    wait_for(lambda: statuses(afternoon.id) == ["delivered"], workers, what="the afternoon text")
    assert len(create_requests(fake_twilio, ANNA_PHONE)) == 1


def test_delivered_and_undelivered_come_back_from_twilio(workers, clock_file, fake_twilio, make, app):
    set_clock(clock_file, DAYTIME)
    anna = book_visit(make, DAYTIME + dt.timedelta(minutes=15))
    boris = book_visit(make, DAYTIME + dt.timedelta(minutes=15), practice=anna.practice, email="g2@example.com",
                       client_phone="+12025550146", full_name="Boris Smirnov")
    fake_twilio.scenario("+12025550146", "undelivered", error_code=30005)
    workers.start(1)
    tick()
    wait_for(lambda: statuses(anna.appointment.id) == ["delivered"], workers, what="delivered")
    wait_for(lambda: statuses(boris.appointment.id) == ["undelivered"], workers, what="undelivered")
    assert texts_of(boris.appointment.id)[0].error_code == 30005


def test_the_same_texts_given_to_two_workers_at_once_go_out_once(workers, clock_file, fake_twilio, make, app):
    set_clock(clock_file, DAYTIME + dt.timedelta(minutes=15))
    fake_twilio.latency = 0.05
    clients = phone_numbers(30)
    book_many(make, clients, DAYTIME + dt.timedelta(minutes=30))
    ids = db.session.scalars(select(Notification.id)).all()
    for _ in range(3):
        jobs.dispatch(tasks.send_texts, ids)
    tick()
    workers.start(2)
    wait_for(all_sent, workers, what="every text sent")
    assert_each_received_exactly_once(app, fake_twilio, clients)


# --- faults -------------------------------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """Processes whose parent is `pid` (RQ's work horse is a fork of the worker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_a_worker_killed_mid_batch_sends_every_text_exactly_once(workers, clock_file, fake_twilio, make, app):
    now = real_now()
    set_clock(clock_file, now)
    fake_twilio.auto_callbacks = False  # only asking Twilio can tell what the dead worker sent
    fake_twilio.latency = 0.3  # each send takes a while: the kill lands mid-send
    clients = phone_numbers(40)
    book_many(make, clients, now + dt.timedelta(minutes=15), zone=midday_zone(now))
    [worker] = workers.start(1)
    tick()

    wait_for(lambda: len(fake_twilio.requests) >= 10, workers, what="sending to begin")
    for pid in children_of(worker.pid) + [worker.pid]:
        os.kill(pid, signal.SIGKILL)
    worker.wait(5)
    db.session.expire_all()
    left = db.session.execute(select(Notification.status, func.count()).group_by(Notification.status)).all()
    assert dict(left).get("sending", 0) >= 10 and dict(left).get("pending", 0) > 0, left

    # The next worker and tick, once any request of the dead worker has surely ended.
    set_clock(clock_file, now + dt.timedelta(minutes=2))
    workers.start(1)
    tick()
    wait_for(all_sent, workers, timeout=90, what="every text sent")
    assert_each_received_exactly_once(app, fake_twilio, clients)
    recovered = db.session.scalar(select(func.count()).select_from(AuditEvent)
                                  .where(AuditEvent.action == "notification.recovered"))
    assert recovered >= 10


class RedisServer:
    """A redis-server of this test's own, without persistence: a restart loses every job."""

    def __init__(self, tmp_path: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = tmp_path / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:  # the server writes to its own copy
            self.process = subprocess.Popen(
                ["/usr/bin/redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.log_path.parent)],
                stdout=log, stderr=subprocess.STDOUT)
        connection = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                connection.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def own_redis(rq_config, tmp_path):
    """Workers and the app on a Redis server the test may stop; the machine's shared one is left alone."""
    server = RedisServer(tmp_path)
    server.start()
    rq_config["REDIS_URL"] = server.url
    yield server
    server.stop()


def test_a_redis_restart_during_dispatch_loses_and_doubles_nothing(fake_twilio, own_redis, workers, clock_file,
                                                                   make, app):
    now = real_now()
    set_clock(clock_file, now)
    fake_twilio.auto_callbacks = False
    fake_twilio.latency = 0.2
    due_now, due_soon = phone_numbers(40), phone_numbers(10, first=3000)
    book_many(make, due_now, now + dt.timedelta(minutes=15), zone=midday_zone(now))
    # Due half a minute later: the tick schedules these in Redis, which is about to forget them.
    book_many(make, due_soon, now + dt.timedelta(minutes=15, seconds=30), zone=midday_zone(now))
    workers.start(2)
    tick()

    scheduled = ScheduledJobRegistry(jobs.QUEUE_NAME, connection=redis.Redis.from_url(own_redis.url))
    wait_for(lambda: scheduled.count == 1 and len(fake_twilio.requests) >= 10, workers, what="sending to begin")
    own_redis.stop()
    time.sleep(2)
    own_redis.start()  # empty: the queue and the scheduled sends are gone
    assert scheduled.count == 0

    # A worker that lost Redis mid-job may have quit: bring the pool back to two.
    alive = sum(process.poll() is None for process in workers.processes)
    workers.start(2 - alive)
    set_clock(clock_file, now + dt.timedelta(minutes=2))
    tick()
    wait_for(all_sent, workers, timeout=90, what="every text sent")
    assert_each_received_exactly_once(app, fake_twilio, due_now + due_soon)
