"""Stories of the client who missed the call: the missed-call text and its reply, the call-back put
through to the practitioner, the message left at night, the voicemail drop, callers who are not
clients, and forged webhooks. Real twilio SDK against the fake Twilio, signed webhooks over HTTP."""
import datetime as dt

import flask_babel
import pytest
import requests

from outreach.clock import set_clock
from outreach.extensions import db
from outreach.models import CallAttempt, InboundCall, InboundMessage, Notification, Recording
from outreach.services import outcomes, privacy, voicemail

PRACTICE_PHONE = "+12025550100"
GLEN_PHONE = "+12025550150"
ANNA_PHONE = "+12025550143"
FRONT_DESK = "+12025550111"
STRANGER = "+12025550177"
SATURDAY_MORNING = dt.datetime(2026, 11, 28, 15, 0, tzinfo=dt.timezone.utc)  # 10:00 in New York
SATURDAY_NIGHT = dt.datetime(2026, 11, 29, 4, 0, tzinfo=dt.timezone.utc)  # 23:00 in New York
VISIT = dt.datetime(2026, 12, 1, 19, 0, tzinfo=dt.timezone.utc)  # Tuesday 14:00 in New York


@pytest.fixture
def loop(fake_twilio, live_server, make, auth, clock_file):
    """Dr. Gorab signed in, with Anna Petrova's first visit on his list, on Saturday morning."""
    set_clock(clock_file, SATURDAY_MORNING)
    practice = make.practice("Smile Dental", phone=PRACTICE_PHONE)
    glen = make.practitioner(practice, email="glen@example.com", phone=GLEN_PHONE)
    anna = make.client(practice, full_name="Anna Petrova", phone=ANNA_PHONE)
    task = make.call_task(make.appointment(glen, anna, VISIT))
    auth.login("glen@example.com")
    return task


def _call_unanswered(task, client, fake_twilio, outcome="no-answer") -> CallAttempt:
    fake_twilio.scenario(ANNA_PHONE, outcome)
    client.post(f"/tasks/{task.id}/call")
    assert fake_twilio.wait_idle()
    db.session.expire_all()
    return db.session.scalars(db.select(CallAttempt).where(CallAttempt.task_id == task.id)).one()


def _texts_to(fake_twilio, number):
    return [r for r in fake_twilio.requests if r.path.endswith("/Messages.json") and r.method == "POST"
            and r.form_value("To") == number]


def _call_back(fake_twilio, live_server, from_=ANNA_PHONE) -> str:
    sid = fake_twilio.inbound_call(f"{live_server.url}/twilio/inbound-call", from_=from_, to=PRACTICE_PHONE,
                                   status_callback=f"{live_server.url}/twilio/inbound-call-status")
    assert fake_twilio.wait_idle(10)
    db.session.expire_all()
    return sid


def _inbound(sid: str) -> InboundCall:
    return db.session.scalars(db.select(InboundCall).where(InboundCall.call_sid == sid)).one()


# --- the missed-call text -------------------------------------------------------------------------


def test_missed_call_then_one_text_then_the_reply_lands_on_the_visit(loop, client, fake_twilio, live_server):
    _call_unanswered(loop, client, fake_twilio)
    page = client.get(f"/week/{loop.call_list.week}").get_data(as_text=True)
    assert "Text: sorry I missed you" in page

    client.post(f"/tasks/{loop.id}/missed-call-text")
    assert fake_twilio.wait_idle()
    [sent] = _texts_to(fake_twilio, ANNA_PHONE)
    assert sent.form_value("Body") == (
        "Hi Anna, this is Dr. Gorab from Smile Dental. I called to say hello before your first visit on "
        "Tuesday at 2:00 PM. No need to call back - if you have any questions, reply here or call +1 202-555-0100.")

    again = client.post(f"/tasks/{loop.id}/missed-call-text", follow_redirects=True).get_data(as_text=True)
    assert "already sent" in again
    assert len(_texts_to(fake_twilio, ANNA_PHONE)) == 1

    assert fake_twilio.send_inbound_sms(f"{live_server.url}/twilio/inbound-sms", from_=ANNA_PHONE,
                                        to=PRACTICE_PHONE, body="Is parking free?") == 200
    reply = db.session.scalars(db.select(InboundMessage)).one()
    assert (reply.client_id, reply.appointment_id) == (loop.client_id, loop.appointment_id)
    assert "Is parking free?" in client.get(f"/appointments/{loop.appointment_id}").get_data(as_text=True)


