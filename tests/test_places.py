"""Where a visit happens: the calendar's setting, else addresses of the countries the product serves."""
import pytest

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
