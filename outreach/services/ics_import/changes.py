"""Between split and parse: which events differ from the source's last import, told from their text alone.

The file's VEVENTs are grouped by UID (a series' master and its
RECURRENCE-ID overrides change together, and duplicates are resolved inside
a UID), and each group gets a fingerprint of its text without the properties
producers re-issue on every download:

- DTSTAMP: the time the file was generated, for Google Calendar's secret
  address and Outlook's published calendars a new one on every download;
- LAST-MODIFIED: some producers (Outlook, booking tools) re-issue it as well.

Both only ever decide between duplicates of one (UID, RECURRENCE-ID), so
they matter for a group that had duplicates when it was last imported: its
fingerprint keeps them. Everything else counts, X-properties included: the
importer and the client rules may read any property, and the producers whose
X-properties we know (Google's X-GOOGLE-CONFERENCE, Microsoft's
X-MICROSOFT-CDO-*, Apple's X-APPLE-*) write the same values on every
download.

A group whose fingerprint matches the stored one is not parsed: the last
import left its appointments exactly as importing it again would (the rows
of a UID are only written when that UID is imported). A group's fingerprint
also covers the properties of its calendar (X-WR-TIMEZONE, METHOD), and the
basis of all of them covers the file's VTIMEZONEs and everything else that
changes import results (IMPORTER_VERSION, the context, the window, the
limits): a different basis forgets every stored fingerprint.

Single events (no RRULE, RDATE or RECURRENCE-ID) whose DTSTART lies far
outside the window are not parsed either: their UID is in the file, with no
occurrence in the window, which is exactly what parsing them would say.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from outreach.models import Appointment, CalendarEventFingerprint, CalendarSource
from outreach.services.ics_import.context import ImportWindow
from outreach.services.ics_import.expand import Found
from outreach.services.ics_import.parse import Events
from outreach.services.ics_import.split import CalendarText, ComponentText

# Raise when the way fingerprints are taken changes.
FINGERPRINT_VERSION = 1
VOLATILE_PROPERTIES = ("DTSTAMP", "LAST-MODIFIED")
READ_AGAIN = ""  # the fingerprint of an event that is parsed on every import
_UID_MAX_LENGTH = 500
# A start this far outside the window cannot be in it in any time zone (UTC-12 to UTC+14, and slack).
_WINDOW_MARGIN = dt.timedelta(days=3)
_PROPERTY_NAME = re.compile(r"[A-Za-z0-9-]+")
# Properties are found after the line break before them (a component's first line is its BEGIN): `re` scans
# for a literal "\n" quickly, where a multi-line "^" makes it try every character, three times slower.
_VOLATILE_LINE = re.compile(rf"\n(?:{'|'.join(VOLATILE_PROPERTIES)})[;:][^\n]*", re.IGNORECASE)
_UID_LINE = re.compile(r"\n(UID[;:][^\n]*)", re.IGNORECASE)
_NESTED = re.compile(r"\nBEGIN:", re.IGNORECASE)
_START_DAY = re.compile(r"(\d{4})(\d{2})(\d{2})(?:T\d{6}Z?)?\s*$")


@dataclass
class EventGroup:
    """The VEVENTs of one UID, in file order, each with the hash of its calendar's own properties."""

    uid: str
    components: list[tuple[str, ComponentText, str]] = field(default_factory=list)  # (header hash, component, text)

    def fingerprint(self, with_stamps: bool) -> str:
        digest = hashlib.sha256()
        for header_hash, _, text in self.components:
            digest.update(header_hash.encode())
            digest.update((text if with_stamps else _VOLATILE_LINE.sub("", text)).encode("utf-8", "surrogatepass"))
            digest.update(b"\x00")
        return digest.hexdigest()

    def far_outside(self, window: ImportWindow) -> str | None:
        """"before" or "after" for a single event whose DTSTART, read from its text, is days away from the window."""
        if len(self.components) != 1:
            return None
        starts = []
        for name, rest in _top_level_properties(self.components[0][1]):
            if name in ("RRULE", "RDATE", "RECURRENCE-ID"):
                return None
            if name == "DTSTART":
                starts.append(rest.rpartition(":")[2])  # a quoted TZID may hold a colon; the value never does
        if len(starts) != 1 or not (match := _START_DAY.search(starts[0])):
            return None
        try:
            day = dt.date(*map(int, match.groups()))
        except ValueError:
            return None  # not a date: parsing says why
        if not dt.MINYEAR < day.year < dt.MAXYEAR:
            return None
        if day < (window.start - _WINDOW_MARGIN).date():
            return "before"
        if day > (window.end + _WINDOW_MARGIN).date():
            return "after"
        return None


