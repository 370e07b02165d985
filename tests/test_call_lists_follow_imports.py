"""A list built at the weekend follows the calendar during the week: a cancelled
visit leaves it at once (keeping its history), a new first visit joins it."""
import datetime as dt

import pytest

from outreach.extensions import db
from outreach.models import Appointment, CallTask
from outreach.services import calendar_intake, call_lists
from outreach.services.client_matching import cancelled_by_title

NOW = dt.datetime(2026, 11, 28, 15, 0, tzinfo=dt.timezone.utc)  # Saturday, 10:00 in New York
MONDAY = dt.date(2026, 11, 30)


def _calendar(*events: str) -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + "".join(events)
            + "END:VCALENDAR\r\n").encode()


def _event(uid: str, start: str, name: str, phone: str, status: str = "CONFIRMED") -> str:
    return (f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nSTATUS:{status}\r\n"
            f"DTSTART;TZID=America/New_York:{start}\r\nDURATION:PT45M\r\n"
            f"SUMMARY:{name} - Consultation\r\nDESCRIPTION:Phone: {phone}\r\nEND:VEVENT\r\n")


def _import(practitioner, data: bytes) -> None:
    calendar_intake.import_upload(db.session, practitioner, data, "week.ics", config={}, now=NOW)
    db.session.commit()


def _tasks() -> dict[str, str]:
    db.session.expire_all()
    return {task.client.full_name: task.state for task in db.session.scalars(db.select(CallTask))}


ANNA = _event("anna@x", "20261201T140000", "Anna Petrova", "+1 202-555-0143")


def _annas_first_visit_listed(make):
    """Glen's list of next week is built with Anna's first visit on Tuesday; returns Glen."""
    practice = make.practice("Smile Dental")
    glen = make.practitioner(practice, email="glen@example.com")
    _import(glen, _calendar(ANNA))
    call_lists.build_call_lists(db.session, practice, MONDAY, now=NOW)
    db.session.commit()
    assert _tasks() == {"Anna Petrova": "active"}
    return glen


def test_a_cancellation_and_a_new_booking_reach_the_built_list_without_a_rebuild(make):
    glen = _annas_first_visit_listed(make)

    cancelled = _event("anna@x", "20261201T140000", "Anna Petrova", "+1 202-555-0143", status="CANCELLED")
    brian = _event("brian@x", "20261203T110000", "Brian Chen", "+1 415-555-0134")
    _import(glen, _calendar(cancelled, brian))

    assert _tasks() == {"Anna Petrova": "removed", "Brian Chen": "active"}


def test_changes_to_weeks_without_a_list_wait_for_the_weekend_job(make):
    practice = make.practice("Smile Dental")
    glen = make.practitioner(practice, email="glen@example.com")
    _import(glen, _calendar(_event("anna@x", "20261208T140000", "Anna Petrova", "+1 202-555-0143")))
    assert _tasks() == {}


def test_a_visit_the_calendar_keeps_as_canceled_in_its_title_leaves_the_list_and_says_why(make):
    """Outlook keeps a called-off meeting in a published calendar, its title starting "Canceled:", its STATUS unset."""
    glen = _annas_first_visit_listed(make)

    _import(glen, _calendar(ANNA.replace("SUMMARY:Anna", "SUMMARY:Canceled: Anna").replace("STATUS:CONFIRMED\r\n", "")))

    assert _tasks() == {"Anna Petrova": "removed"}
    visit = db.session.scalars(db.select(Appointment)).one()
    assert visit.status == "cancelled" and visit.client.full_name == "Anna Petrova"
    assert visit.why["cancelled"] == {"source": "title", "detail": "Canceled"}


@pytest.mark.parametrize(("title", "word"), [
    ("Canceled: Pedro Alvarez - Cleaning", "Canceled"),
    ("[Cancelled] Anna Lee", "Cancelled"),
    ("Anna Lee - Cleaning (cancelled)", "cancelled"),
    ("CANCELLED - Anna Lee", "CANCELLED"),
    ("Abgesagt: Herr Meier", "Abgesagt"),
    ("Отменено: Анна Петрова", "Отменено"),
    # a name or a topic that only starts like the word
    ("Anna Cancelliere - Cleaning", None),
    ("Cancellation policy review", None),
    ("Rebook cancelled cleaning", None),
])
def test_which_titles_say_the_visit_was_called_off(title, word):
    assert cancelled_by_title(title) == word
