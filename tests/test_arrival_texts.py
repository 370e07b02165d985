"""Arrival texts: planned from imported visits, sent once and on time, never wrong.

These tests run the outbox in the test process through the real twilio SDK
against the fake Twilio server, with the clock pinned; webhooks arrive over
real HTTP, signed by the fake. The same stories with RQ worker processes,
and the fault tests, are in test_arrival_texts_workers.py.
"""
from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach import tasks
from outreach.cli import cli
from outreach.clock import set_clock, utcnow
from outreach.extensions import db
from outreach.models import Appointment, AuditEvent, Client, InboundMessage, Notification, Practice
from outreach.services import arrival_texts, sms_outbox
from outreach.services.sms_outbox import OutboxSettings, in_quiet_hours

PRACTICE_PHONE = "+12025550100"
ANNA_PHONE = "+12025550143"
NEW_YORK = dt.timezone(dt.timedelta(hours=-5))  # EST: the fixed dates below are in winter
# A Tuesday morning in New York; Anna's visit is at 10:30, her text due at 10:15.
MORNING = dt.datetime(2026, 12, 1, 10, 0, tzinfo=NEW_YORK)
VISIT_AT = dt.datetime(2026, 12, 1, 10, 30, tzinfo=NEW_YORK)
ANNA_TEXT = "Hi Anna, this is Glen from Smile Dental. I'll be with you in about 15 minutes."


@dataclass
class Visit:
    practice: Practice
    client: Client
    appointment: Appointment


def book_visit(make, starts_at: dt.datetime, *, client_phone: str = ANNA_PHONE, email: str = "glen@example.com",
               practice: Practice | None = None, full_name: str = "Anna Petrova", **client_fields) -> Visit:
    """Anna's visit at her place with Glen of Smile Dental, its arrival text planned as after an import."""
    practice = practice or make.practice("Smile Dental", phone=PRACTICE_PHONE)
    practitioner = make.practitioner(practice, email=email)
    anna = make.client(practice, full_name=full_name, phone=client_phone, **client_fields)
    appointment = make.appointment(practitioner, anna, starts_at, at_client_place=True, location="12 Elm St")
    arrival_texts.plan_arrival_texts(db.session, [appointment.id], utcnow())
    db.session.commit()
    return Visit(practice, anna, appointment)


def texts_of(appointment_id: int) -> list[Notification]:
    db.session.expire_all()
    return db.session.scalars(select(Notification).where(Notification.appointment_id == appointment_id)
                              .order_by(Notification.id)).all()


def create_requests(fake, to: str) -> list:
    """The requests to create a text to `to` the fake received, accepted or not."""
    return [r for r in fake.requests
            if r.method == "POST" and r.path.endswith("/Messages.json") and r.form_value("To") == to]


def messages_received(app, to: str, from_: str = PRACTICE_PHONE) -> list:
    """The texts to `to` the fake Twilio created (what the client gets), as its REST API lists them."""
    return app.extensions["twilio_gateway"].recent_messages(to=to, from_=from_, since=dt.datetime(2000, 1, 1))


def dispatch(app) -> dict:
    counts = sms_outbox.dispatch_due(db.session, app.extensions["twilio_gateway"], utcnow(),
                                     OutboxSettings.from_config(app.config))
    return dict(counts)


def audit_actions(notification_id: int) -> list[str]:
    return db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "Notification",
                                                               AuditEvent.object_id == notification_id)
                              .order_by(AuditEvent.id)).all()


def midday_zone(now: dt.datetime) -> str:
    """A zone where `now` is around midday: outside quiet hours, mid visit-day, at any real hour."""
    offset = 12 - now.hour  # Etc/GMT zones name the offset with the opposite sign
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def practice_at_midday(make, now: dt.datetime) -> Practice:
    """Smile Dental where `now` is around midday (tests that need Twilio's real clock run at any hour)."""
    return make.practice("Smile Dental", phone=PRACTICE_PHONE, timezone=midday_zone(now))


@pytest.fixture
def morning(clock_file):
    set_clock(clock_file, MORNING)
    return clock_file


@pytest.fixture
def quiet_fake(fake_twilio):
    """The fake Twilio without status callbacks (nobody listens at the test PUBLIC_BASE_URL)."""
    fake_twilio.auto_callbacks = False
    return fake_twilio