@dataclass
class ChangePlan:
    """Which events of the file are parsed, and what is known of the others without parsing them."""

    calendars: list[CalendarText]  # the file with only the events to parse (and every VTIMEZONE)
    groups: dict[str, EventGroup]  # the file's events that have a plain UID, by UID
    unchanged: dict[str, int]  # UID -> occurrences in the window, of events as they were last imported
    outside_window: dict[str, str]  # UID -> "before" or "after": single events far outside the window
    basis: str
    stored: dict[str, tuple[str, bool, int]]  # UID -> (fingerprint, with_stamps, occurrences) under this basis
    forget_stored: bool  # the stored fingerprints belong to another basis: replace them all

    def skipped_uids(self) -> set[str]:
        return set(self.unchanged) | set(self.outside_window)

    def touched_uids(self, events: Events) -> set[str]:
        """The UIDs this import reads (or, far outside the window, knows without reading)."""
        return events.uids | events.protected_uids

    def removed_uids(self, events: Events) -> set[str]:
        """UIDs of the last import that are not in this file at all."""
        return set(self.stored) - set(self.groups) - self.touched_uids(events)

    def rows_to_compare(self, events: Events, cancel_vanished: bool) -> set[str] | None:
        """The UIDs whose appointment rows the import must look at; None: all of them.

        Unchanged events' rows stay as they are. Of the others, only the
        rows of UIDs this import reads can change, and with `cancel_vanished`
        those of the UIDs gone since the last import: any other UID was
        missing from the last import too, which already cancelled its future
        rows.
        """
        if self.forget_stored:
            return None
        return self.touched_uids(events) | (self.removed_uids(events) if cancel_vanished else set())

    def disagrees_with(self, events: Events) -> bool:
        """Parsed events of a UID that was not parsed: then duplicates would be resolved without all of them."""
        return not self.skipped_uids().isdisjoint(self.touched_uids(events))


def plan_changes(session: Session, source: CalendarSource, calendars: list[CalendarText], basis_facts: list,
                 window: ImportWindow, rows_trusted: bool) -> ChangePlan:
    """Sorts the file's events into unchanged, outside the window, and to parse.

    `rows_trusted` is False when the source's appointment rows are not what
    the last import left (some were removed since): then nothing is taken as
    unchanged.
    """
    timezones = [component.text() for calendar in calendars for component in calendar.components
                 if component.name == "VTIMEZONE"]
    basis = _hash([FINGERPRINT_VERSION, basis_facts, timezones])
    stored: dict[str, tuple[str, bool, int]] = {}
    forget_stored = source.event_fingerprints_basis != basis or not rows_trusted
    if not forget_stored:
        table = CalendarEventFingerprint.__table__  # Core: thousands of rows, no objects wanted
        stored = {uid: (fingerprint, with_stamps, occurrences) for uid, fingerprint, with_stamps, occurrences in
                  session.execute(select(table.c.uid, table.c.fingerprint, table.c.with_stamps, table.c.occurrences)
                                  .where(table.c.source_id == source.id)).all()}
    groups: dict[str, EventGroup] = {}
    for calendar in calendars:
        header_hash = _hash(calendar.header)
        for component in calendar.components:
            if component.name != "VEVENT":
                continue
            text = "\r\n".join(component.lines)
            if (uid := plain_uid(component, text)) is not None:
                groups.setdefault(uid, EventGroup(uid)).components.append((header_hash, component, text))
    unchanged: dict[str, int] = {}
    outside_window: dict[str, str] = {}
    for uid, group in groups.items():
        known = stored.get(uid)
        if known is not None and group.fingerprint(with_stamps=known[1]) == known[0]:
            unchanged[uid] = known[2]
        elif side := group.far_outside(window):
            outside_window[uid] = side
    not_parsed = {id(component) for uid in (*unchanged, *outside_window) for _, component, _ in groups[uid].components}
    to_parse = [
        CalendarText(header=calendar.header, bare=calendar.bare,
                     components=[c for c in calendar.components if id(c) not in not_parsed])
        for calendar in calendars
    ]
    return ChangePlan(calendars=to_parse, groups=groups, unchanged=unchanged, outside_window=outside_window,
                      basis=basis, stored=stored, forget_stored=forget_stored)


def parse_everything(plan: ChangePlan, calendars: list[CalendarText]) -> ChangePlan:
    """The plan for a full read of the file, keeping what it knows about the stored fingerprints."""
    return ChangePlan(calendars=calendars, groups=plan.groups, unchanged={}, outside_window={}, basis=plan.basis,
                      stored=plan.stored, forget_stored=plan.forget_stored)


