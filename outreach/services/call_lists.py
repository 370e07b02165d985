"""Weekly call lists: whom each practitioner phones before the visit, built and rebuilt.

A practice's lists for a week (Monday to Sunday in the practice's time zone)
are built at once, set-based: a fixed number of queries per practice whatever
the number of practitioners, clients or visits. On the list:

- `first_visit`: the client's first non-cancelled appointment with the practice
  (with any practitioner) falls in the week; it goes on the list of the
  practitioner of that appointment. A booking tool's own "new client" flag on
  the appointment wins over the imported history, both ways;
- `returning` (when the practice sets `include_returning_after_months`): the
  client's previous visit was at least that many months before this one;
- `open_question` (when the practice sets `include_open_questions`): an earlier
  call left a question unanswered.

Rebuilding never loses work: tasks whose visit went away are set aside
(state "removed", with the reason) with their attempts and notes, and come
back if the visit does; outcomes are never touched.

The weekend job, `build_due_call_lists`, builds next week's lists at each
practice's own local day and time and queues a "your list is ready" text.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from babel import Locale
from sqlalchemy import Row, func, insert, or_, select, update
from sqlalchemy.orm import Session

from outreach.models import Appointment, CallList, CallTask, Notification, Practice, Practitioner, User
from outreach.services import audit
from outreach.services.calls import POLITE_FROM, POLITE_UNTIL
from outreach.services.scripts import language_of
from outreach.services.visit_outcomes import counts_as_earlier_visit

log = logging.getLogger(__name__)

WEEK_PATTERN = re.compile(r"(\d{4})-W(\d{2})")

# Why a task was set aside; the page words each one.
REMOVED_CANCELLED = "visit_cancelled"
REMOVED_MOVED = "visit_moved"  # out of the week
REMOVED_OTHER_PRACTITIONER = "visit_with_colleague"
REMOVED_NOT_LISTED = "no_longer_listed"  # e.g. an earlier visit was imported, or the open question answered

# The "your list is ready" text, by language, with the plural forms Babel's rules choose from.
_READY_TEXTS = {
    "en": ("Your call list for next week is ready: {count} {clients} to call. {url}",
           {"one": "client", "other": "clients"}),
    "ru": ("Ваш список звонков на следующую неделю готов: {count} {clients}. {url}",
           {"one": "клиент", "few": "клиента", "many": "клиентов", "other": "клиента"}),
}


class WeekError(ValueError):
    """A week that is not of the form 2026-W49, or does not exist."""


# --- Weeks -------------------------------------------------------------------------------------


FIRST_YEAR, LAST_YEAR = 1900, 2999


def parse_week(text: str) -> dt.date:
    """The Monday of ISO week `text` ("2026-W49")."""
    match = WEEK_PATTERN.fullmatch(text.strip())
    if not match:
        raise WeekError(f"{text!r} is not a week; write it like 2026-W49")
    year = int(match[1])
    # Weeks near the ends of the calendar have no time zone arithmetic (year 1, year 9999): no visit is there.
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise WeekError(f"{text!r} is too far away; choose a week between {FIRST_YEAR} and {LAST_YEAR}")
    try:
        return dt.date.fromisocalendar(year, int(match[2]), 1)
    except ValueError as exc:
        raise WeekError(f"{text!r} is not a week of that year") from exc


def week_label(monday: dt.date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def week_bounds(monday: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """From Monday 00:00 to the next Monday 00:00, local time, as aware UTC (DST-proof)."""
    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(monday, dt.time(0), zone)
    end = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(0), zone)
    return start.astimezone(dt.timezone.utc), end.astimezone(dt.timezone.utc)


def _local_today(practice: Practice, now: dt.datetime) -> dt.date:
    return now.astimezone(ZoneInfo(practice.timezone)).date()


def _monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def next_week(practice: Practice, now: dt.datetime) -> dt.date:
    """The Monday of next week in the practice's time zone."""
    return _monday_of(_local_today(practice, now)) + dt.timedelta(days=7)


def week_to_show(practice: Practice, now: dt.datetime) -> dt.date:
    """The week a practitioner opens by default: this week, or next week from Friday on."""
    today = _local_today(practice, now)
    return _monday_of(today) + dt.timedelta(days=7 if today.isoweekday() >= 5 else 0)


def build_moment(practice: Practice, monday: dt.date) -> dt.datetime:
    """When the lists of the week starting `monday` are due: the practice's day and time of the week before."""
    day = monday - dt.timedelta(days=7) + dt.timedelta(days=practice.call_list_weekday - 1)
    local = dt.datetime.combine(day, practice.call_list_time, ZoneInfo(practice.timezone))
    return local.astimezone(dt.timezone.utc)


