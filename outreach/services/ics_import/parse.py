"""Step 3, parse and repair: each VEVENT read on its own, repaired where the intent is clear."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import threading
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import icalendar
import x_wr_timezone
from icalendar.timezone import tzp

from outreach.services import import_words
from outreach.services.client_matching import (
    Attendee,
    ClientFacts,
    attendees_from,
    cancelled_by_title,
    extract_client,
)
from outreach.services.ics_import.context import (
    Deadline,
    ImportContext,
    instant_key,
    to_utc,
)
from outreach.services.ics_import.places import decide_place
from outreach.services.ics_import.report import ImportReport
from outreach.services.ics_import.split import CalendarText

logger = logging.getLogger(__name__)

_UID_MAX_LENGTH = 500  # Appointment.uid
_TZ_NAME_MAX_LENGTH = 100  # Appointment.original_tz


# icalendar keeps every VTIMEZONE it parses in one process-wide cache, keyed by
# TZID, and keeps the first definition of a name. Each file must be read with
# its own definitions ("Customized Time Zone" means something else in every
# Outlook export), so the cache is reset and files are parsed one at a time.
_PARSE_LOCK = threading.Lock()


@dataclass
class EventInfo:
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
    place_why: dict[str, Any]
    # Why the visit is cancelled when the title says so rather than STATUS ({"source": "title", "detail": word}).
    status_why: dict[str, Any] | None
    attendees: tuple[Attendee, ...]
    organizer: str | None
    content_hash: str
    _client: ClientFacts | None = None

    def client(self, context: ImportContext) -> ClientFacts:
        """The client this event names, read only when the appointment is new or changed."""
        if self._client is None:
            self._client = extract_client(
                summary=self.summary, description=self.description, location=self.location,
                attendees=self.attendees, organizer=self.organizer, region=context.region,
                summary_format=context.reading_layout, practice_side=context.practice_side,
            )
        return self._client


@dataclass
class Events:
    """The usable events of a file after duplicates are resolved, and the UIDs it speaks for."""

    events: list[icalendar.Event]
    info: dict[int, EventInfo]  # by id() of the event
    uids: set[str]
    # UIDs whose appointments must be left alone: the file mentions them but
    # they could not be (fully) worked out, so their absence proves nothing.
    protected_uids: set[str]
    # UIDs with more than one event for the same RECURRENCE-ID, decided between by SEQUENCE and the stamps.
    duplicated_uids: set[str] = field(default_factory=set)

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


def parse_events(calendars: list[CalendarText], context: ImportContext, report: ImportReport,
                  deadline: Deadline) -> Events:
    found: list[tuple[icalendar.Event, EventInfo]] = []
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
                    report.skip(uid, import_words.UNREADABLE, detail=short_error(exc), line=component.first_line)
                    protected.add(uid)
                    continue
                written_uid = str(_first(event.get("UID")) or "").strip()
                problem = _repair(event, floating_tz)
                uid = _event_uid(event)
                uids.add(uid)
                if problem:
                    # Staff know an event by its title and day; the line is for one with neither.
                    code, detail = problem
                    report.skip(written_uid, code, detail=detail, title=_text(event, "SUMMARY"),
                                day=_written_day(event.get("DTSTART")), line=component.first_line)
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
    counts = Counter((info.uid, info.recurrence_key) for _, info in found)
    duplicated = {uid for (uid, _), count in counts.items() if count > 1}
    return Events(events=[event for event, _ in events], info={id(event): info for event, info in events},
                   uids=uids, protected_uids=protected, duplicated_uids=duplicated)


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


def short_error(exc: Exception) -> str:
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


def _written_day(prop: Any) -> dt.date | None:
    """The day an event's start names, to tell staff which event it was, even when the start is written wrongly.

    A day past the month's end is counted on into the next month, as people
    read it: 20260231 is 3 March 2026.
    """
    prop = _first(prop)
    value = _time_of(prop)
    if value is not None:
        return value.date() if isinstance(value, dt.datetime) else value
    match = re.match(r"\s*(\d{4})(\d{2})(\d{2})", str(prop or ""))
    if match is None:
        return None
    year, month, day = (int(part) for part in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31 and year >= 1):
        return None
    return dt.date(year, month, 1) + dt.timedelta(days=day - 1)


def _repair(event: icalendar.Event, floating_tz: dt.tzinfo) -> tuple[str, str | None] | None:
    """Fixes what has one obvious meaning; returns why the event is unusable otherwise (problem, what was written)."""
    start_prop = event.get("DTSTART")
    if start_prop is None:
        return import_words.NO_START, None
    if isinstance(start_prop, list):
        if len({_time_of(p) for p in start_prop}) != 1:
            return import_words.SEVERAL_STARTS, None
        event["DTSTART"] = start_prop = start_prop[0]
    start = _time_of(start_prop)
    if start is None:
        return import_words.BAD_START, str(start_prop)
    try:
        start_utc = to_utc(start, floating_tz)
    except (OverflowError, ValueError):
        return import_words.START_OUT_OF_RANGE, str(start)

    # An end before the start, an unreadable end or a negative duration: keep the start, drop the end.
    end_prop = _first(event.get("DTEND"))
    if end_prop is not None:
        end = _time_of(end_prop)
        try:
            end_is_usable = end is not None and to_utc(end, floating_tz) >= start_utc
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
                return import_words.BAD_RULE, written
            readable_rules.append(rule)
        del event["RRULE"]
        if readable_rules:
            event["RRULE"] = readable_rules if len(readable_rules) > 1 else readable_rules[0]
    recurrence_id = event.get("RECURRENCE-ID")
    if recurrence_id is not None:
        recurrence_id = _first(recurrence_id)
        if _time_of(recurrence_id) is None:
            return import_words.BAD_RECURRENCE_ID, str(recurrence_id)
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
            stamps.append(to_utc(value, dt.UTC))
    return max(stamps, default=None)


_STATUSES = {"CANCELLED": "cancelled", "TENTATIVE": "tentative"}


def _event_info(event: icalendar.Event, original_tz: str | None, position: int, floating_tz: dt.tzinfo,
                context: ImportContext) -> EventInfo:
    recurrence_id = event.get("RECURRENCE-ID")
    attendees = event.get("ATTENDEE")
    attendees = attendees if isinstance(attendees, list) else [attendees] if attendees is not None else []
    organizer = _first(event.get("ORGANIZER"))
    organizer_address = str(organizer).strip().lower().removeprefix("mailto:") if organizer is not None else None
    info = EventInfo(
        uid=str(event["UID"]),
        recurrence_key=instant_key(recurrence_id.dt, floating_tz) if recurrence_id is not None else "",
        original_tz=original_tz,
        summary=_text(event, "SUMMARY"),
        description=_text(event, "DESCRIPTION"),
        location=_text(event, "LOCATION"),
        status=_STATUSES.get(str(_first(event.get("STATUS")) or "").strip().upper(), "confirmed"),
        sequence=int(event.get("SEQUENCE", 0)),
        stamp=_stamp(event),
        position=position,
        at_client_place=False,
        place_why={},
        status_why=None,
        attendees=tuple(attendees_from(
            (str(a), a.params.get("CN"), a.params.get("CUTYPE")) for a in attendees
        )),
        organizer=organizer_address or None,
        content_hash="",
    )
    if info.status != "cancelled" and (word := cancelled_by_title(info.summary)):
        info.status, info.status_why = "cancelled", {"source": "title", "detail": word}
    info.at_client_place, info.place_why = decide_place(info.location, context.practice_address, context.client_place,
                                                          context.practice_name)
    info.content_hash = hash_of([
        context.key, info.original_tz, info.summary, info.description, info.location, info.status, info.sequence,
        info.at_client_place, [[a.address, a.name, a.resource] for a in info.attendees], info.organizer,
    ])
    return info


def hash_of(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()


def _resolve_duplicates(found: list[tuple[icalendar.Event, EventInfo]]) -> list[tuple[icalendar.Event, EventInfo]]:
    """One event per (UID, RECURRENCE-ID): the highest SEQUENCE, then the latest stamp, then the later one."""
    oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
    best: dict[tuple[str, str], tuple[icalendar.Event, EventInfo]] = {}
    for event, info in found:
        key = (info.uid, info.recurrence_key)
        kept = best.get(key)
        if kept is None or (info.sequence, info.stamp or oldest, info.position) >= (
            kept[1].sequence, kept[1].stamp or oldest, kept[1].position
        ):
            best[key] = (event, info)
    return list(best.values())