# --- planning ---------------------------------------------------------------------------------


def test_a_visit_at_the_clients_place_gets_one_arrival_text_due_fifteen_minutes_before(app, make, morning):
    visit = book_visit(make, VISIT_AT)
    # The importer plans again after every import: still one text.
    arrival_texts.plan_arrival_texts(db.session, [visit.appointment.id], utcnow())
    db.session.commit()

    [text] = texts_of(visit.appointment.id)
    assert text.kind == "arrival" and text.status == "pending"
    assert text.due_at == VISIT_AT - dt.timedelta(minutes=15)
    assert text.dedupe_key == f"arrival:{visit.appointment.id}:15"
    assert text.body == ANNA_TEXT
    assert (text.to_phone, text.from_phone) == (ANNA_PHONE, PRACTICE_PHONE)
    assert audit_actions(text.id) == ["notification.planned"]


def test_the_text_speaks_the_clients_language_or_the_practices_own_words(app, make, morning):
    practice = make.practice("Улыбка", phone=PRACTICE_PHONE, locale="ru", arrival_lead_minutes=20)
    russian = book_visit(make, VISIT_AT, practice=practice)
    assert texts_of(russian.appointment.id)[0].body == (
        "Здравствуйте, Anna! Это Glen из Улыбка — буду у вас примерно через 20 мин.")

    english = book_visit(make, VISIT_AT, practice=make.practice("Smile Dental", phone="+12025550101", locale="ru"),
                         client_phone="+12025550144", email="g2@example.com", locale="en")
    assert texts_of(english.appointment.id)[0].body == ANNA_TEXT

    own = make.practice("Own Words", phone="+12025550102",
                        arrival_template="{client}, {practitioner} here: {minutes} min away (visit at {time}).")
    visit = book_visit(make, VISIT_AT, practice=own, client_phone="+12025550145", email="g3@example.com")
    assert texts_of(visit.appointment.id)[0].body == "Anna, Glen here: 15 min away (visit at 10:30 AM)."


def test_no_text_for_a_visit_at_the_practice_a_past_visit_or_a_client_without_phone(app, make, morning):
    practice = make.practice("Smile Dental", phone=PRACTICE_PHONE)
    glen = make.practitioner(practice)
    anna = make.client(practice, phone=ANNA_PHONE)
    at_practice = make.appointment(glen, anna, VISIT_AT)
    past = make.appointment(glen, anna, MORNING - dt.timedelta(hours=2), at_client_place=True)
    no_phone = make.appointment(glen, make.client(practice, full_name="Boris", phone=None, email="b@example.com"),
                                VISIT_AT, at_client_place=True)
    no_phone.client.phone = None
    db.session.commit()
    report = arrival_texts.plan_arrival_texts(db.session, [at_practice.id, past.id, no_phone.id], utcnow())
    assert report.planned == []
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_a_reimport_that_cancels_moves_or_restores_the_visit_follows_with_the_text(app, make, morning):
    visit = book_visit(make, VISIT_AT)
    [text] = texts_of(visit.appointment.id)

    visit.appointment.starts_at = VISIT_AT + dt.timedelta(hours=2)  # moved, as the importer would
    report = arrival_texts.plan_arrival_texts(db.session, [visit.appointment.id], utcnow())
    db.session.commit()
    assert report.rescheduled == [text.id]
    [text] = texts_of(visit.appointment.id)
    assert text.status == "pending" and text.due_at == VISIT_AT + dt.timedelta(hours=2, minutes=-15)

    visit.appointment.status = "cancelled"
    report = arrival_texts.plan_arrival_texts(db.session, [visit.appointment.id], utcnow())
    db.session.commit()
    assert report.cancelled == [text.id]
    [text] = texts_of(visit.appointment.id)
    assert (text.status, text.status_detail) == ("cancelled", "visit cancelled")

    visit.appointment.status = "confirmed"
    arrival_texts.plan_arrival_texts(db.session, [visit.appointment.id], utcnow())
    db.session.commit()
    assert [t.status for t in texts_of(visit.appointment.id)] == ["pending"]
    assert audit_actions(text.id) == ["notification.planned", "notification.rescheduled", "notification.cancelled",
                                      "notification.replanned"]


