"""Undoing a wrong import, or a calendar that should never have been added.

Removing an import cancels the future visits it brought in (the appointments
it created, or brought back after a cancellation); removing a calendar cancels every future visit of it and stops
its feed. What already happened stays exactly as it is: past visits and their
outcomes, calls and their notes, texts already sent. The cancelled visits
leave the call lists the way any cancellation does (their tasks set aside with
their history) and their pending arrival texts are cancelled, both through
`calendar_intake.appointments_changed`. Every removal leaves an AuditEvent.

`plan_*` says what a removal would do, for the confirmation step; `remove_*`
does it. No Flask here: callers pass the session and commit.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from outreach.models import Appointment, CalendarSource, CallTask, ImportRun, Notification, User
from outreach.services import arrival_texts, audit, calendar_intake
from outreach.services.notification_status import PENDING


class RemovalError(ValueError):
    """Why this cannot be removed, in words for staff."""


@dataclass
class Removal:
    """What a removal cancels, sets aside and keeps."""

    visits: list[Appointment]  # future, not cancelled: these are cancelled
    call_tasks: int  # active call tasks of those visits, set aside with their history
    texts: int  # pending arrival texts of those visits, cancelled
    past_visits: int  # visits that already began: kept as they are

    @property
    def visit_ids(self) -> list[int]:
        return [visit.id for visit in self.visits]

    def as_json(self) -> dict:
        return {"visits_cancelled": len(self.visits), "call_tasks_set_aside": self.call_tasks,
                "texts_cancelled": self.texts, "past_visits_kept": self.past_visits}


def _of_import(run: ImportRun) -> tuple:
    """The appointments an import brought in: created by it, or brought back by it after a cancellation."""
    return Appointment.source_id == run.source_id, Appointment.import_run_id == run.id


def _of_calendar(source: CalendarSource) -> tuple:
    return (Appointment.source_id == source.id,)


def _plan(session: Session, where: tuple, now: dt.datetime) -> Removal:
    visits = list(session.scalars(
        select(Appointment).where(*where, Appointment.starts_at >= now, Appointment.status != "cancelled")
        .order_by(Appointment.starts_at, Appointment.id)))
    ids = [visit.id for visit in visits]
    call_tasks = texts = 0
    if ids:
        call_tasks = session.scalar(select(func.count()).select_from(CallTask).where(
            CallTask.appointment_id.in_(ids), CallTask.state == "active"))
        texts = session.scalar(select(func.count()).select_from(Notification).where(
            Notification.appointment_id.in_(ids), Notification.kind == arrival_texts.ARRIVAL,
            Notification.status == PENDING))
    past_visits = session.scalar(select(func.count()).select_from(Appointment).where(
        *where, Appointment.starts_at < now))
    return Removal(visits=visits, call_tasks=call_tasks, texts=texts, past_visits=past_visits)


def plan_import_removal(session: Session, run: ImportRun, now: dt.datetime) -> Removal:
    return _plan(session, _of_import(run), now)


def plan_calendar_removal(session: Session, source: CalendarSource, now: dt.datetime) -> Removal:
    return _plan(session, _of_calendar(source), now)


def remove_import(session: Session, run: ImportRun, *, actor: User | str, now: dt.datetime) -> Removal:
    """Cancels the future visits `run` brought in and marks the run removed; flushes, the caller commits."""
    if run.removed_at is not None:
        raise RemovalError("this import was already removed")
    if run.status != "imported":
        raise RemovalError("this import brought nothing in, so there is nothing to remove")
    removal = _cancel(session, plan_import_removal(session, run, now), run.source, now)
    run.removed_at = now
    audit.record(session, practice_id=run.practice_id, action="import.removed", obj=run, actor=actor,
                 source_id=run.source_id, file=run.filename, **removal.as_json())
    session.flush()
    return removal


def remove_calendar(session: Session, source: CalendarSource, *, actor: User | str, now: dt.datetime) -> Removal:
    """Cancels every future visit of `source` and stops it; flushes, the caller commits.

    The calendar's row stays (its past visits and imports point at it); a
    file uploaded for the same practitioner afterwards brings it back.
    """
    if source.removed_at is not None:
        raise RemovalError("this calendar was already removed")
    removal = _cancel(session, plan_calendar_removal(session, source, now), source, now)
    source.removed_at = now
    audit.record(session, practice_id=source.practice_id, action="calendar.removed", obj=source, actor=actor,
                 name=source.name, kind=source.kind, url=source.url, **removal.as_json())
    session.flush()
    return removal


def _cancel(session: Session, removal: Removal, source: CalendarSource, now: dt.datetime) -> Removal:
    ids = removal.visit_ids
    if ids:
        # An empty content hash makes a later import of the same event bring the visit back.
        session.execute(update(Appointment).where(Appointment.id.in_(ids)).values(
            status="cancelled", cancelled_at=now, content_hash="", updated_at=now))
        session.expire_all()
        calendar_intake.appointments_changed(session, ids, now=now)
    _forget_fingerprints(session, source)
    return removal


def _forget_fingerprints(session: Session, source: CalendarSource) -> None:
    """Importing the same file again after a removal must really import it, not be taken for a no-op."""
    for run in session.scalars(select(ImportRun).where(ImportRun.source_id == source.id,
                                                       ImportRun.status == "imported")):
        if run.report.get("fingerprint"):
            run.report = {**run.report, "fingerprint": None}


def import_runs(practice_id: int) -> Select:
    """Every import of the practice, newest first (for paging)."""
    return (select(ImportRun).where(ImportRun.practice_id == practice_id)
            .order_by(ImportRun.created_at.desc(), ImportRun.id.desc()))


@dataclass(frozen=True)
class CalendarCounts:
    upcoming: int = 0  # future visits not cancelled
    past: int = 0  # visits that already began, not cancelled
    cancelled: int = 0
    imports: int = 0


def calendar_counts(session: Session, practice_id: int, now: dt.datetime) -> dict[int, CalendarCounts]:
    """Per calendar source of the practice: its visits to come, past and cancelled, and how many imports it had."""
    not_cancelled = Appointment.status != "cancelled"
    visits = {
        source_id: (upcoming, past, cancelled)
        for source_id, upcoming, past, cancelled in session.execute(
            select(Appointment.source_id,
                   func.count().filter(not_cancelled, Appointment.starts_at >= now),
                   func.count().filter(not_cancelled, Appointment.starts_at < now),
                   func.count().filter(Appointment.status == "cancelled"))
            .where(Appointment.practice_id == practice_id).group_by(Appointment.source_id))
    }
    imports = dict(session.execute(select(ImportRun.source_id, func.count()).where(
        ImportRun.practice_id == practice_id).group_by(ImportRun.source_id)).all())
    return {
        source_id: CalendarCounts(*visits.get(source_id, (0, 0, 0)), imports=imports.get(source_id, 0))
        for source_id in set(visits) | set(imports)
    }
