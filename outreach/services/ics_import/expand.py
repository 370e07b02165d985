"""Step 4, expand: a series' occurrences inside the window, bounded per series."""
from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import icalendar
import recurring_ical_events

from outreach.services import import_words, recurrence_limits
from outreach.services.ics_import.context import (
    RECURRENCE_ID_FORMAT,
    Deadline,
    ImportContext,
    ImportWindow,
    to_utc,
)
from outreach.services.ics_import.parse import EventInfo, Events, hash_of, short_error
from outreach.services.ics_import.report import ImportFailed, ImportLimits, ImportReport


@dataclass
class Found:
    """One occurrence inside the window, ready to become an appointment row."""

    uid: str
    recurrence_id: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    all_day: bool
    info: EventInfo
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


def expand_occurrences(events: Events, window: ImportWindow, context: ImportContext, limits: ImportLimits,
            report: ImportReport, deadline: Deadline) -> list[Found]:
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
    found: list[Found] = []
    seen: set[tuple[str, str]] = set()
    expanded: set[str] = set()
    for series in query.series:
        deadline.check("working out repeating events")
        uid = str(series.uid)
        expanded.add(uid)
        if unit := recurrence_limits.too_frequent(by_uid[uid]):
            report.skip(uid, import_words.TOO_FREQUENT, detail=unit, **_which(by_uid[uid]))
            continue
        try:
            occurrences, complete = _occurrences_in_window(series, by_uid[uid], window, context, limits, report,
                                                           deadline)
        except ImportFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - one series the libraries cannot work out must not sink the file
            report.skip(uid, import_words.UNWORKABLE, detail=short_error(exc), **_which(by_uid[uid]))
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
        report.skip(uid, import_words.UNWORKABLE, detail=_series_error(by_uid[uid]), **_which(by_uid[uid]))
        events.protected_uids.add(uid)
    return found


def _title(events: list[icalendar.Event]) -> str | None:
    """The series' title, as staff know it (the SUMMARY of its main event, else of any)."""
    for event in sorted(events, key=lambda e: "RECURRENCE-ID" in e):
        summary = str(event.get("SUMMARY") or "").strip()
        if summary:
            return summary
    return None


def _which(events: list[icalendar.Event]) -> dict:
    """The title and first day of a series, for a skipped item."""
    days = [value.date() if isinstance(value, dt.datetime) else value
            for value in (getattr(event.get("DTSTART"), "dt", None) for event in events)
            if isinstance(value, dt.date)]
    return {"title": _title(events), "day": min(days, default=None)}


def _series_error(events: list[icalendar.Event]) -> str:
    """Why recurring-ical-events refused a series (it only says so when asked on its own)."""
    calendar = icalendar.Calendar()
    for event in events:
        calendar.add_component(event)
    try:
        recurring_ical_events.of(calendar)
    except Exception as exc:  # noqa: BLE001 - the message is all we want
        return short_error(exc)
    return "unknown error"


def _occurrences_in_window(series: Any, events: list[icalendar.Event], window: ImportWindow, context: ImportContext,
                           limits: ImportLimits, report: ImportReport,
                           deadline: Deadline) -> tuple[list[tuple[_Occurrence, dt.datetime]], bool]:
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
        first_start = min(to_utc(e["DTSTART"].dt, context.practice_tz) for e in events if "RRULE" in e)
        before_window = (window.start - first_start).total_seconds() / gap.seconds
        if gap.count is not None:
            before_window = min(before_window, gap.count)  # COUNT stops the rule however often it repeats
        if before_window > limits.max_repetitions_before_window:
            report.skip(uid, import_words.TOO_MANY_BEFORE_WINDOW, detail=gap.words, title=_title(events),
                        day=first_start.astimezone(context.practice_tz).date())
            return [], False
        chunk = min(chunk, max(dt.timedelta(seconds=gap.seconds * cap), dt.timedelta(seconds=cap)))
    result: list[tuple[_Occurrence, dt.datetime]] = []
    chunk_start = window.start
    while chunk_start < window.end:
        deadline.check("working out repeating events")
        chunk_end = min(chunk_start + chunk, window.end)
        starts = []
        for occurrence in series.between(chunk_start, chunk_end):
            starts_at = to_utc(occurrence.start, context.practice_tz)
            if chunk_start <= starts_at < chunk_end:  # the span also returns occurrences that only overlap it
                starts.append((starts_at, occurrence))
        starts.sort(key=lambda pair: pair[0])
        result.extend((occurrence, starts_at) for starts_at, occurrence in starts)
        if len(result) > cap:
            report.skip(uid, import_words.TOO_MANY_IN_WINDOW, detail=str(cap), title=_title(events),
                        day=result[0][1].astimezone(context.practice_tz).date())
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


def _found(occurrence: _Occurrence, starts_at: dt.datetime, info: EventInfo, single: bool,
           context: ImportContext) -> Found:
    all_day = not isinstance(occurrence.start, dt.datetime)
    ends_at = max(to_utc(occurrence.end, context.practice_tz), starts_at)
    if single:
        recurrence_id = ""
    elif info.recurrence_key and occurrence.start == occurrence.adapter.start:
        recurrence_id = info.recurrence_key  # an override: it stands in for the occurrence it moved
    else:  # the occurrence's own start, already in UTC (converting again is slow for zones from VTIMEZONEs)
        recurrence_id = occurrence.start.isoformat() if all_day else starts_at.strftime(RECURRENCE_ID_FORMAT)
    content_hash = hash_of([info.content_hash, starts_at.isoformat(), ends_at.isoformat(), all_day])
    return Found(uid=info.uid, recurrence_id=recurrence_id, starts_at=starts_at, ends_at=ends_at, all_day=all_day,
                  info=info, content_hash=content_hash)