def test_a_new_lead_time_replaces_the_pending_text(app, make, morning):
    visit = book_visit(make, VISIT_AT)
    visit.practice.arrival_lead_minutes = 25
    arrival_texts.plan_arrival_texts(db.session, [visit.appointment.id], utcnow())
    db.session.commit()
    old, new = texts_of(visit.appointment.id)
    assert old.status == "cancelled" and new.status == "pending"
    assert new.due_at == VISIT_AT - dt.timedelta(minutes=25) and "about 25 minutes" in new.body


# --- sending ---------------------------------------------------------------------------------------


def test_a_due_text_is_sent_once_with_its_status_callback(quiet_fake, app, make, morning):
    visit = book_visit(make, VISIT_AT)
    clock_file = morning
    set_clock(clock_file, VISIT_AT - dt.timedelta(minutes=15))
    assert dispatch(app) == {"sent": 1}
    assert dispatch(app) == {}

    [create] = create_requests(quiet_fake, ANNA_PHONE)
    assert create.form_value("Body") == ANNA_TEXT
    assert create.form_value("From") == PRACTICE_PHONE
    [text] = texts_of(visit.appointment.id)
    assert create.form_value("StatusCallback") == f"http://localhost/twilio/message-status?notification={text.id}"
    assert text.status == "queued" and text.message_sid.startswith("SM")
    assert text.sent_at == VISIT_AT - dt.timedelta(minutes=15) and text.send_attempts == 1
    assert audit_actions(text.id) == ["notification.planned", "notification.sent"]


def test_nothing_is_sent_before_its_time_and_a_text_too_late_is_missed(quiet_fake, app, make, morning):
    visit = book_visit(make, VISIT_AT)
    clock_file = morning
    set_clock(clock_file, VISIT_AT - dt.timedelta(minutes=16))
    assert dispatch(app) == {}
    set_clock(clock_file, VISIT_AT - dt.timedelta(minutes=15) + dt.timedelta(minutes=21))
    assert dispatch(app) == {"missed": 1}
    [text] = texts_of(visit.appointment.id)
    assert text.status == "missed" and "20 minutes" in text.status_detail
    assert create_requests(quiet_fake, ANNA_PHONE) == []


@pytest.mark.parametrize("local_time, quiet", [
    (dt.time(20, 59), False), (dt.time(21, 0), True), (dt.time(23, 30), True), (dt.time(0, 0), True),
    (dt.time(7, 59), True), (dt.time(8, 0), False), (dt.time(12, 0), False),
])
def test_default_quiet_hours_wrap_midnight(local_time, quiet):
    assert in_quiet_hours(local_time, dt.time(21, 0), dt.time(8, 0)) is quiet


def test_a_daytime_quiet_window_and_an_empty_one():
    assert in_quiet_hours(dt.time(13, 0), dt.time(12, 0), dt.time(14, 0))
    assert not in_quiet_hours(dt.time(14, 0), dt.time(12, 0), dt.time(14, 0))
    assert not in_quiet_hours(dt.time(3, 0), dt.time(0, 0), dt.time(0, 0))


def test_no_automatic_text_in_the_clients_quiet_hours_but_on_my_way_goes(quiet_fake, app, make, clock_file,
                                                                            client, auth):
    # 07:00 visit in New York: due 06:45, inside 21:00-08:00.
    early = dt.datetime(2026, 12, 1, 7, 0, tzinfo=NEW_YORK)
    set_clock(clock_file, early - dt.timedelta(hours=1))
    visit = book_visit(make, early)
    set_clock(clock_file, early - dt.timedelta(minutes=15))
    assert dispatch(app) == {"skipped": 1}
    assert texts_of(visit.appointment.id)[0].status_detail == "quiet hours"

    # The client's own zone counts: for a client in London it is 11:45.
    other = book_visit(make, early, client_phone="+447911123456", email="g2@example.com",
                       practice=make.practice("Other", phone="+12025550101"), timezone="Europe/London")
    set_clock(clock_file, early - dt.timedelta(minutes=15))
    assert dispatch(app) == {"sent": 1}
    assert texts_of(other.appointment.id)[0].status == "queued"

    # Pressed by the practitioner, On my way is sent in quiet hours.
    auth.login("glen@example.com")
    response = client.post(f"/appointments/{visit.appointment.id}/on-my-way", data={"eta_minutes": "10"})
    assert response.status_code == 302
    [on_my_way] = [t for t in texts_of(visit.appointment.id) if t.kind == "on_my_way"]
    assert on_my_way.status == "queued"
    assert on_my_way.body == "Hi Anna, this is Glen from Smile Dental. I'll be with you in about 10 minutes."


