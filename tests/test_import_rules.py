"""The .ics import rules, told as small stories with hand-written calendars.

The practice is in New York (phone +1 202 555 0100, 100 Main Street) and the
clock stands at Monday 2 March 2026; the visits are in the week after.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import func, select

from outreach.extensions import db
from outreach.models import Appointment, Client, ImportRun
from outreach.services import ics_import
from outreach.services.ics_import import (
    ImportLimits,
    import_calendar,
    is_at_client_place,
)
from outreach.services.ics_import.context import Deadline

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
PRACTICE_ADDRESS = "100 Main Street, Springfield"


def vevent(uid: str | None, *lines: str) -> str:
    body = "\r\n".join(lines)
    uid_line = f"UID:{uid}\r\n" if uid else ""
    return f"BEGIN:VEVENT\r\n{uid_line}DTSTAMP:20260101T000000Z\r\n{body}\r\nEND:VEVENT\r\n"


def vcalendar(*events: str, header: str = "") -> bytes:
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//outreach tests//EN\r\n" + (header and header + "\r\n")
    return (head + "".join(events) + "END:VCALENDAR\r\n").encode()


@pytest.fixture
def practitioner(make):
    practice = make.practice(timezone="America/New_York", phone="+12025550100", address=PRACTICE_ADDRESS)
    return make.practitioner(practice, email="glen@example.com", phone="+12025550150")


@pytest.fixture
def source(practitioner):
    source = ics_import.uploaded_files_source(db.session, practitioner)
    db.session.commit()
    return source


def run_import(source, data: bytes, *, now: dt.datetime = NOW, **options) -> ics_import.ImportReport:
    report = import_calendar(db.session, source, data, "visits.ics", now=now, **options)
    db.session.commit()
    return report


def appointments(source) -> list[Appointment]:
    db.session.expire_all()
    return list(db.session.scalars(
        select(Appointment).where(Appointment.source_id == source.id).order_by(Appointment.starts_at)
    ))


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# --- Time zones ----------------------------------------------------------------------------------


def test_windows_time_zone_name_is_read_as_its_iana_zone(source):
    report = run_import(source, vcalendar(vevent(
        "w1", 'DTSTART;TZID="Pacific Standard Time":20260305T090000',
        'DTEND;TZID="Pacific Standard Time":20260305T094500', "SUMMARY:Anna Petrova - cleaning",
    )))
    assert report.status == "imported" and report.created == 1
    [visit] = appointments(source)
    assert visit.starts_at == utc(2026, 3, 5, 17, 0)  # 09:00 in Los Angeles, PST
    assert visit.ends_at == utc(2026, 3, 5, 17, 45)
    assert visit.original_tz == "Pacific Standard Time"


def test_x_wr_timezone_places_floating_times(source):
    run_import(source, vcalendar(
        vevent("m1", "DTSTART:20260305T090000", "DTEND:20260305T100000", "SUMMARY:Ivan Petrov - check-up"),
        header="X-WR-TIMEZONE:Europe/Moscow",
    ))
    [visit] = appointments(source)
    assert visit.starts_at == utc(2026, 3, 5, 6, 0)  # Moscow is UTC+3


def test_floating_times_and_unknown_time_zones_are_the_practices_local_time(source):
    run_import(source, vcalendar(
        vevent("f1", "DTSTART:20260305T090000", "SUMMARY:Floating"),
        vevent("f2", 'DTSTART;TZID="Customized Time Zone":20260305T100000', "SUMMARY:Unknown zone"),
    ))
    first, second = appointments(source)
    assert first.starts_at == utc(2026, 3, 5, 14, 0)  # 09:00 in New York, EST
    assert second.starts_at == utc(2026, 3, 5, 15, 0)
    assert second.original_tz == "Customized Time Zone"


def custom_zone(offset: str) -> str:
    return (
        "BEGIN:VTIMEZONE\r\nTZID:Customized Time Zone\r\nBEGIN:STANDARD\r\nDTSTART:16010101T000000\r\n"
        f"TZOFFSETFROM:{offset}\r\nTZOFFSETTO:{offset}\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    )


def test_each_file_uses_its_own_definition_of_a_custom_time_zone(make, practitioner):
    first_source, second_source = make.source(practitioner), make.source(practitioner)
    visit = vevent("c1", 'DTSTART;TZID="Customized Time Zone":20260305T090000', "SUMMARY:x")
    run_import(first_source, vcalendar(custom_zone("+0300"), visit))
    run_import(second_source, vcalendar(custom_zone("-0500"), visit))
    assert appointments(first_source)[0].starts_at == utc(2026, 3, 5, 6, 0)
    assert appointments(second_source)[0].starts_at == utc(2026, 3, 5, 14, 0)


def test_all_day_visit_starts_at_midnight_in_the_practice_zone(source):
    run_import(source, vcalendar(vevent("d1", "DTSTART;VALUE=DATE:20260305", "DTEND;VALUE=DATE:20260306",
                                        "SUMMARY:Home visits day")))
    [visit] = appointments(source)
    assert visit.all_day
    assert visit.starts_at == utc(2026, 3, 5, 5, 0)
    assert visit.ends_at == utc(2026, 3, 6, 5, 0)
    assert visit.recurrence_id == ""


def test_missing_end_backwards_end_and_duration(source):
    run_import(source, vcalendar(
        vevent("e1", "DTSTART:20260305T140000Z", "SUMMARY:No end"),
        vevent("e2", "DTSTART:20260305T150000Z", "DTEND:20260305T143000Z", "SUMMARY:End before start"),
        vevent("e3", "DTSTART:20260305T160000Z", "DURATION:PT45M", "SUMMARY:Duration"),
    ))
    no_end, backwards, with_duration = appointments(source)
    assert no_end.ends_at == no_end.starts_at
    assert backwards.starts_at == utc(2026, 3, 5, 15, 0)  # the start is kept, the impossible end dropped
    assert backwards.ends_at == backwards.starts_at
    assert with_duration.ends_at == utc(2026, 3, 5, 16, 45)


# --- Recurrence ----------------------------------------------------------------------------------


def weekly_series(*extra: str, sequence: int = 0) -> str:
    return vevent("series-1", "DTSTART;TZID=America/New_York:20260303T090000",
                  "DTEND;TZID=America/New_York:20260303T093000", "RRULE:FREQ=WEEKLY;COUNT=5",
                  f"SEQUENCE:{sequence}", "SUMMARY:Boris Ivanov - physiotherapy", *extra)


def test_weekly_series_with_exdate_moved_and_cancelled_occurrences(source):
    report = run_import(source, vcalendar(
        weekly_series("EXDATE;TZID=America/New_York:20260310T090000"),
        vevent("series-1", "RECURRENCE-ID;TZID=America/New_York:20260317T090000",
               "DTSTART;TZID=America/New_York:20260317T110000", "DTEND;TZID=America/New_York:20260317T113000",
               "SEQUENCE:1", "SUMMARY:Boris Ivanov - physiotherapy (moved)"),
        vevent("series-1", "RECURRENCE-ID;TZID=America/New_York:20260324T090000",
               "DTSTART;TZID=America/New_York:20260324T090000", "STATUS:CANCELLED", "SEQUENCE:1",
               "SUMMARY:Boris Ivanov - physiotherapy"),
    ))
    assert (report.occurrences, report.created, report.cancelled) == (4, 3, 1)
    visits = appointments(source)
    assert [(v.recurrence_id, v.starts_at, v.status) for v in visits] == [
        ("2026-03-03T14:00:00Z", utc(2026, 3, 3, 14, 0), "confirmed"),
        ("2026-03-17T13:00:00Z", utc(2026, 3, 17, 15, 0), "confirmed"),  # moved: keeps its original identity
        ("2026-03-24T13:00:00Z", utc(2026, 3, 24, 13, 0), "cancelled"),
        ("2026-03-31T13:00:00Z", utc(2026, 3, 31, 13, 0), "confirmed"),
    ]
    assert len({v.client_id for v in visits}) == 1


def test_rdate_adds_occurrences(source):
    report = run_import(source, vcalendar(vevent(
        "r1", "DTSTART:20260303T150000Z", "RDATE:20260305T150000Z,20260310T160000Z", "SUMMARY:x",
    )))
    assert report.occurrences == 3
    assert [v.starts_at.day for v in appointments(source)] == [3, 5, 10]


def test_an_exdate_added_later_cancels_that_occurrence_once(source):
    run_import(source, vcalendar(weekly_series()))
    report = run_import(source, vcalendar(weekly_series("EXDATE;TZID=America/New_York:20260310T090000",
                                                        sequence=1)))
    assert (report.cancelled, report.updated) == (1, 4)
    cancelled = [v for v in appointments(source) if v.status == "cancelled"]
    assert [v.starts_at for v in cancelled] == [utc(2026, 3, 10, 13, 0)]
    assert cancelled[0].cancelled_at == NOW
    again = run_import(source, vcalendar(weekly_series("EXDATE;TZID=America/New_York:20260310T090000",
                                                       sequence=1)) + b"\r\n")
    assert (again.cancelled, again.unchanged, again.occurrences) == (0, 4, 4)


# --- Re-imports, updates and cancellations ---------------------------------------------------------


def test_importing_the_same_file_again_changes_nothing(source):
    data = vcalendar(weekly_series(), vevent("single", "DTSTART:20260306T150000Z", "SUMMARY:Cara Lee - x-ray"))
    first = run_import(source, data)
    before = [(v.id, v.updated_at, v.content_hash) for v in appointments(source)]
    same = run_import(source, data, now=NOW + dt.timedelta(minutes=5))
    reparsed = run_import(source, data.replace(b"\r\n", b"\n"), now=NOW + dt.timedelta(minutes=10))
    for report in (same, reparsed):
        assert report.as_json() | {"file": ""} == first.as_json() | {
            "file": "", "created": 0, "unchanged": first.occurrences}
        assert report.changed_appointment_ids == []
    assert [(v.id, v.updated_at, v.content_hash) for v in appointments(source)] == before


def test_a_higher_sequence_updates_the_appointment_in_place(source):
    run_import(source, vcalendar(vevent("s1", "DTSTART:20260305T150000Z", "SEQUENCE:0", "SUMMARY:Dana White")))
    [before] = appointments(source)
    report = run_import(source, vcalendar(vevent("s1", "DTSTART:20260305T170000Z", "SEQUENCE:1",
                                                 "SUMMARY:Dana White")))
    assert (report.updated, report.created) == (1, 0)
    assert report.changed_appointment_ids == [before.id]
    [after] = appointments(source)
    assert (after.id, after.starts_at, after.sequence) == (before.id, utc(2026, 3, 5, 17, 0), 1)


def test_cancelled_visit_counts_once_and_coming_back_is_an_update(source):
    def visit(status: str) -> bytes:
        return vcalendar(vevent("c1", "DTSTART:20260305T150000Z", f"STATUS:{status}", "SUMMARY:Eva Green"))

    run_import(source, visit("CONFIRMED"))
    assert run_import(source, visit("CANCELLED")).cancelled == 1
    [cancelled] = appointments(source)
    assert (cancelled.status, cancelled.cancelled_at) == ("cancelled", NOW)
    assert run_import(source, visit("CANCELLED") + b"\r\n").as_json()["cancelled"] == 0
    back = run_import(source, visit("CONFIRMED"))
    assert (back.updated, back.cancelled) == (1, 0)
    [confirmed] = appointments(source)
    assert (confirmed.status, confirmed.cancelled_at) == ("confirmed", None)


def test_method_cancel_cancels_the_events_it_carries(source):
    run_import(source, vcalendar(vevent("m1", "DTSTART:20260305T150000Z", "SUMMARY:Fay Wong")))
    report = run_import(source, vcalendar(vevent("m1", "DTSTART:20260305T150000Z", "SUMMARY:Fay Wong",
                                                 "SEQUENCE:1"), header="METHOD:CANCEL"))
    assert report.cancelled == 1
    assert appointments(source)[0].status == "cancelled"


def test_a_second_file_does_not_cancel_the_first_files_visits(source):
    run_import(source, vcalendar(vevent("from-a", "DTSTART:20260305T150000Z", "SUMMARY:Gil Shaw")))
    report = run_import(source, vcalendar(vevent("from-b", "DTSTART:20260306T150000Z", "SUMMARY:Hana Kim")))
    assert (report.created, report.cancelled) == (1, 0)
    assert [v.status for v in appointments(source)] == ["confirmed", "confirmed"]


def test_duplicate_uids_highest_sequence_then_latest_stamp_wins(source):
    run_import(source, vcalendar(
        vevent("dup-seq", "DTSTART:20260305T150000Z", "SEQUENCE:2", "SUMMARY:newest by sequence"),
        vevent("dup-seq", "DTSTART:20260305T160000Z", "SEQUENCE:1", "SUMMARY:older"),
        vevent("dup-stamp", "DTSTART:20260306T150000Z", "LAST-MODIFIED:20260201T000000Z", "SUMMARY:newest stamp"),
        vevent("dup-stamp", "DTSTART:20260306T160000Z", "LAST-MODIFIED:20260101T000000Z", "SUMMARY:older stamp"),
    ))
    assert [v.summary for v in appointments(source)] == ["newest by sequence", "newest stamp"]


def test_events_without_uid_get_a_stable_one(source):
    data = vcalendar(vevent(None, "DTSTART:20260305T150000Z", "SUMMARY:Ida Berg - consultation"))
    run_import(source, data)
    [visit] = appointments(source)
    assert visit.uid.startswith("derived-")
    assert run_import(source, data + b"\r\n").unchanged == 1


# --- Untidy files ---------------------------------------------------------------------------------


def test_bare_event_with_bom_latin1_and_a_fold_inside_a_character(source):
    latin1 = ("BEGIN:VEVENT\r\nUID:l1\r\nDTSTART:20260305T150000Z\r\nSUMMARY:J\xfcrgen M\xfcller - cleaning\r\n"
              "END:VEVENT\r\n").encode("latin-1")
    assert run_import(source, b"\xef\xbb\xbf" + latin1).created == 1
    utf8 = "Zoë Δelta - cleaning".encode()
    cut = utf8.index("Δ".encode()) + 1  # the fold splits the two bytes of Δ
    folded = (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:f1\r\nDTSTART:20260306T150000Z\r\nSUMMARY:" + utf8[:cut]
              + b"\r\n " + utf8[cut:] + b"\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    assert run_import(source, folded).created == 1
    assert [v.summary for v in appointments(source)] == ["Jürgen Müller - cleaning", "Zoë Δelta - cleaning"]


def test_several_calendars_in_one_file(source):
    report = run_import(source, vcalendar(vevent("a", "DTSTART:20260305T150000Z", "SUMMARY:a"))
                        + vcalendar(vevent("b", "DTSTART:20260306T150000Z", "SUMMARY:b")))
    assert report.created == 2


def test_unusable_events_are_skipped_with_a_reason_and_the_rest_imported(source):
    report = run_import(source, vcalendar(
        vevent("no-start", "SUMMARY:forgot the time"),
        vevent("bad-date", "DTSTART:20260231T090000Z", "SUMMARY:February 31st"),
        vevent("bad-rule", "DTSTART:20260305T090000Z", "RRULE:FREQ=SOMETIMES", "SUMMARY:x"),
        vevent("fine", "DTSTART:20260305T150000Z", "SUMMARY:Jon Snow"),
    ))
    assert report.status == "imported" and report.created == 1
    assert {item["uid"]: (item["title"], item["date"], item["reason"]) for item in report.skipped} == {
        "no-start": ("forgot the time", None, "it has no start time"),
        # The day is how people read the mistake: 31 February is 3 March.
        "bad-date": ("February 31st", "2026-03-03", "the start time is written wrongly ('20260231T090000Z')"),
        "bad-rule": ("x", "2026-03-05", "the repeat rule is written wrongly ('FREQ=SOMETIMES')"),
    }


def test_a_failing_file_leaves_the_database_as_it_was(source, monkeypatch):
    run_import(source, vcalendar(vevent("kept", "DTSTART:20260305T150000Z", "SUMMARY:Kim Lee",
                                        "DESCRIPTION:+1 415 555 0199")))
    clients_before = db.session.scalar(select(func.count()).select_from(Client))
    real_check = Deadline.check

    def fail_before_saving_appointments(deadline, doing):
        if doing == "saving appointments":  # new clients are already written by then
            raise ics_import.ImportFailed("the disk is full")
        real_check(deadline, doing)

    monkeypatch.setattr(Deadline, "check", fail_before_saving_appointments)
    report = run_import(source, vcalendar(
        vevent("kept", "DTSTART:20260305T160000Z", "SEQUENCE:1", "SUMMARY:Kim Lee"),
        vevent("new", "DTSTART:20260306T150000Z", "SUMMARY:Lea Roy", "DESCRIPTION:+1 415 555 0188"),
    ))
    assert report.as_json() == {"file": "visits.ics", "status": "error", "error": "the disk is full",
                                "occurrences": 0, "created": 0, "updated": 0, "cancelled": 0, "unchanged": 0,
                                "skipped": [], "needs_attention": 0, "events": 0, "before_window": 0,
                                "after_window": 0, "window_start": None, "window_end": None}
    [visit] = appointments(source)
    assert (visit.uid, visit.starts_at) == ("kept", utc(2026, 3, 5, 15, 0))
    assert db.session.scalar(select(func.count()).select_from(Client)) == clients_before
    runs = db.session.scalars(select(ImportRun).where(ImportRun.source_id == source.id).order_by(ImportRun.id))
    assert [run.status for run in runs] == ["imported", "error"]


# --- Hostile files end quickly with a clear message ------------------------------------------------


# The import's own deadline, far above what these files take: a file that made the importer work without end
# would fail with "took too long" instead of the result each test expects. (Speed itself is measured by
# scripts/bench_import.py, not here.)
HOSTILE_FILE_LIMITS = ImportLimits(time_limit_seconds=60)


# A daily rule at every minute of the day: frequent, but still FREQ=DAILY (FREQ=SECONDLY is refused outright,
# see test_text_guard_rails.py).
EVERY_MINUTE_DAILY = ("RRULE:FREQ=DAILY;BYHOUR=" + ",".join(map(str, range(24)))
                      + ";BYMINUTE=" + ",".join(map(str, range(60))))


def test_an_endless_minutely_rule_stops_at_the_cap(source):
    report = run_import(source, vcalendar(vevent("tick", "DTSTART:20260303T090000Z", EVERY_MINUTE_DAILY,
                                                 "SUMMARY:tick")),
                        limits=dataclasses.replace(HOSTILE_FILE_LIMITS, max_occurrences_per_series=500))
    assert (report.status, report.occurrences) == ("imported", 500)
    assert [(item["uid"], item["title"], item["date"], item["reason"]) for item in report.skipped] == [
        ("tick", "tick", "2026-03-03", "it repeats more than 500 times in the import window; only the first 500 were "
                                       "imported")]


def test_a_rule_repeating_every_minute_for_decades_is_skipped(source):
    report = run_import(source, vcalendar(vevent("old", "DTSTART:20010101T000000Z", EVERY_MINUTE_DAILY,
                                                 "SUMMARY:x")), limits=HOSTILE_FILE_LIMITS)
    assert report.skipped[0]["reason"].startswith("it repeats every day since long before the import window")


def test_ten_thousand_nested_components_are_refused(source):
    data = b"BEGIN:VCALENDAR\r\n" + b"BEGIN:VEVENT\r\n" * 10_000 + b"END:VEVENT\r\n" * 10_000 + b"END:VCALENDAR\r\n"
    report = run_import(source, data, limits=HOSTILE_FILE_LIMITS)
    assert report.status == "error"
    assert report.error.startswith("components are nested more than 10 deep")


def test_a_five_megabyte_line_is_refused(source):
    data = vcalendar(vevent("long", "DTSTART:20260305T150000Z", "DESCRIPTION:" + "x" * 5_000_000))
    report = run_import(source, data, limits=HOSTILE_FILE_LIMITS)
    assert report.status == "error" and report.error.startswith("the file has a line of 4.8 MB")


def test_a_file_over_the_size_cap_is_refused_before_reading(source):
    report = run_import(source, b"BEGIN:VCALENDAR\r\n" + b"X" * 2048, limits=ImportLimits(max_bytes=1024))
    assert (report.status, report.error) == ("error", "the file is 0.0 MB, more than the 0.0 MB limit")


def test_a_file_that_takes_too_long_stops_with_a_clear_error(source):
    data = vcalendar(*(vevent(f"v{n}", f"DTSTART:202603{5 + n % 20:02d}T150000Z", "SUMMARY:x") for n in range(300)))
    report = run_import(source, data, limits=ImportLimits(time_limit_seconds=0))
    assert report.status == "error"
    assert report.error.startswith("importing took longer than 0 seconds")
    assert appointments(source) == []


@pytest.mark.parametrize("data", [b"", b"hello, this is not a calendar", b"<html><body>Not found</body></html>"])
def test_something_that_is_not_a_calendar_is_an_error(source, data):
    report = run_import(source, data)
    assert report.status == "error"
    assert report.error in ("the file is empty",
                            "this is not an iCalendar file: it has no BEGIN:VCALENDAR or BEGIN:VEVENT")


# --- Clients -------------------------------------------------------------------------------------


def clients() -> list[Client]:
    db.session.expire_all()
    return list(db.session.scalars(select(Client).order_by(Client.id)))


def test_clients_are_read_from_summary_and_phone_numbers_in_local_and_international_form(source):
    run_import(source, vcalendar(
        vevent("p1", "DTSTART:20260305T150000Z", "SUMMARY:Anna Petrova - cleaning",
               "DESCRIPTION:Mobile: +7 912 345-67-89"),
        vevent("p2", "DTSTART:20260306T150000Z", "SUMMARY:Bob Stone: consultation",
               "DESCRIPTION:call (415) 555-0134 before"),
    ))
    assert [(c.full_name, c.phone) for c in clients()] == [("Anna Petrova", "+79123456789"),
                                                           ("Bob Stone", "+14155550134")]
    assert [v.client.full_name for v in appointments(source)] == ["Anna Petrova", "Bob Stone"]


def test_of_several_numbers_the_clients_own_mobile_is_taken_never_an_emergency_contacts(source):
    """Intake forms list a home line, a mobile and someone to call in an emergency, in any order."""
    run_import(source, vcalendar(
        vevent("h1", "DTSTART:20260305T150000Z", "SUMMARY:Ingrid Svensson - cleaning",
               r"DESCRIPTION:Emergency contact phone: (646) 555-0199\nHome phone: (212) 555-0142\n"
               r"Cell: (646) 555-0143"),
        vevent("h2", "DTSTART:20260306T150000Z", "SUMMARY:Olaf Berg - cleaning",
               r"DESCRIPTION:Emergency contact: Lars Berg (brother) 415-555-0188\nFax: 415-555-0100"),
        # the label is what is said last: this is Daniel's mobile, not the GP's
        vevent("h3", "DTSTART:20260307T150000Z", "SUMMARY:Intake - Daniel Kim",
               "DESCRIPTION:Referred by GP. Mob: 415-555-0166"),
    ))
    assert [(c.full_name, c.phone) for c in clients()] == [("Ingrid Svensson", "+16465550143"),
                                                           ("Olaf Berg", None), ("Daniel Kim", "+14155550166")]
    ingrid = appointments(source)[0]
    assert ingrid.why["phone"] == {"source": "description", "detail": "Cell"}


def test_clients_are_deduplicated_by_phone_then_email_and_missing_fields_filled_in(source, make, practitioner):
    existing = make.client(practitioner.practice, full_name="Cara Lee", phone="+14155550177", email=None)
    run_import(source, vcalendar(
        vevent("d1", "DTSTART:20260305T150000Z", "SUMMARY:Cara - x-ray",
               "DESCRIPTION:415.555.0177 / cara@example.com"),
        vevent("d2", "DTSTART:20260306T150000Z", "SUMMARY:Unknown caller", "DESCRIPTION:CARA@example.com"),
        vevent("d3", "DTSTART:20260307T150000Z", "SUMMARY:Dan Moss - cleaning",
               "DESCRIPTION:+1 (415) 555 0166"),
        vevent("d4", "DTSTART:20260308T150000Z", "SUMMARY:Dan Moss - follow-up", "DESCRIPTION:4155550166"),
    ))
    assert [(c.id == existing.id, c.full_name, c.phone, c.email) for c in clients()] == [
        (True, "Cara Lee", "+14155550177", "cara@example.com"),  # the name is kept, the e-mail filled in
        (False, "Dan Moss", "+14155550166", None),
    ]
    visits = appointments(source)
    assert [v.client_id for v in visits] == [existing.id, existing.id, visits[2].client_id, visits[2].client_id]


def test_attendee_is_the_client_but_organizer_and_practitioner_are_not(source):
    run_import(source, vcalendar(vevent(
        "a1", "DTSTART:20260305T150000Z", "SUMMARY:Appointment",
        "ORGANIZER;CN=Front Desk:mailto:desk@practice.example",
        "ATTENDEE;CN=Front Desk:mailto:desk@practice.example",
        "ATTENDEE;CN=Dr. Glen Gorab:mailto:glen@example.com",
        'ATTENDEE;CN="Maria Lopez";ROLE=REQ-PARTICIPANT:mailto:Maria.Lopez@example.org',
        "DESCRIPTION:Practice line +1 202 555 0100",
    )))
    assert [(c.full_name, c.email, c.phone) for c in clients()] == [("Maria Lopez", "maria.lopez@example.org", None)]


@pytest.mark.parametrize(("summary_format", "summary", "name"), [
    ("auto", "Nina Kovacs - cleaning", "Nina Kovacs"),
    ("auto", "New Patient - cleaning", None),
    ("auto", "cleaning - Nina Kovacs", "Nina Kovacs"),  # the lexicon knows Nina: the client after the dash
    ("service - name", "cleaning - Nina Kovacs", "Nina Kovacs"),
    ("name - service", "nina kovacs - cleaning", "Nina Kovacs"),  # typed in small letters, kept with capitals
    ("name", "Nina Kovacs", "Nina Kovacs"),
])
def test_names_from_the_summary_follow_the_calendars_habit(source, summary_format, summary, name):
    source.summary_format = summary_format
    db.session.commit()
    run_import(source, vcalendar(vevent("n1", "DTSTART:20260305T150000Z", f"SUMMARY:{summary}")))
    assert [c.full_name for c in clients()] == ([name] if name else [])


def test_visits_without_a_recognisable_client_need_attention(source):
    report = run_import(source, vcalendar(
        vevent("consult", "DTSTART:20260305T170000Z", "SUMMARY:Consultation"),
        vevent("known", "DTSTART:20260305T150000Z", "SUMMARY:Omar Haddad - cleaning"),
        vevent("lunch", "DTSTART:20260305T180000Z", "SUMMARY:Lunch"),
    ))
    assert (report.created, report.needs_attention) == (3, 1)
    known, consult, lunch = appointments(source)
    assert (consult.client_id, consult.needs_attention) == (None, True)
    assert (known.needs_attention, known.client.full_name) == (False, "Omar Haddad")
    # Lunch is no visit: it has no client and needs none.
    assert (lunch.client_id, lunch.needs_attention, lunch.why["not_a_visit"]) == (
        None, False, {"source": "title", "detail": "Lunch"})


# --- Where the visit happens ----------------------------------------------------------------------


@pytest.mark.parametrize(("location", "at_client_place"), [
    (None, False),
    ("", False),
    ("Office", False),
    ("Room 3", False),
    (PRACTICE_ADDRESS, False),
    ("100 Main St", False),
    ("https://zoom.us/j/123456", False),
    ("Zoom", False),
    ("12 Oak Street, Springfield", True),
    ("Client: her flat", True),
    ("At client's home", True),
    ("ул. Ленина, д. 5, кв. 12", True),
])
def test_location_says_whether_the_visit_is_at_the_clients_place(location, at_client_place):
    assert is_at_client_place(location, PRACTICE_ADDRESS) is at_client_place


def test_imported_visit_at_a_street_address_is_at_the_clients_place(source):
    run_import(source, vcalendar(
        vevent("home", "DTSTART:20260305T150000Z", "SUMMARY:Pia Holm", "LOCATION:12 Oak Street\\, Springfield"),
        vevent("here", "DTSTART:20260306T150000Z", "SUMMARY:Pia Holm", "LOCATION:100 Main Street\\, Springfield"),
    ))
    assert [v.at_client_place for v in appointments(source)] == [True, False]


def test_every_file_leaves_an_import_run(source):
    run_import(source, vcalendar(vevent("r1", "DTSTART:20260305T150000Z", "SUMMARY:x")))
    run_import(source, b"not a calendar")
    runs = list(db.session.scalars(select(ImportRun).where(ImportRun.source_id == source.id).order_by(ImportRun.id)))
    assert [(run.status, run.report["status"], run.filename) for run in runs] == [
        ("imported", "imported", "visits.ics"), ("error", "error", "visits.ics")]


def test_an_import_is_not_stored_until_the_caller_commits(source):
    """The file's savepoint nests inside the caller's transaction on SQLite too, so a rollback undoes it all."""
    report = ics_import.import_calendar(db.session, source, vcalendar(vevent("uncommitted@x",
                                        "DTSTART:20260401T150000Z", "SUMMARY:Anna Petrova")), "a.ics", now=NOW)
    assert report.created == 1
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 0
    assert db.session.scalar(select(func.count()).select_from(ImportRun)) == 0
