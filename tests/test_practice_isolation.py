"""Practices never see each other's data.

Every route of the app is checked, taken from the URL map rather than a
hand-picked list: a route that names an object of another practice answers
404, and pages without an object never show another practice's clients.
"""
import datetime as dt

import pytest
from sqlalchemy import func, select

from outreach.extensions import db
from outreach.models import (CallAttempt, CallList, CallTask, Client, ImportRun, InboundCall, InboundMessage,
                             Notification, Recording)

# Routes that are not about a practice's data: signing in, static files, and
# Twilio's webhooks (guarded by Twilio's signature, tested on their own).
PUBLIC_ENDPOINTS = {"static", "auth.login", "auth.logout"}
PUBLIC_PREFIXES = ("twilio.",)
SECRET_NAME = "Zelda Otherpractice"


@pytest.fixture
def other_practice_objects(make):
    """A second practice with one of everything, and the admin of the first practice signed in."""
    other = make.practice("Other Practice")
    practitioner = make.practitioner(other, email="other-doc@example.com")
    staff = make.user(other, role="staff", email="other-staff@example.com")
    client = make.client(other, full_name=SECRET_NAME, phone="+12025550199")
    starts = dt.datetime(2026, 12, 1, 15, tzinfo=dt.timezone.utc)
    appointment = make.appointment(practitioner, client, starts, at_client_place=True, location="1 Elm St")
    call_list = CallList(practice_id=other.id, practitioner_id=practitioner.id, week="2026-W49",
                         week_start=dt.date(2026, 11, 30))
    db.session.add(call_list)
    db.session.flush()
    task = CallTask(practice_id=other.id, call_list_id=call_list.id, client_id=client.id,
                    appointment_id=appointment.id, reason="first_visit")
    db.session.add(task)
    db.session.flush()
    attempt = CallAttempt(practice_id=other.id, task_id=task.id, call_sid="CA" + "9" * 32)
    notification = Notification(practice_id=other.id, appointment_id=appointment.id, client_id=client.id,
                                kind="arrival", dedupe_key="isolation-test", to_phone=client.phone,
                                body=f"Hi {SECRET_NAME}", due_at=starts)
    inbound = InboundMessage(practice_id=other.id, client_id=client.id, message_sid="SM" + "9" * 32,
                             from_phone=client.phone, body="see you")
    import_run = ImportRun(practice_id=other.id, source_id=appointment.source_id, filename="other.ics",
                           status="imported", report={})
    call_back = InboundCall(practice_id=other.id, call_sid="CA" + "8" * 32, from_phone=client.phone,
                            to_phone=other.phone, matched="one", client_id=client.id, route="voicemail")
    db.session.add_all([attempt, notification, inbound, import_run, call_back])
    db.session.flush()
    message = Recording(practice_id=other.id, kind="voicemail", recording_sid="RE" + "9" * 32,
                        inbound_call_id=call_back.id, client_id=client.id, task_id=task.id,
                        transcription=f"This is {SECRET_NAME}")
    db.session.add(message)
    db.session.commit()
    return {
        "inbound_call_id": call_back.id,
        "practitioner_id": practitioner.id, "user_id": staff.id, "client_id": client.id,
        "appointment_id": appointment.id, "call_list_id": call_list.id, "task_id": task.id,
        "attempt_id": attempt.id, "notification_id": notification.id, "inbound_id": inbound.id,
        "source_id": appointment.source_id, "import_run_id": import_run.id, "recording_id": message.id,
    }