def test_no_text_to_an_opted_out_client_or_an_invalid_number(quiet_fake, app, make, morning):
    stopped = book_visit(make, VISIT_AT, opted_out_at=MORNING - dt.timedelta(days=3))
    invalid = book_visit(make, VISIT_AT, practice=make.practice("Other", phone="+12025550101"),
                         client_phone="+1202555", email="g2@example.com")
    set_clock(morning, VISIT_AT - dt.timedelta(minutes=15))
    assert dispatch(app) == {"skipped": 2}
    assert texts_of(stopped.appointment.id)[0].status_detail == "client opted out"
    assert texts_of(invalid.appointment.id)[0].status_detail == "invalid phone number"
    assert quiet_fake.requests == []


def test_twilio_error_21610_fails_the_text_and_opts_the_client_out(quiet_fake, app, make, morning):
    visit = book_visit(make, VISIT_AT)
    quiet_fake.rule(to=ANNA_PHONE, error_code=21610)
    set_clock(morning, VISIT_AT - dt.timedelta(minutes=15))
    assert dispatch(app) == {"failed": 1}
    [text] = texts_of(visit.appointment.id)
    assert (text.status, text.error_code) == ("failed", 21610)
    assert db.session.get(Client, visit.client.id).opted_out_at == VISIT_AT - dt.timedelta(minutes=15)


def test_after_a_5xx_the_text_is_resent_only_once_twilio_has_no_record_of_it(quiet_fake, app, make, clock_file):
    # Twilio's clock is the real one: pin ours near it.
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    set_clock(clock_file, now - dt.timedelta(minutes=20))
    practice = practice_at_midday(make, now)
    visit = book_visit(make, now, practice=practice, timezone=practice.timezone)
    quiet_fake.fail_next(http_status=500)
    set_clock(clock_file, now - dt.timedelta(minutes=15))
    assert dispatch(app) == {"unconfirmed": 1}
    [text] = texts_of(visit.appointment.id)
    assert text.status == "sending" and text.message_sid is None and text.status_detail.startswith("unconfirmed")

    # Too soon to tell whether the request is still in flight: left alone.
    set_clock(clock_file, now - dt.timedelta(minutes=14, seconds=30))
    assert dispatch(app) == {}
    set_clock(clock_file, now - dt.timedelta(minutes=13))
    assert dispatch(app) == {"requeued": 1, "sent": 1}
    assert len(create_requests(quiet_fake, ANNA_PHONE)) == 2
    assert len(messages_received(app, ANNA_PHONE)) == 1
    [text] = texts_of(visit.appointment.id)
    assert text.status == "queued" and text.send_attempts == 2


def test_a_message_twilio_accepted_despite_an_error_is_adopted_not_resent(quiet_fake, app, make, clock_file):
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    set_clock(clock_file, now - dt.timedelta(minutes=20))
    practice = practice_at_midday(make, now)
    visit = book_visit(make, now, practice=practice, timezone=practice.timezone)
    quiet_fake.fail_next(http_status=500, accept_then_error=True)
    set_clock(clock_file, now - dt.timedelta(minutes=15))
    assert dispatch(app) == {"sent": 1}
    set_clock(clock_file, now - dt.timedelta(minutes=10))
    assert dispatch(app) == {}
    [message] = messages_received(app, ANNA_PHONE)
    [text] = texts_of(visit.appointment.id)
    assert text.message_sid == message.sid
    assert text.status_detail.startswith("found at Twilio after")


