"""Re-imports parse only what changed, and end exactly where a full import of every file would.

Two calendar sources of one practitioner are given the same sequence of
generated files (visits kept, moved, cancelled, removed and added; a series'
overrides changed without its master; every DTSTAMP new on each download;
now and then an event given twice, or one far outside the window). One
imports as the product does, parsing only the events whose fingerprint
changed; the other forgets its event fingerprints before every import, so it
parses every file in full. Their appointments and reports must agree.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from outreach.extensions import db
from outreach.models import Appointment, CalendarEventFingerprint, Client
from outreach.services.ics_import import import_calendar
from outreach.services.ics_import.context import IMPORTER_VERSION
from tests.test_import_properties import NOW, Visit, visits

INCREMENTAL_SETTINGS = settings(max_examples=30, deadline=None,
                                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
UIDS = "abcdefghij"


@dataclasses.dataclass(frozen=True)
class Download:
    visits: tuple[Visit, ...]
    stamp: str  # every event's DTSTAMP: a new one on each download, as Google's feeds do
    doubled: str | None  # the UID of a visit written twice (another version first), if any
    doubled_stamp: str = "20250101T000000Z"  # the other version's DTSTAMP: older or newer, it decides

    def ics(self) -> bytes:
        body = ""
        for visit in self.visits:
            text = visit.ics().replace("DTSTAMP:20260101T000000Z", f"DTSTAMP:{self.stamp}")
            if visit.uid == self.doubled:
                other = dataclasses.replace(visit, hour=visit.hour - 1 if visit.hour > 8 else visit.hour + 1)
                body += other.ics().replace("DTSTAMP:20260101T000000Z", f"DTSTAMP:{self.doubled_stamp}")
            body += text
        return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//outreach incremental//EN\r\n" + body
                + "END:VCALENDAR\r\n").encode()


@st.composite
def far_or_near_visit(draw, uid: str) -> Visit:
    visit = draw(visits(uid))
    if visit.frequency is None and draw(st.integers(0, 4)) == 0:
        # Far outside the window (26 weeks ahead, two years back): not parsed at all.
        visit = dataclasses.replace(visit, day=draw(st.sampled_from([400, -900])))
    return visit


@st.composite
def changed(draw, visit: Visit) -> Visit:
    """The same visit after a change on the practitioner's side."""
    change = draw(st.sampled_from(["move", "cancel", "override", "replace"]))
    if change == "move":
        return dataclasses.replace(visit, hour=draw(st.integers(8, 17)), day=draw(st.integers(0, 40)))
    if change == "cancel":
        return dataclasses.replace(visit, cancelled=not visit.cancelled)
    if change == "override" and visit.frequency:  # only the series' overrides change, not its master
        kept = [n for n in range(1, visit.count) if n not in visit.excluded]
        return dataclasses.replace(visit, moved=draw(st.none() | st.sampled_from(kept)) if kept else None,
                                   cancelled_occurrence=None)
    return draw(far_or_near_visit(visit.uid))


@st.composite
def downloads(draw) -> list[Download]:
    first = {uid: draw(far_or_near_visit(uid)) for uid in draw(st.sets(st.sampled_from(UIDS), min_size=1,
                                                                          max_size=6))}
    result = [first]
    for _ in range(draw(st.integers(1, 4))):
        current = dict(result[-1])
        for uid in sorted(current):
            action = draw(st.sampled_from(["keep", "keep", "keep", "change", "remove"]))
            if action == "change":
                current[uid] = draw(changed(current[uid]))
            elif action == "remove":
                del current[uid]
        for uid in draw(st.sets(st.sampled_from(UIDS), max_size=2)):
            current.setdefault(uid, draw(far_or_near_visit(uid)))
        result.append(current)
    doubled = draw(st.none() | st.sampled_from(UIDS))  # the same one throughout, so its stamps can swap
    return [Download(visits=tuple(calendar[uid] for uid in sorted(calendar)), stamp=f"2026030{step}T0{step}0000Z",
                     doubled=doubled, doubled_stamp=draw(st.sampled_from(["20250101T000000Z", "20270101T000000Z"])))
            for step, calendar in enumerate(result)]


