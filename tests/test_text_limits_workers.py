"""Per-client limits hold with two real `rq worker` processes claiming the same client's texts at once."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from outreach import jobs, tasks
from outreach.clock import set_clock
from outreach.extensions import db
from outreach.models import Notification
from tests.test_arrival_texts import ANNA_PHONE, NEW_YORK, create_requests, messages_received
from tests.test_arrival_texts_workers import wait_for
from tests.test_text_guard_rails import book_visits_for_anna

pytestmark = [pytest.mark.redis]

VISIT_AT = dt.datetime(2026, 12, 3, 10, 30, tzinfo=NEW_YORK)


@pytest.fixture
def workers(fake_twilio, rq_workers, live_server):
    rq_workers.config["PUBLIC_BASE_URL"] = live_server.url
    return rq_workers


def test_twenty_texts_to_one_client_given_to_two_workers_reach_her_once(workers, clock_file, fake_twilio, make,
                                                                         app):
    set_clock(clock_file, VISIT_AT - dt.timedelta(hours=1))
    book_visits_for_anna(make, [VISIT_AT + dt.timedelta(seconds=n) for n in range(20)])
    set_clock(clock_file, VISIT_AT)  # every arrival text due (15 minutes ago, within the missed margin)
    fake_twilio.latency = 0.05
    ids = db.session.scalars(select(Notification.id).order_by(Notification.id)).all()
    # Each worker gets every id, in opposite orders, several times over.
    for _ in range(3):
        jobs.dispatch(tasks.send_texts, ids)
        jobs.dispatch(tasks.send_texts, list(reversed(ids)))
    workers.start(2)

    def settled() -> list[str] | None:
        found = db.session.scalars(select(Notification.status)).all()
        return found if not {"pending", "sending"} & set(found) else None

    statuses = wait_for(settled, workers, what="every text sent or held")
    assert sorted(statuses).count("held") == 19
    fake_twilio.latency = 0
    assert len(messages_received(app, ANNA_PHONE)) == 1
    assert len(create_requests(fake_twilio, ANNA_PHONE)) == 1