def test_same_ids_given_to_many_senders_at_once_send_each_text_once(quiet_fake, app, make, morning):
    quiet_fake.latency = 0.05
    practice = make.practice("Smile Dental", phone=PRACTICE_PHONE)
    phones = [f"+1202555{1000 + n:04d}" for n in range(12)]
    for n, phone in enumerate(phones):
        book_visit(make, VISIT_AT, practice=practice, client_phone=phone, email=f"g{n}@example.com")
    set_clock(morning, VISIT_AT - dt.timedelta(minutes=15))
    ids = db.session.scalars(select(Notification.id)).all()
    settings = replace(OutboxSettings.from_config(app.config), send_threads=4)  # several waves each
    gateway, engine = app.extensions["twilio_gateway"], db.engine
    with ThreadPoolExecutor(3) as senders:
        results = list(senders.map(lambda _: sms_outbox.send_batch(Session(engine), gateway, ids, settings),
                                   range(3)))
    assert sum(result["sent"] for result in results) == 12
    assert [len(messages_received(app, phone)) for phone in phones] == [1] * 12


# --- status callbacks and replies over HTTP ------------------------------------------------------------


@pytest.fixture
def sent_text(fake_twilio, live_server, make, morning):
    """Anna's arrival text sent; the fake posts its status callbacks to the live server."""
    visit = book_visit(make, VISIT_AT)
    set_clock(morning, VISIT_AT - dt.timedelta(minutes=15))
    return visit


def test_delivery_is_reported_by_the_callbacks(sent_text, fake_twilio, app):
    assert dispatch(app) == {"sent": 1}
    assert fake_twilio.wait_idle()
    [text] = texts_of(sent_text.appointment.id)
    assert text.status == "delivered" and text.error_code is None
    assert [c.params["MessageStatus"] for c in fake_twilio.callbacks] == ["queued", "sent", "delivered"]
    assert all(c.status == 204 for c in fake_twilio.callbacks)


def test_an_undelivered_text_shows_the_carriers_error_code(sent_text, fake_twilio, app):
    fake_twilio.scenario(ANNA_PHONE, "undelivered", error_code=30003)
    dispatch(app)
    assert fake_twilio.wait_idle()
    [text] = texts_of(sent_text.appointment.id)
    assert (text.status, text.error_code) == ("undelivered", 30003)


def test_late_and_repeated_callbacks_never_move_the_status_back(sent_text, fake_twilio, live_server, app):
    fake_twilio.auto_callbacks = False
    dispatch(app)
    [text] = texts_of(sent_text.appointment.id)
    url = f"{live_server.url}/twilio/message-status"
    params = {"MessageSid": text.message_sid, "To": ANNA_PHONE, "From": PRACTICE_PHONE}
    for status in ("delivered", "sent", "delivered", "queued", "undelivered"):
        assert fake_twilio.post_signed(url, {**params, "MessageStatus": status}) == 204
    [text] = texts_of(sent_text.appointment.id)
    assert text.status == "delivered"
    changes = [e.detail["status"] for e in db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "notification.status_changed", AuditEvent.object_id == text.id))]
    assert changes == ["delivered"]  # from "queued", recorded with the send
    # Read receipts still come after delivery.
    fake_twilio.post_signed(url, {**params, "MessageStatus": "read"})
    assert texts_of(sent_text.appointment.id)[0].status == "read"


def test_a_callback_that_beats_the_workers_commit_finds_its_row_by_the_url(sent_text, fake_twilio, live_server):
    [text] = texts_of(sent_text.appointment.id)
    url = f"{live_server.url}/twilio/message-status?notification={text.id}"
    params = {"MessageSid": "SM" + "a" * 32, "To": ANNA_PHONE, "From": PRACTICE_PHONE, "MessageStatus": "sent"}
    assert fake_twilio.post_signed(url, params) == 204
    [text] = texts_of(sent_text.appointment.id)
    assert (text.message_sid, text.status) == ("SM" + "a" * 32, "sent")
    # Someone else's number in the URL's row: not adopted.
    other = {**params, "MessageSid": "SM" + "b" * 32, "To": "+12025550199"}
    assert fake_twilio.post_signed(url, other) == 204
    assert texts_of(sent_text.appointment.id)[0].message_sid == "SM" + "a" * 32


