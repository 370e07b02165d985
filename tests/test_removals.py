"""A wrong import is undone: its future visits go, what already happened stays, and it is audited."""
import datetime as dt
import json

import pytest

from outreach.clock import set_clock
from outreach.extensions import db
from outreach.models import Appointment, AuditEvent, CalendarSource, CallAttempt, CallTask, ImportRun, Notification
from outreach.services import calendar_intake, calendar_sync, call_lists, feeds, removals, visit_outcomes

NOW = dt.datetime(2026, 11, 28, 15, 0, tzinfo=dt.timezone.utc)  # Saturday, 10:00 in New York
MONDAY = dt.date(2026, 11, 30)


def _calendar(*events: str) -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + "".join(events)
            + "END:VCALENDAR\r\n").encode()


def _event(uid: str, start: str, name: str, phone: str, location: str = "") -> str:
    return (f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n"
            f"DTSTART;TZID=America/New_York:{start}\r\nDURATION:PT45M\r\n"
            + (f"LOCATION:{location}\r\n" if location else "")
            + f"SUMMARY:{name} - Consultation\r\nDESCRIPTION:Phone: {phone}\r\nEND:VEVENT\r\n")


# A visit last week (already marked), a first visit next week at the client's home, and one the week after.
PAST = _event("past@x", "20261120T100000", "Olga Past", "+1 202-555-0160")
HOME_VISIT = _event("home@x", "20261201T140000", "Anna Petrova", "+1 202-555-0143", "12 Elm Street, Brooklyn")
LATER = _event("later@x", "20261209T090000", "Brian Chen", "+1 415-555-0134")


@pytest.fixture
def practice_with_history(make, clock_file):
    """An imported week whose list was built and called, with a past visit marked attended."""
    set_clock(clock_file, NOW)
    practice = make.practice("Smile Dental")
    glen = make.practitioner(practice, email="glen@example.com")
    make.user(practice, role="staff", email="front@example.com")
    calendar_intake.import_upload(db.session, glen, _calendar(PAST, HOME_VISIT, LATER), "wrong.ics", config={},
                                  now=NOW - dt.timedelta(days=9))
    db.session.commit()
    call_lists.build_call_lists(db.session, practice, MONDAY, now=NOW)
    task = db.session.scalars(db.select(CallTask)).one()
    db.session.add(CallAttempt(practice_id=practice.id, task_id=task.id, status="completed", outcome="voicemail",
                               notes="left a message"))
    past = _visit("past@x")
    visit_outcomes.mark_visit(db.session, past, "attended", "system", NOW)
    db.session.commit()
    return glen


def _visit(uid: str) -> Appointment:
    return db.session.scalars(db.select(Appointment).where(Appointment.uid == uid)).one()


def _arrival_text() -> Notification:
    return db.session.scalars(db.select(Notification).where(Notification.kind == "arrival")).one()


def test_removing_an_import_cancels_its_future_visits_and_keeps_everything_done(practice_with_history):
    assert _arrival_text().status == "pending"
    run = db.session.scalars(db.select(ImportRun)).one()

    plan = removals.plan_import_removal(db.session, run, NOW)
    assert [visit.uid for visit in plan.visits] == ["home@x", "later@x"]
    assert (plan.call_tasks, plan.texts, plan.past_visits) == (1, 1, 1)

    removals.remove_import(db.session, run, actor="system", now=NOW)
    db.session.commit()
    db.session.expire_all()

    assert _visit("home@x").status == _visit("later@x").status == "cancelled"
    past = _visit("past@x")
    assert (past.status, past.visit_outcome) == ("confirmed", "attended")
    task = db.session.scalars(db.select(CallTask)).one()
    assert task.state == "removed" and [a.notes for a in task.attempts] == ["left a message"]
    assert _arrival_text().status == "canceled" or _arrival_text().status == "cancelled"
    assert run.removed_at is not None
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "import.removed")).one()
    assert event.detail["visits_cancelled"] == 2 and event.detail["past_visits_kept"] == 1

    with pytest.raises(removals.RemovalError):
        removals.remove_import(db.session, run, actor="system", now=NOW)