def calling_hour_hint(now: dt.datetime, timezone: str) -> str:
    """Whether it is "too_early", "good" or "too_late" to ring someone in `timezone` now."""
    local_time = now.astimezone(ZoneInfo(timezone)).time()
    if local_time < POLITE_FROM:
        return "too_early"
    if local_time >= POLITE_UNTIL:
        return "too_late"
    return "good"


# --- Building ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListBuild:
    """What one build did to one practitioner's list."""

    practitioner_id: int
    email: str
    call_list_id: int
    week: str
    tasks: int  # active tasks after the build
    added: int  # put on the list by this build (new, or back because their visit is)
    removed: int  # set aside by this build: the visit was cancelled or moved
    kept: int  # active before and after

    def as_json(self) -> dict:
        return {"practitioner": self.email, "week": self.week, "tasks": self.tasks, "added": self.added,
                "removed": self.removed, "kept": self.kept}


@dataclass
class PracticeBuild:
    practice_id: int
    week: str
    lists: list[ListBuild] = field(default_factory=list)
    # "List ready" texts queued by this build, for the caller to hand to the sender.
    notification_ids: list[int] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        """Tasks, added, removed and kept over all the practice's lists."""
        return {key: sum(getattr(built, key) for built in self.lists) for key in ("tasks", "added", "removed", "kept")}


@dataclass(frozen=True)
class _Wanted:
    """A task the week calls for."""

    appointment_id: int
    reason: str
    reason_detail: str | None


def build_call_lists(
    session: Session, practice: Practice, monday: dt.date, *, now: dt.datetime,
    ready_text_base_url: str | None = None, actor: User | str = audit.SYSTEM,
) -> PracticeBuild:
    """Builds or rebuilds every practitioner's list of `practice` for the week starting `monday`.

    With `ready_text_base_url`, queues a "your list is ready" text (once per
    list) for practitioners who want one. Flushes; the caller commits.
    """
    label = week_label(monday)
    start, end = week_bounds(monday, practice.timezone)
    practitioners = session.execute(
        select(Practitioner.id, Practitioner.phone, Practitioner.notify_when_list_ready, User.email, User.locale)
        .join(User, Practitioner.user_id == User.id)
        .where(Practitioner.practice_id == practice.id)
        .order_by(User.email)
    ).all()
    wanted = _wanted_tasks(session, practice, monday, start, end)
    lists = _call_lists(session, practice, [p.id for p in practitioners], monday, now)
    counts = {p.id: {"added": 0, "removed": 0, "kept": 0} for p in practitioners}

    existing = session.execute(
        select(CallTask.id, CallTask.client_id, CallTask.appointment_id, CallTask.state, CallTask.reason,
               CallTask.reason_detail, CallList.practitioner_id, Appointment.status, Appointment.starts_at,
               Appointment.practitioner_id.label("appointment_practitioner_id"))
        .join(CallList, CallTask.call_list_id == CallList.id)
        .join(Appointment, CallTask.appointment_id == Appointment.id)
        .where(CallList.practice_id == practice.id, CallList.week == label)
    ).all()
    changes = []
    for task in existing:
        want = wanted.pop((task.practitioner_id, task.client_id), None)
        if want is not None:
            counts[task.practitioner_id]["added" if task.state == "removed" else "kept"] += 1
            if (task.state, task.appointment_id, task.reason, task.reason_detail) != (
                    "active", want.appointment_id, want.reason, want.reason_detail):
                changes.append({"id": task.id, "state": "active", "removed_reason": None,
                                "appointment_id": want.appointment_id, "reason": want.reason,
                                "reason_detail": want.reason_detail, "updated_at": now})
        elif task.state == "active":
            counts[task.practitioner_id]["removed"] += 1
            changes.append({"id": task.id, "state": "removed", "removed_reason": _why_removed(task, start, end),
                            "appointment_id": task.appointment_id, "reason": task.reason,
                            "reason_detail": task.reason_detail, "updated_at": now})
    if changes:
        # Same keys in every row: one executemany, however many tasks changed.
        session.execute(update(CallTask), changes)

    new_tasks = [
        {"practice_id": practice.id, "call_list_id": lists[practitioner_id].id, "client_id": client_id,
         "appointment_id": want.appointment_id, "reason": want.reason, "reason_detail": want.reason_detail,
         "state": "active", "created_at": now, "updated_at": now}
        for (practitioner_id, client_id), want in wanted.items()
    ]
    if new_tasks:
        # render_nulls: rows with and without a reason_detail stay in one batch.
        session.execute(insert(CallTask).execution_options(render_nulls=True), new_tasks)
    for practitioner_id, _client_id in wanted:
        counts[practitioner_id]["added"] += 1

    build = PracticeBuild(practice.id, label, [
        ListBuild(practitioner_id=p.id, email=p.email, call_list_id=lists[p.id].id, week=label,
                  tasks=counts[p.id]["added"] + counts[p.id]["kept"], **counts[p.id])
        for p in practitioners
    ])
    if ready_text_base_url is not None:
        build.notification_ids = _queue_ready_texts(session, practice, practitioners, build, ready_text_base_url,
                                                    now)
    audit.record(session, practice_id=practice.id, action="call_lists.built", obj=practice, actor=actor,
                 week=label, **build.totals())
    session.flush()
    return build


