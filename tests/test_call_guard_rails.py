"""Nothing reaches a client by mistake on a call: stories through the real twilio SDK against the fake Twilio,
with its signed webhooks over HTTP to the live app.

- The caller's leg is screened: only pressing 1 dials the client; a voicemail or no key does not.
- One tap rings once, even when Twilio answers the create after the client gave up waiting, or with a 5xx.
- Call rings whoever pressed it: staff calling on a practitioner's behalf use their own phone.
- What went wrong says which number was refused and what to do, at once, on the card.
- A call under way blocks another Call until Twilio says it ended, however long it lasts.
"""
from __future__ import annotations

import datetime as dt

import pytest

from outreach.clock import set_clock, utcnow
from outreach.extensions import db
from outreach.models import AuditEvent, CallAttempt

PRACTITIONER_PHONE = "+12025550150"
STAFF_PHONE = "+12025550160"
CLIENT_PHONE = "+12025550143"
PRACTICE_PHONE = "+12025550100"
SATURDAY = dt.datetime(2026, 11, 28, 15, 0, tzinfo=dt.timezone.utc)  # 10:00 in New York


@pytest.fixture
def task(fake_twilio, live_server, make, clock_file):
    """Anna Petrova's first visit on Dr. Gorab's list, on the Saturday before."""
    set_clock(clock_file, SATURDAY)
    practice = make.practice("Smile Dental", phone=PRACTICE_PHONE)
    glen = make.practitioner(practice, email="glen@example.com", phone=PRACTITIONER_PHONE)
    anna = make.client(practice, full_name="Anna Petrova", phone=CLIENT_PHONE)
    return make.call_task(make.appointment(glen, anna, dt.datetime(2026, 12, 1, 19, 0, tzinfo=dt.timezone.utc)))


def attempts_of(task_id: int) -> list[CallAttempt]:
    db.session.expire_all()
    return db.session.scalars(db.select(CallAttempt).where(CallAttempt.task_id == task_id)
                              .order_by(CallAttempt.id)).all()


def creates(fake_twilio) -> list:
    return [r for r in fake_twilio.requests if r.method == "POST" and r.path.endswith("/Calls.json")]


def legs_to(fake_twilio, number: str) -> list[str]:
    """SIDs of the call legs that rang `number` (each one a ring of that phone)."""
    with fake_twilio._lock:
        return [sid for sid, call in fake_twilio._calls.items() if call["to"] == number]


def call(client, task_id: int, **headers) -> object:
    return client.post(f"/tasks/{task_id}/call", headers={"Accept": "application/json", **headers})


# --- screening ---------------------------------------------------------------------------------


def test_when_his_voicemail_picks_up_the_client_is_never_connected(task, client, auth, fake_twilio):
    fake_twilio.scenario(PRACTITIONER_PHONE, "completed", answered_by="machine_start")
    auth.login("glen@example.com")
    assert call(client, task.id).get_json()["ok"] is True
    assert fake_twilio.wait_idle()
    assert legs_to(fake_twilio, CLIENT_PHONE) == []
    [attempt] = attempts_of(task.id)
    assert attempt.error == "You did not answer (your voicemail picked up), so Anna Petrova was not called."
    status = client.get(f"/attempts/{attempt.id}/status").get_json()
    assert status["final"] is True and status["error"] == attempt.error


def test_no_key_pressed_means_no_bridge(task, client, auth, fake_twilio):
    fake_twilio.scenario(PRACTITIONER_PHONE, "completed", digits="")
    auth.login("glen@example.com")
    call(client, task.id)
    assert fake_twilio.wait_idle()
    assert legs_to(fake_twilio, CLIENT_PHONE) == []
    [gathered] = [c for c in fake_twilio.callbacks if c.kind == "gather"]
    assert "You did not press 1, so the client was not called." in gathered.response_body
    [attempt] = attempts_of(task.id)
    assert attempt.error == "You did not answer (no key was pressed), so Anna Petrova was not called."


def test_pressing_1_connects_the_client_from_the_practice_number(task, client, auth, fake_twilio):
    auth.login("glen@example.com")
    call(client, task.id)
    assert fake_twilio.wait_idle()
    [client_leg] = legs_to(fake_twilio, CLIENT_PHONE)
    assert fake_twilio.call(client_leg)["from"] == PRACTICE_PHONE
    [attempt] = attempts_of(task.id)
    assert attempt.error is None and attempt.client_status == "completed"


# --- one tap, one ring ----------------------------------------------------------------------------


@pytest.fixture
def impatient_gateway(fake_twilio, app_config):
    """The app gives up waiting for Twilio after one second."""
    app_config["TWILIO_TIMEOUT"] = 1


def test_twilio_answering_after_the_timeout_still_rings_the_phone_once(impatient_gateway, task, client, auth,
                                                                        fake_twilio):
    fake_twilio.slow_next(2.5)  # the create is carried out, its answer comes after the app stopped waiting
    auth.login("glen@example.com")
    answer = call(client, task.id).get_json()
    assert fake_twilio.wait_idle(10)
    assert len(creates(fake_twilio)) == 1
    assert len(legs_to(fake_twilio, PRACTITIONER_PHONE)) == 1
    [attempt] = attempts_of(task.id)
    assert attempt.call_sid == legs_to(fake_twilio, PRACTITIONER_PHONE)[0]
    assert answer == {"ok": True, "status_url": f"/attempts/{attempt.id}/status",
                      "message": "Calling you now: answer your phone and press 1 to be connected to Anna Petrova."}
    actions = db.session.scalars(db.select(AuditEvent.action).where(AuditEvent.object_id == attempt.id)).all()
    assert "call.retrying" in actions and "call.found_at_twilio" in actions
    assert attempt.status == "completed" and attempt.client_status == "completed"