def test_importing_the_same_file_again_after_a_removal_brings_the_visits_back(practice_with_history):
    glen = practice_with_history
    run = db.session.scalars(db.select(ImportRun)).one()
    removals.remove_import(db.session, run, actor="system", now=NOW)
    db.session.commit()

    report = calendar_intake.import_upload(db.session, glen, _calendar(PAST, HOME_VISIT, LATER), "wrong.ics",
                                           config={}, now=NOW)
    db.session.commit()
    db.session.expire_all()
    assert report.updated == 2
    assert _visit("home@x").status == "confirmed"
    assert db.session.scalars(db.select(CallTask)).one().state == "active"


def test_removing_the_import_that_brought_visits_back_cancels_them_again(practice_with_history):
    glen = practice_with_history
    first = db.session.scalars(db.select(ImportRun)).one()
    removals.remove_import(db.session, first, actor="system", now=NOW)
    calendar_intake.import_upload(db.session, glen, _calendar(PAST, HOME_VISIT, LATER), "right-after-all.ics",
                                  config={}, now=NOW)
    db.session.commit()
    again = db.session.scalars(db.select(ImportRun).where(ImportRun.filename == "right-after-all.ics")).one()

    assert [visit.uid for visit in removals.plan_import_removal(db.session, again, NOW).visits] == [
        "home@x", "later@x"]


def test_two_files_imported_at_the_same_moment_are_removed_apart(make, clock_file):
    """Two front-desk staff upload at the same instant (a pinned clock in a test, a batch in real life)."""
    set_clock(clock_file, NOW)
    glen = make.practitioner(make.practice("Smile Dental"), email="glen@example.com")
    calendar_intake.import_upload(db.session, glen, _calendar(HOME_VISIT), "monday.ics", config={}, now=NOW)
    calendar_intake.import_upload(db.session, glen, _calendar(LATER), "next-week.ics", config={}, now=NOW)
    db.session.commit()
    wrong = db.session.scalars(db.select(ImportRun).where(ImportRun.filename == "next-week.ics")).one()

    removal = removals.remove_import(db.session, wrong, actor="system", now=NOW)
    db.session.commit()
    db.session.expire_all()

    assert [visit.uid for visit in removal.visits] == ["later@x"]
    assert _visit("later@x").status == "cancelled" and _visit("home@x").status == "confirmed"


def test_removing_a_feed_stops_it_and_cancels_only_the_future(practice_with_history, feed_server):
    glen = practice_with_history
    feed = feeds.add_feed(db.session, glen, feed_server.url, "Booking tool", allowed_private_hosts=("127.0.0.1",))
    db.session.commit()
    feed_server.body = _calendar(_event("feed@x", "20261202T110000", "Carla Gomez", "+1 617-555-0123"),
                                 _event("feed-past@x", "20261125T110000", "Dan Old", "+1 617-555-0124"))
    feeds.sync_feed(db.session, feed, now=NOW, limits=feeds.ImportLimits(), allowed_private_hosts=("127.0.0.1",))
    db.session.commit()

    removal = removals.remove_calendar(db.session, feed, actor="system", now=NOW)
    db.session.commit()
    db.session.expire_all()
    assert [visit.uid for visit in removal.visits] == ["feed@x"] and removal.past_visits == 1
    assert _visit("feed@x").status == "cancelled" and _visit("feed-past@x").status == "confirmed"
    assert _visit("home@x").status == "confirmed"  # another calendar's visits are not touched
    assert feed not in calendar_sync.synced_sources(db.session)
    assert feed not in calendar_sync.due_sources(db.session, NOW + dt.timedelta(days=1))
    assert db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "calendar.removed")).one()


