"""What became of a visit: staff or the practitioner mark it attended, no-show, cancelled late or rescheduled.

The mark is `Appointment.visit_outcome` (with `visit_outcome_at`), and every
change leaves an AuditEvent. Only visits that have begun can be marked.

The calendar has the last word on cancellations: a visit whose event was
cancelled before it was due to start (`status == "cancelled"` with
`cancelled_at` before `starts_at`) counts as "cancelled" whatever was marked,
so a client who called ahead is never counted as a no-show. An event with no
`cancelled_at` is taken as cancelled ahead too: nothing says it was later.
A cancellation entered after the start (staff tidying up the calendar after a
no-show) leaves the mark as it is. `effective_outcome` says this in SQL, for
the figures and the export.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import and_, case, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from outreach.models import MAX_ID, VISIT_OUTCOMES, Appointment, User
from outreach.services import audit

# The outcome the figures give a visit the calendar shows cancelled ahead of time.
CANCELLED = "cancelled"
# Marks that say the client did not come: their next visit is still their first.
DID_NOT_COME = ("no_show", "cancelled_late", "rescheduled")


def counts_as_earlier_visit(visit: type[Appointment] = Appointment) -> ColumnElement[bool]:
    """SQL: `visit` makes a later visit of its client a returning one: not cancelled, and not marked as a
    visit they did not come to (a client who missed their first visit has still not met the practitioner)."""
    return and_(visit.status != "cancelled",
                or_(visit.visit_outcome.is_(None), visit.visit_outcome.not_in(DID_NOT_COME)))


class VisitOutcomeError(ValueError):
    """Why a visit cannot be marked, in words for the person marking it."""


class UnknownOutcome(VisitOutcomeError):
    def __init__(self, given: str) -> None:
        super().__init__(f"{given!r} is not a visit outcome; use one of {', '.join(VISIT_OUTCOMES)}")


class VisitStillToCome(VisitOutcomeError):
    pass


def parse_outcome(text: str) -> str:
    """A visit outcome from how people write it: "no-show", "No show" and "no_show" are the same."""
    outcome = "_".join(text.strip().lower().replace("-", " ").split())
    if outcome not in VISIT_OUTCOMES:
        raise UnknownOutcome(text)
    return outcome


def _check(appointment: Appointment, outcome: str, now: dt.datetime) -> None:
    if outcome not in VISIT_OUTCOMES:
        raise UnknownOutcome(outcome)
    if appointment.starts_at > now:
        raise VisitStillToCome(
            f"Visit {appointment.id} is on {appointment.starts_at:%Y-%m-%d %H:%M} UTC, still to come: "
            "only a visit that has begun can be marked.")


def mark_visit(session: Session, appointment: Appointment, outcome: str, actor: User | str,
               now: dt.datetime) -> bool:
    """Marks what became of `appointment`; returns whether that changed anything.

    Raises VisitOutcomeError for an unknown outcome or a visit still to come.
    Flushes; the caller commits.
    """
    _check(appointment, outcome, now)
    if appointment.visit_outcome == outcome:
        return False
    previous = appointment.visit_outcome
    appointment.visit_outcome = outcome
    appointment.visit_outcome_at = now
    session.flush()
    audit.record(session, practice_id=appointment.practice_id, action="visit.outcome_marked", obj=appointment,
                 actor=actor, outcome=outcome, previous=previous)
    return True


@dataclass(frozen=True)
class MarkRequest:
    """One visit to mark, as written by a person (e.g. one line of a CSV file)."""

    appointment_id: str
    outcome: str
    line: int | None = None  # where it was written, to point at in errors


@dataclass(frozen=True)
class MarkProblem:
    request: MarkRequest
    message: str


@dataclass
class MarkReport:
    marked: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)  # already had that outcome
    problems: list[MarkProblem] = field(default_factory=list)


def mark_visits(session: Session, practice_id: int, requests: list[MarkRequest], actor: User | str,
                now: dt.datetime) -> MarkReport:
    """Marks many visits of one practice, all or nothing.

    Every request is checked first; if any is wrong (unknown visit, another
    practice's, still to come, unknown outcome, the same visit twice) nothing
    is marked and the report lists every problem. Flushes; the caller commits.
    """
    report = MarkReport()
    wanted: list[tuple[MarkRequest, int, str]] = []
    for request in requests:
        try:
            appointment_id = int(request.appointment_id)
            if not 1 <= appointment_id <= MAX_ID:
                raise ValueError("no row has this id")
        except (TypeError, ValueError):
            report.problems.append(MarkProblem(request, f"{request.appointment_id!r} is not a visit id"))
            continue
        try:
            wanted.append((request, appointment_id, parse_outcome(request.outcome)))
        except VisitOutcomeError as exc:
            report.problems.append(MarkProblem(request, str(exc)))

    ids = [appointment_id for _, appointment_id, _ in wanted]
    found = {appointment.id: appointment for appointment in session.scalars(
        select(Appointment).where(Appointment.practice_id == practice_id, Appointment.id.in_(ids)))}
    seen: set[int] = set()
    for request, appointment_id, outcome in wanted:
        if appointment_id in seen:
            report.problems.append(MarkProblem(request, f"visit {appointment_id} is given more than once"))
            continue
        seen.add(appointment_id)
        if appointment_id not in found:
            report.problems.append(MarkProblem(request, f"there is no visit {appointment_id} in this practice"))
            continue
        try:
            _check(found[appointment_id], outcome, now)
        except VisitOutcomeError as exc:
            report.problems.append(MarkProblem(request, str(exc)))

    if report.problems:
        report.problems.sort(key=lambda problem: problem.request.line or 0)
        return report
    for _, appointment_id, outcome in wanted:
        changed = mark_visit(session, found[appointment_id], outcome, actor, now)
        (report.marked if changed else report.unchanged).append(appointment_id)
    return report


def effective_outcome() -> ColumnElement[str | None]:
    """SQL: what became of an Appointment for the figures: "cancelled" (ahead, per the calendar), else its mark."""
    cancelled_ahead = and_(Appointment.status == "cancelled",
                           or_(Appointment.cancelled_at.is_(None), Appointment.cancelled_at < Appointment.starts_at))
    return case((cancelled_ahead, CANCELLED), else_=Appointment.visit_outcome)