def test_the_practice_can_send_it_by_itself_once_and_never_to_an_opted_out_client(loop, client, fake_twilio):
    loop.call_list.practitioner.practice.missed_call_text_auto = True
    db.session.commit()
    _call_unanswered(loop, client, fake_twilio, outcome="busy")
    client.post(f"/tasks/{loop.id}/outcome", data={"outcome": "no_answer"})
    assert fake_twilio.wait_idle()
    assert len(_texts_to(fake_twilio, ANNA_PHONE)) == 1

    loop.client.opted_out_at = SATURDAY_MORNING
    db.session.commit()
    db.session.execute(db.delete(Notification))
    db.session.commit()
    response = client.post(f"/tasks/{loop.id}/missed-call-text", follow_redirects=True)
    assert "opted out" in response.get_data(as_text=True)


def test_a_missed_call_text_at_night_waits_for_the_morning(loop, client, fake_twilio, clock_file):
    set_clock(clock_file, SATURDAY_NIGHT)
    _call_unanswered(loop, client, fake_twilio)
    client.post(f"/tasks/{loop.id}/missed-call-text")
    text = db.session.scalars(db.select(Notification).where(Notification.kind == "missed_call")).one()
    assert text.status == "pending"
    assert text.due_at == dt.datetime(2026, 11, 29, 13, 0, tzinfo=dt.timezone.utc)  # 08:00 in New York
    assert not _texts_to(fake_twilio, ANNA_PHONE)


# --- call-backs -------------------------------------------------------------------------------------


def test_a_call_back_within_hours_is_put_through_and_counts_as_reached(loop, client, fake_twilio, live_server,
                                                                        clock_file):
    _call_unanswered(loop, client, fake_twilio)
    set_clock(clock_file, SATURDAY_MORNING + dt.timedelta(hours=2))
    fake_twilio.scenario(ANNA_PHONE, "completed")
    fake_twilio.presses(GLEN_PHONE, "1")
    sid = _call_back(fake_twilio, live_server)

    screen = next(c for c in fake_twilio.callbacks if c.kind == "screen")
    assert screen.params["To"] == GLEN_PHONE and screen.params["ParentCallSid"] == sid
    assert "Call back from Anna Petrova, first visit Tuesday at 2:00 PM. Press 1 to answer." in screen.response_body
    inbound = _inbound(sid)
    assert (inbound.route, inbound.matched, inbound.outcome) == ("practitioner", "one", "bridged")
    attempt = inbound.attempt
    assert (attempt.direction, attempt.via, attempt.outcome) == ("inbound", "callback", "reached")
    assert attempt.task.outcome == "reached"

    figures = outcomes.practice_figures(db.session, inbound.practice_id, ["2026-W49"]).totals.calls
    assert (figures.reached, figures.callbacks, figures.reached_by_callback_only) == (1, 1, 1)
    assert figures.share_reached == 1.0 and figures.share_reached_without_callbacks == 0.0


def test_twilio_retrying_the_call_webhook_gets_the_same_answer_and_one_log(loop, client, fake_twilio, live_server):
    _call_unanswered(loop, client, fake_twilio)
    url = f"{live_server.url}/twilio/inbound-call"
    params = {"CallSid": "CA" + "5" * 32, "AccountSid": fake_twilio.account_sid, "From": ANNA_PHONE,
              "To": PRACTICE_PHONE, "CallStatus": "ringing", "Direction": "inbound"}
    assert fake_twilio.post_signed(url, params) == 200
    assert fake_twilio.post_signed(url, params) == 200
    first, second = [c.response_body for c in fake_twilio.callbacks if c.kind == "manual"]
    assert first == second and "<Dial" in first
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count()).select_from(InboundCall)) == 1
    assert db.session.scalar(db.select(db.func.count()).select_from(CallAttempt)
                             .where(CallAttempt.direction == "inbound")) == 1


