"""On a phone-sized Chromium: Call waits for Twilio's answer with a spinner, then says what came of it on the
card, with a real `rq worker` placing the call; the visit page offers On my way only on the visit's day."""
import datetime as dt

import pytest
from playwright.sync_api import expect

from outreach.clock import set_clock
from tests.test_arrival_texts import book_visit
from tests.test_call_guard_rails import CLIENT_PHONE, PRACTICE_PHONE, PRACTITIONER_PHONE, SATURDAY
from tests.test_text_guard_rails import SUNDAY_BEFORE, THURSDAY_VISIT

pytestmark = [pytest.mark.browser, pytest.mark.redis]


def sign_in(page, live_server, make, email: str = "glen@example.com") -> None:
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", make.PASSWORD)
    page.click("button[type=submit]")


@pytest.fixture
def list_with_anna(fake_twilio, rq_workers, live_server, make, clock_file):
    set_clock(clock_file, SATURDAY)
    rq_workers.config["PUBLIC_BASE_URL"] = live_server.url
    rq_workers.start(1)
    practice = make.practice("Smile Dental", phone=PRACTICE_PHONE)
    glen = make.practitioner(practice, email="glen@example.com", phone=PRACTITIONER_PHONE)
    anna = make.client(practice, full_name="Anna Petrova", phone=CLIENT_PHONE)
    return make.call_task(make.appointment(glen, anna, dt.datetime(2026, 12, 1, 19, 0, tzinfo=dt.timezone.utc)))


def test_call_spins_until_twilio_answers_then_says_calling_you_now_on_the_card(list_with_anna, fake_twilio,
                                                                               live_server, page, make):
    task = list_with_anna
    fake_twilio.slow_next(2.0)  # Twilio takes its time to answer the create
    fake_twilio.callback_delay = 0.3
    sign_in(page, live_server, make)
    page.goto(f"{live_server.url}/week/{task.call_list.week}")
    card = page.locator(f"#task-{task.id}")
    button = card.locator("button.call-button")
    button.click()
    expect(button).to_have_class("call-button busy")
    expect(button).to_be_disabled()
    expect(card.locator(".card-message")).to_be_empty()  # nothing is said before Twilio has answered

    message = card.locator(".card-message[aria-live=polite]")
    expect(message).to_have_text(
        "Calling you now: answer your phone and press 1 to be connected to Anna Petrova.", timeout=20_000)
    expect(button).not_to_have_class("call-button busy")
    expect(card.locator(".call-status .status-label")).to_have_text("completed", timeout=20_000)
    assert page.locator("main > .flash").count() == 0  # said on the card, not at the top of the page


def test_a_refused_number_is_named_on_the_card_at_once(list_with_anna, fake_twilio, live_server, page, make):
    task = list_with_anna
    fake_twilio.rule(PRACTITIONER_PHONE, error_code=21211)
    sign_in(page, live_server, make)
    page.goto(f"{live_server.url}/week/{task.call_list.week}")
    card = page.locator(f"#task-{task.id}")
    card.locator("button.call-button").click()
    expect(card.locator(".card-message .flash.error")).to_have_text(
        "Your phone number +1 202-555-0150 was refused by Twilio: check it on My settings.", timeout=20_000)


def test_on_my_way_is_offered_on_the_visits_day_only(fake_twilio, live_server, page, make, clock_file):
    set_clock(clock_file, SUNDAY_BEFORE)
    visit = book_visit(make, THURSDAY_VISIT)
    sign_in(page, live_server, make)
    page.goto(f"{live_server.url}/appointments/{visit.appointment.id}")
    card = page.locator("article.visit")
    expect(card.locator("button", has_text="On my way")).to_have_count(0)
    expect(card.locator(".text-window")).to_contain_text("offered on the visit's day")

    set_clock(clock_file, THURSDAY_VISIT - dt.timedelta(minutes=30))
    page.reload()
    expect(card.locator("button", has_text="On my way")).to_have_count(1)
    expect(card.locator("button", has_text="Running late")).to_have_count(1)
