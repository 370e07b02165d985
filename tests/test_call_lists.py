"""Weekly call lists: built at each practice's own weekend moment, rebuilt without losing work, shown as a page.

The calendars come in through the real importer (.ics files); the weekend job
runs on a real RQ worker against the real Redis, with the clock pinned for
both processes.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from zoneinfo import ZoneInfo

import pytest
from flask import current_app
from rq.job import Job
from sqlalchemy import select

from outreach import jobs, tasks
from outreach.cli import cli
from outreach.clock import set_clock
from outreach.extensions import db
from outreach.models import (
    Appointment,
    CallAttempt,
    CallList,
    CallTask,
    Client,
    Notification,
    Practice,
    Practitioner,
)
from outreach.services import appointment_listing, call_lists, ics_import, scripts

NEW_YORK = ZoneInfo("America/New_York")
WEEK = "2026-W49"  # Monday 30 November to Sunday 6 December 2026
SATURDAY_BEFORE = dt.date(2026, 11, 28)


def at(day: dt.date, hhmm: str, zone: ZoneInfo = NEW_YORK) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.fromisoformat(hhmm), zone)


def day_of_week(offset: int) -> dt.date:
    """A day of the week under test: 0 is Monday 30 November."""
    return dt.date(2026, 11, 30) + dt.timedelta(days=offset)


# --- Calendars, as a booking tool exports them ---------------------------------------------------


def event(uid: str, starts: dt.datetime, summary: str, phone: str | None = None, *, cancelled: bool = False) -> str:
    start = starts.astimezone(dt.timezone.utc)
    lines = [
        "BEGIN:VEVENT", f"UID:{uid}@booking.example", "DTSTAMP:20261101T000000Z",
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}", f"DTEND:{start + dt.timedelta(minutes=45):%Y%m%dT%H%M%SZ}",
        f"SUMMARY:{summary}",
    ]
    if phone:
        lines.append(f"DESCRIPTION:Phone: {phone}")
    if cancelled:
        lines.append("STATUS:CANCELLED")
    return "\r\n".join([*lines, "END:VEVENT"])


def calendar(*events: str) -> bytes:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//booking.example//export//EN", *events,
                        "END:VCALENDAR", ""]).encode()


def glen_calendar(*, brian_cancelled: bool = False, anna_moved: bool = False, carla_moved: bool = False,
                  zoe_booked: bool = False) -> bytes:
    events = [
        event("anna", at(day_of_week(1 if anna_moved else 0), "11:00" if anna_moved else "10:00"),
              "Anna Petrova - Consultation", "+1 202-555-0143"),
        event("brian", at(day_of_week(1), "14:00"), "Brian Chen - Check-up", "(415) 555-0134",
              cancelled=brian_cancelled),
        # Carla was last here 190 days ago: a returning client once the practice asks for those.
        event("carla-before", at(day_of_week(-190), "09:30"), "Carla Gomez - Cleaning", "+1 617-555-0123"),
        event("carla", at(day_of_week(9 if carla_moved else 2), "09:30"), "Carla Gomez - Cleaning",
              "+1 617-555-0123"),
        # Erin was here two months ago: neither new nor returning after a long gap.
        event("erin-before", at(day_of_week(-60), "16:30"), "Erin Walsh - Consultation", "+1 202-555-0177"),
        event("erin", at(day_of_week(4), "16:30"), "Erin Walsh - Whitening", "+1 202-555-0177"),
        # Ivan's earlier booking was cancelled: this week is still his first visit.
        event("ivan-cancelled", at(day_of_week(-20), "12:00"), "Ivan Orlov - Consultation", "+1 202-555-0166",
              cancelled=True),
        event("ivan", at(day_of_week(3), "15:00"), "Ivan Orlov - Consultation", "+1 202-555-0166"),
        event("no-client", at(day_of_week(3), "11:00"), "New patient - Cleaning"),
        event("jack-next-week", at(day_of_week(7), "10:00"), "Jack Brown - Consultation", "+1 202-555-0122"),
    ]
    if zoe_booked:
        events.append(event("zoe", at(day_of_week(2), "10:00"), "Zoe Park - Consultation", "+1 202-555-0133"))
    return calendar(*events)


def maria_calendar() -> bytes:
    return calendar(
        event("fatima", at(day_of_week(0), "13:00"), "Fatima Khan - Consultation", "+1 202-555-0188"),
        event("george", at(day_of_week(2), "15:15"), "George Miller - Implant consult", "+1 202-555-0199",
              cancelled=True),
        event("hana-before", at(day_of_week(-30), "10:45"), "Hana Sato - Check-up", "+1 202-555-0111"),
        event("hana", at(day_of_week(3), "10:45"), "Hana Sato - Check-up", "+1 202-555-0111"),
        # Anna sees Maria after Glen: her first visit is Glen's, so she is on Glen's list only.
        event("anna-maria", at(day_of_week(2), "12:00"), "Anna Petrova - Follow-up", "+1 202-555-0143"),
    )


def import_calendar(practitioner: Practitioner, data: bytes, now: dt.datetime) -> None:
    source = ics_import.uploaded_files_source(db.session, practitioner)
    report = ics_import.import_calendar(db.session, source, data, "export.ics", now=now)
    assert report.status == "imported", report.as_json()
    db.session.commit()


@pytest.fixture
def smile(make):
    """Smile Dental in New York: Glen (wants the "list ready" text) and Maria (does not), with their calendars."""
    practice = make.practice("Smile Dental", timezone="America/New_York", include_returning_after_months=6,
                             include_open_questions=True)
    glen = make.practitioner(practice, full_name="Dr. Glen Gorab", preferred_name="Glen", phone="+12025550150",
                             email="glen@smile.example")
    maria = make.practitioner(practice, full_name="Dr. Maria Ivanova", preferred_name="Maria",
                              phone="+12025550151", email="maria@smile.example")
    maria.notify_when_list_ready = False
    imported_at = at(SATURDAY_BEFORE, "08:00")
    import_calendar(glen, glen_calendar(), imported_at)
    import_calendar(maria, maria_calendar(), imported_at)
    _hana_asked_a_question_last_month(practice, maria)
    return practice, glen, maria


def _hana_asked_a_question_last_month(practice: Practice, maria: Practitioner) -> None:
    hana = db.session.scalar(select(Client).where(Client.full_name == "Hana Sato"))
    earlier = CallList(practice_id=practice.id, practitioner_id=maria.id, week="2026-W44",
                       week_start=dt.date(2026, 10, 26))
    db.session.add(earlier)
    db.session.flush()
    visit = db.session.scalar(select(Appointment).where(Appointment.uid.like("hana-before@%")))
    db.session.add(CallTask(practice_id=practice.id, call_list_id=earlier.id, client_id=hana.id,
                            appointment_id=visit.id, reason="first_visit", outcome="reached",
                            questions="Is there parking nearby?"))
    db.session.commit()


def listed(practitioner: Practitioner, week: str = WEEK, state: str = "active") -> dict[str, tuple[str, str | None]]:
    """The practitioner's tasks of `week` in `state`: client name -> (reason, detail)."""
    rows = db.session.execute(
        select(Client.full_name, CallTask.reason, CallTask.reason_detail)
        .join(CallTask, CallTask.client_id == Client.id).join(CallList)
        .where(CallList.practitioner_id == practitioner.id, CallList.week == week, CallTask.state == state)
    ).all()
    return {name: (reason, detail) for name, reason, detail in rows}