@pytest.fixture
def practitioner(make):
    return make.practitioner(make.practice(timezone="America/New_York"))


def rows(source) -> list[tuple]:
    db.session.expire_all()
    return [
        (a.uid, a.recurrence_id, a.starts_at, a.ends_at, a.all_day, a.status, a.summary, a.sequence, a.content_hash,
         a.needs_attention, a.cancelled_at, a.original_tz, name)
        for a, name in db.session.execute(
            select(Appointment, Client.full_name).outerjoin(Client, Client.id == Appointment.client_id)
            .where(Appointment.source_id == source.id).order_by(Appointment.uid, Appointment.recurrence_id))
    ]


def import_into(source, data: bytes, now: dt.datetime, cancel_vanished: bool) -> dict:
    report = import_calendar(db.session, source, data, "download.ics", now=now, cancel_vanished=cancel_vanished)
    db.session.commit()
    figures = report.as_json() | {"changed": len(report.changed_appointment_ids)}
    return {key: figures[key] for key in ("status", "occurrences", "created", "updated", "cancelled", "unchanged",
                                          "skipped", "needs_attention", "changed")}


def forget_event_fingerprints(source) -> None:
    db.session.execute(delete(CalendarEventFingerprint).where(CalendarEventFingerprint.source_id == source.id))
    source.event_fingerprints_basis = None
    db.session.commit()


@INCREMENTAL_SETTINGS
@given(sequence=downloads(), cancel_vanished=st.booleans())
def test_incremental_and_full_imports_agree_over_any_sequence_of_downloads(make, practitioner, sequence,
                                                                          cancel_vanished):
    incremental, full = make.source(practitioner, kind="feed"), make.source(practitioner, kind="feed")
    for step, download in enumerate(sequence):
        now = NOW + dt.timedelta(hours=step)
        data = download.ics()
        by_changes = import_into(incremental, data, now, cancel_vanished)
        forget_event_fingerprints(full)
        in_full = import_into(full, data, now, cancel_vanished)
        assert by_changes == in_full, f"step {step}"
        assert rows(incremental) == rows(full), f"step {step}"


def test_a_new_dtstamp_on_every_event_parses_only_the_moved_one(make, practitioner):
    source = make.source(practitioner, kind="feed")
    calendar = [Visit(uid=uid, day=day, hour=10, frequency=None, count=1, excluded=frozenset(), moved=None,
                      cancelled_occurrence=None, cancelled=False) for day, uid in enumerate(UIDS)]
    first = import_into(source, Download(tuple(calendar), "20260301T000000Z", None).ics(), NOW, True)
    assert first["created"] == len(UIDS)
    calendar[3] = dataclasses.replace(calendar[3], hour=15)
    again = import_into(source, Download(tuple(calendar), "20260302T000000Z", None).ics(), NOW, True)
    assert (again["updated"], again["unchanged"], again["occurrences"]) == (1, len(UIDS) - 1, len(UIDS))
    stored = db.session.scalars(select(CalendarEventFingerprint).where(
        CalendarEventFingerprint.source_id == source.id)).all()
    assert sorted(row.uid for row in stored) == sorted(UIDS)


def test_an_event_removed_from_a_feed_is_cancelled_and_forgotten(make, practitioner):
    source = make.source(practitioner, kind="feed")
    calendar = [Visit(uid=uid, day=day + 1, hour=10, frequency=None, count=1, excluded=frozenset(), moved=None,
                      cancelled_occurrence=None, cancelled=False) for day, uid in enumerate("abc")]
    import_into(source, Download(tuple(calendar), "20260301T000000Z", None).ics(), NOW, True)
    report = import_into(source, Download(tuple(calendar[:2]), "20260302T000000Z", None).ics(), NOW, True)
    assert (report["cancelled"], report["unchanged"]) == (1, 2)
    assert [status for uid, _, _, _, _, status, *_ in rows(source)] == ["confirmed", "confirmed", "cancelled"]
    stored = db.session.scalars(select(CalendarEventFingerprint.uid).where(
        CalendarEventFingerprint.source_id == source.id)).all()
    assert sorted(stored) == ["a", "b"]