def test_the_practitioner_who_does_not_press_1_leaves_the_caller_to_the_greeting(loop, client, fake_twilio,
                                                                                   live_server):
    _call_unanswered(loop, client, fake_twilio)
    fake_twilio.presses(GLEN_PHONE, "")
    fake_twilio.scenario(ANNA_PHONE, "completed")
    sid = _call_back(fake_twilio, live_server)
    inbound = _inbound(sid)
    # The caller hung up at the beep: Twilio keeps no recording and calls no action; the number's
    # status callback closes the log.
    assert inbound.outcome == "no_message" and inbound.answered_at is None and inbound.ended_at is not None
    assert inbound.attempt.status == "completed" and inbound.attempt.outcome is None
    assert inbound.attempt.task.outcome != "reached"
    said = " ".join(text for kind, text in fake_twilio.heard(sid) if kind == "say")
    assert "you have reached Dr. Glen Gorab at Smile Dental" in said


def test_a_call_back_at_night_gets_the_greeting_and_the_message_is_attached(loop, client, fake_twilio,
                                                                            live_server, clock_file):
    _call_unanswered(loop, client, fake_twilio)
    glen = loop.call_list.practitioner
    glen.text_me_voicemails = True
    db.session.commit()
    set_clock(clock_file, SATURDAY_NIGHT)
    fake_twilio.leaves_message(ANNA_PHONE, "Hi, it's Anna. Is there parking nearby?", duration=9)
    sid = _call_back(fake_twilio, live_server)

    inbound = _inbound(sid)
    assert inbound.route == "voicemail" and "outside" in inbound.route_reason
    assert not [c for c in fake_twilio.callbacks if c.kind == "screen"]  # nobody is rung at night
    voice = next(c for c in fake_twilio.callbacks if c.kind == "voice" and c.params["CallSid"] == sid)
    assert "<Record" in voice.response_body and 'transcribe="true"' in voice.response_body
    recording = db.session.scalars(db.select(Recording)).one()
    assert (recording.client_id, recording.task_id, recording.duration_seconds) == (loop.client_id, loop.id, 9)
    assert recording.transcription == "Hi, it's Anna. Is there parking nearby?"
    [note] = _texts_to(fake_twilio, GLEN_PHONE)
    assert note.form_value("Body") == "Anna Petrova left you a message: Hi, it's Anna. Is there parking nearby?"

    card = client.get(f"/week/{loop.call_list.week}").get_data(as_text=True)
    assert "new message" in card and f"/recordings/{recording.id}/audio" in card
    audio = client.get(f"/recordings/{recording.id}/audio")
    assert audio.status_code == 200 and audio.mimetype == "audio/x-wav" and audio.data[:4] == b"RIFF"
    db.session.expire_all()
    assert db.session.get(Recording, recording.id).listened_at is not None
    media = [r for r in fake_twilio.requests if r.path.endswith(f"/Recordings/{recording.recording_sid}.wav")]
    assert media and media[0].headers["Authorization"].startswith("Basic ")
    assert "Is there parking nearby?" in client.get(f"/clients/{loop.client_id}").get_data(as_text=True)


def test_a_repeated_recording_callback_stores_one_message(loop, client, fake_twilio, live_server, clock_file):
    set_clock(clock_file, SATURDAY_NIGHT)
    fake_twilio.leaves_message(STRANGER, "Do you take new patients?")
    _call_back(fake_twilio, live_server, from_=STRANGER)
    recorded = next(c for c in fake_twilio.callbacks if c.kind == "recording-status")
    assert fake_twilio.post_signed(recorded.url, recorded.params) == 204
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count()).select_from(Recording)) == 1