def test_a_forged_or_unsigned_callback_is_refused(sent_text, live_server, fake_twilio, app):
    dispatch(app)
    [text] = texts_of(sent_text.appointment.id)
    params = {"MessageSid": text.message_sid, "MessageStatus": "failed", "ErrorCode": "30008", "To": ANNA_PHONE}
    for path in ("/twilio/message-status", "/twilio/inbound-sms"):
        assert requests.post(live_server.url + path, data=params, timeout=5).status_code == 403
        forged = requests.post(live_server.url + path, data=params, timeout=5,
                               headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
        assert forged.status_code == 403
    assert texts_of(sent_text.appointment.id)[0].status != "failed"


def test_stop_opts_the_client_out_and_start_back_in(sent_text, fake_twilio, live_server, app):
    inbound = f"{live_server.url}/twilio/inbound-sms"
    assert fake_twilio.send_inbound_sms(inbound, from_=ANNA_PHONE, to=PRACTICE_PHONE, body=" stop ") == 200
    db.session.expire_all()
    assert db.session.get(Client, sent_text.client.id).opted_out_at == VISIT_AT - dt.timedelta(minutes=15)
    assert dispatch(app) == {"skipped": 1}

    assert fake_twilio.send_inbound_sms(inbound, from_=ANNA_PHONE, to=PRACTICE_PHONE, body="START") == 200
    db.session.expire_all()
    assert db.session.get(Client, sent_text.client.id).opted_out_at is None
    replies = db.session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
    assert [(r.kind, r.client_id, r.appointment_id) for r in replies] == [
        ("stop", sent_text.client.id, sent_text.appointment.id), ("start", sent_text.client.id,
                                                                   sent_text.appointment.id)]
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "Client")).all()
    assert actions == ["client.opted_out", "client.opted_in"]


def test_help_is_answered_with_the_practices_contact_and_replies_are_idempotent(sent_text, fake_twilio,
                                                                                   live_server):
    inbound = f"{live_server.url}/twilio/inbound-sms"
    fake_twilio.send_inbound_sms(inbound, from_=ANNA_PHONE, to=PRACTICE_PHONE, body="help")
    [callback] = fake_twilio.callbacks
    assert "<Message>Smile Dental: for help call +1 202-555-0100. Reply STOP to stop these texts.</Message>" in \
        callback.response_body

    params = {"MessageSid": "SM" + "c" * 32, "From": ANNA_PHONE, "To": PRACTICE_PHONE, "Body": "Gate code is 1234"}
    assert fake_twilio.post_signed(inbound, params) == 200
    assert fake_twilio.post_signed(inbound, {**params, "Body": "STOP"}) == 200  # a repeat delivery
    db.session.expire_all()
    reply = db.session.scalar(select(InboundMessage).where(InboundMessage.message_sid == params["MessageSid"]))
    assert (reply.kind, reply.body, reply.appointment_id) == ("reply", "Gate code is 1234", sent_text.appointment.id)
    assert db.session.scalar(select(func.count()).select_from(InboundMessage)) == 2
    assert db.session.get(Client, sent_text.client.id).opted_out_at is None
    # A text to a number no practice has is logged and refused.
    assert fake_twilio.send_inbound_sms(inbound, from_=ANNA_PHONE, to="+12025550177", body="hi") == 404


# --- pages ---------------------------------------------------------------------------------------------


def test_the_today_page_shows_the_practitioners_visits_texts_and_replies(app, make, morning, client, auth):
    visit = book_visit(make, VISIT_AT)
    glen = visit.appointment.practitioner
    colleague = make.practitioner(visit.practice, full_name="Dr. Maria Ivanova", preferred_name="Maria",
                                  email="maria@example.com")
    boris = make.client(visit.practice, full_name="Boris Smirnov", phone="+12025550146")
    theirs = make.appointment(colleague, boris, VISIT_AT + dt.timedelta(hours=1), at_client_place=True)
    make.appointment(glen, boris, VISIT_AT + dt.timedelta(days=1), at_client_place=True)  # tomorrow
    db.session.add(InboundMessage(practice_id=visit.practice.id, client_id=visit.client.id,
                                  appointment_id=visit.appointment.id, message_sid="SM" + "d" * 32,
                                  from_phone=ANNA_PHONE, to_phone=PRACTICE_PHONE, body="Ring twice please",
                                  received_at=MORNING))
    db.session.commit()

    auth.login("glen@example.com")
    page = client.get("/today").get_data(as_text=True)
    assert "Anna Petrova" in page and "10:30" in page and "12 Elm St" in page
    assert "Arrival text" in page and "scheduled" in page and "Ring twice please" in page
    assert "Boris" not in page
    assert client.get(f"/appointments/{theirs.id}").status_code == 404
    assert client.post(f"/appointments/{theirs.id}/on-my-way", data={"eta_minutes": "5"}).status_code == 404

    make.user(visit.practice, role="staff", email="front@example.com")
    auth.logout()
    auth.login("front@example.com")
    page = client.get("/today").get_data(as_text=True)
    assert "Dr. Glen Gorab" in page and "Dr. Maria Ivanova" in page and page.count("Boris Smirnov") == 1
    assert client.get(f"/appointments/{theirs.id}").status_code == 200


