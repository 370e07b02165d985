"""Properties of the importer over generated calendars (hypothesis).

A generated calendar is a handful of visits: single ones and daily or weekly
series with EXDATEs, a moved occurrence and a cancelled one. Whatever it
holds, importing it counts every occurrence once, importing it again changes
nothing, and cancelling then restoring every visit round-trips.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from outreach.extensions import db
from outreach.models import Appointment
from outreach.services.ics_import import import_calendar

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
FIRST_DAY = dt.date(2026, 3, 3)
# Each example uses a calendar source of its own, so sharing the function-scoped fixtures is safe.
PROPERTY_SETTINGS = settings(max_examples=20, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])


@dataclass(frozen=True)
class Visit:
    uid: str
    day: int  # days after FIRST_DAY
    hour: int
    frequency: str | None  # None, "DAILY" or "WEEKLY"
    count: int
    excluded: frozenset[int]  # occurrence numbers removed by EXDATE (never the first)
    moved: int | None  # occurrence number moved two hours later by an override
    cancelled_occurrence: int | None  # occurrence number cancelled by an override
    cancelled: bool  # the whole visit (or series) has STATUS:CANCELLED

    def start(self, number: int = 0) -> dt.datetime:
        step = dt.timedelta(days=1 if self.frequency == "DAILY" else 7) * number
        return dt.datetime.combine(FIRST_DAY + dt.timedelta(days=self.day), dt.time(self.hour)) + step

    @property
    def occurrences(self) -> int:
        return self.count - len(self.excluded) if self.frequency else 1

    def ics(self) -> str:
        lines = [f"UID:{self.uid}", f"DTSTART;TZID=America/New_York:{self.start():%Y%m%dT%H%M%S}",
                 "DURATION:PT45M", f"SUMMARY:Client {self.uid.upper()} - visit",
                 f"STATUS:{'CANCELLED' if self.cancelled else 'CONFIRMED'}"]
        overrides = []
        if self.frequency:
            lines.append(f"RRULE:FREQ={self.frequency};COUNT={self.count}")
            lines += [f"EXDATE;TZID=America/New_York:{self.start(n):%Y%m%dT%H%M%S}" for n in sorted(self.excluded)]
            if self.moved is not None:
                overrides.append(self.override(self.moved, self.start(self.moved) + dt.timedelta(hours=2), "CONFIRMED"))
            if self.cancelled_occurrence is not None:
                overrides.append(self.override(self.cancelled_occurrence, self.start(self.cancelled_occurrence),
                                               "CANCELLED"))
        return event(lines) + "".join(overrides)

    def override(self, number: int, start: dt.datetime, status: str) -> str:
        return event([f"UID:{self.uid}", f"RECURRENCE-ID;TZID=America/New_York:{self.start(number):%Y%m%dT%H%M%S}",
                      f"DTSTART;TZID=America/New_York:{start:%Y%m%dT%H%M%S}", "DURATION:PT45M", "SEQUENCE:1",
                      f"SUMMARY:Client {self.uid.upper()} - visit",
                      f"STATUS:{'CANCELLED' if self.cancelled else status}"])


def event(lines: list[str]) -> str:
    return "BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\n" + "\r\n".join(lines) + "\r\nEND:VEVENT\r\n"


@st.composite
def visits(draw, uid: str) -> Visit:
    frequency = draw(st.sampled_from([None, "DAILY", "WEEKLY"]))
    count = draw(st.integers(2, 6)) if frequency else 1
    later = list(range(1, count))
    excluded = frozenset(draw(st.sets(st.sampled_from(later), max_size=count - 1))) if later else frozenset()
    kept = [n for n in later if n not in excluded]
    moved = draw(st.none() | st.sampled_from(kept)) if kept else None
    left = [n for n in kept if n != moved]
    cancelled_occurrence = draw(st.none() | st.sampled_from(left)) if left else None
    return Visit(uid=uid, day=draw(st.integers(0, 40)), hour=draw(st.integers(8, 17)), frequency=frequency,
                 count=count, excluded=excluded, moved=moved, cancelled_occurrence=cancelled_occurrence,
                 cancelled=draw(st.booleans()))


calendars = st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=6, unique=True).flatmap(
    lambda uids: st.tuples(*(visits(uid) for uid in uids))
)


def ics(calendar: tuple[Visit, ...]) -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//outreach properties//EN\r\n"
            + "".join(visit.ics() for visit in calendar) + "END:VCALENDAR\r\n").encode()


@pytest.fixture
def practitioner(make):
    return make.practitioner(make.practice(timezone="America/New_York"))


def import_into(source, data: bytes):
    report = import_calendar(db.session, source, data, "generated.ics", now=NOW)
    db.session.commit()
    return report


def rows(source) -> list[tuple[str, str, dt.datetime, str]]:
    db.session.expire_all()
    return [(a.uid, a.recurrence_id, a.starts_at, a.status) for a in db.session.scalars(
        select(Appointment).where(Appointment.source_id == source.id).order_by(Appointment.uid,
                                                                               Appointment.recurrence_id))]


@PROPERTY_SETTINGS
@given(calendar=calendars)
def test_every_occurrence_is_counted_once(make, practitioner, calendar):
    source = make.source(practitioner)
    report = import_into(source, ics(calendar))
    expected = sum(visit.occurrences for visit in calendar)
    assert report.status == "imported" and report.skipped == []
    assert report.occurrences == expected == len(rows(source))
    assert report.created + report.cancelled == expected
    cancelled = sum(visit.occurrences if visit.cancelled else visit.cancelled_occurrence is not None
                    for visit in calendar)
    assert report.cancelled == cancelled == sum(status == "cancelled" for *_, status in rows(source))
    assert len(set(report.changed_appointment_ids)) == expected


@PROPERTY_SETTINGS
@given(calendar=calendars)
def test_importing_again_changes_nothing(make, practitioner, calendar):
    source = make.source(practitioner)
    data = ics(calendar)
    first = import_into(source, data)
    before = rows(source)
    for again in (import_into(source, data), import_into(source, data.replace(b"\r\n", b"\n"))):
        assert (again.created, again.updated, again.cancelled) == (0, 0, 0)
        assert again.unchanged == first.occurrences
        assert again.changed_appointment_ids == []
    assert rows(source) == before


@PROPERTY_SETTINGS
@given(calendar=calendars)
def test_cancelling_everything_and_restoring_it_round_trips(make, practitioner, calendar):
    source = make.source(practitioner)
    import_into(source, ics(calendar))
    original = rows(source)
    live = sum(status != "cancelled" for *_, status in original)

    cancelled = import_into(source, ics(tuple(replace(visit, cancelled=True) for visit in calendar)))
    assert cancelled.cancelled == live
    assert {status for *_, status in rows(source)} == {"cancelled"}

    restored = import_into(source, ics(calendar))
    assert (restored.updated, restored.cancelled, restored.created) == (live, 0, 0)
    assert rows(source) == original
