"""Importing appointment calendars (.ics files and feed downloads) as appointments.

One file goes through five steps, one module each, each bounded so that a hostile or broken
file ends in a clear message instead of a crash, a hang or a memory blow-up:

1. `read`: size cap, byte-level unfolding (a fold may split a UTF-8 sequence),
   decoding (UTF-8, else Windows-1252/Latin-1), line-length cap;
2. `split`: the file's top-level structure (VCALENDARs, or bare VEVENTs) with a
   nesting cap, so that icalendar then parses every VEVENT and VTIMEZONE on
   its own and one broken component never sinks the file;
   then `changes`: the events grouped by UID and fingerprinted as text
   (without DTSTAMP and LAST-MODIFIED, which producers re-issue on every
   download); only groups that differ from the source's last import are
   parsed, and single events far outside the window are not either;
3. `parse`: events repaired where the intent is clear (DTEND before DTSTART, a
   negative DURATION, an empty EXDATE), skipped with a reason where it is not
   (no DTSTART, unreadable RRULE); UIDs derived where missing; floating times
   and TZIDs nobody defines placed in the calendar's X-WR-TIMEZONE, else the
   practice's zone (with x-wr-timezone's walker); duplicates resolved
   (highest SEQUENCE, then latest LAST-MODIFIED/DTSTAMP, then the later one);
4. `expand`: recurring-ical-events, series by series, in chunks small enough
   that no chunk can hold much more than the per-series cap;
5. `apply`: inside one SAVEPOINT; rows compared by content hash, new rows
   inserted and changed rows updated in bulk, occurrences that vanished
   cancelled.

`context` holds where an import happens (practice, zone, window, deadline),
`report` its limits and what it did, `places` the at-the-client's-place rule.

An unchanged re-import costs almost nothing: a file identical to the source's
last import (same bytes, window and settings, and no appointment rows
removed since) is recognised by its fingerprint before parsing; a re-issued
file (new DTSTAMPs, a few moved visits) costs reading its text and parsing
what changed.

No Flask here: callers pass the SQLAlchemy session and commit.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.models import Appointment, CalendarSource, ImportRun, Practitioner
from outreach.services.ics_import import changes
from outreach.services.ics_import.apply import apply_occurrences
from outreach.services.ics_import.context import (
    Deadline,
    ImportContext,
    ImportWindow,
    megabytes,
    to_utc,
)
from outreach.services.ics_import.expand import Found, expand_occurrences
from outreach.services.ics_import.parse import Events, parse_events
from outreach.services.ics_import.places import is_at_client_place
from outreach.services.ics_import.read import read_text
from outreach.services.ics_import.report import ImportFailed, ImportLimits, ImportReport
from outreach.services.ics_import.split import split_components

__all__ = [
    "ImportFailed", "ImportLimits", "ImportReport", "ImportWindow", "import_calendar", "is_at_client_place",
    "record_import_run", "report_rows", "size_problem", "uploaded_files_source",
]

logger = logging.getLogger(__name__)

UPLOADED_FILES_SOURCE_NAME = "Uploaded files"


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
        context = ImportContext.of(source)
        window = ImportWindow.around(now, context.practice_tz, window_start, window_end)
        facts = _import_facts(window, context, limits, cancel_vanished)
        fingerprint = _hash([hashlib.sha256(data).hexdigest(), facts])
        last = _last_import(session, source)
        rows_before = report_rows(session, source)
        # Rows removed since the last import would be missing from what it left behind.
        rows_as_left = (last or {}).get("rows", 0) == rows_before
        if last and rows_as_left and last.get("fingerprint") == fingerprint:
            report = _already_imported(last, filename, source)
            rows_after = rows_before
        else:
            report, added = _import_changes(session, source, data, filename, context, window, facts, now,
                                            limits, cancel_vanished, rows_as_left, run.id)
            rows_after = rows_before + added
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
        return f"the file is {megabytes(size)}, more than the {megabytes(limits.max_bytes)} limit"
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


def _import_changes(session: Session, source: CalendarSource, data: bytes, filename: str, context: ImportContext,
                    window: ImportWindow, facts: list[Any], now: dt.datetime, limits: ImportLimits,
                    cancel_vanished: bool, rows_as_left: bool, run_id: int) -> tuple[ImportReport, int]:
    """Reads the file, parses the events that changed since the source's last import, and applies them.

    Returns the report and how many appointment rows were added.
    """
    report = ImportReport(file=filename, source_id=source.id)
    deadline = Deadline(limits.time_limit_seconds)
    calendars = split_components(read_text(data, limits), limits, deadline)
    plan = changes.plan_changes(session, source, calendars, facts, window, rows_trusted=rows_as_left)
    events = parse_events(plan.calendars, context, report, deadline)
    if plan.disagrees_with(events):
        # An event that was not parsed shares its UID with one that was (written differently): read it all.
        plan = changes.parse_everything(plan, calendars)
        report = ImportReport(file=filename, source_id=source.id)
        events = parse_events(plan.calendars, context, report, deadline)
    if not (plan.unchanged and source.learned_summary_format):
        # The layout is learned from the whole calendar (at least daily: the window moves with the day, and
        # then every event is read); a re-sync that reads only what changed keeps it.
        context = context.learning_layout(source, (info.summary for info in events.info.values()))
    events.uids |= set(plan.outside_window)
    found = expand_occurrences(events, window, context, limits, report, deadline)
    _count_outside_window(report, events, found, window, context, plan)
    with session.begin_nested():
        added = apply_occurrences(session, source, context, events, found, window, now, cancel_vanished, report,
                                  deadline, rows_of=plan.rows_to_compare(events, cancel_vanished), run_id=run_id)
        unchanged = sum(plan.unchanged.values())
        report.occurrences += unchanged
        report.unchanged += unchanged
        report.needs_attention += changes.needs_attention_of_unchanged(session, source, plan, window)
        changes.remember(session, source, plan, events, found, cancel_vanished)
    return report, added


def _import_facts(window: ImportWindow, context: ImportContext, limits: ImportLimits,
                  cancel_vanished: bool) -> list[Any]:
    """Everything besides the file that changes what an import does."""
    return [window.start.isoformat(), window.end.isoformat(), context.key, limits.max_occurrences_per_series,
            limits.max_repetitions_before_window, cancel_vanished]


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()


def _last_import(session: Session, source: CalendarSource) -> dict[str, Any] | None:
    """The report of the source's last successful import, with its fingerprint and row count."""
    return session.scalar(
        select(ImportRun.report)
        .where(ImportRun.source_id == source.id, ImportRun.status == "imported")
        .order_by(ImportRun.id.desc())
        .limit(1)
    )


