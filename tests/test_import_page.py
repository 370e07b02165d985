"""Staff upload calendar files and fix visits whose client could not be recognised."""
import datetime as dt
import io

import pytest

from outreach.clock import set_clock
from outreach.extensions import db
from outreach.models import Appointment

CALENDAR = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:first-visit@example.com
DTSTAMP:20261101T000000Z
DTSTART;TZID=America/New_York:20261201T140000
DTEND;TZID=America/New_York:20261201T144500
SUMMARY:Anna Petrova - Consultation
DESCRIPTION:Phone: +1 202-555-0143
END:VEVENT
BEGIN:VEVENT
UID:no-client@example.com
DTSTAMP:20261101T000000Z
DTSTART;TZID=America/New_York:20261202T100000
DTEND;TZID=America/New_York:20261202T104500
SUMMARY:Consultation
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture
def staff(make, auth, clock_file):
    set_clock(clock_file, dt.datetime(2026, 11, 22, 12, tzinfo=dt.timezone.utc))
    practice = make.practice("Smile Dental")
    practitioner = make.practitioner(practice, email="glen@example.com")
    make.user(practice, role="staff", email="front@example.com")
    auth.login("front@example.com")
    return practitioner


def _upload(client, practitioner, *files):
    return client.post("/imports", data={"practitioner": practitioner.id,
                                         "files": [(io.BytesIO(data), name) for name, data in files]},
                       content_type="multipart/form-data")


def test_staff_upload_a_calendar_and_get_a_report_per_file(staff, client):
    response = _upload(client, staff, ("week.ics", CALENDAR), ("notes.txt", b"this is not a calendar"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "week.ics" in page and "2 created" in page
    assert "1 needs a client" in page
    assert "notes.txt" in page and "Not imported" in page
    assert db.session.scalar(db.select(db.func.count()).select_from(Appointment)) == 2


def test_uploading_the_same_file_again_changes_nothing(staff, client):
    _upload(client, staff, ("week.ics", CALENDAR))
    page = _upload(client, staff, ("week.ics", CALENDAR)).get_data(as_text=True)
    assert "0 created, 0 updated, 0 cancelled, 2 unchanged" in page


def test_staff_fix_the_client_of_a_visit_that_needs_attention(staff, client):
    _upload(client, staff, ("week.ics", CALENDAR))
    visit = db.session.scalars(db.select(Appointment).where(Appointment.needs_attention.is_(True))).one()
    assert f"/appointments/{visit.id}/client" in client.get("/imports").get_data(as_text=True)

    refused = client.post(f"/appointments/{visit.id}/client", data={"phone": "12"})
    assert refused.status_code == 400
    client.post(f"/appointments/{visit.id}/client", data={"full_name": "Boris Orlov", "phone": "(202) 555-0101"})
    db.session.expire_all()
    visit = db.session.get(Appointment, visit.id)
    assert not visit.needs_attention
    assert (visit.client.full_name, visit.client.phone) == ("Boris Orlov", "+12025550101")


def test_practitioners_cannot_open_the_import_page(staff, client, auth):
    auth.logout()
    auth.login("glen@example.com")
    assert client.get("/imports").status_code == 403


def test_staff_add_a_feed_on_the_sources_page(staff, client):
    refused = client.post("/sources/feeds", data={"practitioner": staff.id, "url": "ftp://example.com/cal.ics"},
                          follow_redirects=True).get_data(as_text=True)
    assert "is not a calendar feed address" in refused

    # Nothing listens on port 1: the first sync, run at once, fails and says so.
    client.post("/sources/feeds", data={"practitioner": staff.id, "url": "webcal://127.0.0.1:1/cal.ics",
                                        "name": "Booking tool"})
    page = client.get("/sources").get_data(as_text=True)
    assert "Booking tool" in page and "Never synced yet" in page and "Last try failed" in page


def test_a_feed_that_fails_keeps_its_appointments_and_shows_the_last_good_sync(staff, client, feed_server):
    from outreach.services import feeds

    source = feeds.add_feed(db.session, staff, "https://calendar.example.com/secret.ics", "Booking tool")
    source.url = feed_server.url  # served over http on loopback
    db.session.commit()
    feed_server.body = CALENDAR
    client.post(f"/sources/{source.id}/sync")
    assert db.session.scalar(db.select(db.func.count()).select_from(Appointment)) == 2

    feed_server.status = 500
    client.post(f"/sources/{source.id}/sync")
    page = client.get("/sources").get_data(as_text=True)
    assert "Last good sync" in page and "Last try failed" in page
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count()).select_from(Appointment).where(
        Appointment.status != "cancelled")) == 2


def test_the_visits_that_need_a_client_are_paged_not_cut_off(staff, client):
    events = "".join(f"BEGIN:VEVENT\r\nUID:nobody-{n}\r\nDTSTAMP:20261101T000000Z\r\n"
                     f"DTSTART;TZID=America/New_York:202612{n // 10 + 1:02d}T{9 + n % 10:02d}0000\r\n"
                     f"SUMMARY:Walk-in {n:02d}\r\nEND:VEVENT\r\n" for n in range(60))
    _upload(client, staff, ("walk-ins.ics", f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{events}END:VCALENDAR\r\n".encode()))
    first = client.get("/imports").get_data(as_text=True)
    assert "Walk-in 00" in first and "Walk-in 49" in first and "Walk-in 50" not in first
    assert "Page 1 of 2" in first and "60 in all" in first
    second = client.get("/imports?page=2").get_data(as_text=True)
    assert "Walk-in 50" in second and "Walk-in 59" in second and "Walk-in 49" not in second
