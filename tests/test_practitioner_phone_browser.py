"""The practitioner's Saturday morning on a phone (390×844), in a real browser, in English and Russian:
the week's cards lead to the client, the visit, the phone and the map; My settings; nothing is wider than
the screen, every tap target is at least 44×44 px, and messages show where the eye already is.

Screenshots of the pages go to test-artifacts/screenshots/ for a reviewer to look at.
"""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from outreach.clock import set_clock
from outreach.extensions import db
from outreach.services import call_lists
from tests.conftest import REPO_ROOT
from tests.factories import Factory
from tests.russian_practice import russian_practice

pytestmark = pytest.mark.browser

NEW_YORK = ZoneInfo("America/New_York")
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
PHONE_WIDTH, PHONE_HEIGHT = 390, 844
TAP_TARGETS = (".topbar a, .topbar button, .week-nav a, .filters a, article.task a, article.task button, "
               "article.task summary, form button")


def local(day: int, hhmm: str) -> dt.datetime:
    """A time in the week of Monday 30 November 2026 (day 0), New York time."""
    return dt.datetime.combine(dt.date(2026, 11, 30) + dt.timedelta(days=day), dt.time.fromisoformat(hhmm), NEW_YORK)


@pytest.fixture
def glens_week(make, clock_file):
    """Glen's list of next week: Anna on Monday, Brian on Tuesday at his home on Elm Street."""
    set_clock(clock_file, dt.datetime(2026, 11, 28, 9, 0, tzinfo=NEW_YORK))  # Saturday morning
    practice = make.practice("Smile Dental")
    glen = make.practitioner(practice, full_name="Dr. Glen Gorab", preferred_name="Glen", email="glen@smile.example")
    # Local numbers: the script tells a visit's time in the zone the client's number is in.
    make.appointment(glen, make.client(practice, full_name="Anna Petrova", phone="+12025550143"), local(0, "10:00"))
    make.appointment(glen, make.client(practice, full_name="Brian Chen", phone="+12025550134"), local(1, "14:00"),
                     at_client_place=True, location="12 Elm St, Springfield, IL")
    call_lists.build_call_lists(db.session, practice, dt.date(2026, 11, 30), now=local(-2, "09:00"))
    db.session.commit()
    return glen


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, base_url: str, email: str, password: str = Factory.PASSWORD) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def assert_fits_the_phone(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width} px wide"


def small_tap_targets(page: Page) -> list[str]:
    """Visible links and buttons smaller than 44×44 px, as "text (w×h)"."""
    return page.evaluate("""(selector) => [...document.querySelectorAll(selector)]
        .filter(e => e.offsetParent !== null && e.type !== 'hidden')
        .map(e => [e, e.getBoundingClientRect()])
        .filter(([e, r]) => r.width < 44 || r.height < 44)
        .map(([e, r]) => `${e.innerText.trim() || e.getAttribute('aria-label')} (${Math.round(r.width)}×${Math.round(r.height)})`)
    """, TAP_TARGETS)


