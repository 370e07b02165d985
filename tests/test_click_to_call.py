"""Stories of a practitioner calling a client through Twilio, tested through the
real twilio SDK against the fake Twilio server, with signed callbacks over HTTP."""
import datetime as dt

import pytest

from outreach.extensions import db
from outreach.models import AuditEvent, CallAttempt

PRACTITIONER_PHONE = "+12025550150"
CLIENT_PHONE = "+12025550143"
PRACTICE_PHONE = "+12025550100"


@pytest.fixture
def calling(fake_twilio, live_server, make, auth):
    """Dr. Gorab signed in, with Anna Petrova's first visit on his list."""
    practice = make.practice("Smile Dental", phone=PRACTICE_PHONE)
    practitioner = make.practitioner(practice, email="glen@example.com", phone=PRACTITIONER_PHONE)
    anna = make.client(practice, full_name="Anna Petrova", phone=CLIENT_PHONE)
    visit = make.appointment(practitioner, anna, dt.datetime(2026, 12, 1, 19, 0, tzinfo=dt.timezone.utc))
    task = make.call_task(visit)
    auth.login("glen@example.com")
    return task


def _attempt(task_id: int) -> CallAttempt:
    db.session.expire_all()
    return db.session.scalars(db.select(CallAttempt).where(CallAttempt.task_id == task_id)).one()


def _audit_count() -> int:
    db.session.expire_all()
    return db.session.scalar(db.select(db.func.count()).select_from(AuditEvent))


def test_a_call_rings_the_practitioner_then_connects_the_client(calling, client, fake_twilio):
    response = client.post(f"/tasks/{calling.id}/call")
    assert response.status_code == 302
    assert fake_twilio.wait_idle()

    create = next(r for r in fake_twilio.requests if r.method == "POST" and r.path.endswith("/Calls.json"))
    assert create.form_value("To") == PRACTITIONER_PHONE
    assert create.form_value("From") == PRACTICE_PHONE
    assert create.form_value("MachineDetection") == "Enable"
    voice = next(c for c in fake_twilio.callbacks if c.kind == "voice")
    assert voice.status == 200
    # He is asked first: only his pressing 1 dials Anna.
    assert "Call to Anna Petrova, first visit Tuesday at 2:00" in voice.response_body
    assert "Press 1 to be connected to Anna Petrova." in voice.response_body
    assert '<Gather action="http://127.0.0.1' in voice.response_body and CLIENT_PHONE not in voice.response_body
    pressed = next(c for c in fake_twilio.callbacks if c.kind == "gather")
    assert pressed.params["Digits"] == "1" and pressed.status == 200
    assert f'callerId="{PRACTICE_PHONE}"' in pressed.response_body
    assert CLIENT_PHONE in pressed.response_body

    attempt = _attempt(calling.id)
    assert attempt.call_sid.startswith("CA")
    assert attempt.status == "completed"
    assert attempt.client_status == "completed"
    assert attempt.duration_seconds is not None and attempt.client_duration_seconds is not None
    assert all(c.status == 200 for c in fake_twilio.callbacks)


def test_a_busy_client_is_shown_as_busy(calling, client, fake_twilio):
    fake_twilio.scenario(CLIENT_PHONE, "busy")
    client.post(f"/tasks/{calling.id}/call")
    assert fake_twilio.wait_idle()
    attempt = _attempt(calling.id)
    assert attempt.client_status == "busy"
    assert attempt.status == "completed"


def test_a_practitioner_who_does_not_answer_sees_no_answer(calling, client, fake_twilio):
    fake_twilio.scenario(PRACTITIONER_PHONE, "no-answer")
    client.post(f"/tasks/{calling.id}/call")
    assert fake_twilio.wait_idle()
    attempt = _attempt(calling.id)
    assert attempt.status == "no-answer"
    assert attempt.client_status is None


