"""Practices never see each other's data.

Every route of the app is checked, taken from the URL map rather than a
hand-picked list: a route that names an object of another practice answers
404, and pages without an object never show another practice's clients.
"""
import datetime as dt

import pytest

from outreach.extensions import db
from outreach.models import (CallAttempt, CallList, CallTask, ImportRun, InboundCall, InboundMessage, Notification,
                             Recording)

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
