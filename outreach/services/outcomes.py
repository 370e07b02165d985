"""What the calls and texts achieved: a practice's figures over a range of ISO weeks.

A randomised trial (Parikh et al., Am J Med 2010, about 9,800 patients) found
no-shows of 13.6% after a personal call, 17.3% after an automated message and
23.1% with no reminder. The headline here is a practice's own version of that
table: the first-visit no-show rate of clients reached by phone before the
visit, of those on a call list but not reached, and of those never on a list.

Definitions, shared by the outcomes page, the plots, the report and the export:

- Weeks are ISO weeks in the practice's time zone. Call-list figures go by the
  list's week, visits by the week they were due, texts by when they were due,
  opt-outs by when the client opted out.
- A first visit is an appointment with a client who has no earlier appointment
  in the practice that was not cancelled (the rule the call lists use). It may
  itself be cancelled: then it counts as cancelled.
- Reached before the visit: a call attempt on a task for that visit with the
  outcome "reached", started before the visit began. First visits fall in
  three groups: reached; not reached (a call task exists for the visit, in any
  state, but nobody was reached before it); no list (no call task at all).
- No-show rate: no-shows out of first visits whose outcome is known (attended,
  no-show, cancelled late, rescheduled, or cancelled ahead per the calendar,
  see `visit_outcomes`). Like the trial's, the rate counts against every
  visit that was booked, so a call that turns a no-show into a rescheduled
  visit lowers it. Visits not marked yet are left out and counted as `unmarked`.
- Call lists: active tasks on the week's lists (tasks set aside because the
  visit went away are not on the list). Called: at least one attempt.
  Voicemails and attempts count call attempts.
- Call-backs: attempts with direction "inbound" (the client called the
  practice number back and was put through to the practitioner). A reached
  call-back counts as reached; "reached without call-backs" counts only the
  practice's own calls. Voicemail drops: attempts on which the practitioner's
  recorded greeting was left; "reached or greeting left" counts those tasks
  as contacted too.
- Arrival texts (kind "arrival"): sent means Twilio accepted it (it has a
  message SID); delivered includes "read"; failed is "failed" or
  "undelivered" (including texts Twilio refused); replied means a reply came
  in for the same visit after the text was sent.
- Opt-outs: clients opted out now, by the week they opted out; with a
  practitioner chosen, those who have any visit with that practitioner.

Each figure is one GROUP BY query over the range, with each row labelled by a
CASE over the weeks' bounds, so the work grows with the range, not the history.
No Flask here: the web, the CLI and tests call it with a session.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Self, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, Select, and_, case, cast, exists, func, or_, select, union_all
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from outreach.models import (
    Appointment,
    CallAttempt,
    CallList,
    CallTask,
    Client,
    InboundMessage,
    Notification,
    Practice,
    Practitioner,
)
from outreach.services import csv_files
from outreach.services.call_lists import WeekError, parse_week, week_label, week_to_show
from outreach.services.visit_outcomes import counts_as_earlier_visit, effective_outcome

# Longest range the figures are asked for: two years of weeks.
MAX_WEEKS = 105
DELIVERED = ("delivered", "read")
FAILED = ("failed", "undelivered")
GROUPS = ("reached", "not_reached", "no_list")


# --- Weeks ------------------------------------------------------------------------------------


def weeks_between(first: str, last: str) -> list[str]:
    """Every ISO week from `first` to `last`, both included; WeekError for a wrong or too long range."""
    start, end = parse_week(first), parse_week(last)
    if end < start:
        raise WeekError(f"{first} comes after {last}")
    count = (end - start).days // 7 + 1
    if count > MAX_WEEKS:
        raise WeekError(f"choose at most {MAX_WEEKS} weeks")
    return [week_label(start + dt.timedelta(weeks=offset)) for offset in range(count)]


def recent_weeks(practice: Practice, now: dt.datetime, count: int) -> list[str]:
    """The last `count` ISO weeks up to and including the week being called for.

    That is the practice's current week, and from Friday on next week, whose
    list the practitioners call over the weekend: the calls just made count.
    """
    last_monday = week_to_show(practice, now)
    return [week_label(last_monday - dt.timedelta(weeks=back)) for back in range(count - 1, -1, -1)]


def weeks_for_months(practice: Practice, now: dt.datetime, months: int) -> list[str]:
    """The weeks of about the last `months` months (52 weeks a year), up to the current week."""
    return recent_weeks(practice, now, max(1, round(months * 52 / 12)))


@dataclass(frozen=True)
class _Span:
    """A set of ISO weeks of one practice as UTC bounds, and SQL that labels a timestamp with its week."""

    bounds: tuple[tuple[str, dt.datetime, dt.datetime], ...]

    @classmethod
    def of(cls, weeks: Iterable[str], timezone: str) -> Self:
        zone = ZoneInfo(timezone)
        bounds = []
        for week in sorted(set(weeks)):
            monday = parse_week(week)
            start = dt.datetime.combine(monday, dt.time(0), zone)
            end = dt.datetime.combine(monday + dt.timedelta(weeks=1), dt.time(0), zone)
            bounds.append((week, start.astimezone(dt.timezone.utc), end.astimezone(dt.timezone.utc)))
        if not bounds:
            raise WeekError("choose at least one week")
        return cls(tuple(bounds))

    @property
    def labels(self) -> list[str]:
        return [week for week, _, _ in self.bounds]

    def covers(self, column: ColumnElement) -> ColumnElement[bool]:
        return and_(column >= self.bounds[0][1], column < self.bounds[-1][2])

    def week_of(self, column: ColumnElement) -> ColumnElement[str | None]:
        return case(*[(and_(column >= start, column < end), week) for week, start, end in self.bounds], else_=None)


# --- Figures ----------------------------------------------------------------------------------


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


class _Counts:
    """Counts that add up field by field, so the weeks sum to the range's totals."""

    def __add__(self, other: Self) -> Self:
        return type(self)(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


@dataclass(frozen=True)
class CallFigures(_Counts):
    tasks: int = 0  # clients on the call lists
    called: int = 0  # tasks with at least one attempt
    reached: int = 0  # tasks whose client was reached before the visit
    voicemails: int = 0  # attempts that left a voicemail
    attempts: int = 0
    callbacks: int = 0  # calls the clients made back to the practice (attempts with direction "inbound")
    reached_by_callback_only: int = 0  # tasks reached before the visit only when the client called back
    voicemail_drops: int = 0  # attempts where the practitioner's recorded greeting was left
    reached_or_greeting_left: int = 0  # tasks reached before the visit, or with the greeting left on voicemail

    @property
    def share_called(self) -> float | None:
        return _share(self.called, self.tasks)

    @property
    def share_reached(self) -> float | None:
        return _share(self.reached, self.tasks)

    @property
    def share_reached_without_callbacks(self) -> float | None:
        """The reach rate had nobody called back: reached by the practice's own calls."""
        return _share(self.reached - self.reached_by_callback_only, self.tasks)

    @property
    def share_reached_or_greeting_left(self) -> float | None:
        """The reach rate counting a greeting left by voicemail drop as a contact."""
        return _share(self.reached_or_greeting_left, self.tasks)

    @property
    def attempts_per_task(self) -> float | None:
        return _share(self.attempts, self.tasks)


@dataclass(frozen=True)
class VisitCounts(_Counts):
    """First visits by what became of them."""

    attended: int = 0
    no_show: int = 0
    cancelled_late: int = 0
    rescheduled: int = 0
    cancelled: int = 0  # ahead of time, per the calendar
    unmarked: int = 0  # nobody has said yet (or still to come)

    @property
    def visits(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    @property
    def known(self) -> int:
        return self.visits - self.unmarked

    @property
    def no_show_rate(self) -> float | None:
        return _share(self.no_show, self.known)


@dataclass(frozen=True)
class FirstVisitFigures(_Counts):
    reached: VisitCounts = field(default_factory=VisitCounts)  # by phone, before the visit
    not_reached: VisitCounts = field(default_factory=VisitCounts)  # on a call list, not reached
    no_list: VisitCounts = field(default_factory=VisitCounts)  # never on a call list

    @property
    def all(self) -> VisitCounts:
        return self.reached + self.not_reached + self.no_list


@dataclass(frozen=True)
class TextFigures(_Counts):
    """Arrival texts."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    replied: int = 0


@dataclass(frozen=True)
class Figures(_Counts):
    calls: CallFigures = field(default_factory=CallFigures)
    first_visits: FirstVisitFigures = field(default_factory=FirstVisitFigures)
    texts: TextFigures = field(default_factory=TextFigures)
    opt_outs: int = 0


@dataclass(frozen=True)
class OutcomeFigures:
    practice_id: int
    practitioner_id: int | None  # None: the whole practice
    per_week: dict[str, Figures]  # every week of the range, in order
    totals: Figures

    @property
    def weeks(self) -> list[str]:
        return list(self.per_week)

    def series(self, pick: Callable[[Figures], float | None]) -> list[float | None]:
        """One value per week, e.g. `series(lambda f: f.calls.share_reached)`."""
        return [pick(week) for week in self.per_week.values()]


def practice_figures(session: Session, practice_id: int, weeks: Sequence[str],
                     practitioner_id: int | None = None) -> OutcomeFigures:
    """The figures of a practice (or one practitioner of it) for `weeks`, per week and in total."""
    practice = session.get(Practice, practice_id)
    span = _Span.of(weeks, practice.timezone)
    calls = _call_figures(session, practice_id, span, practitioner_id)
    first_visits = _first_visit_figures(session, practice_id, span, practitioner_id)
    texts = _text_figures(session, practice_id, span, practitioner_id)
    opt_outs = _opt_outs(session, practice_id, span, practitioner_id)
    per_week = {
        week: Figures(calls=calls.get(week, CallFigures()), first_visits=first_visits.get(week, FirstVisitFigures()),
                      texts=texts.get(week, TextFigures()), opt_outs=opt_outs.get(week, 0))
        for week in span.labels
    }
    return OutcomeFigures(practice_id=practice_id, practitioner_id=practitioner_id, per_week=per_week,
                          totals=sum(per_week.values(), Figures()))


def _tasks_of(practice_id: int, span: _Span, practitioner_id: int | None) -> Select:
    """SELECT CallTask.id of the lists of the span's weeks (of one practitioner, if given), in any state."""
    query = (select(CallTask.id).join(CallList, CallTask.call_list_id == CallList.id)
             .where(CallTask.practice_id == practice_id, CallList.week.in_(span.labels)))
    if practitioner_id is not None:
        query = query.where(CallList.practitioner_id == practitioner_id)
    return query


def _attempts_per_task(practice_id: int, span: _Span, practitioner_id: int | None):
    """Subquery: per task of the span that has attempts, what they came to."""
    reached_before = and_(CallAttempt.outcome == "reached", CallAttempt.started_at < Appointment.starts_at)
    outbound = CallAttempt.direction == "outbound"
    greeting_left = and_(CallAttempt.voicemail_left_at.is_not(None), CallAttempt.started_at < Appointment.starts_at)
    return (
        select(CallAttempt.task_id,
               func.count(CallAttempt.id).label("attempts"),
               func.sum(case((CallAttempt.outcome == "voicemail", 1), else_=0)).label("voicemails"),
               func.max(case((reached_before, 1), else_=0)).label("reached"),
               func.max(case((and_(reached_before, outbound), 1), else_=0)).label("reached_outbound"),
               func.sum(case((CallAttempt.direction == "inbound", 1), else_=0)).label("callbacks"),
               func.sum(case((CallAttempt.voicemail_left_at.is_not(None), 1), else_=0)).label("drops"),
               func.max(case((or_(reached_before, greeting_left), 1), else_=0)).label("contacted"),
               func.min(CallAttempt.started_at).label("first_at"),
               func.max(CallAttempt.started_at).label("last_at"))
        .join(CallTask, CallAttempt.task_id == CallTask.id)
        .join(Appointment, CallTask.appointment_id == Appointment.id)
        .where(CallAttempt.practice_id == practice_id,
               CallAttempt.task_id.in_(_tasks_of(practice_id, span, practitioner_id)))
        .group_by(CallAttempt.task_id)
        .subquery()
    )


def _total(column: ColumnElement) -> ColumnElement[int]:
    """SUM as an integer (PostgreSQL sums big integers as numeric, which Python would get as Decimal)."""
    return cast(func.sum(column), Integer)


def _call_figures(session: Session, practice_id: int, span: _Span,
                  practitioner_id: int | None) -> dict[str, CallFigures]:
    per_task = _attempts_per_task(practice_id, span, practitioner_id)
    attempts = func.coalesce(per_task.c.attempts, 0)
    rows = session.execute(
        select(CallList.week, func.count(CallTask.id), _total(case((attempts > 0, 1), else_=0)),
               _total(func.coalesce(per_task.c.reached, 0)), _total(func.coalesce(per_task.c.voicemails, 0)),
               _total(attempts), _total(func.coalesce(per_task.c.callbacks, 0)),
               _total(func.coalesce(per_task.c.reached, 0) - func.coalesce(per_task.c.reached_outbound, 0)),
               _total(func.coalesce(per_task.c.drops, 0)), _total(func.coalesce(per_task.c.contacted, 0)))
        .join(CallList, CallTask.call_list_id == CallList.id)
        .outerjoin(per_task, per_task.c.task_id == CallTask.id)
        .where(CallTask.id.in_(_tasks_of(practice_id, span, practitioner_id)), CallTask.state == "active")
        .group_by(CallList.week)
    )
    return {week: CallFigures(tasks=tasks, called=called, reached=reached, voicemails=voicemails, attempts=count,
                              callbacks=callbacks, reached_by_callback_only=by_callback_only,
                              voicemail_drops=drops, reached_or_greeting_left=contacted)
            for week, tasks, called, reached, voicemails, count, callbacks, by_callback_only, drops, contacted
            in rows}


def is_first_visit() -> ColumnElement[bool]:
    """SQL: the Appointment is its client's first visit with the practice (no earlier one they came to)."""
    earlier = aliased(Appointment)
    return ~exists().where(
        earlier.client_id == Appointment.client_id, counts_as_earlier_visit(earlier),
        or_(earlier.starts_at < Appointment.starts_at,
            and_(earlier.starts_at == Appointment.starts_at, earlier.id < Appointment.id)))


def unmarked_first_visits(practice: Practice, weeks: Sequence[str], practitioner_id: int | None = None) -> Select:
    """SELECT of the first visits of `weeks` that nobody has said what became of: the figures' "no outcome yet"."""
    span = _Span.of(weeks, practice.timezone)
    query = (select(Appointment)
             .where(Appointment.practice_id == practice.id, Appointment.client_id.is_not(None),
                    span.covers(Appointment.starts_at), is_first_visit(), effective_outcome().is_(None))
             .order_by(Appointment.starts_at, Appointment.id))
    if practitioner_id is not None:
        query = query.where(Appointment.practitioner_id == practitioner_id)
    return query


def _first_visit_figures(session: Session, practice_id: int, span: _Span,
                         practitioner_id: int | None) -> dict[str, FirstVisitFigures]:
    reached = exists().where(CallTask.appointment_id == Appointment.id, CallAttempt.task_id == CallTask.id,
                             CallAttempt.outcome == "reached", CallAttempt.started_at < Appointment.starts_at)
    on_a_list = exists().where(CallTask.appointment_id == Appointment.id)
    visits = (
        select(span.week_of(Appointment.starts_at).label("week"),
               case((reached, "reached"), (on_a_list, "not_reached"), else_="no_list").label("grp"),
               effective_outcome().label("outcome"))
        .where(Appointment.practice_id == practice_id, Appointment.client_id.is_not(None),
               span.covers(Appointment.starts_at), is_first_visit())
    )
    if practitioner_id is not None:
        visits = visits.where(Appointment.practitioner_id == practitioner_id)
    visits = visits.subquery()
    counts: dict[str, dict[str, Counter]] = defaultdict(lambda: {group: Counter() for group in GROUPS})
    for week, group, outcome, number in session.execute(
        select(visits.c.week, visits.c.grp, visits.c.outcome, func.count())
        .group_by(visits.c.week, visits.c.grp, visits.c.outcome)
    ):
        counts[week][group][outcome or "unmarked"] += number
    return {week: FirstVisitFigures(**{group: VisitCounts(**counter) for group, counter in groups.items()})
            for week, groups in counts.items()}


def _text_figures(session: Session, practice_id: int, span: _Span,
                  practitioner_id: int | None) -> dict[str, TextFigures]:
    # Through the client (indexed) to the visit: a reply from them about it, after the text went out.
    replied = exists().where(InboundMessage.client_id == Notification.client_id,
                             InboundMessage.appointment_id == Notification.appointment_id,
                             InboundMessage.kind == "reply", InboundMessage.received_at >= Notification.sent_at)
    texts = (
        select(span.week_of(Notification.due_at).label("week"),
               case((Notification.message_sid.is_not(None), 1), else_=0).label("sent"),
               case((Notification.status.in_(DELIVERED), 1), else_=0).label("delivered"),
               case((Notification.status.in_(FAILED), 1), else_=0).label("failed"),
               case((replied, 1), else_=0).label("replied"))
        .where(Notification.practice_id == practice_id, Notification.kind == "arrival",
               span.covers(Notification.due_at))
    )
    if practitioner_id is not None:
        texts = texts.join(Appointment, Notification.appointment_id == Appointment.id).where(
            Appointment.practitioner_id == practitioner_id)
    texts = texts.subquery()
    rows = session.execute(
        select(texts.c.week, _total(texts.c.sent), _total(texts.c.delivered), _total(texts.c.failed),
               _total(texts.c.replied))
        .group_by(texts.c.week)
    )
    return {week: TextFigures(sent=sent, delivered=delivered, failed=failed, replied=replied_count)
            for week, sent, delivered, failed, replied_count in rows}


def _opt_outs(session: Session, practice_id: int, span: _Span, practitioner_id: int | None) -> dict[str, int]:
    clients = select(span.week_of(Client.opted_out_at).label("week")).where(
        Client.practice_id == practice_id, span.covers(Client.opted_out_at))
    if practitioner_id is not None:
        clients = clients.where(exists().where(Appointment.client_id == Client.id,
                                               Appointment.practitioner_id == practitioner_id))
    clients = clients.subquery()
    return dict(session.execute(select(clients.c.week, func.count()).group_by(clients.c.week)).all())


# --- The clients' questions -------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    text: str  # as first written
    clients: int  # call tasks on which it was asked: one client in one week


def normalise_question(text: str) -> str:
    """The form questions are grouped by: case, spacing and closing punctuation do not matter."""
    return " ".join(text.casefold().split()).strip(" ?!.,;:")


def top_questions(session: Session, practice_id: int, weeks: Sequence[str], practitioner_id: int | None = None,
                  limit: int = 10) -> list[Question]:
    """The questions clients asked most on the calls of `weeks`, each counted once per task.

    Questions are written on attempts and gathered on the task (one per line),
    so both are read and a question found in both counts once.
    """
    practice = session.get(Practice, practice_id)
    tasks = _tasks_of(practice_id, _Span.of(weeks, practice.timezone), practitioner_id)
    written = union_all(
        select(CallAttempt.task_id, CallAttempt.questions).where(CallAttempt.task_id.in_(tasks),
                                                                 CallAttempt.questions.is_not(None)),
        select(CallTask.id, CallTask.questions).where(CallTask.id.in_(tasks), CallTask.questions.is_not(None)),
    ).subquery()
    asked_on: dict[str, set[int]] = defaultdict(set)
    wording: dict[str, str] = {}  # the earliest task's words
    for task_id, text in session.execute(select(written).order_by(written.c.task_id)):
        for line in text.splitlines():
            key = normalise_question(line)
            if key:
                asked_on[key].add(task_id)
                wording.setdefault(key, line.strip())
    ranked = sorted(asked_on, key=lambda key: (-len(asked_on[key]), key))
    return [Question(wording[key], len(asked_on[key])) for key in ranked[:limit]]


# --- Export -----------------------------------------------------------------------------------

# One row per call task of the range's lists (set-aside tasks too: see task_state).
# Times are ISO 8601 in the practice's time zone, with the offset.
EXPORT_COLUMNS = (
    "week",  # the call list's ISO week
    "practitioner_id",
    "practitioner",  # full name
    "task_id",
    "client_id",
    "appointment_id",
    "reason",  # first_visit | returning | open_question
    "task_state",  # active | removed (the visit went away)
    "attempts",  # call attempts on the task
    "voicemails",  # attempts that left a voicemail
    "first_attempt_at",
    "last_attempt_at",
    "last_call_outcome",  # the latest recorded: reached | voicemail | no_answer | wrong_number | call_back_later
    "reached_before_visit",  # yes | no
    "visit_start",
    "visit_outcome",  # attended | no_show | cancelled_late | rescheduled | cancelled (ahead, per the calendar) | empty
)


@dataclass(frozen=True)
class ExportRow:
    week: str
    practitioner_id: int
    practitioner: str
    task_id: int
    client_id: int
    appointment_id: int
    reason: str
    task_state: str
    attempts: int
    voicemails: int
    first_attempt_at: dt.datetime | None
    last_attempt_at: dt.datetime | None
    last_call_outcome: str | None
    reached_before_visit: bool
    visit_start: dt.datetime
    visit_outcome: str | None


def export_rows(session: Session, practice_id: int, weeks: Sequence[str],
                practitioner_id: int | None = None) -> list[ExportRow]:
    """The call tasks of `weeks` with their attempts summed up, by week, practitioner and visit."""
    practice = session.get(Practice, practice_id)
    span = _Span.of(weeks, practice.timezone)
    per_task = _attempts_per_task(practice_id, span, practitioner_id)
    rows = session.execute(
        select(CallList.week, CallList.practitioner_id, Practitioner.full_name, CallTask.id, CallTask.client_id,
               CallTask.appointment_id, CallTask.reason, CallTask.state,
               func.coalesce(per_task.c.attempts, 0), func.coalesce(per_task.c.voicemails, 0),
               per_task.c.first_at, per_task.c.last_at, CallTask.outcome, func.coalesce(per_task.c.reached, 0),
               Appointment.starts_at, effective_outcome())
        .join(CallList, CallTask.call_list_id == CallList.id)
        .join(Practitioner, CallList.practitioner_id == Practitioner.id)
        .join(Appointment, CallTask.appointment_id == Appointment.id)
        .outerjoin(per_task, per_task.c.task_id == CallTask.id)
        .where(CallTask.id.in_(_tasks_of(practice_id, span, practitioner_id)))
        .order_by(CallList.week, Practitioner.full_name, Appointment.starts_at, CallTask.id)
    )
    zone = ZoneInfo(practice.timezone)

    def local(moment: dt.datetime | None) -> dt.datetime | None:
        return moment.astimezone(zone) if moment is not None else None

    return [
        ExportRow(week=week, practitioner_id=pid, practitioner=name, task_id=task_id, client_id=client_id,
                  appointment_id=appointment_id, reason=reason, task_state=state, attempts=attempts,
                  voicemails=voicemails, first_attempt_at=local(first_at), last_attempt_at=local(last_at),
                  last_call_outcome=outcome, reached_before_visit=bool(reached), visit_start=local(starts_at),
                  visit_outcome=visit_outcome)
        for (week, pid, name, task_id, client_id, appointment_id, reason, state, attempts, voicemails, first_at,
             last_at, outcome, reached, starts_at, visit_outcome) in rows
    ]


def write_csv(rows: Iterable[ExportRow], out: TextIO) -> None:
    """EXPORT_COLUMNS as a header, then the rows; empty cells for nothing."""

    def cell(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, dt.datetime):
            return value.isoformat()
        return value

    writer = csv_files.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow([cell(getattr(row, column)) for column in EXPORT_COLUMNS])