def in_view(page: Page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE_HEIGHT


def test_the_practitioners_week_on_a_phone_leads_to_the_client_the_visit_the_phone_and_the_map(
        page, live_server, glens_week):
    sign_in(page, live_server.url, "glen@smile.example")
    page.wait_for_url("**/week")
    expect(page.locator(".week-dates")).to_have_text("Nov 30\u2009–\u2009Dec 6")
    assert_fits_the_phone(page)
    assert small_tap_targets(page) == []
    screenshot(page, "en-practitioner-week")

    brian = page.locator("article.task", has_text="Brian Chen")
    expect(brian.locator(".at-home")).to_contain_text("At the client's home")
    expect(brian.locator("a.map-link")).to_have_attribute("href", "geo:0,0?q=12%20Elm%20St%2C%20Springfield%2C%20IL")
    expect(brian.locator("a[href='tel:+12025550134']").first).to_be_visible()
    expect(brian.locator("blockquote.script")).to_have_text(
        "Hello Brian, this is Dr. Gorab from Smile Dental — at work I ask people to call me Glen. "
        "I see you're booked with me on Tuesday at 2:00\u202fPM. "
        "I like to call ahead to introduce myself and ask if you have any questions before the visit.")

    brian.locator(".client-name").click()
    expect(page.locator("h1")).to_have_text("Brian Chen")
    assert_fits_the_phone(page)
    screenshot(page, "en-practitioner-client")
    page.go_back()
    page.locator("article.task", has_text="Brian Chen").locator("a.visit-link").click()
    page.wait_for_url("**/appointments/*")
    expect(page.locator("a.map-link")).to_have_text("12 Elm St, Springfield, IL")
    assert_fits_the_phone(page)
    screenshot(page, "en-practitioner-visit")

    page.go_back()
    page.get_by_role("link", name="Next week").click()
    expect(page.locator(".week-dates")).to_have_text("Dec 7\u2009–\u200913")
    page.get_by_role("link", name="Previous week").click()
    expect(page.locator(".week-dates")).to_have_text("Nov 30\u2009–\u2009Dec 6")


def test_my_settings_on_a_phone_says_what_is_wrong_next_to_the_field_and_what_is_saved_in_view(
        page, live_server, glens_week):
    sign_in(page, live_server.url, "glen@smile.example")
    page.get_by_role("link", name="My settings").click()
    expect(page.locator("h1")).to_have_text("My settings")
    phone = page.locator("input[name=me-phone]")
    expect(phone).to_have_attribute("type", "tel")
    expect(phone).to_have_attribute("autocomplete", "tel")

    phone.fill("555-01")
    page.fill("input[name=me-preferred_name]", "Glenn")
    page.locator("#my-settings button[type=submit]").click()
    error = page.locator("#me-phone-error")
    expect(error).to_have_text("'555-01' is not a valid phone number")
    expect(phone).to_have_attribute("aria-describedby", "me-phone-help me-phone-error")
    expect(page.locator("input[name=me-preferred_name]")).to_have_value("Glenn")  # nothing typed is lost
    assert in_view(page, "#me-phone-error") or phone.evaluate("e => e === document.activeElement") is not None
    assert_fits_the_phone(page)
    screenshot(page, "en-my-settings-error")

    phone.fill("(202) 555-0150")
    page.select_option("select[name=me-locale]", "ru")
    page.locator("#my-settings button[type=submit]").click()
    expect(page.locator(".flash.success")).to_have_text("Ваши настройки сохранены.")
    assert in_view(page, ".flash.success")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    assert small_tap_targets(page) == []
    screenshot(page, "ru-my-settings-saved")

    page.get_by_role("link", name="Список обзвона").click()
    expect(page.locator("article.task", has_text="Brian Chen").locator("button.call-button")).to_have_text(
        "Позвонить")


def test_the_russian_practitioners_week_and_pages_on_a_phone(page, live_server, make, clock_file):
    russian_practice(make, clock_file)
    sign_in(page, live_server.url, "gleb@ulybka.example")
    page.wait_for_url("**/week")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator(".week-dates")).to_have_text("30 нояб. — 6 дек.")
    anna = page.locator("article.task", has_text="Анна Петрова")
    expect(anna.locator(".at-home")).to_contain_text("У клиента дома")
    expect(anna.locator("blockquote.script")).to_contain_text(
        "Здравствуйте, Анна! Это Д-р Горобцов, Улыбка. На работе я прошу называть меня Глеб.")
    assert_fits_the_phone(page)
    assert small_tap_targets(page) == []
    screenshot(page, "ru-practitioner-week")

    for name, path in (("ru-practitioner-today", "/today"), ("ru-my-settings", "/me"),
                       ("ru-practitioner-script", "/settings/script"), ("ru-not-found", "/clients/999999")):
        page.goto(f"{live_server.url}{path}")
        assert_fits_the_phone(page)
        screenshot(page, name)
    expect(page.locator("h1")).to_have_text("Здесь ничего нет")
