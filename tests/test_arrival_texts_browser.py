"""The today page on a phone-sized Chromium: On my way with an ETA, and the text's delivery coming back."""
import pytest

from outreach.clock import set_clock
from tests.test_arrival_texts import ANNA_PHONE, MORNING, VISIT_AT, book_visit, create_requests

pytestmark = pytest.mark.browser


def test_on_my_way_from_the_today_page(fake_twilio, live_server, page, clock_file, make):
    set_clock(clock_file, MORNING)
    book_visit(make, VISIT_AT)

    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", "glen@example.com")
    page.fill("input[name=password]", make.PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/today")

    visit = page.locator("article.visit", has_text="Anna Petrova")
    assert "10:30" in visit.inner_text()
    assert visit.locator("li.text[data-kind=arrival] .badge").inner_text() == "scheduled"
    on_my_way = visit.locator("form.on-my-way")
    assert on_my_way.locator("input[name=eta_minutes]").input_value() == "15"
    on_my_way.locator("input[name=eta_minutes]").fill("7")
    on_my_way.locator("button").click()

    page.wait_for_url(f"{live_server.url}/today")
    assert "about 7 minutes" in page.locator(".flash").inner_text()
    assert fake_twilio.wait_idle()
    page.reload()
    visit = page.locator("article.visit", has_text="Anna Petrova")
    assert visit.locator("li.text[data-kind=arrival] .badge").inner_text() == "cancelled"
    assert visit.locator("li.text[data-kind=on_my_way] .badge").inner_text() == "delivered"
    [create] = create_requests(fake_twilio, ANNA_PHONE)
    assert create.form_value("Body") == "Hi Anna, this is Glen from Smile Dental. I'll be with you in about 7 minutes."
