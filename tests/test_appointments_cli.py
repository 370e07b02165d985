"""`outreach appointments --practice NAME [--from DAY] [--to DAY] --json`: the importer's reading, one object a line."""
from __future__ import annotations

import datetime as dt
import json

from outreach.cli import cli
from outreach.extensions import db
from outreach.services.ics_import import import_calendar, uploaded_files_source

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
CALENDAR = "\r\n".join([
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Acuity Scheduling//Acuity Scheduling Calendar//EN",
    "BEGIN:VEVENT", "UID:acuity-1", "DTSTAMP:20261201T000000Z", "DTSTART:20261207T170000Z",
    "DTEND:20261207T180000Z", "SUMMARY:Jessica Brown: 60 Minute Swedish Massage",
    "DESCRIPTION:Name: Jessica Brown\\nPhone: 503-555-0111\\nEmail: jess.brown@outlook.com\\n"
    "First time client?: Yes", "LOCATION:2231 SE Division St\\, Portland\\, OR 97202", "END:VEVENT",
    "BEGIN:VEVENT", "UID:lunch-1", "DTSTAMP:20261201T000000Z", "DTSTART:20261208T200000Z",
    "DTEND:20261208T210000Z", "SUMMARY:Lunch", "END:VEVENT",
    "BEGIN:VEVENT", "UID:acuity-2", "DTSTAMP:20261201T000000Z", "DTSTART:20261215T170000Z",
    "DTEND:20261215T180000Z", "SUMMARY:Tyrone Jackson: 90 Minute Deep Tissue",
    "DESCRIPTION:Name: Tyrone Jackson\\nPhone: (971) 555-0123", "END:VEVENT",
    "END:VCALENDAR", ""])


def test_appointments_json_says_who_where_first_visit_and_why(app, make, runner):
    practice = make.practice("Harbor Massage", timezone="America/Los_Angeles", phone="+15035550100",
                             address="1200 NW Glisan St, Portland, OR 97209")
    practitioner = make.practitioner(practice, full_name="Kate Sullivan", email="kate@harbormassage.com", phone=None)
    source = uploaded_files_source(db.session, practitioner)
    import_calendar(db.session, source, CALENDAR.encode(), "acuity.ics", now=NOW)
    db.session.commit()

    result = runner.invoke(cli, ["appointments", "--practice", "Harbor Massage", "--from", "2026-12-07",
                                 "--to", "2026-12-08", "--json"])
    assert result.exit_code == 0, result.output
    jessica, lunch = [json.loads(line) for line in result.output.splitlines()]
    assert list(jessica) == ["uid", "recurrence_id", "starts_at", "status", "client", "at_client_place",
                             "first_visit", "why"]
    assert {k: jessica[k] for k in ("uid", "recurrence_id", "starts_at", "status", "client", "at_client_place",
                                    "first_visit")} == {
        "uid": "acuity-1", "recurrence_id": "", "starts_at": "2026-12-07T17:00:00+00:00", "status": "confirmed",
        "client": {"name": "Jessica Brown", "phone": "+15035550111", "email": "jess.brown@outlook.com"},
        "at_client_place": True, "first_visit": True,
    }
    assert jessica["why"]["name"] == {"source": "description", "detail": "Name"}
    assert jessica["why"]["place"]["source"] == "address"
    assert jessica["why"]["first_visit"] == {"source": "booking_tool", "detail": "First time client?: Yes"}
    assert (lunch["uid"], lunch["client"], lunch["first_visit"]) == ("lunch-1", None, None)
    assert lunch["why"]["not_a_visit"] == {"source": "title", "detail": "Lunch"}

    # Without --from/--to every appointment; the history decides where the booking tool says nothing.
    result = runner.invoke(cli, ["appointments", "--practice", "Harbor Massage", "--json"])
    rows = [json.loads(line) for line in result.output.splitlines()]
    tyrone = rows[-1]
    assert (tyrone["client"]["name"], tyrone["first_visit"]) == ("Tyrone Jackson", True)
    assert tyrone["why"]["first_visit"] == {"source": "history", "since": "2026-12-07"}


def test_an_unknown_practice_is_a_clear_error(app, runner):
    result = runner.invoke(cli, ["appointments", "--practice", "Nowhere", "--json"])
    assert result.exit_code != 0
    assert "no practice named 'Nowhere'" in result.output
