"""Outcomes: the figures of a practice whose true rates the test knows, the pages, plots, report and
export built on them, marking visits (web and CLI), erasing a client and the retention period.

The history (`history` fixture) is four weeks of a practice in New York with
ten first visits a week, each in a known slot:

    slots 0-3  reached by phone before the visit (slot 1 after a voicemail)
    slots 4-5  on the list, not reached (slot 5 only reached after the visit had begun)
    slot  6    on the list, never called
    slots 7-9  on no call list (slot 9 on Sunday evening local time, Monday in UTC)

Even slots are Dr Adams', odd ones Dr Brown's. The no-shows (NO_SHOWS) make
the first-visit no-show rates exactly 2/16 = 12.5% reached, 3/12 = 25% not
reached and 6/12 = 50% on no list.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest
from flask import current_app, render_template_string
from sqlalchemy import JSON, String, Text, select

from outreach import tasks
from outreach.cli import cli
from outreach.clock import set_clock
from outreach.extensions import db
from outreach.models import (
    Appointment,
    AuditEvent,
    CallTask,
    Client,
    InboundMessage,
    Notification,
    Practitioner,
)
from outreach.services import audit, calls, outcomes, privacy, visit_outcomes

UTC = dt.timezone.utc
WEEKS = ["2026-W40", "2026-W41", "2026-W42", "2026-W43"]
MONDAYS = [dt.date(2026, 9, 28) + dt.timedelta(weeks=week) for week in range(4)]
NOW = dt.datetime(2026, 11, 4, 12, tzinfo=UTC)  # Wednesday of 2026-W45: every visit of the history is past
REACHED, NOT_REACHED, NEVER_CALLED, NO_LIST = range(0, 4), range(4, 6), (6,), range(7, 10)
NO_SHOWS = {(0, 0), (2, 1), (0, 4), (1, 5), (3, 4), (0, 7), (0, 8), (1, 7), (1, 8), (2, 7), (2, 8)}
OTHER_OUTCOMES = {(1, 2): "rescheduled", (3, 9): "cancelled_late"}
QUESTIONS = {(0, 0): "How long will it take?", (1, 2): "how long will it  take", (2, 3): "Is there parking?"}


@dataclass
class History:
    practice: object
    adams: Practitioner
    brown: Practitioner
    visits: dict  # (week index, slot) -> Appointment
    unmarked: Appointment  # one more first visit of the last week, not marked yet


def visit_start(week: int, slot: int) -> dt.datetime:
    if slot == 9:  # Monday 02:00 UTC is Sunday 22:00 in New York: still this week there
        return dt.datetime.combine(MONDAYS[week] + dt.timedelta(weeks=1), dt.time(2), UTC)
    return dt.datetime.combine(MONDAYS[week] + dt.timedelta(days=slot % 5), dt.time(15), UTC)


def record_call(task: CallTask, outcome: str, when: dt.datetime, **words: str) -> None:
    calls.record_outcome(db.session, task, task.call_list.practitioner.user, outcome=outcome, now=when, **words)


def arrival_text(visit: Appointment, *, status: str, sent: bool, key: str) -> Notification:
    due = visit.starts_at - dt.timedelta(minutes=15)
    text = Notification(practice_id=visit.practice_id, appointment_id=visit.id, client_id=visit.client_id,
                        practitioner_id=visit.practitioner_id, kind="arrival", dedupe_key=key,
                        to_phone=visit.client.phone, body=f"Hi {visit.client.full_name}, I am 15 minutes away",
                        due_at=due, status=status, message_sid=f"SM{key:0>32}" if sent else None,
                        sent_at=due if sent else None)
    db.session.add(text)
    return text


@pytest.fixture
def history(make) -> History:
    return build_history(make)


def build_history(make) -> History:
    """The four weeks described at the top of this module (also shown in the browser test)."""
    practice = make.practice("Smile Dental", timezone="America/New_York")
    adams = make.practitioner(practice, full_name="Dr. Ada Adams", preferred_name="Ada", email="adams@example.com")
    brown = make.practitioner(practice, full_name="Dr. Bob Brown", preferred_name="Bob", email="brown@example.com")
    make.user(practice, role="admin", email="admin@example.com")
    sources = {adams.id: make.source(adams), brown.id: make.source(brown)}

    def first_visit(name: str, practitioner: Practitioner, starts_at: dt.datetime, **extra) -> Appointment:
        client = make.client(practice, full_name=name, email=f"{name.lower().replace(' ', '.')}@example.com")
        return make.appointment(practitioner, client, starts_at, source=sources[practitioner.id], **extra)

    visits = {}
    for week in range(4):
        for slot in range(10):
            practitioner = adams if slot % 2 == 0 else brown
            visit = first_visit(f"Client {week}-{slot}", practitioner, visit_start(week, slot),
                                at_client_place=True, location=f"{week}{slot} Elm Street")
            visits[week, slot] = visit
            if slot not in NO_LIST:
                task = make.call_task(visit)
                before = visit.starts_at - dt.timedelta(days=2)
                if slot == 1:
                    record_call(task, "voicemail", before - dt.timedelta(days=1))
                if slot in REACHED:
                    record_call(task, "reached", before, questions=QUESTIONS.get((week, slot), ""),
                                notes=f"Notes on client {week}-{slot}")
                if slot == 4:
                    record_call(task, "voicemail", before)
                    record_call(task, "no_answer", before + dt.timedelta(hours=3))
                if slot == 5:
                    record_call(task, "voicemail", before)
                    record_call(task, "reached", visit.starts_at + dt.timedelta(hours=1))
            db.session.commit()
        # Arrival texts: one delivered and replied to, one refused by Twilio, one sent, one not sent yet.
        replied = arrival_text(visits[week, 0], status="delivered", sent=True, key=f"{week}0")
        arrival_text(visits[week, 7], status="failed", sent=False, key=f"{week}7")
        arrival_text(visits[week, 8], status="sent", sent=True, key=f"{week}8")
        arrival_text(visits[week, 9], status="pending", sent=False, key=f"{week}9")
        db.session.add(InboundMessage(practice_id=practice.id, client_id=visits[week, 0].client_id,
                                      appointment_id=visits[week, 0].id, message_sid=f"SM{week}r".ljust(34, "0"),
                                      from_phone=visits[week, 0].client.phone, body=f"See you, from {week}-0",
                                      received_at=replied.sent_at + dt.timedelta(minutes=2)))
        # A reply before the text went out answers something else.
        db.session.add(InboundMessage(practice_id=practice.id, client_id=visits[week, 8].client_id,
                                      appointment_id=visits[week, 8].id, message_sid=f"SM{week}e".ljust(34, "0"),
                                      from_phone=visits[week, 8].client.phone, body="Earlier question",
                                      received_at=visits[week, 8].starts_at - dt.timedelta(days=1)))
    for (week, slot), visit in visits.items():
        outcome = "no_show" if (week, slot) in NO_SHOWS else OTHER_OUTCOMES.get((week, slot), "attended")
        visit_outcomes.mark_visit(db.session, visit, outcome, audit.SYSTEM, NOW)
    # Two opt-outs in the second week; one before the range.
    visits[0, 7].client.opted_out_at = dt.datetime(2026, 10, 7, 15, tzinfo=UTC)
    visits[1, 7].client.opted_out_at = dt.datetime(2026, 10, 8, 15, tzinfo=UTC)
    visits[2, 7].client.opted_out_at = dt.datetime(2026, 9, 20, 15, tzinfo=UTC)

    # Not first visits, so in no first-visit figure: a returning client's no-show.
    regular = make.client(practice, full_name="Regular Client")
    make.appointment(adams, regular, dt.datetime(2026, 7, 1, 15, tzinfo=UTC), source=sources[adams.id])
    returning = make.appointment(adams, regular, dt.datetime(2026, 10, 6, 15, tzinfo=UTC), source=sources[adams.id])
    visit_outcomes.mark_visit(db.session, returning, "no_show", audit.SYSTEM, NOW)
    unmarked = first_visit("Client unmarked", brown, dt.datetime(2026, 10, 23, 15, tzinfo=UTC))

    # Another practice's no-show in the same weeks, reached by phone: never in Smile Dental's figures.
    other = make.practice("Other Practice")
    stranger = make.practitioner(other, email="stranger@example.com")
    foreign = make.appointment(stranger, make.client(other, full_name="Foreign Client"),
                               dt.datetime(2026, 10, 7, 15, tzinfo=UTC))
    record_call(make.call_task(foreign), "reached", foreign.starts_at - dt.timedelta(days=1))
    visit_outcomes.mark_visit(db.session, foreign, "no_show", audit.SYSTEM, NOW)
    db.session.commit()
    return History(practice, adams, brown, visits, unmarked)


# --- The figures ------------------------------------------------------------------------------


def test_first_visit_no_show_rates_by_reach_are_the_known_ones(history):
    figures = outcomes.practice_figures(db.session, history.practice.id, WEEKS)
    visits = figures.totals.first_visits

    assert (visits.reached.known, visits.reached.no_show, visits.reached.no_show_rate) == (16, 2, 0.125)
    assert (visits.not_reached.known, visits.not_reached.no_show, visits.not_reached.no_show_rate) == (12, 3, 0.25)
    assert (visits.no_list.known, visits.no_list.no_show, visits.no_list.no_show_rate) == (12, 6, 0.5)
    assert (visits.all.visits, visits.all.known, visits.all.unmarked, visits.all.no_show) == (41, 40, 1, 11)
    assert (visits.all.rescheduled, visits.all.cancelled_late, visits.all.cancelled) == (1, 1, 0)


def test_call_list_and_text_figures_are_the_known_ones(history):
    totals = outcomes.practice_figures(db.session, history.practice.id, WEEKS).totals

    assert totals.calls == outcomes.CallFigures(tasks=28, called=24, reached=16, voicemails=12, attempts=36,
                                                reached_or_greeting_left=16)
    assert (totals.calls.share_called, totals.calls.share_reached, totals.calls.attempts_per_task) == (
        24 / 28, 16 / 28, 36 / 28)
    assert totals.texts == outcomes.TextFigures(sent=8, delivered=4, failed=4, replied=4)
    assert totals.opt_outs == 2


def test_per_week_series_follow_the_practice_time_zone(history):
    figures = outcomes.practice_figures(db.session, history.practice.id, WEEKS)

    assert figures.weeks == WEEKS
    assert [week.first_visits.all.visits for week in figures.per_week.values()] == [10, 10, 10, 11]
    assert figures.series(lambda f: f.first_visits.all.no_show_rate) == [4 / 10, 3 / 10, 3 / 10, 1 / 10]
    assert figures.series(lambda f: f.first_visits.reached.no_show_rate) == [1 / 4, 0, 1 / 4, 0]
    assert figures.series(lambda f: f.calls.share_reached) == [4 / 7] * 4
    assert figures.series(lambda f: f.opt_outs) == [0, 2, 0, 0]
    # Each Sunday-evening visit (Monday in UTC) belongs to its local week, not the next one.
    assert figures.per_week["2026-W43"].first_visits.no_list.cancelled_late == 1
    assert sum(figures.per_week.values(), outcomes.Figures()) == figures.totals


def test_a_practitioner_filter_keeps_their_visits_only(history):
    visits = outcomes.practice_figures(db.session, history.practice.id, WEEKS, history.adams.id).totals.first_visits

    assert (visits.reached.known, visits.reached.no_show) == (8, 1)
    assert (visits.not_reached.known, visits.not_reached.no_show) == (8, 2)
    assert (visits.no_list.known, visits.no_list.no_show) == (4, 3)


def test_a_visit_cancelled_in_the_calendar_before_it_began_is_cancelled_not_a_no_show(make):
    practice = make.practice("Calendar Practice")
    doctor = make.practitioner(practice)
    start = dt.datetime(2026, 10, 6, 15, tzinfo=UTC)
    ahead = make.appointment(doctor, make.client(practice), start, status="cancelled")
    ahead.cancelled_at = start - dt.timedelta(days=1)
    tidied_after = make.appointment(doctor, make.client(practice), start, status="cancelled")
    tidied_after.cancelled_at = start + dt.timedelta(hours=2)
    for visit in (ahead, tidied_after):
        visit_outcomes.mark_visit(db.session, visit, "no_show", audit.SYSTEM, NOW)
    db.session.commit()

    visits = outcomes.practice_figures(db.session, practice.id, ["2026-W41"]).totals.first_visits.all
    assert (visits.cancelled, visits.no_show, visits.no_show_rate) == (1, 1, 0.5)


def test_weeks_are_checked_and_spelled_out():
    assert outcomes.weeks_between("2026-W52", "2027-W02") == ["2026-W52", "2026-W53", "2027-W01", "2027-W02"]
    for first, last in [("2026-W10", "2026-W09"), ("2026-W99", "2026-W99"), ("last week", "2026-W01"),
                        ("2023-W01", "2026-W01")]:
        with pytest.raises(outcomes.WeekError):
            outcomes.weeks_between(first, last)


def test_the_most_common_questions_are_grouped_and_counted_once_per_client(history):
    questions = outcomes.top_questions(db.session, history.practice.id, WEEKS)
    assert [(q.text, q.clients) for q in questions] == [("How long will it take?", 2), ("Is there parking?", 1)]


# --- Marking visits ---------------------------------------------------------------------------


def test_marking_is_audited_and_refuses_visits_still_to_come(history):
    visit = history.unmarked
    assert visit_outcomes.mark_visit(db.session, visit, "attended", audit.SYSTEM, NOW) is True
    assert visit_outcomes.mark_visit(db.session, visit, "attended", audit.SYSTEM, NOW) is False
    db.session.commit()
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "visit.outcome_marked",
                                                         AuditEvent.object_id == visit.id)).all()
    assert [event.detail for event in events] == [{"outcome": "attended", "previous": None}]
    assert (visit.visit_outcome, visit.visit_outcome_at) == ("attended", NOW)

    with pytest.raises(visit_outcomes.VisitStillToCome, match="still to come"):
        visit_outcomes.mark_visit(db.session, visit, "no_show", audit.SYSTEM, visit.starts_at - dt.timedelta(hours=1))
    with pytest.raises(visit_outcomes.UnknownOutcome):
        visit_outcomes.mark_visit(db.session, visit, "vanished", audit.SYSTEM, NOW)


def test_a_practitioner_marks_their_own_visit_and_goes_back(history, client, auth, clock_file):
    set_clock(clock_file, NOW)
    auth.login("brown@example.com")
    visit = history.unmarked
    response = client.post(f"/appointments/{visit.id}/visit-outcome", data={"outcome": "no_show"},
                           headers={"Referer": "http://localhost/today?day=2026-10-23"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/today?day=2026-10-23"
    db.session.expire_all()
    assert visit.visit_outcome == "no_show"

    # Without a referrer (or one from elsewhere) it goes to the client's page.
    response = client.post(f"/appointments/{visit.id}/visit-outcome", data={"outcome": "attended"},
                           headers={"Referer": "https://evil.example/"})
    assert response.headers["Location"] == f"/clients/{visit.client_id}"


def test_a_practitioner_cannot_mark_a_colleagues_visit_nor_a_visit_to_come(history, client, auth, clock_file):
    set_clock(clock_file, NOW)
    auth.login("adams@example.com")
    assert client.post(f"/appointments/{history.unmarked.id}/visit-outcome",
                       data={"outcome": "attended"}).status_code == 404

    set_clock(clock_file, history.visits[0, 0].starts_at - dt.timedelta(days=1))
    response = client.post(f"/appointments/{history.visits[0, 0].id}/visit-outcome", data={"outcome": "attended"},
                           follow_redirects=True)
    assert "still to come" in response.get_data(as_text=True)
    db.session.expire_all()
    assert history.visits[0, 0].visit_outcome == "no_show"


def test_the_visit_outcome_control_offers_four_choices_with_a_csrf_token(app, history):
    visit = history.visits[0, 0]
    with app.test_request_context():
        html = render_template_string('{% include "outcomes/_visit_outcome_control.html" %}', appointment=visit)
    assert f'action="/appointments/{visit.id}/visit-outcome"' in html
    assert 'name="csrf_token"' in html
    assert [value in html for value in ('value="attended"', 'value="no_show"', 'value="cancelled_late"',
                                        'value="rescheduled"')] == [True] * 4
    assert html.count('aria-pressed="true"') == 1


# --- The mark-visit command -------------------------------------------------------------------


def mark(runner, *args: str):
    return runner.invoke(cli, ["mark-visit", "--practice", "Smile Dental", *args])


def test_cli_marks_one_visit(runner, history):
    result = mark(runner, "--appointment", str(history.unmarked.id), "Cancelled late")
    assert result.exit_code == 0, result.output
    assert "Marked 1 visit" in result.output
    db.session.expire_all()
    assert history.unmarked.visit_outcome == "cancelled_late"


def test_cli_marks_many_visits_from_csv_all_or_nothing(runner, history, tmp_path):
    good, also_good = history.unmarked, history.visits[0, 0]
    path = tmp_path / "visits.csv"
    path.write_text(f"\ufeffappointment_id,outcome,comment\n{good.id},no-show,\n{also_good.id},no_show,same\n",
                    encoding="utf-8")
    result = mark(runner, "--csv", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"practice": "Smile Dental", "marked": [good.id], "unchanged": [also_good.id],
                                         "problems": []}

    foreign = db.session.scalar(select(Appointment).join(Client).where(Client.full_name == "Foreign Client"))
    path.write_text(f"appointment_id,outcome\n{history.visits[1, 1].id},rescheduled\n{foreign.id},attended\n"
                    f"x,attended\n{history.visits[1, 2].id},gone\n", encoding="utf-8")
    result = mark(runner, "--csv", str(path), "--json")
    assert result.exit_code == 1
    problems = json.loads(result.output)["problems"]
    assert [(p["line"], p["appointment_id"]) for p in problems] == [
        (3, str(foreign.id)), (4, "x"), (5, str(history.visits[1, 2].id))]
    assert "no visit" in problems[0]["error"]
    db.session.expire_all()
    assert history.visits[1, 1].visit_outcome == "attended"  # nothing was marked


def test_cli_refuses_visits_to_come_and_bad_input_clearly(runner, history, tmp_path, make):
    future = make.appointment(history.adams, make.client(history.practice), dt.datetime(2099, 1, 5, tzinfo=UTC))
    result = mark(runner, "--appointment", str(future.id), "attended")
    assert result.exit_code == 1 and "still to come" in result.output and "Nothing was marked" in result.output

    headless = tmp_path / "headless.csv"
    headless.write_text("1,attended\n")
    result = mark(runner, "--csv", str(headless))
    assert result.exit_code == 1 and "must name the columns appointment_id, outcome" in result.output

    assert mark(runner).exit_code == 2
    assert mark(runner, "--appointment", "1").exit_code == 2
    assert mark(runner, "--appointment", "1", "attended", "--csv", str(headless)).exit_code == 2
    result = runner.invoke(cli, ["mark-visit", "--practice", "Nowhere", "--appointment", "1", "attended"])
    assert result.exit_code == 1 and "Nowhere" in result.output


# --- Pages, plots, report and export ----------------------------------------------------------

RANGE = {"from": WEEKS[0], "to": WEEKS[-1]}


def test_the_outcomes_page_shows_the_no_show_table_and_its_plots(history, client, auth):
    auth.login("admin@example.com")
    page = client.get("/outcomes", query_string=RANGE).get_data(as_text=True)
    for figure in ("12.5%", "25.0%", "50.0%", "27.5%", "Parikh"):
        assert figure in page
    assert '/outcomes/plots/weekly.svg?from=2026-W40&amp;to=2026-W43' in page
    assert '/outcomes/plots/no-shows.svg?from=2026-W40&amp;to=2026-W43' in page
    assert "Dr. Bob Brown" in page  # in the practitioner filter

    page = client.get("/outcomes", query_string={**RANGE, "practitioner": history.adams.id}).get_data(as_text=True)
    assert "75.0%" in page  # Dr Adams' clients on no list: 3 no-shows of 4
    assert f"practitioner={history.adams.id}" in page


def test_a_practitioner_sees_only_their_own_outcomes(history, client, auth):
    auth.login("adams@example.com")
    page = client.get("/outcomes", query_string=RANGE).get_data(as_text=True)
    assert "75.0%" in page and "Dr. Bob Brown" not in page
    assert client.get("/outcomes", query_string={**RANGE, "practitioner": history.brown.id}).status_code == 404
    assert client.get("/outcomes/export.csv", query_string={"practitioner": history.brown.id}).status_code == 404


def test_wrong_weeks_are_a_clear_400(history, client, auth):
    auth.login("admin@example.com")
    for query in ({"from": "2026-W45", "to": "2026-W40"}, {"from": "soon"}):
        response = client.get("/outcomes/plots/weekly.svg", query_string=query)
        assert response.status_code == 400
        assert "2026-W40" in response.get_data(as_text=True)
    assert client.get("/outcomes/report", query_string={"months": 99}).status_code == 400


def test_the_plots_are_svg_drawn_from_the_figures(history, client, auth):
    auth.login("admin@example.com")
    weekly = client.get("/outcomes/plots/weekly.svg", query_string=RANGE)
    assert weekly.mimetype == "image/svg+xml"
    svg = ElementTree.fromstring(weekly.data)
    ns = {"svg": "http://www.w3.org/2000/svg"}
    assert len(svg.findall("svg:polyline", ns)) == 2  # reach rate and no-show rate
    assert [circle.find("svg:title", ns).text for circle in svg.findall("svg:circle", ns)][4:] == [
        "Sep 28: 40.0%", "Oct 5: 30.0%", "Oct 12: 30.0%", "Oct 19: 10.0%"]  # each week by its Monday

    bars = ElementTree.fromstring(client.get("/outcomes/plots/no-shows.svg", query_string=RANGE).data)
    heights = [float(rect.get("height")) for rect in bars.findall("svg:rect", ns)[1:]]  # after the background
    # 12.5%, 25% and 50% of the plot's height, drawn to a tenth of a pixel.
    assert heights[0] * 2 == pytest.approx(heights[1], abs=0.2)
    assert heights[1] * 2 == pytest.approx(heights[2], abs=0.2)
    labels = [text.text for text in bars.findall("svg:text", ns)]
    assert {"12.5%", "25.0%", "50.0%", "2 of 16", "3 of 12", "6 of 12"} <= set(labels)


def test_the_review_report_is_printable_with_the_most_common_questions(history, client, auth, clock_file):
    set_clock(clock_file, NOW)
    auth.login("admin@example.com")
    page = client.get("/outcomes/report", query_string={"months": 6}).get_data(as_text=True)
    assert "May 11\u2009–\u2009Nov 8, 2026" in page  # 26 weeks (2026-W20 to 2026-W45) up to the current one
    assert "How long will it take?" in page and "(2 clients)" in page
    assert "12.5%" in page
    assert "outcomes.css" in page
    assert "@media print" in (Path(current_app.static_folder) / "outcomes.css").read_text()


def test_the_export_round_trips_to_the_database(history, client, auth):
    auth.login("admin@example.com")
    response = client.get("/outcomes/export.csv", query_string=RANGE)
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    reader = csv.DictReader(io.StringIO(response.data.decode("utf-8-sig")))
    assert tuple(reader.fieldnames) == outcomes.EXPORT_COLUMNS
    exported = {int(row["task_id"]): row for row in reader}

    db.session.expire_all()
    tasks_in_db = db.session.scalars(select(CallTask).where(CallTask.practice_id == history.practice.id)).all()
    assert set(exported) == {task.id for task in tasks_in_db}
    for task in tasks_in_db:
        row, visit, attempts = exported[task.id], task.appointment, task.attempts
        starts = [attempt.started_at for attempt in attempts]
        assert row["week"] == task.call_list.week
        assert int(row["practitioner_id"]) == task.call_list.practitioner_id
        assert row["practitioner"] == task.call_list.practitioner.full_name
        assert (int(row["client_id"]), int(row["appointment_id"])) == (task.client_id, visit.id)
        assert (row["reason"], row["task_state"]) == (task.reason, task.state)
        assert int(row["attempts"]) == len(attempts)
        assert int(row["voicemails"]) == sum(attempt.outcome == "voicemail" for attempt in attempts)
        assert parsed(row["first_attempt_at"]) == (min(starts) if starts else None)
        assert parsed(row["last_attempt_at"]) == (max(starts) if starts else None)
        assert row["last_call_outcome"] == (task.outcome or "")
        assert row["reached_before_visit"] == ("yes" if any(
            a.outcome == "reached" and a.started_at < visit.starts_at for a in attempts) else "no")
        assert parsed(row["visit_start"]) == visit.starts_at
        assert row["visit_start"].endswith("-04:00")  # New York summer time
        assert row["visit_outcome"] == (visit.visit_outcome or "")


def parsed(text: str) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


# --- Erasing a client -------------------------------------------------------------------------


def string_values_containing(secrets: list[str]) -> list[tuple[str, str]]:
    """(table.column, value) for every string or JSON value in the database containing one of `secrets`."""
    found = []
    with db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]
            for row in connection.execute(select(*columns)) if columns else []:
                for column, value in zip(columns, row):
                    text = json.dumps(value, ensure_ascii=False) if isinstance(column.type, JSON) else value
                    if text and any(secret in text for secret in secrets):
                        found.append((f"{table.name}.{column.name}", text))
    return found


def test_erasing_a_client_leaves_no_trace_and_the_figures_unchanged(history, client, auth, clock_file):
    set_clock(clock_file, NOW)
    visit = history.visits[0, 0]
    person = visit.client
    visit.description = "Door code 4512"
    pending = arrival_text(visit, status="pending", sent=False, key="erase-pending")
    db.session.flush()
    audit.record(db.session, practice_id=person.practice_id, action="notification.failed", obj=pending,
                 error=f"Twilio: {person.phone} is unreachable", code=30003)
    db.session.commit()
    texts = db.session.scalars(select(Notification.body).where(Notification.client_id == person.id)).all()
    replies = db.session.scalars(select(InboundMessage.body).where(InboundMessage.client_id == person.id)).all()
    secrets = [person.full_name, person.phone, person.email, "Notes on client 0-0", "How long will it take",
               "Door code 4512", visit.location, *texts, *replies]
    assert len(string_values_containing(secrets)) > 10
    before = outcomes.practice_figures(db.session, history.practice.id, WEEKS)

    auth.login("admin@example.com")
    confirm = client.get(f"/clients/{person.id}/erase").get_data(as_text=True)
    assert "cannot be undone" in confirm and 'name="confirm"' in confirm
    assert client.post(f"/clients/{person.id}/erase").status_code == 302  # not confirmed: nothing happens
    db.session.expire_all()
    assert person.erased_at is None

    response = client.post(f"/clients/{person.id}/erase", data={"confirm": "yes"})
    assert response.headers["Location"] == f"/clients/{person.id}"

    db.session.expire_all()
    assert string_values_containing(secrets) == []
    assert person.erased_at == NOW
    assert db.session.get(Notification, pending.id).status == "cancelled"
    assert outcomes.practice_figures(db.session, history.practice.id, WEEKS) == before
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "client.erased"))
    assert (event.object_id, event.actor) == (person.id, "admin@example.com")
    assert set(event.detail) == {"visits", "call_tasks", "call_attempts", "texts", "replies", "audit_events"}
    assert event.detail["texts"] == 2 and event.detail["replies"] == 1


def test_only_an_admin_erases(history, client, auth):
    auth.login("brown@example.com")
    person = history.visits[0, 1].client
    assert client.get(f"/clients/{person.id}/erase").status_code == 403
    assert client.post(f"/clients/{person.id}/erase", data={"confirm": "yes"}).status_code == 403


# --- Retention --------------------------------------------------------------------------------


def test_retention_blanks_old_bodies_and_notes_once_a_day(history):
    # 32 days before NOW is Saturday 3 October 2026, 12:00 UTC: the first week is older, but for its
    # Sunday-evening visit's text (due Monday 5 October in UTC).
    history.practice.retention_days = 32
    db.session.commit()

    runs = privacy.apply_retention(db.session, NOW)
    assert privacy.Retention(history.practice.id, texts=3, replies=2, call_attempts=4, call_tasks=4) in runs
    db.session.expire_all()
    old, kept = history.visits[0, 0], history.visits[1, 0]
    for column, visit_column in ((Notification.body, Notification.appointment_id),
                                 (InboundMessage.body, InboundMessage.appointment_id),
                                 (CallTask.notes, CallTask.appointment_id)):
        assert db.session.scalars(select(column).where(visit_column == old.id)).all() == [None]
    for visit in (history.visits[0, 9], kept):
        assert db.session.scalar(select(Notification.body).where(Notification.appointment_id == visit.id))
    assert db.session.scalar(select(CallTask.notes).where(CallTask.appointment_id == kept.id)) == "Notes on client 1-0"
    assert old.visit_outcome == "no_show"  # nothing but text is touched

    assert privacy.apply_retention(db.session, NOW + dt.timedelta(hours=23)) == []  # done today
    # A day later the cutoff is a day later: the call of Saturday 3 October, 15:00 UTC goes too.
    rerun = privacy.apply_retention(db.session, NOW + dt.timedelta(days=1, minutes=1))
    assert privacy.Retention(history.practice.id, texts=0, replies=0, call_attempts=1, call_tasks=1) in rerun


def test_the_tick_applies_retention(history, clock_file):
    set_clock(clock_file, NOW)
    history.practice.retention_days = 30
    db.session.commit()
    tasks.tick()
    db.session.expire_all()
    assert db.session.get(Notification, db.session.scalar(
        select(Notification.id).where(Notification.appointment_id == history.visits[0, 0].id))).body is None
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "retention.applied",
                                                      AuditEvent.practice_id == history.practice.id))


def test_a_past_visit_can_be_marked_from_its_page(client, auth, make):
    practice = make.practice("Marking Practice")
    glen = make.practitioner(practice, email="glen-marks@example.com")
    anna = make.client(practice, full_name="Anna Petrova")
    past = make.appointment(glen, anna, dt.datetime(2026, 1, 5, 15, tzinfo=dt.timezone.utc))
    auth.login("glen-marks@example.com")
    page = client.get(f"/appointments/{past.id}").get_data(as_text=True)
    assert f"/appointments/{past.id}/visit-outcome" in page
    client.post(f"/appointments/{past.id}/visit-outcome", data={"outcome": "no_show"},
                headers={"Referer": f"/appointments/{past.id}"})
    db.session.refresh(past)
    assert past.visit_outcome == "no_show"


def test_the_figures_include_the_week_being_called_for_by_default(make, client, auth, clock_file):
    practice = make.practice("Smile Dental")
    make.user(practice, role="admin", email="boss@example.com")
    auth.login("boss@example.com")
    set_clock(clock_file, dt.datetime(2026, 12, 2, 17, tzinfo=UTC))  # Wednesday of 2026-W49
    assert "Sep 14\u2009–\u2009Dec 6, 2026" in client.get("/outcomes").get_data(as_text=True)
    assert "Jun 8\u2009–\u2009Dec 6, 2026" in client.get("/outcomes/report").get_data(as_text=True)
    # On Saturday the practitioners call next week's list: its calls count at once.
    set_clock(clock_file, dt.datetime(2026, 12, 5, 15, tzinfo=UTC))
    assert "Sep 21\u2009–\u2009Dec 13, 2026" in client.get("/outcomes").get_data(as_text=True)
