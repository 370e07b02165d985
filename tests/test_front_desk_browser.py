"""The front desk on a desktop, in a real browser, in English and in Russian: import a calendar, undo the
import, open a past day and mark what became of a visit. Screenshots go to test-artifacts/screenshots/."""
import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import expect

from outreach.clock import set_clock
from outreach.extensions import db
from outreach.models import Appointment
from tests.conftest import REPO_ROOT
from tests.factories import Factory

pytestmark = pytest.mark.browser

SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
NOW = dt.datetime(2026, 12, 2, 17, 0, tzinfo=dt.timezone.utc)  # Wednesday, noon in New York

CALENDAR = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//booking tool//EN\r
BEGIN:VEVENT\r
UID:past@booking\r
DTSTAMP:20261101T000000Z\r
DTSTART;TZID=America/New_York:20261201T100000\r
DURATION:PT45M\r
SUMMARY:Anna Petrova - Consultation\r
DESCRIPTION:Phone: +1 202-555-0143\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:future@booking\r
DTSTAMP:20261101T000000Z\r
DTSTART;TZID=America/New_York:20261208T140000\r
DURATION:PT45M\r
SUMMARY:Brian Chen - Check-up\r
DESCRIPTION:Phone: +1 415-555-0134\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:broken@booking\r
DTSTAMP:20261101T000000Z\r
DTSTART:20260231T090000Z\r
SUMMARY:Anna Schmidt - cleaning\r
END:VEVENT\r
END:VCALENDAR\r
""".encode()

WORDS = {
    "en": {"import": "Import", "skipped": "'Anna Schmidt - cleaning' on Tue 3 Mar 2026: the start time is written "
                                         "wrongly ('20260231T090000Z')",
           "remove": "Remove this import", "will_go": "1 future visit will be cancelled.",
           "removed": "Removed the import of week.ics.", "day": "Visits of the day", "no_show": "No-show",
           "marked": "Marked: No-show."},
    "ru": {"import": "Импорт", "skipped": "«Anna Schmidt - cleaning» вт 3 мар. 2026: время начала записано неверно "
                                         "('20260231T090000Z')",
           "remove": "Отменить этот импорт", "will_go": "1 будущий визит будет отменён.",
           "removed": "Импорт файла week.ics отменён.", "day": "Визиты за день", "no_show": "Неявка",
           "marked": "Отмечено: Неявка."},
}


@pytest.fixture
def desk(make, clock_file):
    set_clock(clock_file, NOW)
    practice = make.practice("Smile Dental")
    make.practitioner(practice, email="glen@example.com")
    make.user(practice, role="staff", email="front@example.com", full_name="Pat Front")
    make.user(practice, role="staff", email="olga@example.com", full_name="Olga Front").locale = "ru"
    db.session.commit()
    return practice


@pytest.fixture
def desktop(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def shoot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.mark.parametrize("email, language", [("front@example.com", "en"), ("olga@example.com", "ru")])
def test_the_front_desk_imports_undoes_the_import_and_marks_a_past_visit(desk, desktop, live_server, email,
                                                                         language):
    words, page = WORDS[language], desktop
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", Factory.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/imports")

    # Import: the report names the broken event by its title and day, in the reader's language.
    page.set_input_files("input[name=files]", files=[{"name": "week.ics", "mimeType": "text/calendar",
                                                      "buffer": CALENDAR}])
    page.get_by_role("button", name=words["import"], exact=True).click()
    report = page.locator("section.report")
    expect(report).to_contain_text("2")
    report.locator("details.skipped summary").click()
    expect(report.locator("details.skipped li")).to_have_text(words["skipped"])
    shoot(page, f"front-desk-import-{language}")

    # Undo: the calendars page lists the import; its confirmation names the visit that will go.
    page.goto(f"{live_server.url}/sources")
    page.get_by_role("link", name=words["remove"]).click()
    expect(page.locator("li.visits")).to_have_text(words["will_go"])
    expect(page.locator("section.removal table")).to_contain_text("Brian Chen")
    expect(page.locator("section.removal table")).not_to_contain_text("Anna Petrova")
    shoot(page, f"front-desk-remove-import-{language}")
    page.get_by_role("button", name=words["remove"]).click()
    page.wait_for_url("**/sources")
    expect(page.locator(".flash.success")).to_contain_text(words["removed"])
    expect(page.locator("tr.import.removed")).to_have_count(1)
    shoot(page, f"front-desk-calendars-{language}")
    db.session.expire_all()
    statuses = {a.uid: a.status for a in db.session.scalars(db.select(Appointment))}
    assert statuses == {"past@booking": "confirmed", "future@booking": "cancelled"}

    # The day view: yesterday's visit, marked a no-show from the list, which stays where it was.
    page.goto(f"{live_server.url}/visits/day")
    expect(page.locator("h1")).to_contain_text(words["day"])
    page.locator("a[rel=prev]").click()
    page.wait_for_url("**/visits/day?date=2026-12-01*")
    row = page.locator("tr.visit", has_text="Anna Petrova")
    row.get_by_role("button", name=words["no_show"]).click()
    page.wait_for_url("**/visits/day?date=2026-12-01*")
    expect(page.locator(".flash.success")).to_have_text(words["marked"])
    expect(page.locator("tr.visit", has_text="Anna Petrova").get_by_role(
        "button", name=words["no_show"])).to_have_attribute("aria-pressed", "true")
    shoot(page, f"front-desk-day-{language}")
    db.session.expire_all()
    assert db.session.scalars(db.select(Appointment).where(Appointment.uid == "past@booking")).one().visit_outcome \
        == "no_show"