def test_a_new_importer_version_reads_every_event_again(make, practitioner, monkeypatch):
    source = make.source(practitioner, kind="feed")
    calendar = tuple(Visit(uid=uid, day=1, hour=10 + n, frequency=None, count=1, excluded=frozenset(), moved=None,
                           cancelled_occurrence=None, cancelled=False) for n, uid in enumerate("ab"))
    import_into(source, Download(calendar, "20260301T000000Z", None).ics(), NOW, True)
    monkeypatch.setattr("outreach.services.ics_import.context.IMPORTER_VERSION", IMPORTER_VERSION + 1)
    report = import_into(source, Download(calendar, "20260302T000000Z", None).ics(), NOW, True)
    # Read again under the new rules: every content hash changes, so every visit is rewritten.
    assert (report["updated"], report["unchanged"]) == (2, 0)


def test_when_an_event_is_given_twice_its_stamps_decide_and_are_watched(make, practitioner):
    source = make.source(practitioner, kind="feed")
    visit = Visit(uid="twice", day=1, hour=10, frequency=None, count=1, excluded=frozenset(), moved=None,
                  cancelled_occurrence=None, cancelled=False)
    older_first = Download((visit,), "20260301T000000Z", "twice", doubled_stamp="20250101T000000Z")
    import_into(source, older_first.ics(), NOW, True)
    assert [starts_at.hour for _, _, starts_at, *_ in rows(source)] == [15]  # 10:00 in New York
    # The same texts, but now the other version carries the newer DTSTAMP: it wins.
    newer_first = dataclasses.replace(older_first, doubled_stamp="20270101T000000Z")
    report = import_into(source, newer_first.ics(), NOW, True)
    assert report["updated"] == 1
    assert [starts_at.hour for _, _, starts_at, *_ in rows(source)] == [14]


def test_an_event_that_turned_unreadable_then_left_the_feed_is_cancelled(make, practitioner):
    source = make.source(practitioner, kind="feed")
    visit = Visit(uid="x", day=2, hour=10, frequency=None, count=1, excluded=frozenset(), moved=None,
                  cancelled_occurrence=None, cancelled=False)
    kept = dataclasses.replace(visit, uid="k", hour=12)
    good = Download((kept, visit), "20260301T000000Z", None).ics()
    assert import_into(source, good, NOW, True)["created"] == 2
    broken = good.replace(b"DTSTART;TZID=America/New_York:20260305T100000", b"DTSTART:not-a-date")
    report = import_into(source, broken, NOW, True)
    assert (report["cancelled"], len(report["skipped"])) == (0, 1)  # left alone: its absence proves nothing
    gone = Download((kept,), "20260302T000000Z", None).ics()
    assert import_into(source, gone, NOW, True)["cancelled"] == 1
    assert [(uid, status) for uid, _, _, _, _, status, *_ in rows(source)] == [("k", "confirmed"),
                                                                            ("x", "cancelled")]


def test_a_wider_window_reads_again_the_events_it_now_reaches(make, practitioner):
    source = make.source(practitioner, kind="file")
    near = Visit(uid="near", day=1, hour=10, frequency=None, count=1, excluded=frozenset(), moved=None,
                 cancelled_occurrence=None, cancelled=False)
    far = dataclasses.replace(near, uid="far", day=400)  # beyond the default 26 weeks: not even parsed
    data = Download((near, far), "20260301T000000Z", None).ics()
    assert import_into(source, data, NOW, False)["created"] == 1
    report = import_calendar(db.session, source, data.replace(b"20260301T000000Z", b"20260302T000000Z"),
                             "download.ics", now=NOW, window_end=dt.date(2027, 12, 31))
    db.session.commit()
    assert (report.created, report.unchanged) == (1, 1)


