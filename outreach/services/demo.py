"""The demo practice: what a newcomer sees after one command.

Smile Dental in New York, two practitioners, a field technician, a staff
member and an admin; six months of history (`demo_history`: call lists,
calls, visit outcomes, texts and replies, the technician's visits today); and
a calendar of next week's visits (first visits, returning clients, one visit
at the client's home) imported through the real importer.
"""
import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import Practice
from outreach.services import accounts, call_lists, calendar_intake, demo_history

PRACTICE_NAME = "Smile Dental"
PASSWORD = "demo-password"
TIMEZONE = "America/New_York"


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: str
    name: str


LOGINS = (
    DemoLogin("glen@smile.example", "practitioner", "Dr. Glen Gorab"),
    DemoLogin("maria@smile.example", "practitioner", "Dr. Maria Ivanova"),
    DemoLogin("sam@smile.example", "practitioner", "Sam Rivera"),  # a field technician: visits at clients' homes
    DemoLogin("front@smile.example", "staff", "Pat Front Desk"),
    DemoLogin("admin@smile.example", "admin", "Alex Admin"),
)

# (practitioner e-mail, day offset from the Monday of the demo week, local time, client, phone, e-mail, service, location)
# A negative day offset is a past visit: it makes the client a returning one.
_VISITS = (
    ("glen@smile.example", 0, "10:00", "Anna Petrova", "+1 202-555-0143", "anna@example.com", "Consultation", ""),
    ("glen@smile.example", 1, "14:00", "Brian Chen", "(415) 555-0134", "", "Check-up", ""),
    ("glen@smile.example", 2, "09:30", "Carla Gomez", "+1 617-555-0123", "", "Cleaning", ""),
    ("glen@smile.example", -190, "09:30", "Carla Gomez", "+1 617-555-0123", "", "Cleaning", ""),
    ("glen@smile.example", 3, "11:00", "Dmitri Sokolov", "+1 212-555-1234", "", "Home visit",
     "12 Elm Street, Brooklyn, NY"),
    ("glen@smile.example", 4, "16:30", "Erin Walsh", "+1 202-555-0177", "erin@example.com", "Whitening", ""),
    ("glen@smile.example", -60, "16:30", "Erin Walsh", "+1 202-555-0177", "erin@example.com", "Consultation", ""),
    ("maria@smile.example", 0, "13:00", "Fatima Khan", "+1 202-555-0188", "", "Consultation", ""),
    ("maria@smile.example", 2, "15:15", "George Miller", "+1 202-555-0199", "", "Implant consult", ""),
    ("maria@smile.example", 3, "10:45", "Hana Sato", "+1 202-555-0111", "hana@example.com", "Check-up", ""),
    ("maria@smile.example", -30, "10:45", "Hana Sato", "+1 202-555-0111", "hana@example.com", "Check-up", ""),
)


def demo_calendar(practitioner_email: str, week_start: dt.date) -> bytes:
    """Next week's calendar of one practitioner, as a booking tool would export it."""
    zone = ZoneInfo(TIMEZONE)
    calendar = Calendar()
    calendar.add("prodid", "-//outreach//demo booking export//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-timezone", TIMEZONE)
    for index, (email, offset, time, client, phone, client_email, service, location) in enumerate(_VISITS):
        if email != practitioner_email:
            continue
        start = dt.datetime.combine(week_start + dt.timedelta(days=offset), dt.time.fromisoformat(time), zone)
        event = Event()
        event.add("uid", f"demo-{index}@smile.example")
        event.add("dtstamp", dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
        event.add("dtstart", start)
        event.add("dtend", start + dt.timedelta(minutes=45))
        event.add("summary", f"{client} - {service}")
        event.add("description", f"Phone: {phone}")
        if location:
            event.add("location", location)
        if client_email:
            attendee = vCalAddress(f"mailto:{client_email}")
            attendee.params["cn"] = client
            event.add("attendee", attendee)
        calendar.add_component(event)
    return calendar.to_ical()


def create_demo(session: Session, *, now: dt.datetime) -> Practice:
    """Creates the demo practice once; running it again changes nothing."""
    practice = session.scalar(select(Practice).where(Practice.name == PRACTICE_NAME))
    if practice is not None:
        return practice
    practice = accounts.create_practice(
        session, name=PRACTICE_NAME, timezone=TIMEZONE, locale="en", phone="+1 202-555-0100",
        address="500 Main Street, New York, NY",
    )
    # Where Call rings each of them (Pat calls on the practitioners' behalf from the front desk phone).
    phones = {"glen@smile.example": "+1 202-555-0150", "maria@smile.example": "+1 202-555-0151",
              "sam@smile.example": "+1 202-555-0152", "front@smile.example": "+1 202-555-0153"}
    for login in LOGINS:
        accounts.create_user(
            session, practice=practice, email=login.email, role=login.role, full_name=login.name,
            preferred_name=login.name.split()[1] if login.role == "practitioner" else None,
            phone=phones.get(login.email), password=PASSWORD,
        )
    session.flush()
    technician = next(p for p in practice.practitioners if p.email == "sam@smile.example")
    demo_history.seed_history(session, practice, technician, now=now)
    # The visits fall in the week the practitioners' page opens on, and its lists are built at once.
    week_start = call_lists.week_to_show(practice, now)
    for practitioner in practice.practitioners:
        calendar_intake.import_upload(
            session, practitioner, demo_calendar(practitioner.email, week_start), "demo-booking-export.ics",
            config={}, now=now,
        )
    call_lists.build_call_lists(session, practice, week_start, now=now)
    return practice
