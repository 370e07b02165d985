"""Importing appointment calendars (.ics files and feed downloads) as appointments.

One file goes through five steps, each bounded so that a hostile or broken
file ends in a clear message instead of a crash, a hang or a memory blow-up:

1. read: size cap, byte-level unfolding (a fold may split a UTF-8 sequence),
   decoding (UTF-8, else Windows-1252/Latin-1), line-length cap;
2. split: the file's top-level structure (VCALENDARs, or bare VEVENTs) with a
   nesting cap, so that icalendar then parses every VEVENT and VTIMEZONE on
   its own and one broken component never sinks the file;
3. events: repaired where the intent is clear (DTEND before DTSTART, a
   negative DURATION, an empty EXDATE), skipped with a reason where it is not
   (no DTSTART, unreadable RRULE); UIDs derived where missing; floating times
   and TZIDs nobody defines placed in the calendar's X-WR-TIMEZONE, else the
   practice's zone (with x-wr-timezone's walker); duplicates resolved
   (highest SEQUENCE, then latest LAST-MODIFIED/DTSTAMP, then the later one);
4. expansion: recurring-ical-events, series by series, in chunks small enough
   that no chunk can hold much more than the per-series cap;
5. apply: inside one SAVEPOINT; rows compared by content hash, new rows
   inserted and changed rows updated in bulk, occurrences that vanished
   cancelled.

An unchanged re-import costs almost nothing: a file identical to the source's
last import (same bytes, window and settings, and no appointment rows
removed since) is recognised by its fingerprint before parsing.

No Flask here: callers pass the SQLAlchemy session and commit.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import re
import threading
import time
import warnings
import zoneinfo
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import icalendar
import recurring_ical_events
import x_wr_timezone
from icalendar.timezone import tzp
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from outreach.models import Appointment, CalendarSource, ImportRun, Practitioner
from outreach.services import phones, recurrence_limits
from outreach.services.client_matching import (
    SUMMARY_FORMATS,
    Attendee,
    ClientDirectory,
    ClientFacts,
    PractitionerIdentity,
    attendees_from,
    extract_client,
)

logger = logging.getLogger(__name__)

# Part of every file's fingerprint and content hash: raise it when the import
# rules change, so that the next import of an unchanged file applies them.
IMPORTER_VERSION = 1

DEFAULT_WINDOW_PAST = dt.timedelta(weeks=104)
DEFAULT_WINDOW_FUTURE = dt.timedelta(weeks=26)
UPLOADED_FILES_SOURCE_NAME = "Uploaded files"
# A report lists at most this many skipped events, then says how many more there were.
MAX_SKIPPED_LISTED = 200

_UID_MAX_LENGTH = 500  # Appointment.uid
_TZ_NAME_MAX_LENGTH = 100  # Appointment.original_tz
_RECURRENCE_ID_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class ImportLimits:
    max_bytes: int = 20 * 1024 * 1024
    max_occurrences_per_series: int = 2000
    time_limit_seconds: float = 120.0
    feed_timeout_seconds: float = 20.0
    # No real calendar has a content line this long; a DESCRIPTION with an inline image stays well below.
    max_line_bytes: int = 1024 * 1024
    # VCALENDAR > VEVENT > VALARM is three deep; ten leaves room for vendor components.
    max_nesting: int = 10
    # How many repetitions a rule may run through before the window starts: past
    # this, a series like "every second since 2001" is skipped, not counted through.
    max_repetitions_before_window: int = 200_000

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ImportLimits:
        """The limits set in the app's configuration (IMPORT_*, FEED_TIMEOUT_SECONDS)."""
        defaults = cls()
        return cls(
            max_bytes=int(config.get("IMPORT_MAX_BYTES", defaults.max_bytes)),
            max_occurrences_per_series=int(
                config.get("IMPORT_MAX_OCCURRENCES_PER_SERIES", defaults.max_occurrences_per_series)
            ),
            time_limit_seconds=float(config.get("IMPORT_TIME_LIMIT_SECONDS", defaults.time_limit_seconds)),
            feed_timeout_seconds=float(config.get("FEED_TIMEOUT_SECONDS", defaults.feed_timeout_seconds)),
        )


@dataclass
class ImportReport:
    """What importing one file (or one feed download) did; `as_json()` is what staff and scripts see."""

    file: str
    status: str = "imported"  # "imported" | "error" | "not_modified" (feeds)
    error: str | None = None
    occurrences: int = 0  # occurrences starting inside the window
    created: int = 0
    updated: int = 0  # includes occurrences that were cancelled and came back
    cancelled: int = 0  # newly cancelled: STATUS:CANCELLED, or vanished from the data
    unchanged: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    needs_attention: int = 0  # occurrences (not cancelled) whose client could not be recognised
    # Created, updated and cancelled appointments, for re-planning their texts.
    changed_appointment_ids: list[int] = field(default_factory=list)
    source_id: int | None = None

    JSON_KEYS = (
        "file", "status", "error", "occurrences", "created", "updated", "cancelled", "unchanged", "skipped",
        "needs_attention",
    )

    def as_json(self) -> dict[str, Any]:
        result = {key: getattr(self, key) for key in self.JSON_KEYS}
        result["skipped"] = [dict(item) for item in self.skipped]
        return result

    @classmethod
    def failed(cls, file: str, message: str, source_id: int | None = None) -> ImportReport:
        return cls(file=file, status="error", error=message, source_id=source_id)

    def skip(self, uid: str, reason: str) -> None:
        if len(self.skipped) < MAX_SKIPPED_LISTED:
            self.skipped.append({"uid": uid, "reason": reason})
        elif len(self.skipped) == MAX_SKIPPED_LISTED:
            self.skipped.append({"uid": "", "reason": "more events were skipped; only the first ones are listed"})


class ImportFailed(Exception):
    """The whole file cannot be imported; the message is meant for the staff member who sent it."""


