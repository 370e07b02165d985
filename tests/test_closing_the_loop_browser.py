"""Anna calls back on Saturday night, hears Dr. Gorab's greeting and leaves a message; on Sunday he
finds it on his call list card, plays it in the browser, and it is marked listened."""
import datetime as dt
import time

import pytest
from playwright.sync_api import expect

from sqlalchemy import func, select

from outreach.clock import set_clock
from outreach.extensions import db
from outreach.models import Recording
from tests.test_closing_the_loop import (
    ANNA_PHONE,
    GLEN_PHONE,
    PRACTICE_PHONE,
    SATURDAY_MORNING,
    SATURDAY_NIGHT,
    VISIT,
)

pytestmark = pytest.mark.browser


def test_a_message_left_at_night_is_played_from_the_call_list_card(fake_twilio, live_server, make, page,
                                                                   clock_file):
    task, anna = _glen_signed_in_with_annas_first_visit(make, page, live_server, clock_file)
    page.goto(f"{live_server.url}/week/{task.call_list.week}")
    fake_twilio.scenario(ANNA_PHONE, "no-answer")
    # The call is placed once the page's request is answered: only then is there a call for Anna to return.
    with page.expect_response(lambda response: response.url.endswith(f"/tasks/{task.id}/call")):
        page.locator(f"#task-{task.id} button.call-button").click()
    assert fake_twilio.wait_idle()

    set_clock(clock_file, SATURDAY_NIGHT)
    fake_twilio.leaves_message(ANNA_PHONE, "Hi, it's Anna. Is there parking nearby?", duration=3)
    fake_twilio.inbound_call(f"{live_server.url}/twilio/inbound-call", from_=ANNA_PHONE, to=PRACTICE_PHONE)
    assert fake_twilio.wait_idle(10)
    assert _recordings_arrive(1), "the recording's status callback never arrived"

    set_clock(clock_file, SATURDAY_NIGHT + dt.timedelta(hours=10))
    page.goto(f"{live_server.url}/week/{task.call_list.week}")
    card = page.locator(f"#task-{task.id}")
    message = card.locator(".voicemail-message")
    expect(message).to_contain_text("new message")
    expect(message.locator(".transcription")).to_have_text("Hi, it's Anna. Is there parking nearby?")

    # The browser loads the sound through the app (which fetches it from Twilio) and decodes it.
    audio = message.locator("audio")
    audio.evaluate("element => { element.preload = 'auto'; element.load(); }")
    page.wait_for_function("element => element.readyState >= 1 && element.duration > 2.5", arg=audio.element_handle())

    page.reload()
    expect(page.locator(f"#task-{task.id} .voicemail-message")).to_contain_text("listened")
    page.goto(f"{live_server.url}/clients/{anna.id}")
    expect(page.locator(".voicemail-message")).to_contain_text("Is there parking nearby?")


def test_one_tap_leaves_the_recorded_greeting_on_the_clients_voicemail(fake_twilio, live_server, make, page,
                                                                       clock_file):
    task, _ = _glen_signed_in_with_annas_first_visit(make, page, live_server, clock_file)
    fake_twilio.leaves_message(GLEN_PHONE, "", duration=5)
    page.goto(f"{live_server.url}/greeting")
    page.get_by_role("button", name="Call me to record it").click()
    assert fake_twilio.wait_idle()
    page.reload()
    expect(page.locator("main")).to_contain_text("Your greeting, recorded")

    fake_twilio.scenario(ANNA_PHONE, "completed", hold_seconds=20)  # her voicemail answers and waits
    page.goto(f"{live_server.url}/week/{task.call_list.week}")
    page.locator(f"#task-{task.id} button.call-button").click()
    drop = page.locator(f"#task-{task.id} button.voicemail-drop")
    expect(drop).to_be_visible(timeout=15_000)
    with page.expect_navigation():
        drop.click()
    expect(page.locator(".flash")).to_contain_text("Your greeting is being left on Anna Petrova's voicemail.")
    assert fake_twilio.wait_idle(25)
    [leg] = [call for call in fake_twilio.calls_between(PRACTICE_PHONE, ANNA_PHONE)]
    assert [kind for kind, _ in fake_twilio.heard(leg["sid"])] == ["play"]
    page.reload()
    expect(page.locator(f"#task-{task.id} .attempts")).to_contain_text("greeting left on voicemail")


def _glen_signed_in_with_annas_first_visit(make, page, live_server, clock_file):
    """Saturday morning: Dr. Gorab signed in, Anna Petrova's first visit on his call list. Returns (task, Anna)."""
    set_clock(clock_file, SATURDAY_MORNING)
    practice = make.practice("Smile Dental", phone=PRACTICE_PHONE)
    glen = make.practitioner(practice, email="glen@example.com", phone=GLEN_PHONE)
    anna = make.client(practice, full_name="Anna Petrova", phone=ANNA_PHONE)
    task = make.call_task(make.appointment(glen, anna, VISIT))
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", "glen@example.com")
    page.fill("input[name=password]", make.PASSWORD)
    page.click("button[type=submit]")
    return task, anna


def _recordings_arrive(count: int, seconds: float = 10) -> bool:
    """Twilio posts a recording's status after the call ends: wait until the app has stored `count` of them."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db.session.rollback()  # a fresh transaction sees the server's commits
        if db.session.scalar(select(func.count()).select_from(Recording)) >= count:
            return True
        time.sleep(0.1)
    return False