def test_an_invalid_number_becomes_a_readable_message_not_an_error_page(calling, client, fake_twilio):
    fake_twilio.rule(PRACTITIONER_PHONE, error_code=21211)
    response = client.post(f"/tasks/{calling.id}/call", follow_redirects=True)
    assert response.status_code == 200
    refused = "Your phone number +1 202-555-0150 was refused by Twilio: check it on My settings."
    assert refused in response.get_data(as_text=True)
    attempt = _attempt(calling.id)
    assert attempt.status == "failed"
    assert attempt.error == refused


def test_twilio_failing_once_is_retried_and_the_call_goes_through(calling, client, fake_twilio):
    fake_twilio.fail_next(http_status=500)
    client.post(f"/tasks/{calling.id}/call")
    assert fake_twilio.wait_idle()
    attempt = _attempt(calling.id)
    assert attempt.status == "completed"
    creates = [r for r in fake_twilio.requests if r.method == "POST" and r.path.endswith("/Calls.json")]
    assert len(creates) == 2
    actions = db.session.scalars(db.select(AuditEvent.action).where(AuditEvent.object_id == attempt.id)).all()
    assert "call.retrying" in actions and "call.placed" in actions


def test_a_forged_callback_is_refused(calling, client, fake_twilio, live_server):
    import requests

    client.post(f"/tasks/{calling.id}/call")
    assert fake_twilio.wait_idle()
    attempt = _attempt(calling.id)
    url = f"{live_server.url}/twilio/call-status/{attempt.id}"
    forged = requests.post(url, data={"CallSid": attempt.call_sid, "CallStatus": "failed"},
                           headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}, timeout=5)
    unsigned = requests.post(url, data={"CallSid": attempt.call_sid, "CallStatus": "failed"}, timeout=5)
    assert (forged.status_code, unsigned.status_code) == (403, 403)
    assert _attempt(calling.id).status == "completed"


def _call_with_callbacks_held(task, client, fake_twilio, live_server) -> tuple[CallAttempt, str]:
    """Starts a call whose callbacks the test sends itself; returns the attempt and its status URL."""
    fake_twilio.auto_callbacks = False
    client.post(f"/tasks/{task.id}/call")
    attempt = _attempt(task.id)
    return attempt, f"{live_server.url}/twilio/call-status/{attempt.id}"


def test_the_same_callback_twice_changes_nothing(calling, client, fake_twilio, live_server):
    attempt, url = _call_with_callbacks_held(calling, client, fake_twilio, live_server)
    ringing = {"CallSid": attempt.call_sid, "CallStatus": "ringing", "AccountSid": fake_twilio.account_sid}
    assert fake_twilio.post_signed(url, ringing) == 200
    after_first = _audit_count()
    assert fake_twilio.post_signed(url, ringing) == 200
    assert _audit_count() == after_first
    assert _attempt(calling.id).status == "ringing"


def test_callbacks_out_of_order_never_move_an_attempt_back(calling, client, fake_twilio, live_server):
    attempt, url = _call_with_callbacks_held(calling, client, fake_twilio, live_server)
    base = {"CallSid": attempt.call_sid, "AccountSid": fake_twilio.account_sid}
    assert fake_twilio.post_signed(url, {**base, "CallStatus": "completed", "CallDuration": "61"}) == 200
    assert fake_twilio.post_signed(url, {**base, "CallStatus": "in-progress"}) == 200
    assert fake_twilio.post_signed(url, {**base, "CallStatus": "ringing"}) == 200
    attempt = _attempt(calling.id)
    assert attempt.status == "completed"
    assert attempt.duration_seconds == 61


def test_no_phone_on_file_gets_a_clear_message_instead_of_a_call(calling, client, fake_twilio):
    practitioner = calling.call_list.practitioner
    practitioner.phone = None
    db.session.commit()
    response = client.post(f"/tasks/{calling.id}/call", follow_redirects=True)
    assert "You have no phone number set: add yours on My settings." in response.get_data(as_text=True)
    assert not [r for r in fake_twilio.requests if r.path.endswith("/Calls.json")]