def _wanted_tasks(
    session: Session, practice: Practice, monday: dt.date, start: dt.datetime, end: dt.datetime,
) -> dict[tuple[int, int], _Wanted]:
    """The tasks the week calls for, by (practitioner, client)."""
    in_week = (Appointment.practice_id == practice.id, Appointment.status != "cancelled",
               Appointment.client_id.is_not(None), Appointment.starts_at >= start, Appointment.starts_at < end)
    week_clients = select(Appointment.client_id).where(*in_week)
    first_in_week: dict[int, tuple[int, int, dt.datetime, bool | None]] = {}
    for appointment_id, client_id, practitioner_id, starts_at, new_client in session.execute(
        select(Appointment.id, Appointment.client_id, Appointment.practitioner_id, Appointment.starts_at,
               Appointment.new_client)
        .where(*in_week).order_by(Appointment.starts_at.desc(), Appointment.id.desc())
    ):
        first_in_week[client_id] = (appointment_id, practitioner_id, starts_at, new_client)  # the earliest comes last

    last_before = dict(session.execute(
        select(Appointment.client_id, func.max(Appointment.starts_at))
        .where(Appointment.practice_id == practice.id, counts_as_earlier_visit(),
               Appointment.starts_at < start, Appointment.client_id.in_(week_clients))
        .group_by(Appointment.client_id)
    ).all())

    open_questions: dict[int, str] = {}
    if practice.include_open_questions:
        for client_id, questions in session.execute(
            select(CallTask.client_id, CallTask.questions)
            .join(CallList, CallTask.call_list_id == CallList.id)
            .where(CallTask.practice_id == practice.id, CallList.week_start < monday,
                   CallTask.questions_answered.is_(False), CallTask.questions.is_not(None), CallTask.questions != "",
                   CallTask.client_id.in_(week_clients))
            .order_by(CallList.week_start, CallTask.id)
        ):
            open_questions[client_id] = questions  # the latest question wins

    zone = ZoneInfo(practice.timezone)
    wanted = {}
    for client_id, (appointment_id, practitioner_id, starts_at, new_client) in first_in_week.items():
        previous = last_before.get(client_id)
        # The booking tool's own "new client" flag wins over the imported history, both ways.
        if new_client is True or (previous is None and new_client is not False):
            want = _Wanted(appointment_id, "first_visit", None)
        elif previous is None:
            continue
        elif practice.include_returning_after_months and previous.astimezone(zone).date() <= _months_earlier(
                starts_at.astimezone(zone).date(), practice.include_returning_after_months):
            want = _Wanted(appointment_id, "returning", previous.astimezone(zone).date().isoformat())
        elif client_id in open_questions:
            want = _Wanted(appointment_id, "open_question", open_questions[client_id][:300])
        else:
            continue
        wanted[(practitioner_id, client_id)] = want
    return wanted


def _months_earlier(day: dt.date, months: int) -> dt.date:
    """The same day `months` months earlier (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    next_month_first = dt.date(year + month // 12, month % 12 + 1, 1)
    return dt.date(year, month, min(day.day, (next_month_first - dt.timedelta(days=1)).day))


def _call_lists(
    session: Session, practice: Practice, practitioner_ids: list[int], monday: dt.date, now: dt.datetime,
) -> dict[int, CallList]:
    """Every practitioner's list of the week, created where missing, by practitioner id."""
    label = week_label(monday)
    lists = {call_list.practitioner_id: call_list for call_list in session.scalars(
        select(CallList).where(CallList.practice_id == practice.id, CallList.week == label))}
    for practitioner_id in practitioner_ids:
        if practitioner_id not in lists:
            lists[practitioner_id] = CallList(practice_id=practice.id, practitioner_id=practitioner_id, week=label,
                                              week_start=monday)
            session.add(lists[practitioner_id])
    for call_list in lists.values():
        call_list.built_at = now
    session.flush()
    return lists


def _why_removed(task: Row, start: dt.datetime, end: dt.datetime) -> str:
    if task.status == "cancelled":
        return REMOVED_CANCELLED
    if not start <= task.starts_at < end:
        return REMOVED_MOVED
    if task.appointment_practitioner_id != task.practitioner_id:
        return REMOVED_OTHER_PRACTITIONER
    return REMOVED_NOT_LISTED