def test_a_5xx_after_twilio_created_the_call_rings_once(task, client, auth, fake_twilio):
    fake_twilio.fail_next(http_status=502, accept_then_error=True)
    auth.login("glen@example.com")
    call(client, task.id)
    assert fake_twilio.wait_idle()
    assert len(creates(fake_twilio)) == 1 and len(legs_to(fake_twilio, PRACTITIONER_PHONE)) == 1


def test_a_5xx_before_twilio_created_anything_is_tried_again(task, client, auth, fake_twilio):
    fake_twilio.fail_next(http_status=503)
    auth.login("glen@example.com")
    call(client, task.id)
    assert fake_twilio.wait_idle()
    lists = [r for r in fake_twilio.requests if r.method == "GET" and r.path.endswith("/Calls.json")]
    assert len(creates(fake_twilio)) == 2 and len(lists) == 1
    assert len(legs_to(fake_twilio, PRACTITIONER_PHONE)) == 1


# --- who is called -------------------------------------------------------------------------------------


def test_staff_calling_on_a_practitioners_behalf_are_rung_on_their_own_phone(task, client, auth, fake_twilio,
                                                                             make):
    practice = task.call_list.practitioner.practice
    make.user(practice, role="staff", email="front@example.com", full_name="Pat Front", phone=STAFF_PHONE)
    auth.login("front@example.com")
    assert call(client, task.id).get_json()["ok"] is True
    assert fake_twilio.wait_idle()
    [create] = creates(fake_twilio)
    assert create.form_value("To") == STAFF_PHONE
    assert legs_to(fake_twilio, PRACTITIONER_PHONE) == []
    voice = next(c for c in fake_twilio.callbacks if c.kind == "voice")
    assert "You are calling on behalf of Dr. Glen Gorab. Call to Anna Petrova" in voice.response_body


def test_staff_without_a_phone_are_told_so_and_nobody_is_rung(task, client, auth, fake_twilio, make):
    make.user(task.call_list.practitioner.practice, role="staff", email="front@example.com")
    auth.login("front@example.com")
    response = call(client, task.id)
    assert response.status_code == 409
    assert response.get_json()["message"] == ("You have no phone number set: add yours on My settings. "
                                              "Call rings your phone, then connects the client.")
    assert creates(fake_twilio) == []


# --- clear errors in the moment -------------------------------------------------------------------------


def test_a_refused_number_is_named_with_what_to_do_before_anything_else_is_said(task, client, auth, fake_twilio):
    fake_twilio.rule(PRACTITIONER_PHONE, error_code=21211)
    auth.login("glen@example.com")
    response = call(client, task.id)
    assert response.status_code == 409
    assert response.get_json()["message"] == (
        "Your phone number +1 202-555-0150 was refused by Twilio: check it on My settings.")
    # Without JavaScript: the same message, on the card rather than at the top of the page.
    page = client.post(f"/tasks/{task.id}/call", follow_redirects=True).get_data(as_text=True)
    card = page[page.index(f'id="task-{task.id}"'):]
    assert 'class="card-message" role="status" aria-live="polite"><span class="flash error">Your phone number' in card
    assert '<p class="flash' not in page[:page.index(f'id="task-{task.id}"')]


def test_save_says_so_on_the_card(task, client, auth):
    auth.login("glen@example.com")
    page = client.post(f"/tasks/{task.id}/outcome", data={"outcome": "reached"},
                       follow_redirects=True).get_data(as_text=True)
    card = page[page.index(f'id="task-{task.id}"'):]
    assert '<span class="flash success">Saved the outcome for Anna Petrova.</span>' in card


# --- in progress means in progress ----------------------------------------------------------------------


def test_a_second_call_waits_for_the_first_to_end_however_long_it_lasts(task, client, auth, fake_twilio,
                                                                        clock_file):
    fake_twilio.auto_callbacks = False  # the call is placed; Twilio has not reported its end yet
    auth.login("glen@example.com")
    assert call(client, task.id).get_json()["ok"] is True
    set_clock(clock_file, SATURDAY + dt.timedelta(minutes=45))  # a long call
    refused = call(client, task.id)
    assert refused.status_code == 409
    assert refused.get_json()["message"] == "A call to this client is already under way: wait until it has ended."

    fake_twilio.deliver_callbacks()  # ...until it ends
    assert attempts_of(task.id)[0].status == "completed"
    assert call(client, task.id).get_json()["ok"] is True
    assert len(attempts_of(task.id)) == 2


def test_an_attempt_twilio_never_reports_on_blocks_for_hours_not_forever(task, client, auth, fake_twilio,
                                                                        clock_file):
    fake_twilio.auto_callbacks = False
    auth.login("glen@example.com")
    call(client, task.id)
    set_clock(clock_file, SATURDAY + dt.timedelta(hours=3))
    assert call(client, task.id).status_code == 409
    set_clock(clock_file, SATURDAY + dt.timedelta(hours=5))
    assert call(client, task.id).status_code == 200
    assert utcnow() == SATURDAY + dt.timedelta(hours=5)