def test_the_outcome_is_logged_on_the_call_with_questions_and_notes(calling, client, fake_twilio):
    client.post(f"/tasks/{calling.id}/call")
    assert fake_twilio.wait_idle()
    client.post(f"/tasks/{calling.id}/outcome",
                data={"outcome": "reached", "questions": "Is parking free?", "notes": "Nervous about needles"})
    attempt = _attempt(calling.id)
    assert (attempt.outcome, attempt.questions, attempt.notes) == ("reached", "Is parking free?",
                                                                   "Nervous about needles")
    db.session.refresh(calling)
    assert calling.outcome == "reached" and calling.questions == "Is parking free?"
    audit = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "call.outcome")).one()
    assert audit.actor == "glen@example.com"


def test_an_outcome_without_a_bridged_call_counts_as_a_call_from_the_practitioners_own_phone(calling, client):
    client.post(f"/tasks/{calling.id}/outcome", data={"outcome": "no_answer"})
    attempt = _attempt(calling.id)
    assert (attempt.via, attempt.outcome) == ("own_phone", "no_answer")


def test_another_practitioner_cannot_call_or_see_my_clients(calling, client, make, auth):
    make.practitioner(calling.call_list.practitioner.practice, email="maria@example.com", phone="+12025550151")
    auth.logout()
    auth.login("maria@example.com")
    assert client.post(f"/tasks/{calling.id}/call").status_code == 404
    assert client.post(f"/tasks/{calling.id}/outcome", data={"outcome": "reached"}).status_code == 404


def test_questions_and_notes_show_on_the_clients_page(calling, client):
    client.post(f"/tasks/{calling.id}/outcome",
                data={"outcome": "reached", "questions": "Is parking free?", "notes": "Prefers mornings"})
    page = client.get(f"/clients/{calling.client_id}").get_data(as_text=True)
    assert "Is parking free?" in page and "Prefers mornings" in page


def test_a_russian_practice_hears_the_whisper_in_russian(make, app):
    from outreach.services import calls

    practice = make.practice("Улыбка", timezone="Europe/Moscow", locale="ru", phone="+74951234567")
    practitioner = make.practitioner(practice, full_name="Глеб Гораб", preferred_name="Глеб",
                                     phone="+79161234567")
    client = make.client(practice, full_name="Анна Петрова", phone="+79123456789")
    visit = make.appointment(practitioner, client, dt.datetime(2026, 12, 1, 11, 0, tzinfo=dt.timezone.utc))
    attempt = CallAttempt(practice_id=practice.id, task_id=make.call_task(visit).id)
    db.session.add(attempt)
    db.session.commit()
    twiml = calls.voice_twiml(db.session, attempt, base_url="https://outreach.example.com", answered_by="human",
                              now=dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.timezone.utc))
    assert 'language="ru-RU"' in twiml
    assert ("Звонок клиенту Анна Петрова, первый визит во вторник в 14:00. "
            "Нажмите 1, чтобы соединиться с клиентом Анна Петрова.") in twiml


def test_questions_and_notes_show_on_the_visit_page(calling, client):
    client.post(f"/tasks/{calling.id}/outcome",
                data={"outcome": "reached", "questions": "Is parking free?", "notes": "Prefers mornings"})
    page = client.get(f"/appointments/{calling.appointment_id}").get_data(as_text=True)
    assert "From the call before the visit" in page
    assert "Is parking free?" in page and "Prefers mornings" in page


def test_questions_stay_open_until_the_practitioner_says_they_were_answered(calling, client):
    client.post(f"/tasks/{calling.id}/outcome", data={"outcome": "reached", "questions": "Is parking free?"})
    db.session.refresh(calling)
    assert calling.questions_answered is False
    client.post(f"/tasks/{calling.id}/outcome", data={"outcome": "reached", "questions_answered": "yes"})
    db.session.refresh(calling)
    assert calling.questions_answered is True and calling.questions == "Is parking free?"
