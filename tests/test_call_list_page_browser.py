"""The weekly call list on a phone, in a real browser: the week by day, the filters, the script's live preview."""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from outreach.clock import set_clock
from outreach.extensions import db
from outreach.models import CallTask, Client
from outreach.services import call_lists
from tests.factories import Factory

pytestmark = pytest.mark.browser

NEW_YORK = ZoneInfo("America/New_York")


def local(day: int, hhmm: str) -> dt.datetime:
    """A time in the week of Monday 30 November 2026 (day 0), New York time."""
    return dt.datetime.combine(dt.date(2026, 11, 30) + dt.timedelta(days=day), dt.time.fromisoformat(hhmm), NEW_YORK)


@pytest.fixture
def glens_week(make, clock_file):
    """Glen's list of next week: Anna (already reached) on Monday, Brian on Tuesday, Carla on Thursday."""
    set_clock(clock_file, dt.datetime(2026, 11, 28, 12, 0, tzinfo=NEW_YORK))  # Saturday noon
    practice = make.practice("Smile Dental")
    glen = make.practitioner(practice, full_name="Dr. Glen Gorab", preferred_name="Glen", email="glen@smile.example")
    for name, phone, starts in (("Anna Petrova", "+12025550143", local(0, "10:00")),
                                ("Brian Chen", "+14155550134", local(1, "14:00")),
                                ("Carla Gomez", "+16175550123", local(3, "09:30"))):
        make.appointment(glen, make.client(practice, full_name=name, phone=phone), starts)
    call_lists.build_call_lists(db.session, practice, dt.date(2026, 11, 30), now=local(-2, "09:00"))
    anna = db.session.scalars(select(CallTask).join(Client).where(Client.full_name == "Anna Petrova")).one()
    anna.outcome = "reached"
    db.session.commit()
    return glen


def sign_in(page, live_server, email: str) -> None:
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", Factory.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/week")


def test_practitioner_works_through_the_week_and_edits_the_script_with_a_live_preview(page, live_server, glens_week):
    sign_in(page, live_server, "glen@smile.example")

    expect(page.locator("h2")).to_have_text(["Monday November 30", "Tuesday December 1", "Thursday December 3"],
                                            use_inner_text=True)
    expect(page.locator("#counter")).to_have_text("1 of 3 reached")
    brian = page.locator("article.task", has_text="Brian Chen")
    expect(brian.locator("blockquote.script")).to_contain_text(
        "Hello Brian, this is Dr. Gorab from Smile Dental — at work I ask people to call me Glen.")
    expect(brian.locator("a[href='tel:+14155550134']").first).to_be_visible()
    # Phone first: nothing is wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.get_by_role("link", name="To do").click()
    expect(page.locator(".client-name")).to_have_text(["Brian Chen", "Carla Gomez"])
    page.get_by_role("link", name="Done").click()
    expect(page.locator(".client-name")).to_have_text(["Anna Petrova"])

    page.get_by_role("link", name="Edit the call script").click()
    preview = page.locator("#script-preview-text")
    expect(page.locator("#script-preview-client")).to_contain_text("for Anna Petrova")
    page.fill("textarea[name=script_template]", "Hi {{ client_first_name }}, {{ practitioner_preferred_name }} "
                                                "here. See you {{ visit_when }}!")
    expect(preview).to_have_text("Hi Anna, Glen here. See you Monday at 10:00\u202fAM!")

    page.fill("textarea[name=script_template]", "Hi {{ client_first_name }")
    expect(page.locator("#script-preview-error")).to_contain_text("This script has an error: line 1:")
    expect(preview).to_contain_text("Hello Anna, this is Dr. Gorab")

    page.fill("textarea[name=script_template]", "Hi {{ client_first_name }}, it's {{ practitioner_preferred_name }}.")
    expect(page.locator("#script-preview-error")).to_be_hidden()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.success")).to_have_text("Script saved.")

    page.get_by_role("link", name="Call list").click()
    expect(page.locator("article.task", has_text="Brian Chen").locator("blockquote.script")).to_have_text(
        "Hi Brian, it's Glen.")