def _queue_ready_texts(
    session: Session, practice: Practice, practitioners: list[Row], build: PracticeBuild, base_url: str,
    now: dt.datetime,
) -> list[int]:
    """One "your list is ready" text per list (the dedupe key makes a second one impossible)."""
    by_id = {p.id: p for p in practitioners}
    keys = {b.call_list_id: f"list_ready:{b.call_list_id}" for b in build.lists}
    already = set(session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.in_(keys.values()))))
    rows = []
    for list_build in build.lists:
        practitioner = by_id[list_build.practitioner_id]
        key = keys[list_build.call_list_id]
        if not practitioner.notify_when_list_ready or not practitioner.phone or key in already:
            continue
        rows.append({
            "practice_id": practice.id, "practitioner_id": practitioner.id, "kind": "list_ready", "dedupe_key": key,
            "to_phone": practitioner.phone, "from_phone": practice.phone, "due_at": now, "status": "pending",
            "body": ready_text(practitioner.locale or practice.locale, list_build.tasks,
                               f"{base_url}/week/{list_build.week}"),
            "created_at": now, "updated_at": now,
        })
    if not rows:
        return []
    return list(session.scalars(insert(Notification).returning(Notification.id).execution_options(render_nulls=True),
                                rows))


def ready_text(locale: str, count: int, url: str) -> str:
    language = language_of(locale) if language_of(locale) in _READY_TEXTS else "en"
    template, forms = _READY_TEXTS[language]
    plural = Locale.parse(language).plural_form(count)
    return template.format(count=count, clients=forms.get(plural, forms["other"]), url=url)


# --- The weekend job ---------------------------------------------------------------------------


def build_due_call_lists(session: Session, now: dt.datetime, *, base_url: str) -> list[PracticeBuild]:
    """Builds next week's lists of every practice whose local build moment has come; once per practice and week.

    Safe to run any number of times from any number of processes: a practice is
    claimed by a conditional UPDATE of `call_lists_built_for_week`, committed
    with its lists, so only one run builds it. Commits after each practice: one
    practice failing (it is logged and retried on the next run) holds back no other.
    """
    due = []
    for practice in session.scalars(select(Practice).order_by(Practice.id)):
        monday = next_week(practice, now)
        if (practice.call_lists_built_for_week or "") < week_label(monday) and now >= build_moment(practice, monday):
            due.append((practice.id, monday))
    builds = []
    for practice_id, monday in due:
        label = week_label(monday)
        try:
            claimed = session.execute(
                update(Practice)
                .where(Practice.id == practice_id,
                       or_(Practice.call_lists_built_for_week.is_(None), Practice.call_lists_built_for_week < label))
                .values(call_lists_built_for_week=label)
            ).rowcount
            if not claimed:  # another run got there first
                session.rollback()
                continue
            practice = session.get(Practice, practice_id)
            builds.append(build_call_lists(session, practice, monday, now=now, ready_text_base_url=base_url))
            session.commit()
        except Exception:
            session.rollback()
            log.exception("building the call lists of practice %s for %s failed", practice_id, label)
    return builds


def refresh_lists_touched_by(session: Session, appointment_ids: list[int], *, now: dt.datetime) -> None:
    """Rebuilds the already-built lists that changed appointments belong to, or belonged to.

    A visit cancelled or moved after the weekend leaves the list at once (its
    task kept with its history), and a first visit booked mid-week joins the
    list already built for that week. Weeks without a list stay unbuilt: the
    weekend job builds them.
    """
    if not appointment_ids:
        return
    weeks: set[tuple[int, dt.date]] = set()
    for practice_id, starts_at, timezone in session.execute(
        select(Appointment.practice_id, Appointment.starts_at, Practice.timezone)
        .join(Practice, Practice.id == Appointment.practice_id)
        .where(Appointment.id.in_(appointment_ids))
    ):
        weeks.add((practice_id, _monday_of(starts_at.astimezone(ZoneInfo(timezone)).date())))
    weeks.update((practice_id, monday) for practice_id, monday in session.execute(
        select(CallList.practice_id, CallList.week_start).join(CallTask, CallTask.call_list_id == CallList.id)
        .where(CallTask.appointment_id.in_(appointment_ids))
    ))
    built = {(practice_id, monday) for practice_id, monday in session.execute(
        select(CallList.practice_id, CallList.week_start)
        .where(CallList.week_start.in_({monday for _, monday in weeks}))
    )}
    for practice_id, monday in sorted(weeks & built):
        build_call_lists(session, session.get(Practice, practice_id), monday, now=now)
