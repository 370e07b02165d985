"""Calendars synced on a schedule (feeds; CalDAV calendars plug in the same way), each sync a job of its own.

Every kind of source that is synced names its sync function in `SYNCERS`;
the scheduler knows nothing else about it. Each source is due at its own
moment: at a stable offset inside its interval (from its id), so that a
few hundred feeds with the same 30-minute interval are spread over the 30
minutes instead of all falling on one tick. The periodic tick claims the
due sources (a conditional UPDATE that pushes `next_sync_at` a lease ahead,
so overlapping ticks and several workers never sync one source twice at
once, and a lost job only delays its source) and hands each to its own
job: a slow or failing source holds back no other.

A failed sync is retried after its interval, then twice that, four times…
up to `MAX_BACK_OFF`; the first good sync goes back to the regular moments.
No Flask here: callers pass the session.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from outreach.models import CalendarSource, ImportRun
from outreach.services import caldav_sync, credentials, feeds
from outreach.services.ics_import import ImportLimits, ImportReport

logger = logging.getLogger(__name__)

# kind -> sync(session, source, *, now, limits, config): downloads and imports one source, records its
# outcome on the source (last_attempt_at, last_success_at, last_error) and an ImportRun; the caller commits.
# `config` is the app's configuration, for what a kind needs of it (private hosts, the credentials key).
SyncFunction = Callable[..., ImportReport]


def _sync_feed(session: Session, source: CalendarSource, *, now: dt.datetime, limits: ImportLimits,
               config: Mapping[str, Any]) -> ImportReport:
    return feeds.sync_feed(session, source, now=now, limits=limits,
                           allowed_private_hosts=feeds.allowed_private_hosts(config))


def _sync_caldav(session: Session, source: CalendarSource, *, now: dt.datetime, limits: ImportLimits,
                 config: Mapping[str, Any]) -> ImportReport:
    return caldav_sync.sync_source(session, source, now, cipher=credentials.cipher(config), limits=limits)


SYNCERS: dict[str, SyncFunction] = {
    "feed": _sync_feed,
    caldav_sync.KIND: _sync_caldav,
}

MAX_BACK_OFF = dt.timedelta(hours=12)
# How long a claimed source stays claimed: longer than any sync may take (download and import limits).
CLAIM_LEASE = dt.timedelta(minutes=10)
HEALTH_PERIOD = dt.timedelta(days=7)


def is_synced(source: CalendarSource) -> bool:
    return source.kind in SYNCERS


def synced_sources(session: Session) -> list[CalendarSource]:
    """Every source that is synced, but those staff removed."""
    return list(session.scalars(select(CalendarSource).where(CalendarSource.kind.in_(SYNCERS),
                                                             CalendarSource.removed_at.is_(None))
                                .order_by(CalendarSource.id)))


def due_sources(session: Session, now: dt.datetime) -> list[CalendarSource]:
    """Synced sources whose moment has come (never synced ones first)."""
    return list(session.scalars(
        select(CalendarSource)
        .where(CalendarSource.kind.in_(SYNCERS), CalendarSource.removed_at.is_(None),
               or_(CalendarSource.next_sync_at.is_(None), CalendarSource.next_sync_at <= now))
        .order_by(CalendarSource.next_sync_at.is_not(None), CalendarSource.next_sync_at, CalendarSource.id)
    ))


def claim_due_sources(session: Session, now: dt.datetime) -> list[int]:
    """Claims the due sources for this caller (commits); returns their ids, each to be synced by one job."""
    claimed = []
    for source_id in [source.id for source in due_sources(session, now)]:
        result = session.execute(
            update(CalendarSource)
            .where(CalendarSource.id == source_id,
                   or_(CalendarSource.next_sync_at.is_(None), CalendarSource.next_sync_at <= now))
            .values(next_sync_at=now + CLAIM_LEASE)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if result.rowcount == 1:
            claimed.append(source_id)
    return claimed


def sync_sources(session: Session, sources: list[CalendarSource], *, now: dt.datetime, limits: ImportLimits,
                 config: Mapping[str, Any]) -> list[ImportReport]:
    """Syncs the sources in turn, committing after each so one source's trouble never undoes another's work."""
    reports = []
    for source in sources:
        source_id, name = source.id, source.url or source.name
        try:
            report = SYNCERS[source.kind](session, source, now=now, limits=limits, config=config)
            schedule_next(source, report, now)
            session.commit()
        except Exception:
            # The database itself failed; the other sources may still go through.
            logger.exception("syncing calendar source %s failed", source_id)
            session.rollback()
            report = ImportReport.failed(name, "the sync failed unexpectedly (the error was logged)", source_id)
            source = session.get(CalendarSource, source_id)
            if source is not None:
                source.last_attempt_at, source.last_error = now, report.error
                schedule_next(source, report, now)
                session.commit()
        reports.append(report)
    return reports


def schedule_next(source: CalendarSource, report: ImportReport, now: dt.datetime) -> None:
    """After a good sync the next regular moment; after a failed one a back-off that doubles each time."""
    if report.status == "error":
        source.failed_syncs = (source.failed_syncs or 0) + 1
        source.next_sync_at = now + back_off(source.sync_interval_minutes, source.failed_syncs)
    else:
        source.failed_syncs = 0
        source.next_sync_at = next_regular_sync(source, now)


def back_off(interval_minutes: int, failed_syncs: int) -> dt.timedelta:
    interval = dt.timedelta(minutes=max(interval_minutes, 1))
    return min(interval * 2 ** min(failed_syncs - 1, 20), MAX_BACK_OFF)


def next_regular_sync(source: CalendarSource, after: dt.datetime) -> dt.datetime:
    """The source's next moment after `after`: every interval, at the source's own offset inside it."""
    period = max(source.sync_interval_minutes, 1) * 60
    offset = int(hashlib.sha256(f"calendar-source-{source.id}".encode()).hexdigest(), 16) % period
    seconds = int(after.timestamp()) - offset
    return dt.datetime.fromtimestamp(seconds - seconds % period + period + offset, dt.UTC)


@dataclass(frozen=True)
class SourceHealth:
    """How a synced source has been doing, for the calendars page."""

    syncs: int  # in the last HEALTH_PERIOD, good ones (changed or not)
    changed: int  # of those, how many changed an appointment
    last_change_at: dt.datetime | None


def health(session: Session, sources: list[CalendarSource], now: dt.datetime) -> dict[int, SourceHealth]:
    """Per synced source: how many good syncs it had lately and how many of them changed something."""
    ids = [source.id for source in sources if is_synced(source)]
    if not ids:
        return {}
    runs = session.execute(
        select(ImportRun.source_id, ImportRun.status, ImportRun.report, ImportRun.created_at)
        .where(ImportRun.source_id.in_(ids), ImportRun.created_at >= now - HEALTH_PERIOD,
               ImportRun.status.in_(("imported", "not_modified")))
        .order_by(ImportRun.id)
    ).all()
    syncs: dict[int, int] = dict.fromkeys(ids, 0)
    changed: dict[int, int] = dict.fromkeys(ids, 0)
    last_change: dict[int, dt.datetime | None] = dict.fromkeys(ids)
    for source_id, status, report, created_at in runs:
        syncs[source_id] += 1
        if status == "imported" and any((report or {}).get(key) for key in ("created", "updated", "cancelled")):
            changed[source_id] += 1
            last_change[source_id] = created_at
    return {source_id: SourceHealth(syncs[source_id], changed[source_id], last_change[source_id]) for source_id in ids}