def import_calendar(
    session: Session,
    source: CalendarSource,
    data: bytes,
    filename: str,
    *,
    window_start: dt.date | None = None,
    window_end: dt.date | None = None,
    now: dt.datetime,
    limits: ImportLimits = ImportLimits(),
    cancel_vanished: bool = False,
) -> ImportReport:
    """Imports one calendar file into `source`'s appointments and records an ImportRun.

    The window runs from the start of `window_start` to the end of
    `window_end` (both inclusive, in the practice's time zone); by default
    from two years before `now` to 26 weeks after. Only occurrences starting
    inside it are imported.

    All changes are made inside one SAVEPOINT: a file that fails leaves the
    database exactly as it was (apart from the ImportRun saying why). The
    caller commits.

    A previously imported occurrence of a UID in this file that no longer
    appears inside the window (removed by EXDATE, moved out) is cancelled.
    With `cancel_vanished` (feeds, which always carry the whole calendar)
    every future appointment of the source missing from the data is
    cancelled too; a file only speaks for the UIDs it contains.
    """
    fingerprint = rows_after = None
    # The run is written first: pysqlite opens a transaction only at the first
    # write, and without one the SAVEPOINT below would be the outermost
    # transaction, committed by its own RELEASE.
    run = ImportRun(practice_id=source.practice_id, source_id=source.id, filename=filename[:300], status="running",
                    report={}, created_at=now)
    session.add(run)
    session.flush()
    try:
        if problem := size_problem(len(data), limits):
            raise ImportFailed(problem)
        context = _ImportContext.of(source)
        window = ImportWindow.around(now, context.practice_tz, window_start, window_end)
        fingerprint = _fingerprint(data, window, context, limits, cancel_vanished)
        report = _report_if_already_imported(session, source, filename, fingerprint)
        if report is None:
            report = ImportReport(file=filename, source_id=source.id)
            deadline = _Deadline(limits.time_limit_seconds)
            calendars = _split(_read_text(data, limits), limits, deadline)
            events = _parse_events(calendars, context, report, deadline)
            found = _expand(events, window, context, limits, report, deadline)
            with session.begin_nested():
                rows_after = _apply(session, source, context, events, found, window, now, cancel_vanished, report,
                                    deadline)
        else:
            rows_after = report_rows(session, source)
    except ImportFailed as exc:
        report = ImportReport.failed(filename, str(exc), source.id)
    except Exception:
        # A bug or a database error must not take a batch of files down with it;
        # the savepoint has already undone this file's changes.
        logger.exception("importing %r into calendar source %s failed", filename, source.id)
        report = ImportReport.failed(
            filename, "the import failed unexpectedly (the error was logged); nothing was changed", source.id
        )
    run.status = report.status
    run.report = report.as_json()
    if report.status == "imported":
        run.report |= {"fingerprint": fingerprint, "rows": rows_after}
    return report


def record_import_run(session: Session, source: CalendarSource, report: ImportReport, now: dt.datetime,
                      **extra: Any) -> None:
    """Keeps the report for the sources page; `extra` facts are stored beside the report's own keys."""
    session.add(ImportRun(practice_id=source.practice_id, source_id=source.id, filename=report.file[:300],
                          status=report.status, report=report.as_json() | extra, created_at=now))


def size_problem(size: int, limits: ImportLimits) -> str | None:
    """Why a file of `size` bytes is refused before it is read, if it is."""
    if size > limits.max_bytes:
        return f"the file is {_megabytes(size)}, more than the {_megabytes(limits.max_bytes)} limit"
    return None


def uploaded_files_source(session: Session, practitioner: Practitioner) -> CalendarSource:
    """The practitioner's source for uploaded files, created on first use."""
    source = session.scalar(
        select(CalendarSource)
        .where(CalendarSource.practitioner_id == practitioner.id, CalendarSource.kind == "file")
        .order_by(CalendarSource.id)
        .limit(1)
    )
    if source is None:
        source = CalendarSource(practice_id=practitioner.practice_id, practitioner_id=practitioner.id, kind="file",
                                name=UPLOADED_FILES_SOURCE_NAME)
        session.add(source)
        session.flush()
    return source


def report_rows(session: Session, source: CalendarSource) -> int:
    """How many appointment rows the source has (part of telling an unchanged re-import)."""
    return session.scalar(select(func.count()).select_from(Appointment).where(Appointment.source_id == source.id))


# --- Where the import happens: the practice, its zone, the window ---------------------------------