def task_of(name: str, week: str = WEEK) -> CallTask:
    return db.session.scalars(select(CallTask).join(Client).join(CallList)
                              .where(Client.full_name == name, CallList.week == week)).one()


GLEN_LIST = {"Anna Petrova": ("first_visit", None), "Brian Chen": ("first_visit", None),
             "Carla Gomez": ("returning", "2026-05-24"), "Ivan Orlov": ("first_visit", None)}
MARIA_LIST = {"Fatima Khan": ("first_visit", None), "Hana Sato": ("open_question", "Is there parking nearby?")}


# --- The weekend job, on a real RQ worker ---------------------------------------------------------


def wait_until(condition, workers, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited in vain for {what}:\n{workers.logs()}")
        time.sleep(0.1)
    db.session.expire_all()


def run_tick_on_worker(workers, ticks_before: int) -> int:
    """Enqueues the periodic tick and waits until the worker has finished it; returns the ticks finished so far.

    Ticks are told apart from the jobs they enqueue themselves (sending texts) by their function.
    """
    queue = current_app.extensions["jobs"].queue
    jobs.dispatch(tasks.tick)

    def finished_ticks() -> int:
        assert queue.failed_job_registry.count == 0, f"a job failed on the worker:\n{workers.logs()}"
        finished = Job.fetch_many(queue.finished_job_registry.get_job_ids(), connection=queue.connection)
        return sum(1 for job in finished if job is not None and job.func_name == "outreach.tasks.tick")

    wait_until(lambda: finished_ticks() > ticks_before, workers, "the tick")
    return ticks_before + 1


@pytest.mark.redis
def test_weekend_job_builds_next_weeks_lists_once_at_the_practice_saturday_9am(rq_config, fake_twilio, clock_file,
                                                                               rq_workers, smile):
    practice, glen, maria = smile
    rq_workers.start()
    set_clock(clock_file, at(SATURDAY_BEFORE, "08:59"))
    finished = run_tick_on_worker(rq_workers, 0)
    assert db.session.get(Practice, practice.id).call_lists_built_for_week is None
    assert db.session.scalars(select(CallList).where(CallList.week == WEEK)).all() == []

    set_clock(clock_file, at(SATURDAY_BEFORE, "09:00"))
    finished = run_tick_on_worker(rq_workers, finished)
    assert db.session.get(Practice, practice.id).call_lists_built_for_week == WEEK
    assert listed(glen) == GLEN_LIST
    assert listed(maria) == MARIA_LIST

    # Glen asked to be told; Maria did not. The text goes through the outbox to (fake) Twilio.
    wait_until(lambda: any(r.path.endswith("/Messages.json") for r in fake_twilio.requests), rq_workers,
               "the list-ready text")
    sent = [r for r in fake_twilio.requests if r.path.endswith("/Messages.json")]
    expected_body = "Your call list for next week is ready: 4 clients to call. http://localhost/week/2026-W49"
    assert [(r.form_value("To"), r.form_value("From"), r.form_value("Body")) for r in sent] == [
        ("+12025550150", "+12025550100", expected_body)]
    glen_list = db.session.scalar(select(CallList).where(CallList.practitioner_id == glen.id, CallList.week == WEEK))
    text = db.session.scalars(select(Notification)).one()
    assert (text.kind, text.dedupe_key, text.due_at) == ("list_ready", f"list_ready:{glen_list.id}",
                                                         at(SATURDAY_BEFORE, "09:00"))
    wait_until(lambda: db.session.scalar(select(Notification.message_sid).where(Notification.id == text.id)),
               rq_workers, "the outbox to record the sent text")

    # Later ticks of the same weekend change nothing and text nobody twice.
    set_clock(clock_file, at(SATURDAY_BEFORE, "09:05"))
    run_tick_on_worker(rq_workers, finished)
    assert listed(glen) == GLEN_LIST
    assert db.session.get(CallList, glen_list.id).built_at == at(SATURDAY_BEFORE, "09:00")
    assert len(db.session.scalars(select(Notification)).all()) == 1
    assert len([r for r in fake_twilio.requests if r.path.endswith("/Messages.json")]) == 1


@pytest.mark.redis
def test_each_practice_gets_its_list_at_its_own_local_saturday_across_the_dst_change(
        rq_config, clock_file, rq_workers, make):
    """2026-11-01 the US leaves daylight time; Moscow has none. Both build the week of 2 November at 09:00 local."""
    moscow = make.practice("Moscow Clinic", timezone="Europe/Moscow", locale="ru", phone="+74951234567")
    la = make.practice("LA Clinic", timezone="America/Los_Angeles")
    ivanov = make.practitioner(moscow, full_name="Dr. Ivan Ivanov", preferred_name="Ivan", phone="+79161234567",
                               email="ivanov@moscow.example")
    lee = make.practitioner(la, full_name="Dr. Sam Lee", preferred_name="Sam", phone="+13105550100",
                            email="lee@la.example")
    msk, pacific = ZoneInfo("Europe/Moscow"), ZoneInfo("America/Los_Angeles")
    for practitioner, zone, name, day, hhmm in (
        (ivanov, msk, "Before Msk", dt.date(2026, 11, 1), "23:30"),   # Sunday night: the week before
        (ivanov, msk, "First Msk", dt.date(2026, 11, 2), "00:30"),    # Monday, 21:30 UTC on Sunday
        (lee, pacific, "Before La", dt.date(2026, 11, 1), "23:30"),   # Sunday night, already PST
        (lee, pacific, "First La", dt.date(2026, 11, 2), "00:30"),
        (lee, pacific, "Last La", dt.date(2026, 11, 8), "23:30"),     # Sunday night, 07:30 UTC on Monday
        (lee, pacific, "After La", dt.date(2026, 11, 9), "00:15"),
    ):
        make.appointment(practitioner, make.client(practitioner.practice, full_name=name), at(day, hhmm, zone))
    rq_workers.start()

    def built_after_tick(utc: str, finished: int) -> tuple[dict, int]:
        set_clock(clock_file, dt.datetime.fromisoformat(utc))
        finished = run_tick_on_worker(rq_workers, finished)
        return {p.name: p.call_lists_built_for_week for p in db.session.scalars(select(Practice))}, finished

    state, finished = built_after_tick("2026-10-31T05:59:00+00:00", 0)  # 08:59 in Moscow
    assert state == {"Moscow Clinic": None, "LA Clinic": None}, rq_workers.logs()
    state, finished = built_after_tick("2026-10-31T06:00:00+00:00", finished)  # 09:00 in Moscow, 23:00 Fri in LA
    assert state == {"Moscow Clinic": "2026-W45", "LA Clinic": None}, rq_workers.logs()
    assert set(listed(ivanov, "2026-W45")) == {"First Msk"}
    state, finished = built_after_tick("2026-10-31T15:59:00+00:00", finished)  # 08:59 PDT
    assert state["LA Clinic"] is None
    state, finished = built_after_tick("2026-10-31T16:00:00+00:00", finished)  # 09:00 PDT
    assert state["LA Clinic"] == "2026-W45", rq_workers.logs()
    assert set(listed(lee, "2026-W45")) == {"First La", "Last La"}

    # A week later Los Angeles is on PST: 09:00 local is an hour later in UTC.
    state, finished = built_after_tick("2026-11-07T16:30:00+00:00", finished)  # 08:30 PST
    assert state == {"Moscow Clinic": "2026-W46", "LA Clinic": "2026-W45"}
    state, finished = built_after_tick("2026-11-07T17:00:00+00:00", finished)  # 09:00 PST
    assert state["LA Clinic"] == "2026-W46"


def test_build_moment_follows_the_practice_day_time_and_zone(make):
    practice = make.practice(timezone="Europe/Moscow", call_list_weekday=7, call_list_time=dt.time(18, 30))
    assert call_lists.build_moment(practice, dt.date(2026, 11, 30)) == dt.datetime(
        2026, 11, 29, 15, 30, tzinfo=dt.timezone.utc)


# --- Rebuilding after a re-import ----------------------------------------------------------------


def build_json(runner, *args: str) -> list[dict]:
    result = runner.invoke(cli, ["build-call-lists", "--practice", "Smile Dental", "--week", WEEK, "--json", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_cli_prints_one_json_object_per_practitioner(runner, smile):
    result = runner.invoke(cli, ["build-call-lists", "--practice", "Smile Dental", "--week", WEEK, "--json"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        '{"practitioner": "glen@smile.example", "week": "2026-W49", "tasks": 4, "added": 4, "removed": 0, "kept": 0}',
        '{"practitioner": "maria@smile.example", "week": "2026-W49", "tasks": 2, "added": 2, "removed": 0, "kept": 0}',
    ]
    # Built by hand: the weekend job still runs (and texts) on Saturday.
    assert db.session.scalar(select(Practice.call_lists_built_for_week)) is None
    assert db.session.scalars(select(Notification)).all() == []


def test_cli_defaults_to_next_week_and_reads_in_words(runner, smile, clock_file):
    set_clock(clock_file, at(SATURDAY_BEFORE, "07:00"))
    result = runner.invoke(cli, ["build-call-lists"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Smile Dental · glen@smile.example · 2026-W49: 4 tasks (4 added, 0 removed, 0 kept)",
        "Smile Dental · maria@smile.example · 2026-W49: 2 tasks (2 added, 0 removed, 0 kept)",
    ]


@pytest.mark.parametrize("args, message", [
    (["--week", "2026-49"], "'2026-49' is not a week; write it like 2026-W49"),
    (["--week", "2027-W53"], "'2027-W53' is not a week of that year"),
    (["--practice", "Nowhere Dental"], "no practice named 'Nowhere Dental'"),
])
def test_cli_refuses_bad_input_clearly(runner, app, args, message):
    result = runner.invoke(cli, ["build-call-lists", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_rebuild_after_reimport_sets_aside_cancelled_and_moved_visits_and_keeps_all_work(runner, smile):
    practice, glen, _maria = smile
    build_json(runner)
    anna, brian = task_of("Anna Petrova"), task_of("Brian Chen")
    anna.outcome, anna.questions, anna.notes = "reached", "Can I bring my daughter?", "Very friendly"
    brian.notes = "Prefers evenings"
    db.session.add(CallAttempt(practice_id=practice.id, task_id=brian.id, via="own_phone", status="completed",
                               outcome="no_answer", started_at=at(SATURDAY_BEFORE, "10:00")))
    db.session.commit()
    anna_appointment = anna.appointment_id

    import_calendar(glen, glen_calendar(brian_cancelled=True, anna_moved=True, carla_moved=True, zoe_booked=True),
                    at(SATURDAY_BEFORE, "11:00"))
    assert build_json(runner) == [
        {"practitioner": "glen@smile.example", "week": WEEK, "tasks": 3, "added": 1, "removed": 2, "kept": 2},
        {"practitioner": "maria@smile.example", "week": WEEK, "tasks": 2, "added": 0, "removed": 0, "kept": 2},
    ]
    db.session.expire_all()
    assert listed(glen) == {"Anna Petrova": ("first_visit", None), "Ivan Orlov": ("first_visit", None),
                            "Zoe Park": ("first_visit", None)}
    anna, brian, carla = task_of("Anna Petrova"), task_of("Brian Chen"), task_of("Carla Gomez")
    assert (anna.outcome, anna.questions, anna.notes) == ("reached", "Can I bring my daughter?", "Very friendly")
    assert anna.appointment_id == anna_appointment
    assert anna.appointment.starts_at == at(day_of_week(1), "11:00")
    assert (brian.state, brian.removed_reason, brian.notes) == ("removed", "visit_cancelled", "Prefers evenings")
    assert [a.outcome for a in brian.attempts] == ["no_answer"]
    assert (carla.state, carla.removed_reason) == ("removed", "visit_moved")

    # Brian rebooks: his task comes back with its history; nothing else moves.
    import_calendar(glen, glen_calendar(anna_moved=True, carla_moved=True, zoe_booked=True),
                    at(SATURDAY_BEFORE, "12:00"))
    assert build_json(runner)[0] == {"practitioner": "glen@smile.example", "week": WEEK, "tasks": 4, "added": 1,
                                     "removed": 0, "kept": 3}
    db.session.expire_all()
    brian = task_of("Brian Chen")
    assert (brian.state, brian.removed_reason, brian.notes) == ("active", None, "Prefers evenings")
    assert [a.outcome for a in brian.attempts] == ["no_answer"]
    assert task_of("Anna Petrova").outcome == "reached"


def test_a_visit_that_moves_to_a_colleague_moves_the_task(make, runner):
    practice = make.practice("Smile Dental")
    glen = make.practitioner(practice, email="glen@smile.example")
    maria = make.practitioner(practice, email="maria@smile.example", full_name="Dr. Maria Ivanova")
    anna = make.client(practice, full_name="Anna Petrova")
    visit = make.appointment(glen, anna, at(day_of_week(0), "10:00"))
    build_json(runner)
    visit.practitioner_id = maria.id
    db.session.commit()
    assert build_json(runner) == [
        {"practitioner": "glen@smile.example", "week": WEEK, "tasks": 0, "added": 0, "removed": 1, "kept": 0},
        {"practitioner": "maria@smile.example", "week": WEEK, "tasks": 1, "added": 1, "removed": 0, "kept": 0},
    ]
    db.session.expire_all()
    assert listed(glen, state="removed") == {"Anna Petrova": ("first_visit", None)}
    assert listed(maria) == {"Anna Petrova": ("first_visit", None)}
    assert db.session.scalar(select(CallTask.removed_reason).where(CallTask.state == "removed")) == (
        "visit_with_colleague")


def test_a_client_who_missed_their_first_visit_is_still_called_before_the_next(make):
    """Olga booked in October and did not come; Pavel came. Both are booked again next week."""
    practice = make.practice("Smile Dental")
    glen = make.practitioner(practice, email="glen@example.com")
    olga = make.client(practice, full_name="Olga Novak", phone="+12025550171")
    pavel = make.client(practice, full_name="Pavel Horak", phone="+12025550172")
    missed = make.appointment(glen, olga, at(dt.date(2026, 10, 20), "10:00"))
    make.appointment(glen, pavel, at(dt.date(2026, 10, 21), "10:00")).visit_outcome = "attended"
    missed.visit_outcome = "no_show"
    olga_again = make.appointment(glen, olga, at(day_of_week(1), "14:00"))
    make.appointment(glen, pavel, at(day_of_week(2), "14:00"))
    db.session.commit()

    call_lists.build_call_lists(db.session, practice, day_of_week(0), now=at(SATURDAY_BEFORE, "09:00"))

    assert listed(glen) == {"Olga Novak": ("first_visit", None)}
    assert appointment_listing.first_visit(db.session, olga_again)[0] is True


def test_returning_and_open_question_clients_are_listed_only_when_the_practice_asks(runner, smile):
    practice, glen, maria = smile
    practice.include_returning_after_months = None
    practice.include_open_questions = False
    db.session.commit()
    build_json(runner)
    assert listed(glen) == {name: why for name, why in GLEN_LIST.items() if name != "Carla Gomez"}
    assert listed(maria) == {"Fatima Khan": ("first_visit", None)}


def test_months_earlier_clamps_to_the_end_of_shorter_months():
    assert call_lists._months_earlier(dt.date(2026, 8, 31), 6) == dt.date(2026, 2, 28)
    assert call_lists._months_earlier(dt.date(2026, 3, 15), 14) == dt.date(2025, 1, 15)


# --- Scripts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("day, phrase", [
    (0, "в понедельник в 14:00"), (1, "во вторник в 14:00"), (2, "в среду в 14:00"), (3, "в четверг в 14:00"),
    (4, "в пятницу в 14:00"), (5, "в субботу в 14:00"), (6, "в воскресенье в 14:00"),
])
def test_russian_visit_phrase_uses_the_accusative_weekday(day, phrase):
    assert scripts.visit_when(at(day_of_week(day), "14:00"), "ru") == phrase


def test_english_visit_phrase():
    assert scripts.visit_when(at(day_of_week(1), "14:00"), "en") == "Tuesday at 2:00\u202fPM"


def test_script_speaks_the_clients_language_else_the_practices(make):
    practice = make.practice("Клиника", timezone="Europe/Moscow", locale="ru")
    glen = make.practitioner(practice, full_name="Глеб Горобцов", preferred_name="Глеб")
    anna = make.client(practice, full_name="Анна Петрова", phone="+74951112233")
    john = make.client(practice, full_name="John Smith", locale="en", timezone="Europe/London")
    tuesday_2pm = at(day_of_week(1), "14:00", ZoneInfo("Europe/Moscow"))
    now = at(SATURDAY_BEFORE, "09:00", ZoneInfo("Europe/Moscow"))
    renderer = scripts.ScriptRenderer(None)

    def script_for(client: Client) -> str:
        variables = scripts.script_variables(client=client, practitioner=glen, practice=practice,
                                             visit_starts_at=tuesday_2pm, now=now)
        return renderer.render(variables, scripts.script_locale(client, practice)).text

    assert script_for(anna) == (
        "Здравствуйте, Анна! Это Глеб Горобцов, Клиника. На работе я прошу называть меня Глеб. "
        "Вижу, что вы записаны ко мне во вторник в 14:00. Я всегда звоню заранее, чтобы познакомиться "
        "и спросить, есть ли у вас вопросы перед визитом.")
    # John lives in London: his visit is at 11:00 his time, phrased in English (a statement, not a question).
    assert "I see you're booked with me on Tuesday at 11:00\u202fAM. I like to call ahead" in script_for(john)
    # Each is greeted as they wrote their name: first name and patronymic, a title with the surname.
    olga = make.client(practice, full_name="Петрова Ольга Сергеевна", phone="+74951112234")
    beatrice = make.client(practice, full_name="Mrs. Beatrice Holloway", locale="en", timezone="Europe/London")
    assert script_for(olga).startswith("Здравствуйте, Ольга Сергеевна! Это Глеб Горобцов")
    assert script_for(beatrice).startswith("Hello Mrs. Holloway, this is")


def test_the_default_script_follows_the_practitioners_own_habit(make):
    """Title and surname first, the name they go by at work apart, and no preferred-name sentence without one."""
    practice = make.practice("Smile Dental")
    anna = make.client(practice, full_name="Anna Petrova")
    tuesday_2pm = at(day_of_week(1), "14:00")

    def default_script(practitioner: Practitioner) -> str:
        variables = scripts.script_variables(client=anna, practitioner=practitioner, practice=practice,
                                             visit_starts_at=tuesday_2pm, now=at(SATURDAY_BEFORE, "09:00"))
        return scripts.ScriptRenderer(None).render(variables, "en").text

    glen = make.practitioner(practice, full_name="Dr. Glen Gorab", preferred_name="Glen")
    assert default_script(glen) == (
        "Hello Anna, this is Dr. Gorab from Smile Dental — at work I ask people to call me Glen. "
        "I see you're booked with me on Tuesday at 2:00\u202fPM. "
        "I like to call ahead to introduce myself and ask if you have any questions before the visit.")
    sam = make.practitioner(practice, full_name="Sam Lee", preferred_name=None)
    assert default_script(sam).startswith(
        "Hello Anna, this is Sam Lee from Smile Dental. I see you're booked with me on Tuesday")
    assert sam.spoken_name == "Sam" and make.practitioner(practice, full_name="Dr. Ada Adams",
                                                           preferred_name=None).spoken_name == "Ada"
    glen.formal_name = "Doctor Glen"  # as he chose to be introduced
    assert default_script(glen).startswith("Hello Anna, this is Doctor Glen from Smile Dental — at work")


def test_a_client_known_only_by_number_is_greeted_without_a_gap(make):
    practice = make.practice("Smile Dental")
    glen = make.practitioner(practice, full_name="Dr. Glen Gorab", preferred_name="Glen")
    unnamed = make.client(practice, full_name=None, phone="+12025550188")
    variables = scripts.script_variables(client=unnamed, practitioner=glen, practice=practice,
                                         visit_starts_at=at(day_of_week(1), "14:00"), now=at(SATURDAY_BEFORE, "09:00"))
    assert scripts.ScriptRenderer(None).render(variables, "en").text.startswith(
        "Hello, this is Dr. Gorab from Smile Dental")


def test_script_variables(make):
    practice = make.practice("Smile Dental")
    glen = make.practitioner(practice, full_name="Dr. Glen Gorab", preferred_name="Glen")
    anna = make.client(practice, full_name="Anna Petrova")
    variables = scripts.script_variables(client=anna, practitioner=glen, practice=practice,
                                         visit_starts_at=at(day_of_week(1), "14:00"),
                                         now=at(SATURDAY_BEFORE, "23:30"))
    assert variables == {
        "client_first_name": "Anna", "practitioner_formal_name": "Dr. Gorab", "practitioner_full_name": "Dr. Glen Gorab",
        "practitioner_preferred_name": "Glen",
        "practice_name": "Smile Dental", "visit_when": "Tuesday at 2:00\u202fPM", "visit_weekday": "Tuesday",
        "visit_time": "2:00\u202fPM", "days_until_visit": 3, "phone_shared": False,
    }
    assert tuple(variables) == scripts.VARIABLES  # what the settings page lists


def test_on_a_phone_a_family_shares_the_script_says_whose_visit_it_is(make):
    practice = make.practice("Smile Dental")
    glen = make.practitioner(practice, full_name="Dr. Glen Gorab", preferred_name="Glen")
    lucas = make.client(practice, full_name="Lucas Meyer", phone="+17185550199")
    variables = scripts.script_variables(client=lucas, practitioner=glen, practice=practice,
                                         visit_starts_at=at(day_of_week(1), "14:00"),
                                         now=at(SATURDAY_BEFORE, "23:30"), phone_shared=True)
    script = scripts.ScriptRenderer(None).render(variables, "en")
    assert script.text.startswith(
        "Hello, this is Dr. Gorab from Smile Dental — at work I ask people to call me Glen. "
        "I'm calling about Lucas's visit with me on Tuesday at 2:00\u202fPM.")


@pytest.mark.parametrize("template, error", [
    ("Hello {{ client_first_name }", "line 1: unexpected '}'"),
    ("Hello {{ client_name }}", "'client_name' is undefined"),
    ("{{ client_first_name.__class__.__mro__ }}", "access to attribute '__class__' of 'str' object is unsafe."),
    ("{{ range(10) }}", "'range' is undefined"),
    ("{{ days_until_visit / 0 }}", "ZeroDivisionError: division by zero"),
])
def test_a_broken_template_falls_back_to_the_default_and_says_why(template, error):
    variables = {name: "x" for name in scripts.VARIABLES} | {"client_first_name": "Anna", "days_until_visit": 3,
                                                             "phone_shared": False}
    script = scripts.ScriptRenderer(template).render(variables, "en")
    assert script.error == error
    assert script.text.startswith("Hello Anna, this is x from x")


# --- The week page -----------------------------------------------------------------------------------


@pytest.fixture
def built_week(smile, clock_file):
    practice, _glen, _maria = smile
    set_clock(clock_file, at(SATURDAY_BEFORE, "12:00"))
    call_lists.build_call_lists(db.session, practice, call_lists.parse_week(WEEK), now=at(SATURDAY_BEFORE, "09:00"))
    anna = task_of("Anna Petrova")
    anna.outcome, anna.notes = "reached", "Asked about parking"
    db.session.add(CallAttempt(practice_id=practice.id, task_id=anna.id, via="own_phone", status="completed",
                               outcome="reached", notes="Lovely chat", started_at=at(SATURDAY_BEFORE, "10:00")))
    db.session.commit()
    return smile


def page_text(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def test_practitioner_sees_their_week_grouped_by_day_with_scripts(client, auth, built_week):
    auth.login("glen@smile.example")
    html = page_text(client, "/week")  # Saturday: next week
    assert "Nov 30\u2009–\u2009Dec 6" in html  # the week as dates; only URLs say 2026-W49
    headings = [h for h in ("Monday", "Tuesday", "Wednesday", "Thursday") if f"<h2>{h} " in html]
    assert headings == ["Monday", "Tuesday", "Wednesday", "Thursday"]
    assert html.index("Anna Petrova") < html.index("Brian Chen") < html.index("Carla Gomez") < html.index("Ivan Orlov")
    assert "1 of 4 reached" in html
    assert "1 visit needs a client" in html
    assert "Hello Anna, this is Dr. Gorab from Smile Dental — at work I ask people to call me Glen." in html
    assert "I see you&#39;re booked with me on Monday at 10:00\u202fAM. I like to call ahead" in html
    assert "Returning after a long gap: last visit 2026-05-24" in html
    assert 'href="tel:+12025550143"' in html
    assert "Lovely chat" in html and "Asked about parking" in html
    assert "Now is 12:00\u202fPM for the client — a good time" in html
    assert "Fatima Khan" not in html  # Maria's


def test_cards_link_to_the_client_and_the_visit_and_say_when_it_is_at_the_clients_home(client, auth, built_week):
    brian = task_of("Brian Chen")
    brian.appointment.at_client_place = True
    brian.appointment.location = "12 Elm St, Springfield"
    db.session.commit()
    auth.login("glen@smile.example")
    html = page_text(client, f"/week/{WEEK}")
    card = html[html.index(f'id="task-{brian.id}"'):]
    card = card[:card.index("</article>")]
    assert f'href="/clients/{brian.client_id}"' in card
    assert f'href="/appointments/{brian.appointment_id}"' in card
    assert f'href="tel:{brian.client.phone}"' in card
    assert "At the client's home" in card
    assert 'href="geo:0,0?q=12%20Elm%20St%2C%20Springfield">12 Elm St, Springfield</a>' in card
    anna = task_of("Anna Petrova")
    assert "geo:" not in html[html.index(f'id="task-{anna.id}"'):].split("</article>")[0]


def test_filters_show_what_is_left_to_do_or_done(client, auth, built_week):
    auth.login("glen@smile.example")
    todo = page_text(client, f"/week/{WEEK}?show=todo")
    assert "Anna Petrova" not in todo and "Brian Chen" in todo
    done = page_text(client, f"/week/{WEEK}?show=done")
    assert "Anna Petrova" in done and "Brian Chen" not in done


def test_removed_tasks_are_shown_apart_with_their_reason(client, auth, built_week, runner):
    _practice, glen, _maria = built_week
    import_calendar(glen, glen_calendar(brian_cancelled=True), at(SATURDAY_BEFORE, "11:00"))
    build_json(runner)
    auth.login("glen@smile.example")
    html = page_text(client, f"/week/{WEEK}")
    removed = html[html.index('<details class="removed">'):]
    assert "Brian Chen" in removed and "The visit was cancelled." in removed
    assert "Brian Chen" not in html[:html.index('<details class="removed">')]
    assert "1 of 3 reached" in html


@pytest.mark.parametrize("new_york_time, hint", [
    ("07:30", "too early"), ("19:59", "a good time"), ("20:00", "too late"),
])
def test_polite_hours_hint_in_the_clients_time(client, auth, built_week, clock_file, new_york_time, hint):
    set_clock(clock_file, at(SATURDAY_BEFORE, new_york_time))
    auth.login("glen@smile.example")
    assert f"for the client — {hint}" in page_text(client, f"/week/{WEEK}")


def test_default_week_is_this_week_until_friday(make, client, auth, clock_file):
    practice = make.practice("Smile Dental")
    make.practitioner(practice, email="glen@smile.example")
    auth.login("glen@smile.example")
    set_clock(clock_file, at(dt.date(2026, 11, 26), "23:00"))  # Thursday
    assert "Nov 23\u2009–\u200929" in page_text(client, "/week")
    set_clock(clock_file, at(dt.date(2026, 11, 27), "00:30"))  # Friday
    assert "Nov 30\u2009–\u2009Dec 6" in page_text(client, "/week")


def test_a_week_not_built_yet_says_so_and_staff_can_build_it(make, client, auth, smile, clock_file):
    practice, _glen, maria = smile
    set_clock(clock_file, at(SATURDAY_BEFORE, "08:00"))
    make.user(practice, role="staff", email="front@smile.example")
    auth.login("front@smile.example")
    assert "This list is not built yet: it will be on Nov 28, 2026, 9:00\u202fAM." in page_text(
        client, f"/week/{WEEK}?practitioner={maria.id}")
    set_clock(clock_file, at(SATURDAY_BEFORE, "09:01"))  # before the next tick
    assert "This list was due on Nov 28, 2026, 9:00\u202fAM but has not been built yet." in page_text(
        client, f"/week/{WEEK}?practitioner={maria.id}")
    response = client.post(f"/week/{WEEK}/build", data={"practitioner": maria.id})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/week/{WEEK}?practitioner={maria.id}"
    html = page_text(client, response.headers["Location"])
    assert "Fatima Khan" in html and "Hana Sato" in html
    assert "Has an open question: “Is there parking nearby?”" in html


def test_staff_pick_a_practitioner_and_practitioners_see_only_their_own(client, auth, built_week, make):
    practice, _glen, maria = built_week
    make.user(practice, role="staff", email="front@smile.example")
    auth.login("front@smile.example")
    assert "Fatima Khan" in page_text(client, f"/week/{WEEK}?practitioner={maria.id}")
    auth.logout()
    auth.login("glen@smile.example")
    page_text(client, f"/week/{WEEK}?practitioner={maria.id}", 404)
    page_text(client, f"/settings/script?practitioner={maria.id}", 404)


def test_a_broken_script_never_breaks_the_list(client, auth, built_week):
    _practice, glen, _maria = built_week
    glen.script_template = "Hi {{ client_first_name }}, {{ oops }}"
    db.session.commit()
    auth.login("glen@smile.example")
    html = page_text(client, f"/week/{WEEK}")
    assert "Your script could not be used (&#39;oops&#39; is undefined), so the default script is shown." in html
    assert "Hello Anna, this is Dr. Gorab from Smile Dental" in html


def test_russian_practice_page_shows_russian_scripts(make, client, auth, clock_file):
    moscow = ZoneInfo("Europe/Moscow")
    practice = make.practice("Клиника Улыбка", timezone="Europe/Moscow", locale="ru", phone="+74951234567")
    gleb = make.practitioner(practice, full_name="Глеб Горобцов", preferred_name="Глеб", email="gleb@example.ru")
    make.appointment(gleb, make.client(practice, full_name="Анна Петрова", phone="+74951112233"),
                     at(day_of_week(1), "14:00", moscow))
    set_clock(clock_file, at(SATURDAY_BEFORE, "12:00", moscow))
    call_lists.build_call_lists(db.session, practice, call_lists.parse_week(WEEK), now=at(SATURDAY_BEFORE, "09:00"))
    db.session.commit()
    auth.login("gleb@example.ru")
    html = page_text(client, "/week")
    assert "Здравствуйте, Анна! Это Глеб Горобцов, Клиника Улыбка." in html
    assert "Вижу, что вы записаны ко мне во вторник в 14:00. Я всегда звоню заранее" in html


# --- The script settings page ---------------------------------------------------------------------


def test_script_settings_save_preview_and_refuse_broken_templates(client, auth, built_week):
    _practice, glen, _maria = built_week
    auth.login("glen@smile.example")
    html = page_text(client, "/settings/script")
    assert "for Anna Petrova" in html  # the next client on the list
    assert scripts.DEFAULT_TEMPLATES["en"].replace("'", "&#39;") in html

    preview = client.post("/settings/script/preview",
                          data={"script_template": "Hi {{ client_first_name }}, {{ visit_when }}!"}).get_json()
    assert preview == {"text": "Hi Anna, Monday at 10:00\u202fAM!", "error": None, "client": "Anna Petrova",
                       "sample": False}
    broken = client.post("/settings/script/preview", data={"script_template": "Hi {{ oops }}"}).get_json()
    assert broken["error"] == "'oops' is undefined"
    assert broken["text"].startswith("Hello Anna")

    response = client.post("/settings/script", data={"script_template": "Hi {{ oops"})
    assert response.status_code == 400
    assert "This script has an error: line 1:" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Practitioner, glen.id).script_template is None

    response = client.post("/settings/script", data={"script_template": "Hi {{ client_first_name }}, it's Glen."})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Practitioner, glen.id).script_template == "Hi {{ client_first_name }}, it's Glen."
    assert "Hi Anna, it&#39;s Glen." in page_text(client, f"/week/{WEEK}")

    client.post("/settings/script", data={"script_template": "ignored", "use_default": "1"})
    db.session.expire_all()
    assert db.session.get(Practitioner, glen.id).script_template is None


def test_preview_uses_a_sample_client_before_there_is_a_list(make, client, auth, clock_file):
    set_clock(clock_file, at(SATURDAY_BEFORE, "12:00"))
    practice = make.practice("Smile Dental")
    make.practitioner(practice, email="glen@smile.example")
    auth.login("glen@smile.example")
    preview = client.post("/settings/script/preview", data={"script_template": "{{ client_first_name }}"}).get_json()
    assert preview == {"text": "Anna", "error": None, "client": "Anna Sample", "sample": True}


# --- Isolation ------------------------------------------------------------------------------------


def test_another_practices_practitioner_is_not_found_on_any_call_list_route(client, auth, built_week, make):
    _practice, glen, _maria = built_week
    other = make.practice("Other Practice")
    make.user(other, role="admin", email="admin@other.example")
    auth.login("admin@other.example")
    for method, url in (("GET", f"/week?practitioner={glen.id}"), ("GET", f"/week/{WEEK}?practitioner={glen.id}"),
                        ("GET", f"/settings/script?practitioner={glen.id}"),
                        ("POST", f"/settings/script?practitioner={glen.id}"),
                        ("POST", f"/settings/script/preview?practitioner={glen.id}"),
                        ("POST", f"/week/{WEEK}/build?practitioner={glen.id}")):
        response = client.open(url, method=method, data={"script_template": "x"})
        assert response.status_code == 404, (method, url)
        assert "Anna Petrova" not in response.get_data(as_text=True)
    assert task_of("Anna Petrova").state == "active"


def test_not_a_week_is_not_found(client, auth, built_week):
    auth.login("glen@smile.example")
    page_text(client, "/week/2026-W60", 404)
    page_text(client, "/week/yesterday", 404)
