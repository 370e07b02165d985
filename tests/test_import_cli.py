"""`outreach import-ics`, `add-feed` and `sync-feeds`, run through Flask's CLI test runner."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from outreach.cli import cli
from outreach.extensions import db
from outreach.models import Appointment, CalendarSource
from outreach.services.ics_import import ImportReport

VISITS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\n"
    "BEGIN:VEVENT\r\nUID:v1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20300305T150000Z\r\nSUMMARY:Anna Petrova - cleaning"
    "\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:v2\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20300405T150000Z\r\nSUMMARY:Lunch\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:v3\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:No start\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)
WINDOW = ["--window-start", "2030-01-01", "--window-end", "2030-12-31"]


@pytest.fixture
def practitioner(make):
    return make.practitioner(make.practice(timezone="America/New_York"), email="glen@example.com")


@pytest.fixture
def files(tmp_path):
    visits = tmp_path / "visits.ics"
    visits.write_text(VISITS)
    notes = tmp_path / "notes.txt"
    notes.write_text("Call the lab on Tuesday.\n")
    return visits, notes


def run(runner, *args: str):
    result = runner.invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result


def test_json_prints_one_report_per_file_and_fails_when_any_file_fails(runner, practitioner, files):
    visits, notes = files
    result = run(runner, "import-ics", str(visits), str(notes), "--practitioner", "glen@example.com", *WINDOW,
                 "--json")
    assert result.exit_code == 1
    first, second = [json.loads(line) for line in result.output.splitlines()]
    # The keys scripts read stay as they were; the report names skipped events and the window beside them.
    assert first == {"file": str(visits), "status": "imported", "error": None, "occurrences": 2, "created": 2,
                     "updated": 0, "cancelled": 0, "unchanged": 0,
                     "skipped": [{"uid": "v3", "reason": "it has no start time", "title": "No start", "date": None,
                                  "problem": "no_start", "detail": None, "line": 16}],
                     "needs_attention": 1, "events": 2, "before_window": 0, "after_window": 0,
                     "window_start": "2030-01-01", "window_end": "2030-12-31"}
    assert second == {"file": str(notes), "status": "error",
                      "error": "this is not an iCalendar file: it has no BEGIN:VCALENDAR or BEGIN:VEVENT",
                      "occurrences": 0, "created": 0, "updated": 0, "cancelled": 0, "unchanged": 0, "skipped": [],
                      "needs_attention": 0, "events": 0, "before_window": 0, "after_window": 0,
                      "window_start": None, "window_end": None}
    assert list(first) == list(ImportReport.JSON_KEYS)
    # The good file was committed although the next one failed.
    db.session.expire_all()
    assert len(db.session.scalars(select(Appointment)).all()) == 2
    [source] = db.session.scalars(select(CalendarSource)).all()
    assert (source.kind, source.name, source.practitioner_id) == ("file", "Uploaded files", practitioner.id)


def test_a_second_run_reports_everything_unchanged_and_exits_zero(runner, practitioner, files):
    visits, _ = files
    run(runner, "import-ics", str(visits), "--practitioner", "glen@example.com", *WINDOW)
    result = run(runner, "import-ics", str(visits), "--practitioner", "GLEN@example.com", *WINDOW)
    assert result.exit_code == 0
    summary = (f"{visits}: 2 appointments in the window: 0 new, 0 updated, 0 cancelled, 2 unchanged; "
               "1 without a recognisable client; 1 event skipped")
    assert result.output.splitlines() == [summary, "  skipped 'No start': it has no start time"]


def test_a_file_of_old_history_says_why_nothing_was_imported(runner, practitioner, files):
    visits, _ = files
    result = run(runner, "import-ics", str(visits), "--practitioner", "glen@example.com",
                 "--window-start", "2031-01-01", "--window-end", "2031-12-31")
    assert result.output.splitlines()[1] == (
        "  Nothing was imported: all 2 events are before Wed 1 Jan 2031, the start of the import window; "
        "import older history with --window-start.")


def test_the_window_limits_what_is_imported(runner, practitioner, files):
    visits, _ = files
    result = run(runner, "import-ics", str(visits), "--practitioner", "glen@example.com",
                 "--window-start", "2030-03-01", "--window-end", "2030-03-31", "--json")
    assert json.loads(result.output)["occurrences"] == 1


@pytest.mark.parametrize(("args", "exit_code", "message"), [
    (["--practitioner", "nobody@example.com"], 1, "no practitioner with e-mail 'nobody@example.com'"),
    (["--practitioner", "glen@example.com", "--window-start", "March 1st"], 2, "Invalid value for '--window-start'"),
    (["--practitioner", "glen@example.com", "--window-start", "2030-02-01", "--window-end", "2030-01-01"], 2,
     "the window ends before it starts"),
])
def test_bad_arguments_give_a_clear_message(runner, practitioner, files, args, exit_code, message):
    result = run(runner, "import-ics", str(files[0]), *args)
    assert result.exit_code == exit_code
    assert message in result.output


def test_a_missing_file_is_a_usage_error(runner, practitioner, tmp_path):
    result = run(runner, "import-ics", str(tmp_path / "missing.ics"), "--practitioner", "glen@example.com")
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_a_file_over_the_size_cap_is_not_read(runner, practitioner, tmp_path, app):
    app.config["IMPORT_MAX_BYTES"] = 100
    big = tmp_path / "big.ics"
    big.write_text(VISITS)
    result = run(runner, "import-ics", str(big), "--practitioner", "glen@example.com", "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["error"] == "the file is 0.0 MB, more than the 0.0 MB limit"


def test_feeds_are_added_and_synced(runner, practitioner):
    added = run(runner, "add-feed", "http://127.0.0.1:9/calendar.ics", "--practitioner", "glen@example.com",
                "--name", "Front desk")
    assert added.exit_code == 0
    assert added.output.startswith("Added feed 'Front desk'")
    synced = run(runner, "sync-feeds", "--json")
    assert synced.exit_code == 1  # nothing listens on port 9
    [line] = [json.loads(text) for text in synced.output.splitlines()]
    assert (line["source"], line["status"], line["file"]) == ("Front desk", "error",
                                                               "http://127.0.0.1:9/calendar.ics")
    assert line["error"].startswith("the feed could not be downloaded")
    assert run(runner, "sync-feeds").output == "No feed is due.\n"


def test_a_bad_feed_address_is_refused(runner, practitioner):
    result = run(runner, "add-feed", "ftp://example.com/x.ics", "--practitioner", "glen@example.com")
    assert result.exit_code == 1
    assert "is not a calendar feed address" in result.output
