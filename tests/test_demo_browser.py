"""A newcomer's first minutes: the demo practice, signed in as its practitioner, in a real browser."""
import datetime as dt

from outreach.clock import set_clock


def test_the_demo_practitioner_signs_in_and_sees_next_weeks_first_visits(runner, live_server, page, clock_file):
    set_clock(clock_file, dt.datetime(2026, 11, 21, 15, 0, tzinfo=dt.timezone.utc))  # a Saturday afternoon
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "glen@smile.example" in result.output

    page.goto(f"{live_server.url}/")
    page.fill("input[name=email]", "glen@smile.example")
    page.fill("input[name=password]", "demo-password")
    page.click("button[type=submit]")

    page.wait_for_url("**/week**")
    body = page.inner_text("body")
    assert "Anna Petrova" in body          # a first visit next week
    assert "Carla Gomez" not in body       # a returning client is not called
    assert "Glen" in body                  # the script speaks with his preferred name