def test_a_caller_who_is_not_a_client_reaches_the_practice_voicemail_or_the_front_desk(
        loop, client, fake_twilio, live_server, make, auth):
    fake_twilio.leaves_message(STRANGER, "Do you take new patients?")
    sid = _call_back(fake_twilio, live_server, from_=STRANGER)
    inbound = _inbound(sid)
    assert (inbound.matched, inbound.route, inbound.client_id, inbound.attempt_id) == ("none", "voicemail", None, None)
    said = " ".join(text for kind, text in fake_twilio.heard(sid) if kind == "say")
    assert said.startswith("Hello, you have reached Smile Dental.")
    practice = loop.call_list.practitioner.practice
    assert "Do you take new patients?" not in client.get("/inbound-calls").get_data(as_text=True)  # not Glen's
    make.user(practice, role="staff", email="front@example.com")
    auth.logout()
    auth.login("front@example.com")
    page = client.get("/inbound-calls").get_data(as_text=True)
    assert "not a client" in page and "Do you take new patients?" in page

    practice.other_inbound_calls, practice.front_desk_phone = "front_desk", FRONT_DESK
    db.session.commit()
    sid = _call_back(fake_twilio, live_server, from_=STRANGER)
    assert _inbound(sid).route == "front_desk" and _inbound(sid).outcome == "bridged"
    assert [call["to"] for call in fake_twilio.calls_between(PRACTICE_PHONE, FRONT_DESK)] == [FRONT_DESK]


def test_a_client_not_called_lately_is_not_put_through_to_a_practitioner(loop, client, fake_twilio, live_server):
    sid = _call_back(fake_twilio, live_server)
    inbound = _inbound(sid)
    assert (inbound.matched, inbound.client_id, inbound.route, inbound.task_id) == ("one", loop.client_id,
                                                                                   "voicemail", None)


def test_forged_inbound_webhooks_are_refused(loop, fake_twilio, live_server):
    url = f"{live_server.url}/twilio/inbound-call"
    params = {"CallSid": "CA" + "6" * 32, "From": ANNA_PHONE, "To": PRACTICE_PHONE, "CallStatus": "ringing"}
    forged = requests.post(url, data=params, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}, timeout=5)
    unsigned = requests.post(url, data=params, timeout=5)
    assert (forged.status_code, unsigned.status_code) == (403, 403)
    for path in ("/twilio/recording-status?inbound_call=1", "/twilio/transcription?inbound_call=1", "/twilio/amd/1",
                 "/twilio/inbound-call/1/dial-done"):
        assert requests.post(f"{live_server.url}{path}", data={"CallSid": "CA1"}, timeout=5).status_code == 403
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count()).select_from(InboundCall)) == 0


def test_a_signed_webhook_from_another_call_is_refused(loop, client, fake_twilio, live_server):
    sid = _call_back(fake_twilio, live_server, from_=STRANGER)
    inbound = _inbound(sid)
    other_call = {"CallSid": "CA" + "7" * 32, "To": PRACTICE_PHONE, "DialCallStatus": "completed"}
    assert fake_twilio.post_signed(f"{live_server.url}/twilio/inbound-call/{inbound.id}/dial-done",
                                   other_call) == 403


def test_a_number_no_practice_has_is_not_in_service(loop, fake_twilio, live_server):
    sid = fake_twilio.inbound_call(f"{live_server.url}/twilio/inbound-call", from_=ANNA_PHONE, to="+12025550999")
    assert fake_twilio.wait_idle()
    assert fake_twilio.heard(sid) == [("say", "This number is not in service.")]


# --- voicemail drop ---------------------------------------------------------------------------------


def _record_greeting(client, fake_twilio) -> Recording:
    fake_twilio.leaves_message(GLEN_PHONE, "", duration=6)
    response = client.post("/greeting", follow_redirects=True)
    assert "Calling you now" in response.get_data(as_text=True)
    assert fake_twilio.wait_idle()
    db.session.expire_all()
    return db.session.scalars(db.select(Recording).where(Recording.kind == "greeting")).one()