def _practice_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint.startswith(PUBLIC_PREFIXES):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_answers_404_for_another_practices_objects(app, client, auth, make, other_practice_objects):
    mine = make.practice("My Practice")
    make.user(mine, role="admin", email="me@example.com")
    auth.login("me@example.com")

    checked = 0
    for rule, method in _practice_routes(app):
        if not rule.arguments:
            continue
        values = {}
        for argument in rule.arguments:
            if argument == "week":
                values[argument] = "2026-W49"
            else:
                assert argument in other_practice_objects, (
                    f"{rule.rule}: add an object for <{argument}> to this test so its isolation is checked")
                values[argument] = other_practice_objects[argument]
        url = rule.build(values)[1]
        response = client.open(url, method=method)
        assert response.status_code == 404, f"{method} {url} answered {response.status_code}"
        checked += 1
    assert checked > 0


def test_pages_without_an_object_never_show_another_practices_clients(app, client, auth, make,
                                                                      other_practice_objects):
    mine = make.practice("My Practice")
    make.user(mine, role="admin", email="me@example.com")
    auth.login("me@example.com")
    for rule, method in _practice_routes(app):
        if rule.arguments or method != "GET":
            continue
        response = client.get(rule.rule, query_string={"practitioner": other_practice_objects["practitioner_id"]})
        assert SECRET_NAME not in response.get_data(as_text=True), rule.rule
        assert response.status_code in (200, 302, 403, 404), f"GET {rule.rule} answered {response.status_code}"


# --- A practitioner and a colleague's clients ----------------------------------------------------------

COLLEAGUE_SECRETS = ("Colleague's private note", "Reply about the colleague's visit", "Text of the colleague",
                     "Message left for the colleague")


@pytest.fixture
def colleague_objects(make):
    """Dr. Maria signed in; her colleague Dr. Glen has a client with a visit, a call, a text, a reply and a message."""
    practice = make.practice("Shared Practice")
    glen = make.practitioner(practice, email="glen@example.com", full_name="Dr. Glen Gorab")
    maria = make.practitioner(practice, email="maria@example.com", full_name="Dr. Maria Ivanova",
                              preferred_name="Maria", phone="+12025550151")
    client = make.client(practice, full_name="Shared Client")
    appointment = make.appointment(glen, client, dt.datetime(2026, 12, 1, 15, tzinfo=dt.timezone.utc),
                                   at_client_place=True, location="1 Elm St")
    task = make.call_task(appointment)
    task.notes = COLLEAGUE_SECRETS[0]
    attempt = CallAttempt(practice_id=practice.id, task_id=task.id, call_sid="CA" + "8" * 32,
                          notes=COLLEAGUE_SECRETS[0])
    inbound = InboundMessage(practice_id=practice.id, client_id=client.id, appointment_id=appointment.id,
                             message_sid="SM" + "8" * 32, from_phone=client.phone, body=COLLEAGUE_SECRETS[1])
    notification = Notification(practice_id=practice.id, appointment_id=appointment.id, client_id=client.id,
                                kind="arrival", dedupe_key="colleague-test", to_phone=client.phone,
                                body=COLLEAGUE_SECRETS[2], due_at=appointment.starts_at)
    import_run = ImportRun(practice_id=practice.id, source_id=appointment.source_id, filename="glen.ics",
                           status="imported", report={}, created_at=appointment.starts_at)
    message = Recording(practice_id=practice.id, kind="voicemail", recording_sid="RE" + "8" * 32,
                        client_id=client.id, task_id=task.id, practitioner_id=glen.id,
                        transcription=COLLEAGUE_SECRETS[3])
    db.session.add_all([attempt, inbound, notification, import_run, message])
    db.session.commit()
    return {
        "import_run_id": import_run.id, "recording_id": message.id, "practitioner_id": glen.id,
        "user_id": glen.user_id, "client_id": client.id,
        "appointment_id": appointment.id, "call_list_id": task.call_list_id, "task_id": task.id,
        "attempt_id": attempt.id, "notification_id": notification.id, "inbound_id": inbound.id,
        "source_id": appointment.source_id, "maria_id": maria.id,
    }