@dataclass(frozen=True)
class _ImportContext:
    practice_id: int
    practitioner_id: int
    practice_tz: dt.tzinfo
    region: str
    summary_format: str
    practice_address: str | None
    practice_side: PractitionerIdentity

    @classmethod
    def of(cls, source: CalendarSource) -> _ImportContext:
        practitioner = source.practitioner
        practice = practitioner.practice
        try:
            practice_tz: dt.tzinfo = zoneinfo.ZoneInfo(practice.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            practice_tz = dt.UTC
        return cls(
            practice_id=practice.id,
            practitioner_id=practitioner.id,
            practice_tz=practice_tz,
            region=phones.region_for(practice.phone, practice.timezone),
            summary_format=source.summary_format if source.summary_format in SUMMARY_FORMATS else "auto",
            practice_address=practice.address,
            practice_side=PractitionerIdentity(
                emails=frozenset({practitioner.user.email.lower()}),
                phones=frozenset(p for p in (practice.phone, practitioner.phone) if p),
            ),
        )

    @property
    def key(self) -> list[Any]:
        """Everything about the context that changes what an event becomes."""
        return [IMPORTER_VERSION, self.practitioner_id, str(self.practice_tz), self.region, self.summary_format,
                self.practice_address, sorted(self.practice_side.emails), sorted(self.practice_side.phones)]


@dataclass(frozen=True)
class ImportWindow:
    """The span an import covers: the occurrences that start inside it are imported."""

    start: dt.datetime  # inclusive, aware, in the practice's zone
    end: dt.datetime  # exclusive

    @classmethod
    def around(cls, now: dt.datetime, tz: dt.tzinfo, first_day: dt.date | None,
               last_day: dt.date | None) -> ImportWindow:
        """From the start of `first_day` to the end of `last_day` in `tz`; by default around `now`."""
        today = now.astimezone(tz).date()
        first_day = first_day or today - DEFAULT_WINDOW_PAST
        last_day = last_day or today + DEFAULT_WINDOW_FUTURE
        if last_day < first_day:
            raise ImportFailed(f"the import window ends ({last_day}) before it starts ({first_day})")
        return cls(_local_midnight(first_day, tz), _local_midnight(last_day + dt.timedelta(days=1), tz))

    def contains(self, moment: dt.datetime) -> bool:
        return self.start <= moment < self.end


def _local_midnight(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=tz)


def _to_utc(value: dt.date | dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """An instant in UTC; dates are local midnight and floating times local time in `tz`."""
    if not isinstance(value, dt.datetime):
        return _local_midnight(value, tz).astimezone(dt.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(dt.UTC)


def _instant_key(value: dt.date | dt.datetime, tz: dt.tzinfo) -> str:
    """The identity of an occurrence inside its series: its original start in UTC, or the day for all-day ones."""
    if not isinstance(value, dt.datetime):
        return value.isoformat()
    return _to_utc(value, tz).strftime(_RECURRENCE_ID_FORMAT)


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def check(self, doing: str) -> None:
        if time.monotonic() > self._at:
            raise ImportFailed(
                f"importing took longer than {self.seconds:g} seconds (while {doing}); the file is too large or "
                "too complex to import at once"
            )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _fingerprint(data: bytes, window: ImportWindow, context: _ImportContext, limits: ImportLimits,
                 cancel_vanished: bool) -> str:
    facts = [hashlib.sha256(data).hexdigest(), window.start.isoformat(), window.end.isoformat(), context.key,
             limits.max_occurrences_per_series, cancel_vanished]
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()


def _report_if_already_imported(session: Session, source: CalendarSource, filename: str,
                                fingerprint: str) -> ImportReport | None:
    """The report of a no-op when this exact import already happened and nothing was removed since."""
    last = session.scalar(
        select(ImportRun.report)
        .where(ImportRun.source_id == source.id, ImportRun.status == "imported")
        .order_by(ImportRun.id.desc())
        .limit(1)
    )
    if not last or last.get("fingerprint") != fingerprint or last.get("rows") != report_rows(session, source):
        return None
    return ImportReport(file=filename, source_id=source.id, occurrences=last["occurrences"],
                        unchanged=last["occurrences"], skipped=last["skipped"],
                        needs_attention=last["needs_attention"])


# --- Step 1: bytes to text -------------------------------------------------------------------------

# A content line continues on the next line when that starts with a space or
# a tab (RFC 5545 3.1); some exporters put blank lines before the continuation.
_FOLD = re.compile(rb"\r?\n(?:\r?\n)*[ \t]")
_BOM = b"\xef\xbb\xbf"


def _read_text(data: bytes, limits: ImportLimits) -> str:
    data = data.removeprefix(_BOM)
    if not data.strip():
        raise ImportFailed("the file is empty")
    # Unfolding before decoding: exporters fold at 75 bytes, sometimes inside a multi-byte character.
    unfolded = _FOLD.sub(b"", data)
    longest = max(map(len, unfolded.splitlines()), default=0)
    if longest > limits.max_line_bytes:
        raise ImportFailed(
            f"the file has a line of {_megabytes(longest)} (at most {_megabytes(limits.max_line_bytes)} is "
            "accepted); this is not a calendar that can be imported"
        )
    for encoding in ("utf-8", "cp1252"):
        try:
            return unfolded.decode(encoding)
        except UnicodeDecodeError:
            continue
    return unfolded.decode("latin-1")  # every byte is a Latin-1 character


# --- Step 2: the file's structure ------------------------------------------------------------------

_LINE_BREAK = re.compile(r"\r?\n")


@dataclass
class _ComponentText:
    name: str
    first_line: int
    lines: list[str]

    def text(self) -> str:
        return "\r\n".join(self.lines) + "\r\n"

    def uid(self) -> str:
        """The UID written in the component, for reporting one icalendar could not parse."""
        for line in self.lines:
            if line[:4].upper() == "UID:":
                return line[4:].strip()
        return ""


@dataclass
class _CalendarText:
    header: list[str]  # the VCALENDAR's own properties (X-WR-TIMEZONE, METHOD, ...)
    components: list[_ComponentText]
    bare: bool = False  # components written without a VCALENDAR around them


def _split(text: str, limits: ImportLimits, deadline: _Deadline) -> list[_CalendarText]:
    """Cuts the text into calendars and their top-level components, each kept as its lines.

    Tolerates what real exports get wrong: a missing END:VCALENDAR, a stray or
    misspelt END line, text before or after the calendar, several calendars
    in one file, events without a calendar around them.
    """
    calendars: list[_CalendarText] = []
    open_names: list[str] = []
    component: _ComponentText | None = None  # the top-level component being collected
    component_depth = 0
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        if number % 10_000 == 0:
            deadline.check("reading the file")
        if not line.strip():
            continue
        keyword = line[:6].upper()
        if keyword == "BEGIN:":
            name = line[6:].strip().upper()
            open_names.append(name)
            if len(open_names) > limits.max_nesting:
                raise ImportFailed(
                    f"components are nested more than {limits.max_nesting} deep (line {number}); this is not a "
                    "calendar that can be imported"
                )
            if len(open_names) == 1 and name == "VCALENDAR":
                calendars.append(_CalendarText(header=[], components=[]))
            elif component is None and (len(open_names) == 1 or open_names[0] == "VCALENDAR"):
                if len(open_names) == 1 and not (calendars and calendars[-1].bare):
                    calendars.append(_CalendarText(header=[], components=[], bare=True))
                component = _ComponentText(name=name, first_line=number, lines=[])
                component_depth = len(open_names)
                calendars[-1].components.append(component)
            if component is not None:
                component.lines.append(line)
        elif keyword[:4] == "END:":
            name = line[4:].strip().upper()
            if name not in open_names:
                continue
            # Closes `name` and whatever the file left open inside it.
            while True:
                closed = open_names.pop()
                if component is not None:
                    component.lines.append(f"END:{closed}")
                    if len(open_names) < component_depth:
                        component = None
                if closed == name:
                    break
        elif component is not None:
            component.lines.append(line)
        elif open_names == ["VCALENDAR"]:
            calendars[-1].header.append(line)
    if component is not None:  # the file ended inside a component
        component.lines.extend(f"END:{name}" for name in reversed(open_names[component_depth - 1:]))
    if not any(not c.bare or any(comp.name == "VEVENT" for comp in c.components) for c in calendars):
        raise ImportFailed("this is not an iCalendar file: it has no BEGIN:VCALENDAR or BEGIN:VEVENT")
    return calendars


# --- Step 3: events --------------------------------------------------------------------------------

# icalendar keeps every VTIMEZONE it parses in one process-wide cache, keyed by
# TZID, and keeps the first definition of a name. Each file must be read with
# its own definitions ("Customized Time Zone" means something else in every
# Outlook export), so the cache is reset and files are parsed one at a time.
_PARSE_LOCK = threading.Lock()


@dataclass
class _EventInfo:
    """What one (repaired, standardised) VEVENT contributes to each of its occurrences."""

    uid: str
    recurrence_key: str  # "" unless the event has a RECURRENCE-ID
    original_tz: str | None
    summary: str | None
    description: str | None
    location: str | None
    status: str
    sequence: int
    stamp: dt.datetime | None  # LAST-MODIFIED or DTSTAMP, whichever is later
    position: int  # in the file, for telling apart duplicates that agree on everything else
    at_client_place: bool
    attendees: tuple[Attendee, ...]
    organizer: str | None
    content_hash: str
    _client: ClientFacts | None = None

    def client(self, context: _ImportContext) -> ClientFacts:
        """The client this event names, read only when the appointment is new or changed."""
        if self._client is None:
            self._client = extract_client(
                summary=self.summary, description=self.description, location=self.location,
                attendees=self.attendees, organizer=self.organizer, region=context.region,
                summary_format=context.summary_format, practice_side=context.practice_side,
            )
        return self._client


@dataclass
class _Events:
    """The usable events of a file after duplicates are resolved, and the UIDs it speaks for."""

    events: list[icalendar.Event]
    info: dict[int, _EventInfo]  # by id() of the event
    uids: set[str]
    # UIDs whose appointments must be left alone: the file mentions them but
    # they could not be (fully) worked out, so their absence proves nothing.
    protected_uids: set[str]

    def single_event_uids(self) -> set[str]:
        """UIDs with one plain event: their appointment's recurrence_id is ""."""
        count: dict[str, int] = defaultdict(int)
        repeating = set()
        for event in self.events:
            info = self.info[id(event)]
            count[info.uid] += 1
            if info.recurrence_key or "RRULE" in event or "RDATE" in event:
                repeating.add(info.uid)
        return {uid for uid, n in count.items() if n == 1 and uid not in repeating}


def _parse_events(calendars: list[_CalendarText], context: _ImportContext, report: ImportReport,
                  deadline: _Deadline) -> _Events:
    found: list[tuple[icalendar.Event, _EventInfo]] = []
    protected: set[str] = set()
    uids: set[str] = set()
    with _PARSE_LOCK, warnings.catch_warnings():
        # "/mozilla.org/20070129_1/Europe/Berlin" is taken to mean Europe/Berlin: that guess is what we want.
        warnings.simplefilter("ignore", icalendar.GloballyUniqueTZIDGuessed)
        icalendar.use_zoneinfo()  # resets icalendar's process-wide VTIMEZONE cache
        for calendar in calendars:
            for component in calendar.components:
                if component.name == "VTIMEZONE":
                    deadline.check("reading time zones")
                    try:
                        # Parsing registers the zone under its TZID for the events that follow.
                        icalendar.Component.from_ical(component.text())
                    except Exception:  # noqa: BLE001 - its TZID is then read as the IANA/Windows zone of that name
                        logger.info("ignoring an unreadable VTIMEZONE at line %s", component.first_line)
        for calendar in calendars:
            header = _calendar_header(calendar.header)
            floating_tz = _zone_named(header.get("X-WR-TIMEZONE")) or context.practice_tz
            cancelled_by_method = str(_first(header.get("METHOD")) or "").upper() == "CANCEL"
            holder = icalendar.Calendar()
            originals: list[tuple[str | None, int]] = []
            for component in calendar.components:
                if component.name != "VEVENT":
                    continue
                deadline.check("reading events")
                try:
                    event = icalendar.Component.from_ical(component.text())
                except Exception as exc:  # noqa: BLE001 - any parser failure means this one event is unreadable
                    uid = component.uid()
                    report.skip(uid, f"unreadable event (line {component.first_line}): {_short(exc)}")
                    protected.add(uid)
                    continue
                written_uid = str(_first(event.get("UID")) or "").strip()
                problem = _repair(event, floating_tz)
                uid = _event_uid(event)
                uids.add(uid)
                if problem:
                    # Without a UID of its own, the line tells staff which event it was.
                    report.skip(written_uid, problem if written_uid else f"{problem} (line {component.first_line})")
                    protected.add(uid)
                    continue
                if cancelled_by_method:
                    event["STATUS"] = "CANCELLED"
                originals.append((_zone_written(event), component.first_line))
                holder.add_component(event)
            standard = _FloatingTimesIn(floating_tz).walk(holder)
            for event, (original_tz, position) in zip(standard.subcomponents, originals, strict=True):
                found.append((event, _event_info(event, original_tz, position, floating_tz, context)))
    events = _resolve_duplicates(found)
    return _Events(events=[event for event, _ in events], info={id(event): info for event, info in events},
                   uids=uids, protected_uids=protected)


class _FloatingTimesIn(x_wr_timezone.CalendarWalker):
    """Gives floating times (and TZIDs nobody defines) the calendar's zone: X-WR-TIMEZONE, else the practice's.

    This is x-wr-timezone's walk over DTSTART, DTEND, RDATE, EXDATE and
    RECURRENCE-ID with one change: `to_standard` takes any time whose
    tzname() is None for floating, and zones built from a VTIMEZONE without
    TZNAME (as Outlook writes them) have none, so their times would be moved
    into the calendar's zone. Here floating means no tzinfo at all. UTC
    times stay UTC, which is the same instant.
    """

    def __init__(self, zone: dt.tzinfo) -> None:
        self.zone = zone

    def walk_value_datetime(self, value: dt.datetime) -> dt.datetime:
        return value.replace(tzinfo=self.zone) if value.tzinfo is None else value


def _calendar_header(lines: list[str]) -> icalendar.Calendar:
    try:
        return icalendar.Calendar.from_ical("BEGIN:VCALENDAR\r\n" + "\r\n".join(lines) + "\r\nEND:VCALENDAR\r\n")
    except Exception:  # noqa: BLE001 - a calendar whose own properties are broken still has usable events
        return icalendar.Calendar()


def _zone_named(value: Any) -> dt.tzinfo | None:
    """The zone an X-WR-TIMEZONE names (IANA or Windows name); None when there is none we know."""
    name = str(_first(value) or "").strip()
    return tzp.timezone(name) if name else None


def _first(value: Any) -> Any:
    """Properties given more than once come back as lists; the first one counts."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _event_uid(event: icalendar.Event) -> str:
    """The event's UID, or one derived from its start and summary so that re-imports find it again.

    Overlong UIDs are replaced by their hash to fit the column. The event is
    updated so that recurring-ical-events groups by the same UID.
    """
    uid = str(_first(event.get("UID")) or "").strip()
    if not uid:
        start = _first(event.get("DTSTART"))
        written = start.to_ical().decode() if start is not None and hasattr(start, "to_ical") else ""
        tzid = start.params.get("TZID", "") if start is not None else ""
        seed = f"{written}|{tzid}|{_text(event, 'SUMMARY') or ''}"
        uid = f"derived-{hashlib.sha256(seed.encode()).hexdigest()[:32]}"
    elif len(uid) > _UID_MAX_LENGTH:
        uid = f"sha256-{hashlib.sha256(uid.encode()).hexdigest()}"
    event["UID"] = uid
    return uid


def _time_of(prop: Any) -> dt.date | None:
    """The date or datetime of a DTSTART-like property; None when it is unreadable."""
    if prop is None or isinstance(prop, icalendar.vBroken):
        return None
    value = getattr(prop, "dt", None)
    return value if isinstance(value, dt.date) else None


def _repair(event: icalendar.Event, floating_tz: dt.tzinfo) -> str | None:
    """Fixes what has one obvious meaning; returns why the event is unusable otherwise."""
    start_prop = event.get("DTSTART")
    if start_prop is None:
        return "no start time (DTSTART)"
    if isinstance(start_prop, list):
        if len({_time_of(p) for p in start_prop}) != 1:
            return "more than one start time (DTSTART)"
        event["DTSTART"] = start_prop = start_prop[0]
    start = _time_of(start_prop)
    if start is None:
        return f"the start time {str(start_prop)!r} is not a date"
    try:
        start_utc = _to_utc(start, floating_tz)
    except (OverflowError, ValueError):
        return f"the start time {start} is out of range"

    # An end before the start, an unreadable end or a negative duration: keep the start, drop the end.
    end_prop = _first(event.get("DTEND"))
    if end_prop is not None:
        end = _time_of(end_prop)
        try:
            end_is_usable = end is not None and _to_utc(end, floating_tz) >= start_utc
        except (OverflowError, ValueError):
            end_is_usable = False
        if end_is_usable:
            event["DTEND"] = end_prop
        else:
            del event["DTEND"]
    duration = _first(event.get("DURATION"))
    if duration is not None:
        length = getattr(duration, "dt", None) if not isinstance(duration, icalendar.vBroken) else None
        if isinstance(length, dt.timedelta) and length >= dt.timedelta(0):
            event["DURATION"] = duration
        else:
            del event["DURATION"]

    rules = event.get("RRULE")
    if rules is not None:
        readable_rules = []
        for rule in rules if isinstance(rules, list) else [rules]:
            written = _written_rule(rule)
            if not written:
                continue  # "RRULE:" with nothing after it repeats nothing
            rule = _readable_rule(rule, written)
            if rule is None:
                return f"the repeat rule {written!r} is not readable"
            readable_rules.append(rule)
        del event["RRULE"]
        if readable_rules:
            event["RRULE"] = readable_rules if len(readable_rules) > 1 else readable_rules[0]
    recurrence_id = event.get("RECURRENCE-ID")
    if recurrence_id is not None:
        recurrence_id = _first(recurrence_id)
        if _time_of(recurrence_id) is None:
            return f"RECURRENCE-ID {str(recurrence_id)!r} is not a date"
        event["RECURRENCE-ID"] = recurrence_id
    # Exporters write empty or malformed EXDATE/RDATE lines; the readable ones still count.
    for name in ("EXDATE", "RDATE"):
        values = event.get(name)
        if values is None:
            continue
        readable = [v for v in (values if isinstance(values, list) else [values])
                    if not isinstance(v, icalendar.vBroken) and getattr(v, "dts", None)]
        del event[name]
        if readable:
            event[name] = readable if len(readable) > 1 else readable[0]
    sequences = event.get("SEQUENCE")
    if sequences is not None:
        numbers = [int(s) for s in (sequences if isinstance(sequences, list) else [sequences])
                   if isinstance(s, int) or str(s).strip().lstrip("-").isdigit()]
        del event["SEQUENCE"]
        if numbers:
            event["SEQUENCE"] = max(numbers)
    return None


def _written_rule(rule: Any) -> str:
    if isinstance(rule, icalendar.vBroken):
        return str(rule).strip()
    return rule.to_ical().decode().strip()


def _readable_rule(rule: Any, written: str) -> icalendar.vRecur | None:
    """The rule, if it can be read; spaces inside a rule ("BYDAY=MO, TU") are an Exchange habit, not an error."""
    if not isinstance(rule, icalendar.vBroken) and rule.get("FREQ"):
        return rule
    try:
        rule = icalendar.vRecur.from_ical(re.sub(r"\s+", "", written))
    except ValueError:
        return None
    return icalendar.vRecur(rule) if rule.get("FREQ") else None


def _zone_written(event: icalendar.Event) -> str | None:
    """The time zone the event's start was written in, as the file names it."""
    start = event["DTSTART"]
    tzid = start.params.get("TZID")
    if tzid:
        return str(tzid)[:_TZ_NAME_MAX_LENGTH]
    value = start.dt
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.tzname()
    return None


def _text(event: icalendar.Event, name: str) -> str | None:
    value = _first(event.get(name))
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _stamp(event: icalendar.Event) -> dt.datetime | None:
    stamps = []
    for name in ("LAST-MODIFIED", "DTSTAMP"):
        value = _time_of(_first(event.get(name)))
        if isinstance(value, dt.datetime):
            stamps.append(_to_utc(value, dt.UTC))
    return max(stamps, default=None)


_STATUSES = {"CANCELLED": "cancelled", "TENTATIVE": "tentative"}


def _event_info(event: icalendar.Event, original_tz: str | None, position: int, floating_tz: dt.tzinfo,
                context: _ImportContext) -> _EventInfo:
    recurrence_id = event.get("RECURRENCE-ID")
    attendees = event.get("ATTENDEE")
    attendees = attendees if isinstance(attendees, list) else [attendees] if attendees is not None else []
    organizer = _first(event.get("ORGANIZER"))
    organizer_address = str(organizer).strip().lower().removeprefix("mailto:") if organizer is not None else None
    info = _EventInfo(
        uid=str(event["UID"]),
        recurrence_key=_instant_key(recurrence_id.dt, floating_tz) if recurrence_id is not None else "",
        original_tz=original_tz,
        summary=_text(event, "SUMMARY"),
        description=_text(event, "DESCRIPTION"),
        location=_text(event, "LOCATION"),
        status=_STATUSES.get(str(_first(event.get("STATUS")) or "").strip().upper(), "confirmed"),
        sequence=int(event.get("SEQUENCE", 0)),
        stamp=_stamp(event),
        position=position,
        at_client_place=False,
        attendees=tuple(attendees_from(
            (str(a), a.params.get("CN"), a.params.get("CUTYPE")) for a in attendees
        )),
        organizer=organizer_address or None,
        content_hash="",
    )
    info.at_client_place = is_at_client_place(info.location, context.practice_address)
    info.content_hash = _hash([
        context.key, info.original_tz, info.summary, info.description, info.location, info.status, info.sequence,
        info.at_client_place, [[a.address, a.name, a.resource] for a in info.attendees], info.organizer,
    ])
    return info


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()


def _resolve_duplicates(found: list[tuple[icalendar.Event, _EventInfo]]) -> list[tuple[icalendar.Event, _EventInfo]]:
    """One event per (UID, RECURRENCE-ID): the highest SEQUENCE, then the latest stamp, then the later one."""
    oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
    best: dict[tuple[str, str], tuple[icalendar.Event, _EventInfo]] = {}
    for event, info in found:
        key = (info.uid, info.recurrence_key)
        kept = best.get(key)
        if kept is None or (info.sequence, info.stamp or oldest, info.position) >= (
            kept[1].sequence, kept[1].stamp or oldest, kept[1].position
        ):
            best[key] = (event, info)
    return list(best.values())


# --- At the client's place? ------------------------------------------------------------------------

_ONLINE = re.compile(
    r"://|\bwww\.|\bzoom\b|\bteams\b|\bskype\b|\bwebex\b|meet\.google|\bgoogle meet\b|\bonline\b|\bvideo\b"
    r"|\btelehealth\b|\bphone\b|\bтелефон|\bонлайн",
    re.IGNORECASE,
)
_CLIENT_PLACE = re.compile(r"\s*(client\s*:|at\s+(the\s+)?client|client'?s\s+(home|place)|home\s+visit)",
                           re.IGNORECASE)
_STREET_WORD = re.compile(
    r"\b(street|st|avenue|ave|road|rd|lane|ln|boulevard|blvd|drive|way|court|ct|place|pl|square|sq|terrace"
    r"|highway|hwy|parkway|pkwy|straße|strasse|str|weg|gasse|platz|allee|rue|chemin|via|viale|piazza|calle"
    r"|avenida|plaza|ул|улица|пр|пр-т|проспект|пер|переулок|ш|шоссе|наб|набережная|бульвар|б-р|дом)\b",
    re.IGNORECASE,
)


def is_at_client_place(location: str | None, practice_address: str | None) -> bool:
    """Whether a visit's LOCATION puts it somewhere other than the practice.

    The rule: an empty location, a URL or a video/phone call ("Zoom",
    "Teams", "online"), or the practice's own address is the practice (False).
    A location starting "Client:" or "At client..." is the client's place
    (True). Anything else is the client's place when it reads like a street
    address: a number and a street word ("12 Oak Street", "ул. Ленина, д. 5").
    "Office", "Room 3" and other names of rooms stay False.
    """
    if not location or not location.strip() or _ONLINE.search(location):
        return False
    if _CLIENT_PLACE.match(location):
        return True
    if practice_address and _same_place(location, practice_address):
        return False
    return bool(re.search(r"\d", location) and _STREET_WORD.search(location))


def _same_place(location: str, address: str) -> bool:
    here, there = _address_words(location), _address_words(address)
    if not here or not there:
        return False
    if " ".join(there) in " ".join(here) or (len(here) >= 2 and " ".join(here) in " ".join(there)):
        return True
    # "12 Oak St, Springfield" and "12 Oak Street": the same house number and street name.
    return len(here) >= 2 and here[:2] == there[:2] and any(ch.isdigit() for ch in "".join(here[:2]))


def _address_words(text: str) -> list[str]:
    return re.sub(r"[\W_]+", " ", text.casefold()).split()


# --- Step 4: occurrences ---------------------------------------------------------------------------


@dataclass
class _Found:
    """One occurrence inside the window, ready to become an appointment row."""

    uid: str
    recurrence_id: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    all_day: bool
    info: _EventInfo
    content_hash: str


class _EventAdapter(recurring_ical_events.EventAdapter):
    """Keeps the event an occurrence comes from, so fields are read once per event, not copied per occurrence."""

    def __init__(self, component: icalendar.Event) -> None:
        super().__init__(component)
        self.event = component


class _Occurrence(recurring_ical_events.Occurrence):
    def __init__(self, adapter: _EventAdapter, start: Any = None, end: Any = None, sequence: int = -1) -> None:
        super().__init__(adapter, start, end, sequence)
        self.adapter = adapter


# Shortest time between two repetitions for each frequency (a month can be 28 days).
_FREQUENCY_SECONDS = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600, "DAILY": 86400, "WEEKLY": 7 * 86400,
                      "MONTHLY": 28 * 86400, "YEARLY": 365 * 86400}
_FREQUENCY_WORDS = {"SECONDLY": "second", "MINUTELY": "minute", "HOURLY": "hour", "DAILY": "day",
                    "WEEKLY": "week", "MONTHLY": "month", "YEARLY": "year"}


def _expand(events: _Events, window: ImportWindow, context: _ImportContext, limits: ImportLimits,
            report: ImportReport, deadline: _Deadline) -> list[_Found]:
    calendar = icalendar.Calendar()
    for event in events.events:
        calendar.add_component(event)
    query = recurring_ical_events.of(
        calendar,
        skip_bad_series=True,
        components=[recurring_ical_events.ComponentsWithName("VEVENT", adapter=_EventAdapter, occurrence=_Occurrence)],
    )
    singles = events.single_event_uids()
    by_uid: dict[str, list[icalendar.Event]] = defaultdict(list)
    for event in events.events:
        by_uid[events.info[id(event)].uid].append(event)
    found: list[_Found] = []
    seen: set[tuple[str, str]] = set()
    expanded: set[str] = set()
    for series in query.series:
        deadline.check("working out repeating events")
        uid = str(series.uid)
        expanded.add(uid)
        if recurrence_limits.refuse_if_too_frequent(uid, by_uid[uid], report):
            continue
        try:
            occurrences, complete = _occurrences_in_window(series, by_uid[uid], window, context, limits, report,
                                                           deadline)
        except ImportFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - one series the libraries cannot work out must not sink the file
            report.skip(uid, f"its dates or repeat rule could not be worked out: {_short(exc)}")
            events.protected_uids.add(uid)
            continue
        if not complete:
            events.protected_uids.add(uid)
        for occurrence, starts_at in occurrences:
            info = events.info[id(occurrence.adapter.event)]
            item = _found(occurrence, starts_at, info, uid in singles, context)
            key = (item.uid, item.recurrence_id)
            if key not in seen:  # e.g. an override whose RECURRENCE-ID matches none of its series
                seen.add(key)
                found.append(item)
    for uid in sorted(set(by_uid) - expanded):
        report.skip(uid, f"its dates or repeat rule could not be worked out: {_series_error(by_uid[uid])}")
        events.protected_uids.add(uid)
    return found


def _series_error(events: list[icalendar.Event]) -> str:
    """Why recurring-ical-events refused a series (it only says so when asked on its own)."""
    calendar = icalendar.Calendar()
    for event in events:
        calendar.add_component(event)
    try:
        recurring_ical_events.of(calendar)
    except Exception as exc:  # noqa: BLE001 - the message is all we want
        return _short(exc)
    return "unknown error"


def _occurrences_in_window(series: Any, events: list[icalendar.Event], window: ImportWindow, context: _ImportContext,
                           limits: ImportLimits, report: ImportReport,
                           deadline: _Deadline) -> tuple[list[tuple[_Occurrence, dt.datetime]], bool]:
    """The series' occurrences starting inside the window, at most the per-series cap of them.

    recurring-ical-events asks dateutil for all repetitions of a time span at
    once, as a list; an endless FREQ=SECONDLY rule over a whole window would
    fill the memory before anything could be counted. So the window is walked
    in chunks sized from the rule, so that no chunk can hold much more than
    the cap. Also says whether the list is complete (not truncated, not skipped).
    """
    cap = limits.max_occurrences_per_series
    uid = str(series.uid)
    gap = _shortest_gap(events)
    chunk = window.end - window.start
    if gap is not None:
        first_start = min(_to_utc(e["DTSTART"].dt, context.practice_tz) for e in events if "RRULE" in e)
        before_window = (window.start - first_start).total_seconds() / gap.seconds
        if gap.count is not None:
            before_window = min(before_window, gap.count)  # COUNT stops the rule however often it repeats
        if before_window > limits.max_repetitions_before_window:
            report.skip(uid, f"repeats every {gap.words} since {first_start:%Y-%m-%d}: too many repetitions "
                             "before the import window to work through")
            return [], False
        chunk = min(chunk, max(dt.timedelta(seconds=gap.seconds * cap), dt.timedelta(seconds=cap)))
    result: list[tuple[_Occurrence, dt.datetime]] = []
    chunk_start = window.start
    while chunk_start < window.end:
        deadline.check("working out repeating events")
        chunk_end = min(chunk_start + chunk, window.end)
        starts = []
        for occurrence in series.between(chunk_start, chunk_end):
            starts_at = _to_utc(occurrence.start, context.practice_tz)
            if chunk_start <= starts_at < chunk_end:  # the span also returns occurrences that only overlap it
                starts.append((starts_at, occurrence))
        starts.sort(key=lambda pair: pair[0])
        result.extend((occurrence, starts_at) for starts_at, occurrence in starts)
        if len(result) > cap:
            report.skip(uid, f"repeats more than {cap} times in the import window; only the first {cap} were "
                             "imported")
            return result[:cap], False
        chunk_start = chunk_end
    return result, True


@dataclass(frozen=True)
class _Gap:
    seconds: float
    words: str  # "second", "2 weeks": for messages
    count: int | None  # how many repetitions the rules allow at most, when every rule has a COUNT


def _shortest_gap(events: list[icalendar.Event]) -> _Gap | None:
    """How close together the series' RRULEs can put two repetitions; None without RRULE.

    BY* lists can put several repetitions into one period (BYHOUR=9,17 twice a
    day), so the period is divided by their sizes: an underestimate of the
    gap, which only makes chunks smaller.
    """
    shortest: tuple[float, str] | None = None
    counts: list[int | None] = []
    for event in events:
        rules = event.get("RRULE")
        for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
            frequency = str(rule["FREQ"][0]).upper()
            interval = max(int((rule.get("INTERVAL") or [1])[0]), 1)
            per_period = math.prod(len(values) for name, values in rule.items() if name.startswith("BY")
                                   and name != "BYSETPOS" and isinstance(values, list))
            seconds = _FREQUENCY_SECONDS.get(frequency, 1) * interval / max(per_period, 1)
            if shortest is None or seconds < shortest[0]:
                unit = _FREQUENCY_WORDS.get(frequency, frequency.lower())
                shortest = (seconds, unit if interval == 1 else f"{interval} {unit}s")
            counts.append(int(rule["COUNT"][0]) if rule.get("COUNT") else None)
    if shortest is None:
        return None
    return _Gap(*shortest, count=None if None in counts else sum(counts))


def _found(occurrence: _Occurrence, starts_at: dt.datetime, info: _EventInfo, single: bool,
           context: _ImportContext) -> _Found:
    all_day = not isinstance(occurrence.start, dt.datetime)
    ends_at = max(_to_utc(occurrence.end, context.practice_tz), starts_at)
    if single:
        recurrence_id = ""
    elif info.recurrence_key and occurrence.start == occurrence.adapter.start:
        recurrence_id = info.recurrence_key  # an override: it stands in for the occurrence it moved
    else:  # the occurrence's own start, already in UTC (converting again is slow for zones from VTIMEZONEs)
        recurrence_id = occurrence.start.isoformat() if all_day else starts_at.strftime(_RECURRENCE_ID_FORMAT)
    content_hash = _hash([info.content_hash, starts_at.isoformat(), ends_at.isoformat(), all_day])
    return _Found(uid=info.uid, recurrence_id=recurrence_id, starts_at=starts_at, ends_at=ends_at, all_day=all_day,
                  info=info, content_hash=content_hash)


# --- Step 5: the database --------------------------------------------------------------------------


def _apply(session: Session, source: CalendarSource, context: _ImportContext, events: _Events, found: list[_Found],
           window: ImportWindow, now: dt.datetime, cancel_vanished: bool, report: ImportReport,
           deadline: _Deadline) -> int:
    """Writes the occurrences as appointments; returns how many rows the source has afterwards."""
    existing = {
        (row.uid, row.recurrence_id): row
        for row in session.execute(
            select(Appointment.id, Appointment.uid, Appointment.recurrence_id, Appointment.content_hash,
                   Appointment.status, Appointment.starts_at, Appointment.needs_attention, Appointment.cancelled_at)
            .where(Appointment.source_id == source.id)
        )
    }
    report.occurrences = len(found)
    changes = []
    for item in found:
        old = existing.get((item.uid, item.recurrence_id))
        if old is not None and old.content_hash == item.content_hash:
            report.unchanged += 1
            report.needs_attention += old.needs_attention and old.status != "cancelled"
        else:
            changes.append((item, old))
    deadline.check("comparing with the appointments already imported")

    new_rows: list[dict[str, Any]] = []
    row_updates: list[dict[str, Any]] = []
    if changes:
        directory = ClientDirectory(session, context.practice_id, now)
        client_keys = [directory.resolve(item.info.client(context)) for item, _ in changes]
        directory.save()
        deadline.check("matching clients")
        for (item, old), client_key in zip(changes, client_keys, strict=True):
            values = _row_values(item, old, now)
            values.update(client_id=None if client_key is None else directory.client_id(client_key),
                          needs_attention=client_key is None)
            cancelled = item.info.status == "cancelled"
            report.needs_attention += client_key is None and not cancelled
            if old is None:
                new_rows.append(values | {
                    "practice_id": context.practice_id, "practitioner_id": context.practitioner_id,
                    "source_id": source.id, "uid": item.uid, "recurrence_id": item.recurrence_id, "created_at": now,
                })
                report.cancelled += cancelled
                report.created += not cancelled
            else:
                row_updates.append(values | {"id": old.id})
                newly_cancelled = cancelled and old.status != "cancelled"
                report.cancelled += newly_cancelled
                report.updated += not newly_cancelled
                report.changed_appointment_ids.append(old.id)

    vanished = _vanished(existing, {(item.uid, item.recurrence_id) for item in found}, events, window, now,
                         cancel_vanished)
    for row in vanished:
        # An empty hash makes the occurrence count as updated (un-cancelled) if it ever comes back.
        row_updates.append({"id": row.id, "status": "cancelled", "cancelled_at": now, "updated_at": now,
                            "content_hash": ""})
        report.changed_appointment_ids.append(row.id)
    report.cancelled += len(vanished)

    deadline.check("saving appointments")
    if new_rows:
        # A Core executemany: the ORM's bulk insert splits rows into a statement per
        # combination of NULL columns, and RETURNING over many batches is quadratic.
        session.execute(insert(Appointment.__table__), new_rows)
        inserted = {(row["uid"], row["recurrence_id"]) for row in new_rows}
        report.changed_appointment_ids.extend(
            row.id for row in session.execute(
                select(Appointment.id, Appointment.uid, Appointment.recurrence_id)
                .where(Appointment.source_id == source.id, Appointment.created_at == now)
            ) if (row.uid, row.recurrence_id) in inserted
        )
    if row_updates:
        session.execute(update(Appointment), row_updates)
    return len(existing) + len(new_rows)


def _row_values(item: _Found, old: Any, now: dt.datetime) -> dict[str, Any]:
    info = item.info
    cancelled = info.status == "cancelled"
    if not cancelled:
        cancelled_at = None
    elif old is not None and old.status == "cancelled":
        cancelled_at = old.cancelled_at  # still cancelled: keep when it first was
    else:
        cancelled_at = now
    return {
        "starts_at": item.starts_at, "ends_at": item.ends_at, "all_day": item.all_day,
        "original_tz": info.original_tz, "location": info.location, "at_client_place": info.at_client_place,
        "status": info.status, "sequence": info.sequence, "summary": info.summary,
        "description": info.description, "content_hash": item.content_hash, "cancelled_at": cancelled_at,
        "updated_at": now,
    }


def _vanished(existing: dict[tuple[str, str], Any], seen: set[tuple[str, str]], events: _Events, window: ImportWindow,
              now: dt.datetime, cancel_vanished: bool) -> list[Any]:
    """Appointments the data no longer contains, which the import therefore cancels.

    Of a UID in the file: any occurrence inside the window. With
    `cancel_vanished`: any future one inside the window, whatever its UID.
    UIDs the file mentions but that could not be worked out are left alone.
    """
    future_from = max(now, window.start)
    result = []
    for key, row in existing.items():
        if key in seen or row.status == "cancelled" or row.uid in events.protected_uids:
            continue
        if (row.uid in events.uids and window.contains(row.starts_at)) or (
            cancel_vanished and future_from <= row.starts_at < window.end
        ):
            result.append(row)
    return result