def test_the_greeting_is_recorded_by_phone_then_dropped_at_the_beep(loop, client, fake_twilio, live_server):
    greeting = _record_greeting(client, fake_twilio)
    assert greeting.practitioner_id == loop.call_list.practitioner_id and greeting.duration_seconds == 6
    recorded = next(c for c in fake_twilio.callbacks if c.kind == "recording-status")
    another_call = {**recorded.params, "CallSid": "CA" + "3" * 32, "RecordingSid": "RE" + "3" * 32}
    assert fake_twilio.post_signed(recorded.url, another_call) == 403  # not the call placed for the greeting
    practice = loop.call_list.practitioner.practice
    practice.voicemail_drop_auto = True
    db.session.commit()
    fake_twilio.scenario(ANNA_PHONE, "completed", answered_by="machine_end_beep")
    client.post(f"/tasks/{loop.id}/call")
    assert fake_twilio.wait_idle()

    db.session.expire_all()
    attempt = db.session.scalars(db.select(CallAttempt).where(CallAttempt.task_id == loop.id)).one()
    assert attempt.voicemail_left_at is not None and attempt.outcome == "voicemail"
    assert attempt.answered_by == "machine_end_beep" and attempt.task.outcome == "voicemail"
    [played] = [text for kind, text in fake_twilio.heard(attempt.client_call_sid) if kind == "play"]
    assert played.startswith(f"{live_server.url}/twilio/greetings/{greeting.id}?token=")
    assert requests.get(played, timeout=5).content[:4] == b"RIFF"
    assert requests.get(played.replace("token=", "token=x"), timeout=5).status_code == 403

    amd = next(c for c in fake_twilio.callbacks if c.kind == "amd-status")
    updates = len([r for r in fake_twilio.requests if r.path.endswith(f"/Calls/{attempt.client_call_sid}.json")])
    assert fake_twilio.post_signed(amd.url, amd.params) == 204  # Twilio retries: nothing is dropped twice
    assert len([r for r in fake_twilio.requests
                if r.path.endswith(f"/Calls/{attempt.client_call_sid}.json")]) == updates == 1

    figures = outcomes.practice_figures(db.session, practice.id, ["2026-W49"]).totals.calls
    assert (figures.voicemail_drops, figures.reached, figures.reached_or_greeting_left) == (1, 0, 1)


def test_a_drop_needs_a_greeting_and_a_client_leg_still_up(loop, client, fake_twilio):
    attempt = _call_unanswered(loop, client, fake_twilio)
    response = client.post(f"/attempts/{attempt.id}/voicemail-drop", follow_redirects=True)
    assert "Record your voicemail greeting first." in response.get_data(as_text=True)
    _record_greeting(client, fake_twilio)
    response = client.post(f"/attempts/{attempt.id}/voicemail-drop", follow_redirects=True)
    assert "not answering right now" in response.get_data(as_text=True)


# --- privacy ---------------------------------------------------------------------------------------


def test_an_erased_client_takes_their_messages_with_them(loop, client, fake_twilio, live_server, clock_file, app):
    _call_unanswered(loop, client, fake_twilio)
    set_clock(clock_file, SATURDAY_NIGHT)
    fake_twilio.leaves_message(ANNA_PHONE, "Call me back please")
    _call_back(fake_twilio, live_server)
    recording = db.session.scalars(db.select(Recording)).one()

    privacy.erase_client(db.session, loop.client, "test", SATURDAY_NIGHT)
    db.session.commit()
    db.session.expire_all()
    erased = db.session.get(Recording, recording.id)
    assert erased.erased_at is not None and erased.transcription is None and erased.from_phone is None
    assert client.get(f"/recordings/{recording.id}/audio").status_code == 404
    assert voicemail.delete_erased_recordings(db.session, app.extensions["twilio_gateway"], SATURDAY_NIGHT) == 1
    assert fake_twilio.recording(recording.recording_sid)["status"] == "deleted"


# --- settings and languages ---------------------------------------------------------------------------


def test_the_admin_sets_where_other_calls_go_and_a_wrong_number_is_said_clearly(loop, client, make, auth):
    practice = loop.call_list.practitioner.practice
    make.user(practice, role="admin", email="admin@example.com")
    auth.logout()
    auth.login("admin@example.com")
    form = {"timezone": "America/New_York", "locale": "en", "phone": PRACTICE_PHONE, "quiet_hours_start": "21:00",
            "quiet_hours_end": "08:00", "call_list_weekday": "6", "call_list_time": "09:00",
            "arrival_lead_minutes": "15", "retention_days": "730", "callback_window_days": "5",
            "callback_hours_start": "08:30", "callback_hours_end": "18:00", "other_inbound_calls": "front_desk",
            "front_desk_phone": "(202) 555-0111", "missed_call_text_auto": "y"}
    assert client.post("/admin/settings", data=form).status_code == 302
    db.session.expire_all()
    assert (practice.callback_window_days, practice.front_desk_phone, practice.other_inbound_calls,
            practice.missed_call_text_auto, practice.voicemail_drop_auto) == (5, FRONT_DESK, "front_desk", True, False)
    assert practice.callback_hours_start == dt.time(8, 30)
    page = client.post("/admin/settings", data={**form, "front_desk_phone": "12"}).get_data(as_text=True)
    assert "Not a phone number we can call" in page


