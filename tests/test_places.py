"""Where a visit happens: the calendar's setting, else addresses of the countries the product serves."""
import datetime as dt

import pytest

from outreach.clock import set_clock, utcnow
from outreach.extensions import db
from outreach.models import Appointment, Notification
from outreach.services import calendar_intake
from outreach.services.ics_import.places import decide_place

NEW_YORK = "350 Fifth Avenue, Suite 1200, New York, NY 10118"
BERLIN = "Haustechnik Schulz GmbH, Hauptstraße 120, 10827 Berlin"
PHYSIO = "Physiotherapie am Park, Pappelallee 12, 10437 Berlin"
LEEDS = "JK Plumbing, Unit 5 Kirkstall Industrial Park, Leeds LS4 2AZ"
LONDON = "Unit 3, 45 Kings Cross Road, London WC1X 9LP"
MOSCOW = "Москва, Ленинский проспект, 30"


@pytest.mark.parametrize(("location", "practice_address", "at_client_place"), [
    # the practice's own address, however it is written
    ("350 5th Ave, Ste 1200, New York, NY 10118", NEW_YORK, False),
    ("Smile Dental, 350 Fifth Ave., NYC", NEW_YORK, False),
    ("Hauptstr. 120, Berlin", BERLIN, False),
    ("Physiotherapie am Park, Pappelallee 12", PHYSIO, False),
    ("Kings Cross Sports Clinic, 45 Kings Cross Rd, London WC1X 9LP", LONDON, False),
    ("JK Plumbing, Unit 5 Kirkstall Industrial Park, Leeds LS4 2AZ", LEEDS, False),
    ("Ленинский пр-т, д. 30", MOSCOW, False),
    # rooms, online, nothing
    ("Behandlungsraum 2", PHYSIO, False),
    ("Kabinett", PHYSIO, False),
    ("Кабинет 5", MOSCOW, False),
    ("Suite 200", NEW_YORK, False),
    ("Online (Zoom)", NEW_YORK, False),
    ("+1 646-555-0109", NEW_YORK, False),
    (None, NEW_YORK, False),
    # the client's place: German compound streets, UK and US habits, Russian short forms
    ("Hauptstrasse 5, 10827 Berlin", BERLIN, True),
    ("Am Friedrichshain 20, 10407 Berlin", BERLIN, True),
    ("Lindenweg 3, 13505 Berlin", BERLIN, True),
    ("Pappelallee 78/79, 10437 Berlin", BERLIN, True),
    ("Karl-Marx-Allee 90a", BERLIN, True),
    ("12 Maple Gardens, Leeds LS6 2AB", LEEDS, True),
    ("3 Orchard Crescent, Otley LS21 1AB", LEEDS, True),
    ("The Old Rectory, Church Lane, Bramhope LS16 9AA", LEEDS, True),
    ("1458 Oak Ridge Dr, Austin, TX 78704", NEW_YORK, True),
    ("4600 Avenue H, Austin, TX 78751", NEW_YORK, True),
    ("Бутлерова 11-47", MOSCOW, True),
    ("пр-т Вернадского 37 к.1, кв. 210", MOSCOW, True),
    ("Москва, Профсоюзная ул., 56", MOSCOW, True),
    ("Hausbesuch: Lindenweg 7", PHYSIO, True),
])
def test_deciding_from_the_location(location, practice_address, at_client_place):
    assert decide_place(location, practice_address)[0] is at_client_place


@pytest.mark.parametrize(("setting", "location", "at_client_place"), [
    ("always", "Room 3", True),
    ("never", "12 Maple Gardens, Leeds LS6 2AB", False),
])
def test_the_calendars_setting_wins(setting, location, at_client_place):
    assert decide_place(location, LEEDS, setting) == (at_client_place, {"source": "setting", "detail": setting})


@pytest.mark.parametrize(("location", "at_client_place", "source"), [
    # another branch of the practice, or its address as the booking tool writes it
    ("Smile Dental, 100 Main St, New York, NY", False, "practice_name"),
    ("Smile Dental – Downtown, 12 Wall Street", False, "practice_name"),
    ("SMILE DENTAL room 2", False, "practice_name"),
    # the name's words apart, or only part of it, are not the practice
    ("12 Smile Street, Dental Plaza", True, "address"),
    ("14 Dental Ave, Queens", True, "address"),
    # the client's place said outright wins
    ("Client: 5 Smile Dental Road, Leeds", True, "says_client_place"),
])
def test_a_location_that_names_the_practice_is_the_practice(location, at_client_place, source):
    decided, why = decide_place(location, NEW_YORK, practice_name="Smile Dental")
    assert (decided, why["source"]) == (at_client_place, source)


def test_a_visit_booked_at_the_practices_other_branch_gets_no_arrival_text(make, clock_file):
    """Harriet booked online at Smile Dental's downtown branch; the booking tool wrote the branch into LOCATION."""
    set_clock(clock_file, dt.datetime(2026, 12, 5, 15, 0, tzinfo=dt.timezone.utc))
    practice = make.practice("Smile Dental", address=NEW_YORK)
    glen = make.practitioner(practice, email="glen@example.com")
    calendar = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:harriet@x\r\n"
        "DTSTAMP:20261201T000000Z\r\nDTSTART;TZID=America/New_York:20261208T140000\r\nDURATION:PT1H\r\n"
        "SUMMARY:Harriet Okafor - Cleaning\r\nDESCRIPTION:Phone: (646) 555-0187\r\n"
        "LOCATION:Smile Dental\\, 100 Main St\\, New York\\, NY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    calendar_intake.import_upload(db.session, glen, calendar.encode(), "online-bookings.ics", config={},
                                  now=utcnow())
    db.session.commit()

    visit = db.session.scalars(db.select(Appointment)).one()
    assert visit.client.full_name == "Harriet Okafor"
    assert not visit.at_client_place
    assert visit.why["place"] == {"source": "practice_name", "detail": "Smile Dental, 100 Main St, New York, NY"}
    assert db.session.scalars(db.select(Notification)).all() == []