def needs_attention_of_unchanged(session: Session, source: CalendarSource, plan: ChangePlan,
                                 window: ImportWindow) -> int:
    """What a full import would count as needing attention among the unchanged events' occurrences.

    Staff may have put a client on some since, so it is counted from the rows.
    """
    if not plan.unchanged:
        return 0
    counts = session.execute(
        select(Appointment.uid, func.count())
        .where(Appointment.source_id == source.id, Appointment.needs_attention, Appointment.status != "cancelled",
               Appointment.starts_at >= window.start, Appointment.starts_at < window.end)
        .group_by(Appointment.uid)
    ).all()
    return sum(count for uid, count in counts if uid in plan.unchanged)


def remember(session: Session, source: CalendarSource, plan: ChangePlan, events: Events, found: list[Found],
             cancel_vanished: bool) -> None:
    """Stores the fingerprints of the events just imported, inside the import's savepoint.

    Every UID the import read gets a row, so that the UIDs of the last
    import are known when they go. Events that could not be (fully) worked
    out, or whose UID is not plain text, get an empty fingerprint: they are
    read again every time (and their problems reported every time). A feed
    speaks for the whole calendar, so the rows of events gone from it go; a
    file only for its own events, so the others' stay.
    """
    occurrences = Counter(item.uid for item in found)
    fresh: dict[str, tuple[str, bool, int]] = {}
    for uid in plan.touched_uids(events):
        group = plan.groups.get(uid)
        if group is not None and (uid in plan.outside_window or uid not in events.protected_uids):
            with_stamps = uid in events.duplicated_uids
            fresh[uid] = (group.fingerprint(with_stamps), with_stamps, occurrences[uid])
        elif len(uid) <= _UID_MAX_LENGTH:
            fresh[uid] = (READ_AGAIN, False, occurrences[uid])
    table = CalendarEventFingerprint.__table__
    stored = plan.stored
    if plan.forget_stored:
        session.execute(delete(table).where(table.c.source_id == source.id))
        stored = {}
    gone = [uid for uid in plan.removed_uids(events) if cancel_vanished] + [
        uid for uid in plan.touched_uids(events) if uid in stored and uid not in fresh]
    for chunk in _chunks(gone):
        session.execute(delete(table).where(table.c.source_id == source.id, table.c.uid.in_(chunk)))
    changed = [{"fingerprint": fingerprint, "with_stamps": with_stamps, "occurrences": count,
                "source_id_": source.id, "uid_": uid}
               for uid, (fingerprint, with_stamps, count) in fresh.items()
               if uid in stored and stored[uid] != (fingerprint, with_stamps, count)]
    if changed:
        session.execute(update(table).where(table.c.source_id == bindparam("source_id_"),
                                            table.c.uid == bindparam("uid_")), changed)
    new = [{"practice_id": source.practice_id, "source_id": source.id, "uid": uid, "fingerprint": fingerprint,
            "with_stamps": with_stamps, "occurrences": count}
           for uid, (fingerprint, with_stamps, count) in fresh.items() if uid not in stored]
    if new:
        session.execute(insert(table), new)
    if source.event_fingerprints_basis != plan.basis:
        source.event_fingerprints_basis = plan.basis
        session.flush()


def plain_uid(component: ComponentText, text: str) -> str | None:
    """The component's UID when its `text` says it plainly (one UID line, nothing escaped, not too long).

    Such a UID is exactly the appointment's uid after parsing; events
    without one are always parsed.
    """
    if _NESTED.search(text):  # a VALARM may have a UID of its own (RFC 9074)
        uid_lines = [name + rest for name, rest in _top_level_properties(component) if name == "UID"]
    else:
        uid_lines = _UID_LINE.findall(text)
    if len(uid_lines) != 1 or uid_lines[0][3] != ":" or "\\" in uid_lines[0]:
        return None
    uid = uid_lines[0][4:].strip()
    return uid if 0 < len(uid) <= _UID_MAX_LENGTH else None


def _top_level_properties(component: ComponentText) -> list[tuple[str, str]]:
    """(NAME, the rest of the line: ";PARAMS:value" or ":value") of the component's own lines, not its VALARMs'."""
    result = []
    depth = 0
    for line in component.lines[1:-1]:
        name = _property_name(line)
        if name == "BEGIN":
            depth += 1
        elif name == "END":
            depth -= 1
        elif depth == 0:
            result.append((name, line[len(name):]))
    return result


def _property_name(line: str) -> str:
    match = _PROPERTY_NAME.match(line)
    return match.group(0).upper() if match else ""


def _hash(value: object) -> str:
    return hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()


def _chunks(items: list[str], size: int = 500):
    for start in range(0, len(items), size):
        yield items[start:start + size]