def test_a_practitioner_sets_their_own_hours_for_call_backs(loop, client, fake_twilio, live_server, clock_file):
    _call_unanswered(loop, client, fake_twilio)
    client.post("/greeting/settings", data={"callback_hours_start": "07:00", "callback_hours_end": "09:00",
                                            "text_me_voicemails": "yes"})
    db.session.expire_all()
    glen = loop.call_list.practitioner
    assert (glen.callback_hours_start, glen.callback_hours_end, glen.text_me_voicemails) == (
        dt.time(7), dt.time(9), True)
    sid = _call_back(fake_twilio, live_server)  # 10:00 in New York: after his hours
    assert _inbound(sid).route == "voicemail"
    response = client.post("/greeting/settings", data={"callback_hours_start": "07:00"}, follow_redirects=True)
    assert "Give both hours" in response.get_data(as_text=True)


def test_a_russian_practitioner_hears_the_whisper_and_the_greeting_in_russian(make, app, clock_file):
    from outreach.services import callbacks

    set_clock(clock_file, dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.timezone.utc))  # 11:00 in Moscow
    practice = make.practice("Улыбка", timezone="Europe/Moscow", locale="ru", phone="+74951234567")
    gleb = make.practitioner(practice, full_name="Глеб Гораб", preferred_name="Глеб", phone="+79161234567")
    anna = make.client(practice, full_name="Анна Петрова", phone="+79123456789")
    task = make.call_task(make.appointment(gleb, anna, dt.datetime(2026, 12, 1, 11, 0, tzinfo=dt.timezone.utc)))
    db.session.add(CallAttempt(practice_id=practice.id, task_id=task.id, started_at=dt.datetime(
        2026, 11, 28, 7, 0, tzinfo=dt.timezone.utc)))
    db.session.commit()
    inbound = callbacks.receive_inbound_call(db.session, call_sid="CA" + "4" * 32, from_phone="+79123456789",
                                             to_phone="+74951234567",
                                             now=dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.timezone.utc))
    assert inbound.route == "practitioner"
    assert callbacks.whisper(inbound) == (
        "Перезванивает Анна Петрова, первый визит во вторник в 14:00. Нажмите 1, чтобы ответить.", "ru-RU")
    greeting = callbacks.voicemail_twiml(db.session, inbound, "https://outreach.example.com")
    assert 'language="ru-RU"' in greeting and "Здравствуйте, это Глеб Гораб, Улыбка." in greeting


def test_messages_and_caller_ids_follow_the_practices_retention_period(loop, client, fake_twilio, live_server,
                                                                       clock_file):
    set_clock(clock_file, SATURDAY_NIGHT)
    fake_twilio.leaves_message(STRANGER, "Do you take new patients?")
    _call_back(fake_twilio, live_server, from_=STRANGER)
    practice = loop.call_list.practitioner.practice
    practice.retention_days = 30
    db.session.commit()

    assert privacy.apply_retention(db.session, SATURDAY_NIGHT + dt.timedelta(days=29)) == [
        privacy.Retention(practice.id, texts=0, replies=0, call_attempts=0, call_tasks=0)]
    [run] = privacy.apply_retention(db.session, SATURDAY_NIGHT + dt.timedelta(days=31))
    assert (run.recordings, run.caller_ids) == (1, 1)
    db.session.expire_all()
    recording = db.session.scalars(db.select(Recording)).one()
    assert recording.erased_at is not None and recording.transcription is None
    assert db.session.scalars(db.select(InboundCall.from_phone)).all() == [None]


def test_a_refusal_is_said_in_the_practitioners_language(loop, client, fake_twilio):
    attempt = _call_unanswered(loop, client, fake_twilio)
    loop.call_list.practitioner.user.locale = "ru"
    db.session.commit()
    flask_babel.refresh()  # the test's requests share one app context, where Flask-Babel keeps the locale
    response = client.post(f"/attempts/{attempt.id}/voicemail-drop", follow_redirects=True)
    assert "Сначала запишите приветствие для автоответчика." in response.get_data(as_text=True)