def _already_imported(last: dict[str, Any], filename: str, source: CalendarSource) -> ImportReport:
    """The report of a no-op: this exact import already happened and nothing was removed since."""
    return ImportReport(file=filename, source_id=source.id, occurrences=last["occurrences"],
                        unchanged=last["occurrences"], skipped=last["skipped"],
                        needs_attention=last["needs_attention"], events=last.get("events", 0),
                        before_window=last.get("before_window", 0), after_window=last.get("after_window", 0),
                        window_start=last.get("window_start"), window_end=last.get("window_end"))


def _count_outside_window(report: ImportReport, events: Events, found: list[Found], window: ImportWindow,
                          context: ImportContext, plan: changes.ChangePlan) -> None:
    """How many usable events fall wholly before or after the window: why a file may import nothing.

    Events known without parsing count too: unchanged ones, and those far outside the window.
    """
    report.window_start = window.start.date().isoformat()
    report.window_end = (window.end - dt.timedelta(days=1)).date().isoformat()
    first_starts: dict[str, dt.datetime] = {}
    for event in events.events:
        uid = events.info[id(event)].uid
        if uid not in events.protected_uids:
            start = to_utc(event["DTSTART"].dt, context.practice_tz)
            first_starts[uid] = min(first_starts.get(uid, start), start)
    report.events = len(first_starts) + len(plan.outside_window) + len(plan.unchanged)
    report.before_window += sum(side == "before" for side in plan.outside_window.values())
    report.after_window += sum(side == "after" for side in plan.outside_window.values())
    inside = {item.uid for item in found}
    for uid, start in first_starts.items():
        if uid not in inside:
            report.before_window += start < window.start
            report.after_window += start >= window.end