def test_a_practitioner_sees_nothing_of_a_colleagues_history_on_any_route(app, client, auth, colleague_objects):
    auth.login("maria@example.com")
    checked = 0
    for rule, method in _practice_routes(app):
        values = {argument: "2026-W49" if argument == "week" else colleague_objects[argument]
                  for argument in rule.arguments}
        url = rule.build(values)[1]
        response = client.open(url, method=method, query_string={"practitioner": colleague_objects["practitioner_id"]})
        page = response.get_data(as_text=True)
        assert not any(secret in page for secret in COLLEAGUE_SECRETS), f"{method} {url} shows the colleague's work"
        if rule.arguments and rule.endpoint != "clients.show":
            assert response.status_code in (403, 404), f"{method} {url} answered {response.status_code}"
        checked += 1
    assert checked > 0
    # The client is the practice's: Maria may open the page, and sees no history with Glen on it.
    page = client.get(f"/clients/{colleague_objects['client_id']}")
    assert page.status_code == 200 and "1 Elm St" not in page.get_data(as_text=True)


# --- Webhooks given another practice's SIDs ----------------------------------------------------------


def test_no_webhook_touches_another_practice_given_this_practices_sids(fake_twilio, live_server, app, make,
                                                                       other_practice_objects):
    mine = make.practice("My Practice")
    doctor = make.practitioner(mine, email="me@example.com")
    my_client = make.client(mine, full_name="Mine Client")
    my_task = make.call_task(make.appointment(doctor, my_client, dt.datetime(2026, 12, 1, 16, tzinfo=dt.timezone.utc)))
    my_attempt = CallAttempt(practice_id=mine.id, task_id=my_task.id, call_sid="CA" + "7" * 32)
    my_text = Notification(practice_id=mine.id, client_id=my_client.id, kind="arrival", dedupe_key="mine",
                           to_phone=my_client.phone, message_sid="SM" + "7" * 32, status="sent",
                           due_at=dt.datetime(2026, 12, 1, 15, 45, tzinfo=dt.timezone.utc))
    db.session.add_all([my_attempt, my_text])
    db.session.commit()
    theirs = {"attempt": db.session.get(CallAttempt, other_practice_objects["attempt_id"]),
              "notification": db.session.get(Notification, other_practice_objects["notification_id"])}
    before = ((theirs["attempt"].status, theirs["attempt"].client_status, theirs["attempt"].client_call_sid),
              (theirs["notification"].status, theirs["notification"].message_sid))

    signed = {"CallSid": my_attempt.call_sid, "ParentCallSid": my_attempt.call_sid, "CallStatus": "failed",
              "MessageSid": my_text.message_sid, "MessageStatus": "failed", "To": mine.phone,
              "From": "+12025550199", "Body": "STOP", "AccountSid": fake_twilio.account_sid}
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(PUBLIC_PREFIXES) or "POST" not in rule.methods:
            continue
        url = live_server.url + rule.build({argument: other_practice_objects[argument]
                                            for argument in rule.arguments})[1]
        if rule.endpoint == "twilio.message_status":
            url += f"?notification={other_practice_objects['notification_id']}"
        status = fake_twilio.post_signed(url, signed)
        assert status in (200, 204, 403, 404), f"{rule.rule} answered {status}"
        if rule.arguments:
            assert status in (403, 404), f"{rule.rule} took another practice's object for this practice's call"
        checked += 1
    assert checked >= 5
    db.session.expire_all()
    attempt, notification = (db.session.get(CallAttempt, other_practice_objects["attempt_id"]),
                             db.session.get(Notification, other_practice_objects["notification_id"]))
    assert ((attempt.status, attempt.client_status, attempt.client_call_sid),
            (notification.status, notification.message_sid)) == before
    other_client = db.session.get(Client, other_practice_objects["client_id"])
    assert other_client.opted_out_at is None
    assert db.session.scalar(select(func.count()).select_from(InboundMessage)
                             .where(InboundMessage.practice_id != mine.id)) == 1  # the fixture's own
