"""Dr. Gorab works through his list on his phone: taps Call, watches the call
progress live, records what came of it, and finds it still there after a reload."""
import datetime as dt

from playwright.sync_api import expect

from outreach.clock import set_clock


def test_tap_call_watch_it_complete_record_the_outcome_and_find_it_kept(
        fake_twilio, live_server, make, page, clock_file):
    set_clock(clock_file, dt.datetime(2026, 11, 28, 15, 0, tzinfo=dt.timezone.utc))  # Saturday, 10:00 in New York
    fake_twilio.callback_delay = 0.4  # slow enough to watch the status change on the page
    practice = make.practice("Smile Dental", phone="+12025550100")
    glen = make.practitioner(practice, email="glen@example.com", phone="+12025550150")
    anna = make.client(practice, full_name="Anna Petrova", phone="+12025550143")
    visit = make.appointment(glen, anna, dt.datetime(2026, 12, 1, 19, 0, tzinfo=dt.timezone.utc))
    task = make.call_task(visit)

    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", "glen@example.com")
    page.fill("input[name=password]", make.PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/week/{task.call_list.week}")

    card = page.locator(f"#task-{task.id}")
    card.locator("button.call-button").click()
    status = page.locator(f"#task-{task.id} .call-status .status-label")
    expect(status).to_have_text("completed", timeout=15_000)

    card = page.locator(f"#task-{task.id}")
    card.locator("input[name=outcome][value=reached]").check()
    card.locator("textarea[name=questions]").fill("Is there parking nearby?")
    card.locator("textarea[name=notes]").fill("Anxious about injections")
    with page.expect_navigation():
        card.locator("button", has_text="Save outcome").click()
    expect(page.locator(".flash")).to_contain_text("Saved the outcome for Anna Petrova")

    page.reload()
    card = page.locator(f"#task-{task.id}")
    expect(card).to_contain_text("Reached")
    expect(card).to_contain_text("Is there parking nearby?")
    expect(card).to_contain_text("Anxious about injections")
