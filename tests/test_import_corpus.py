"""Every file of the shared .ics corpus (real exports and known-broken files) imports as expected.

For each file the importer must find as many occurrences in the window as
recurring-ical-events itself finds in the same file, except where the table
below says why it deliberately differs; and importing the file again
(byte-identical, or re-encoded so it is parsed again) must change nothing.

The files are imported once per database (a module fixture) and each test
checks one file's results, which keeps the whole module well under a minute.
"""
from __future__ import annotations

import datetime as dt
import functools
import warnings
import zoneinfo
from dataclasses import dataclass

import icalendar
import pytest
import recurring_ical_events
from sqlalchemy import func, select

from outreach import create_app
from outreach.extensions import db
from outreach.models import Appointment
from outreach.services.ics_import import ImportReport, import_calendar
from tests.conftest import SHARED, base_test_config, empty_all_tables
from tests.factories import Factory

CORPUS = SHARED / "ics-corpus"
CORPUS_FILES = sorted(str(path.relative_to(CORPUS)) for path in CORPUS.rglob("*.ics"))
PRACTICE_TZ = "Europe/Berlin"
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
# Wide enough for the corpus's real exports (2010s to 2020s), narrow enough to keep endless rules cheap.
WINDOW = (dt.date(2012, 1, 1), dt.date(2027, 12, 31))

NOT_A_CALENDAR = "this is not an iCalendar file: it has no BEGIN:VCALENDAR or BEGIN:VEVENT"


@dataclass(frozen=True)
class Expected:
    """Where the importer deliberately differs from recurring-ical-events, and why."""

    why: str
    occurrences: int | None = None  # None: the same as recurring-ical-events
    skipped: int = 0
    error: str | None = None


DIFFERENCES = {
    "allenporter-ical/empty.ics": Expected("a zero-byte file is not a calendar", 0, error="the file is empty"),
    "icalendar/fuzz_testcase_vtimezone_lone_cr.ics": Expected(
        "a lone VTIMEZONE (with control characters) holds no events: not a calendar; the libraries raise",
        0, error=NOT_A_CALENDAR),
    "icalendar/issue_55_parse_error_on_utc_offset_with_seconds.ics": Expected(
        "a lone VTIMEZONE holds no events: not a calendar", 0, error=NOT_A_CALENDAR),
    "icalendar/america_new_york_forward_reference.ics": Expected(
        "its one event has two different DTSTARTs: skipped (recurring-ical-events raises)", 0, skipped=1),
    "icalendar/big_bad_calendar.ics": Expected("20 empty VEVENTs without DTSTART are skipped", 0, skipped=20),
    "icalendar/broken_dtstart.ics": Expected("DTSTART:INVALID-DATE is skipped", 0, skipped=1),
    "icalendar/broken_ical.ics": Expected(
        "the doubled ';;' leaves the event without DTSTART: skipped (recurring-ical-events raises)", 0, skipped=1),
    "icalendar/issue_1050_multiple_calendars.ics": Expected(
        "both events lack DTSTART: skipped (recurring-ical-events raises)", 0, skipped=2),
    "icalendar/issue_722_missing_timezones.ics": Expected(
        "two events lack DTSTART and are skipped, the rest imported (recurring-ical-events raises)", 2, skipped=2),
    "icalendar/issue_165_missing_event.ics": Expected(
        "the RRULE's 'BYDAY=MO, TU, ...' has spaces (an Exchange habit): read without them; recurring-ical-events"
        " drops the series", 14),
    "icalendar/parsing_error_in_UTC_offset.ics": Expected(
        "the broken VTIMEZONE is ignored and the (event-less) calendar imports; the libraries raise", 0),
    "icalevents/icloud.ics": Expected(
        "the Europe/Berlin VTIMEZONE has a misrendered offset (+5328): it is ignored and the IANA zone of that "
        "name used; the libraries refuse the whole file", 36),
    "ics-parser/ICal.ics": Expected(
        "a VFREEBUSY with a period ending before it starts is ignored (it is not an event) and an event on "
        "'20171032' skipped; the libraries refuse the whole file", 924, skipped=1),
    "ics-parser/issue-343.ics": Expected(
        "the trailing VEVENT with only a UID is skipped, the meeting imported (recurring-ical-events raises)",
        2, skipped=1),
    "node-ical/large-file-with-late-error.ics": Expected(
        "events with impossible dates (Feb 30, Apr 31, ...) or a duplicate DTSTART are skipped, the other "
        "394 imported; recurring-ical-events raises", 394, skipped=7),
    "node-ical/test_with_multiple_tzids_in_vtimezone.ics": Expected(
        "the VTIMEZONE with two TZIDs is ignored (its zones are IANA names anyway); icalendar raises", 1),
    "node-ical/ms_timezones.ics": Expected(
        "the DTSTART whose value was swallowed into its TZID parameter has no date: skipped", skipped=1),
    "golang-ical/timeparsing.ics": Expected("DTSTART:20210527Z is neither a date nor a time: skipped", skipped=1),
    "ical.js/google_birthday.ics": Expected(
        "an unreadable RDATE (20131210Z) is dropped and the series kept; recurring-ical-events drops the series",
        4),
    "node-ical/bad_custom_ms_tz.ics": Expected(
        "a negative DURATION is dropped and the event kept; recurring-ical-events drops the event", 3),
    "icalendar/x_location.ics": Expected(
        "a daily series without end is capped at 2000 occurrences (reported as skipped)", 2000, skipped=1),
}