def test_visits_of_another_practice_are_not_found(app, make, morning, client, auth):
    visit = book_visit(make, VISIT_AT)
    make.user(make.practice("Elsewhere", phone="+12025550101"), role="admin", email="boss@elsewhere.example")
    auth.login("boss@elsewhere.example")
    assert "Anna" not in client.get("/today").get_data(as_text=True)
    for response in (client.get(f"/appointments/{visit.appointment.id}"),
                     client.post(f"/appointments/{visit.appointment.id}/on-my-way", data={"eta_minutes": "5"}),
                     client.post(f"/appointments/{visit.appointment.id}/running-late", data={"minutes_late": "5"})):
        assert response.status_code == 404
    assert [t.status for t in texts_of(visit.appointment.id)] == ["pending"]


def test_on_my_way_replaces_the_automatic_text_and_is_sent_once(quiet_fake, app, make, morning, client, auth):
    visit = book_visit(make, VISIT_AT)
    auth.login("glen@example.com")
    response = client.post(f"/appointments/{visit.appointment.id}/on-my-way",
                           data={"eta_minutes": "12", "back": "today"}, follow_redirects=True)
    assert "texting Anna that you&#39;ll be there in about 12 minutes" in response.get_data(as_text=True)
    again = client.post(f"/appointments/{visit.appointment.id}/on-my-way", data={"eta_minutes": "12"},
                        follow_redirects=True)
    assert "On my way was already sent for this visit" in again.get_data(as_text=True)

    arrival, on_my_way = texts_of(visit.appointment.id)
    assert (arrival.status, arrival.status_detail) == ("cancelled", "replaced by on my way")
    assert on_my_way.status == "queued" and "about 12 minutes" in on_my_way.body
    assert len(messages_received(app, ANNA_PHONE)) == 1
    # A later re-import does not bring the automatic text back.
    arrival_texts.plan_arrival_texts(db.session, [visit.appointment.id], utcnow())
    db.session.commit()
    assert [t.status for t in texts_of(visit.appointment.id)] == ["cancelled", "queued"]


def test_running_late_apologises_with_the_new_time(quiet_fake, app, make, morning, client, auth):
    visit = book_visit(make, VISIT_AT)
    set_clock(morning, VISIT_AT - dt.timedelta(minutes=5))
    auth.login("glen@example.com")
    # 20 minutes late: from the visit's 10:30, not from now.
    assert client.post(f"/appointments/{visit.appointment.id}/running-late",
                       data={"minutes_late": "20"}).status_code == 302
    assert client.post(f"/appointments/{visit.appointment.id}/running-late",
                       data={"minutes_late": "0"}, follow_redirects=True).status_code == 200
    late = [t for t in texts_of(visit.appointment.id) if t.kind == "running_late"]
    assert [t.body for t in late] == [
        "Hi Anna, this is Glen from Smile Dental. Sorry, I'm running late: I'll be with you at about 10:50 AM."]
    assert late[0].status == "queued"
    assert "I'll be with you at about 10:50 AM" in client.get(f"/appointments/{visit.appointment.id}").get_data(
        as_text=True).replace("&#39;", "'")


