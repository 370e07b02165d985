"""Admin and front-desk pages fit the screen, at phone size and on a desktop, even with the longest names
and feed addresses; a screenshot of each goes to test-artifacts/screenshots/ for a reviewer."""
import pytest

from outreach.extensions import db
from outreach.models import CalendarSource
from tests.russian_practice import russian_practice
from tests.test_practitioner_phone_browser import assert_fits_the_phone, screenshot, sign_in, small_tap_targets

pytestmark = pytest.mark.browser

LONGEST_NAME = "W" * 100  # the longest name a person may have, and no place to break it


@pytest.fixture
def long_names(make, clock_file):
    scene = russian_practice(make, clock_file)
    make.user(scene.gleb.practice, role="staff", email="long@ulybka.example", full_name=LONGEST_NAME)
    db.session.add(CalendarSource(
        practice_id=scene.gleb.practice_id, practitioner_id=scene.gleb.id, kind="feed", name="Ф" * 200,
        url="https://calendar.example.com/ical/" + "a" * 300 + "/basic.ics"))
    db.session.commit()
    return scene


PAGES = {"admin": "/admin/", "sources": "/sources", "imports": "/imports", "outcomes": "/outcomes",
         "today": "/today", "settings": "/admin/settings", "texts": "/settings/texts"}


def test_admin_pages_fit_a_phone_with_the_longest_names(page, live_server, long_names):
    sign_in(page, live_server.url, "admin@ulybka.example")
    for name, path in PAGES.items():
        page.goto(f"{live_server.url}{path}")
        assert_fits_the_phone(page)
        screenshot(page, f"ru-phone-admin-{name}")
    page.goto(f"{live_server.url}/admin/users/{long_names.gleb.user_id}")
    assert_fits_the_phone(page)
    assert small_tap_targets(page) == []
    screenshot(page, "ru-phone-admin-edit-practitioner")


def test_admin_pages_fit_a_desktop(browser, live_server, long_names):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ru-RU")
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, live_server.url, "admin@ulybka.example")
        for name, path in PAGES.items():
            page.goto(f"{live_server.url}{path}")
            assert_fits_the_phone(page)  # the same check: no wider than the window
            screenshot(page, f"ru-desktop-admin-{name}")
    finally:
        context.close()