def test_a_new_summary_format_reads_every_event_again(make, practitioner):
    source = make.source(practitioner, kind="feed")
    calendar = tuple(Visit(uid=uid, day=1, hour=10 + n, frequency=None, count=1, excluded=frozenset(), moved=None,
                           cancelled_occurrence=None, cancelled=False) for n, uid in enumerate("ab"))
    import_into(source, Download(calendar, "20260301T000000Z", None).ics(), NOW, True)
    source.summary_format = "service - name"
    db.session.commit()
    report = import_into(source, Download(calendar, "20260302T000000Z", None).ics(), NOW, True)
    assert (report["updated"], report["unchanged"]) == (2, 0)


def test_a_uid_written_two_ways_is_read_whole(make, practitioner):
    """An override whose UID line has a parameter is always parsed; its series then is too."""
    source = make.source(practitioner, kind="feed")

    def download(stamp: str, moved_hour: int) -> bytes:
        return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\n"
                f"BEGIN:VEVENT\r\nUID:series\r\nDTSTAMP:{stamp}\r\nDTSTART;TZID=America/New_York:20260303T100000\r\n"
                "DURATION:PT45M\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nSUMMARY:Client S - visit\r\nEND:VEVENT\r\n"
                f"BEGIN:VEVENT\r\nUID;X-SOURCE=crm:series\r\nDTSTAMP:{stamp}\r\n"
                "RECURRENCE-ID;TZID=America/New_York:20260310T100000\r\n"
                f"DTSTART;TZID=America/New_York:20260310T{moved_hour:02d}0000\r\nDURATION:PT45M\r\n"
                "SUMMARY:Client S - visit\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()

    assert import_into(source, download("20260301T000000Z", 12), NOW, True)["created"] == 3
    again = import_into(source, download("20260302T000000Z", 12), NOW, True)
    assert (again["unchanged"], again["updated"], again["cancelled"]) == (3, 0, 0)
    moved = import_into(source, download("20260303T000000Z", 14), NOW, True)
    assert (moved["unchanged"], moved["updated"]) == (2, 1)


def test_a_resync_keeps_the_layout_learned_from_the_whole_calendar_and_says_from_how_many_titles(make,
                                                                                             practitioner):
    source = make.source(practitioner, kind="feed")
    people = ["Anna Petrova", "Boris Smith", "Chloe Garcia", "David Nguyen", "Elena Ivanova", "Farid Haddad"]

    def download(stamp: str, moved: str | None = None) -> bytes:
        events = "".join(
            f"BEGIN:VEVENT\r\nUID:visit-{n}\r\nDTSTAMP:{stamp}\r\n"
            f"DTSTART;TZID=America/New_York:202603{10 + n}T{'15' if name == moved else '10'}0000\r\n"
            f"DURATION:PT45M\r\nSUMMARY:{name} - cleaning\r\nDESCRIPTION:Phone: (415) 555-01{n:02d}\r\nEND:VEVENT\r\n"
            for n, name in enumerate(people))
        return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\n{events}END:VCALENDAR\r\n".encode()

    assert import_into(source, download("20260301T000000Z"), NOW, True)["created"] == 6
    assert (source.learned_summary_format, source.learned_summary_evidence) == ("name - service", 6)
    # One title read again is too few to learn from: the six it was learned from still stand behind it.
    report = import_into(source, download("20260302T000000Z", moved="Chloe Garcia"), NOW, True)
    assert (report["updated"], report["unchanged"]) == (1, 5)
    moved = db.session.scalars(select(Appointment).where(Appointment.source_id == source.id,
                                                         Appointment.uid == "visit-2")).one()
    assert moved.why["layout"] == {"source": "learned", "detail": "name - service", "titles": 6}