def test_a_removed_upload_calendar_comes_back_with_the_next_upload(practice_with_history):
    glen = practice_with_history
    source = db.session.scalars(db.select(CalendarSource)).one()
    removals.remove_calendar(db.session, source, actor="system", now=NOW)
    db.session.commit()
    calendar_intake.import_upload(db.session, glen, _calendar(HOME_VISIT), "again.ics", config={}, now=NOW)
    db.session.commit()
    db.session.expire_all()
    assert db.session.scalars(db.select(CalendarSource)).one().removed_at is None
    assert _visit("home@x").status == "confirmed"
    assert db.session.scalar(db.select(db.func.count()).select_from(Appointment)) == 3  # nothing imported twice


# --- the pages ---------------------------------------------------------------------------------


def test_staff_see_every_import_and_remove_one_after_confirming(practice_with_history, client, auth):
    auth.login("front@example.com")
    page = client.get("/sources").get_data(as_text=True)
    assert "wrong.ics" in page and "Remove this import" in page and "Remove this calendar" in page
    assert "2 to come" in page and "1 past" in page and "1 import" in page

    run = db.session.scalars(db.select(ImportRun)).one()
    confirm = client.get(f"/imports/{run.id}/remove").get_data(as_text=True)
    assert "2 future visits will be cancelled." in confirm
    assert "1 call task will be set aside" in confirm and "1 scheduled arrival text will be cancelled." in confirm
    assert "Anna Petrova" in confirm and "Brian Chen" in confirm and "Olga Past" not in confirm
    assert "1 visit that already took place stays" in confirm
    db.session.expire_all()
    assert _visit("home@x").status == "confirmed"  # looking changes nothing

    done = client.post(f"/imports/{run.id}/remove", follow_redirects=True).get_data(as_text=True)
    assert "Removed the import of wrong.ics." in done and "2 future visits cancelled;" in done
    assert "Removed " in done and f'href="/imports/{run.id}/remove"' not in done
    db.session.expire_all()
    assert _visit("home@x").status == "cancelled"
    assert db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "import.removed")).one().actor == (
        "front@example.com")


def test_the_list_of_imports_is_paged(practice_with_history, client, auth):
    glen = practice_with_history
    for number in range(25):
        calendar_intake.import_upload(db.session, glen, _calendar(LATER), f"file-{number:02d}.ics", config={},
                                      now=NOW + dt.timedelta(minutes=number))
        db.session.commit()
    auth.login("front@example.com")
    first = _imports_section(client.get("/sources"))
    assert "file-24.ics" in first and "wrong.ics" not in first and "Page 1 of 2" in first
    second = _imports_section(client.get("/sources?page=2"))
    assert "wrong.ics" in second and "file-24.ics" not in second


def _imports_section(response) -> str:
    """The "Every import" part of the calendars page (the calendars table above it names each last import)."""
    return response.get_data(as_text=True).split('id="imports"', 1)[1]


def test_the_cli_lists_imports_and_removes_a_calendar(practice_with_history, runner):
    listed = runner.invoke(args=["imports", "--practice", "Smile Dental", "--json"])
    assert listed.exit_code == 0, listed.output
    line = json.loads(listed.output.splitlines()[0])
    assert (line["file"], line["created"]) == ("wrong.ics", 3)

    source = db.session.scalars(db.select(CalendarSource)).one()
    dry = runner.invoke(args=["remove-calendar", str(source.id), "--practice", "Smile Dental", "--dry-run",
                              "--json"])
    assert json.loads(dry.output) == {"visits_cancelled": 2, "call_tasks_set_aside": 1, "texts_cancelled": 1,
                                      "past_visits_kept": 1, "dry_run": True}
    db.session.expire_all()
    assert _visit("home@x").status == "confirmed"
    done = runner.invoke(args=["remove-calendar", str(source.id), "--practice", "Smile Dental"])
    assert done.exit_code == 0 and "cancelled 2 future visits" in done.output
    assert runner.invoke(args=["remove-import", "999", "--practice", "Smile Dental"]).exit_code != 0