@dataclass
class FileImports:
    first: ImportReport
    identical_again: ImportReport
    parsed_again: ImportReport
    rows: int


@functools.cache
def occurrences_by_recurring_ical_events(name: str) -> int | str:
    """How many occurrences start inside the window by recurring-ical-events, or why it could not say."""
    tz = zoneinfo.ZoneInfo(PRACTICE_TZ)
    start = dt.datetime.combine(WINDOW[0], dt.time(), tz)
    end = dt.datetime.combine(WINDOW[1] + dt.timedelta(days=1), dt.time(), tz)
    icalendar.use_zoneinfo()  # VTIMEZONEs of other files must not leak in (icalendar caches them by TZID)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", icalendar.GloballyUniqueTZIDGuessed)
            calendars = icalendar.Calendar.from_ical((CORPUS / name).read_bytes(), multiple=True)
            found = [occurrence for calendar in calendars
                     for occurrence in recurring_ical_events.of(calendar, skip_bad_series=True).between(start, end)]
    except Exception as exc:  # noqa: BLE001 - the table above must then explain the difference
        return f"{type(exc).__name__}: {exc}"
    return sum(1 for o in found if start <= as_instant(o["DTSTART"].dt, tz) < end)


def as_instant(value: dt.date | dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time(), tz)
    return value if value.tzinfo else value.replace(tzinfo=tz)


@pytest.fixture(scope="module")
def corpus_imports(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, FileImports]:
    """Every corpus file imported into a source of its own, then imported twice more."""
    app = create_app(base_test_config(database_url, tmp_path_factory.mktemp("corpus")))
    with app.app_context():
        db.create_all()
        make = Factory(db.session)
        practitioner = make.practitioner(make.practice(timezone=PRACTICE_TZ, address="Invalidenstraße 1, Berlin"))
        results = {}
        for name in CORPUS_FILES:
            data = (CORPUS / name).read_bytes()
            source = make.source(practitioner)

            def run(content: bytes, source=source, name=name) -> ImportReport:
                report = import_calendar(db.session, source, content, name, window_start=WINDOW[0],
                                         window_end=WINDOW[1], now=NOW)
                db.session.commit()
                return report

            first, identical_again = run(data), run(data)
            # A different line ending makes different bytes: the file is parsed and compared row by row.
            parsed_again = run(data.replace(b"\r\n", b"\n") if b"\r\n" in data else data.replace(b"\n", b"\r\n"))
            rows = db.session.scalar(select(func.count()).select_from(Appointment)
                                     .where(Appointment.source_id == source.id))
            results[name] = FileImports(first, identical_again, parsed_again, rows)
        yield results
        db.session.remove()
        empty_all_tables()
        db.engine.dispose()


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_file(corpus_imports: dict[str, FileImports], name: str):
    imports = corpus_imports[name]
    expected = DIFFERENCES.get(name, Expected("same as recurring-ical-events"))
    first = imports.first.as_json()

    assert first["status"] == ("error" if expected.error else "imported"), first
    assert first["error"] == expected.error
    if expected.occurrences is None:
        reference = occurrences_by_recurring_ical_events(name)
        assert isinstance(reference, int), f"recurring-ical-events failed ({reference}): explain it in DIFFERENCES"
        assert first["occurrences"] == reference
    else:
        assert first["occurrences"] == expected.occurrences, expected.why
    assert len(first["skipped"]) == expected.skipped, first["skipped"]
    assert (first["updated"], first["unchanged"]) == (0, 0)
    assert first["created"] + first["cancelled"] == first["occurrences"] == imports.rows
    assert 0 <= first["needs_attention"] <= first["occurrences"]

    assert imports.identical_again.as_json() == first | {"created": 0, "cancelled": 0,
                                                          "unchanged": first["occurrences"]}
    # Read again, unchanged events are recognised by their fingerprints and not parsed: where they lie
    # against the window (the "why nothing was imported" counts) is only known for the events read.
    parsed_again = imports.parsed_again.as_json()
    assert parsed_again | {"before_window": 0, "after_window": 0} == first | {
        "created": 0, "cancelled": 0, "unchanged": first["occurrences"], "before_window": 0, "after_window": 0}
    for again in (imports.identical_again, imports.parsed_again):
        assert again.changed_appointment_ids == []


def test_the_table_of_differences_names_only_corpus_files():
    assert set(DIFFERENCES) <= set(CORPUS_FILES)
    assert len(CORPUS_FILES) == 109