def test_the_admin_words_the_texts_with_a_preview(app, make, morning, client, auth):
    visit = book_visit(make, VISIT_AT)
    make.user(visit.practice, role="admin", email="admin@example.com")
    make.user(visit.practice, role="staff", email="front@example.com")
    auth.login("front@example.com")
    assert client.get("/settings/texts").status_code == 403
    auth.logout()
    auth.login("admin@example.com")

    page = client.get("/settings/texts").get_data(as_text=True)
    assert "Hi Anna, this is Glen from Smile Dental. I&#39;ll be with you in about 15 minutes." in page
    assert "Здравствуйте, Анна! Это Glen из Smile Dental" in page

    wording = {"arrival_template": "{client}: {practitioner} arrives in {minutes} min.", "action": "preview"}
    page = client.post("/settings/texts", data=wording).get_data(as_text=True)
    assert "Anna: Glen arrives in 15 min." in page
    assert db.session.get(Practice, visit.practice.id).arrival_template is None

    bad = client.post("/settings/texts", data={"arrival_template": "Hi {name}", "action": "save"})
    assert bad.status_code == 400 and "unknown placeholder {name}" in bad.get_data(as_text=True)

    client.post("/settings/texts", data={**wording, "action": "save"})
    db.session.expire_all()
    assert db.session.get(Practice, visit.practice.id).arrival_template == wording["arrival_template"]
    assert texts_of(visit.appointment.id)[0].body == "Anna: Glen arrives in 15 min."


# --- the CLI ------------------------------------------------------------------------------------------


def test_the_cli_lists_texts_and_dispatches_what_is_due(quiet_fake, app, make, morning, runner):
    visit = book_visit(make, VISIT_AT)
    book_visit(make, VISIT_AT + dt.timedelta(days=1), practice=make.practice("Other", phone="+12025550101"),
               client_phone="+12025550144", email="g2@example.com")
    set_clock(morning, VISIT_AT - dt.timedelta(minutes=15))

    result = runner.invoke(cli, ["dispatch-due"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "sent=1"

    result = runner.invoke(cli, ["notifications", "--practice", "Smile Dental", "--date", "2026-12-01", "--json"])
    [line] = result.output.splitlines()
    row = json.loads(line)
    text = texts_of(visit.appointment.id)[0]
    assert row == {"id": text.id, "appointment_id": visit.appointment.id, "client": "Anna Petrova",
                   "to": ANNA_PHONE, "kind": "arrival", "due_at": "2026-12-01T15:15:00+00:00", "status": "queued",
                   "error_code": None, "message_sid": text.message_sid}
    assert runner.invoke(cli, ["notifications", "--date", "2026-12-02"]).output.count("pending") == 1
    unknown = runner.invoke(cli, ["notifications", "--practice", "Nope"])
    assert unknown.exit_code != 0 and "no practice named 'Nope'" in unknown.output


def test_the_tick_sends_due_texts_and_schedules_the_next_ones(quiet_fake, app, make, morning):
    visit = book_visit(make, VISIT_AT)
    soon = book_visit(make, VISIT_AT + dt.timedelta(seconds=40), practice=make.practice("Other",
                      phone="+12025550101"), client_phone="+12025550144", email="g2@example.com")
    set_clock(morning, VISIT_AT - dt.timedelta(minutes=15))
    batches = sms_outbox.upcoming_batches(db.session, utcnow(), tasks.TEXTS_SCHEDULED_AHEAD,
                                          OutboxSettings.from_config(app.config))
    # Started a little early, for the worker to load the app; it waits for the text's moment.
    assert batches == [(VISIT_AT + dt.timedelta(minutes=-15, seconds=38), [texts_of(soon.appointment.id)[0].id])]
    tasks.tick()
    assert [t.status for t in texts_of(visit.appointment.id)] == ["queued"]


@pytest.mark.parametrize(("locale", "text"), [
    ("en", "Hi, this is Glen from Smile Dental. I'll be with you in about 15 minutes."),
    ("ru", "Здравствуйте! Это Glen из Smile Dental — буду у вас примерно через 15 мин."),
])
def test_a_client_known_only_by_number_is_greeted_without_a_gap(make, morning, locale, text):
    """The calendar gave a phone and an address but no name the importer could read."""
    visit = book_visit(make, VISIT_AT, full_name=None, locale=locale)
    assert visit.client.greeting_name == ""
    assert texts_of(visit.appointment.id)[0].body == text
