"""Staff see why a visit was read as it was and correct it in one tap: the client, the place, a calendar's habit."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import select

from outreach.clock import set_clock
from outreach.extensions import db
from outreach.models import Appointment, CalendarSource, Client


def calendar(*events: str) -> bytes:
    body = "".join(
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{start}\r\nSUMMARY:{summary}\r\n"
        + (f"LOCATION:{location}\r\n" if location else "") + (f"DESCRIPTION:{description}\r\n" if description else "")
        + "END:VEVENT\r\n"
        for uid, start, summary, location, description in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n".encode()


# Titles where neither the lexicon nor repetition tells the service from the person.
RECEPTION = calendar(
    ("r1", "20261207T150000Z", "KG - Zbigniew Brzęczyszczykiewicz", None, None),
    ("r2", "20261208T150000Z", "MT - Grzegorz Brzęczyszczykiewicz", None, None),
    ("r3", "20261209T150000Z", "Osteo - Jadwiga Wróblewska", "12 Oak Street, Springfield", None),
)


@pytest.fixture
def staff(make, auth, clock_file):
    set_clock(clock_file, dt.datetime(2026, 12, 1, 12, tzinfo=dt.timezone.utc))
    practice = make.practice("Smile Dental", address="100 Main Street, Springfield")
    practitioner = make.practitioner(practice, email="glen@smiledental.com")
    make.user(practice, role="staff", email="front@smiledental.com", full_name="Pat Morgan")
    auth.login("front@smiledental.com")
    return practitioner


def upload(client, practitioner, data: bytes, name: str = "week.ics"):
    return client.post("/imports", data={"practitioner": practitioner.id, "files": [(io.BytesIO(data), name)]},
                       content_type="multipart/form-data")


def visits() -> list[Appointment]:
    db.session.expire_all()
    return list(db.session.scalars(select(Appointment).order_by(Appointment.starts_at)))


def test_a_calendars_layout_fix_is_applied_to_its_other_events_and_later_imports(staff, client):
    upload(client, staff, RECEPTION)
    first = visits()[0]
    page = client.get(f"/appointments/{first.id}").get_data(as_text=True)
    assert "In this calendar the client comes after the dash" in page

    response = client.post(f"/appointments/{first.id}/layout", data={"summary_format": "service - name"})
    assert response.status_code == 302
    assert [v.client.full_name for v in visits()] == [
        "Zbigniew Brzęczyszczykiewicz", "Grzegorz Brzęczyszczykiewicz", "Jadwiga Wróblewska"]
    assert visits()[0].why["layout"] == {"source": "setting", "detail": "service - name", "titles": 0}
    page = client.get(f"/appointments/{first.id}").get_data(as_text=True)
    assert "Name from the title (the client comes after the dash)." in page

    upload(client, staff, calendar(("r4", "20261210T150000Z", "KG - Wacław Wróblewski", None, None)), "next.ics")
    assert visits()[-1].client.full_name == "Wacław Wróblewski"


def test_the_calendars_place_setting_and_a_one_tap_place_fix_stick(staff, client):
    upload(client, staff, RECEPTION)
    [source] = db.session.scalars(select(CalendarSource)).all()
    assert [v.at_client_place for v in visits()] == [False, False, True]
    assert "the location reads like a street address" in client.get(f"/appointments/{visits()[2].id}").get_data(
        as_text=True)

    client.post(f"/sources/{source.id}/reading", data={"client_place": "always", "summary_format": "auto"})
    assert [v.at_client_place for v in visits()] == [True, True, True]
    assert visits()[0].why["place"] == {"source": "setting", "detail": "always"}

    client.post(f"/appointments/{visits()[0].id}/place", data={"at_client_place": "0"})
    assert [v.at_client_place for v in visits()] == [False, True, True]
    # A later import of the changed event keeps what staff said.
    upload(client, staff, calendar(("r1", "20261207T160000Z", "KG - Zbigniew Brzęczyszczykiewicz", None, None)))
    assert visits()[0].at_client_place is False
    assert visits()[0].why["place"]["source"] == "staff"


def test_a_client_set_by_staff_survives_the_next_import_and_candidates_are_offered(staff, client, make):
    known = make.client(staff.practice, full_name="Omar Haddad", phone="+12025550111")
    upload(client, staff, calendar(("c1", "20261207T150000Z", "Consultation", None, "Haddad, bring X-rays")))
    [visit] = visits()
    assert visit.needs_attention
    imports_page = client.get("/imports").get_data(as_text=True)
    assert "Consultation" in imports_page and "Omar Haddad" in imports_page  # the title, and a likely client

    response = client.post(f"/appointments/{visit.id}/client", data={"client_id": known.id})
    assert response.status_code == 302
    assert (visits()[0].client_id, visits()[0].needs_attention) == (known.id, False)

    upload(client, staff, calendar(("c1", "20261207T160000Z", "Consultation", None, "Haddad, bring X-rays")))
    assert (visits()[0].client_id, visits()[0].why["client"]["source"]) == (known.id, "staff")


def test_a_family_sharing_a_phone_are_two_clients_and_each_is_greeted_by_name(staff, client):
    upload(client, staff, calendar(
        ("f1", "20261208T150000Z", "Lucas Meyer - first checkup", None, "mom: 202-555-0199"),
        ("f2", "20261208T153000Z", "Emma Meyer - cleaning", None, "202-555-0199"),
        ("f3", "20261215T153000Z", "Emma Meyer - cleaning", None, "202-555-0199"),
    ))
    clients = db.session.scalars(select(Client).order_by(Client.id)).all()
    assert [(c.full_name, c.phone) for c in clients] == [("Lucas Meyer", "+12025550199"),
                                                          ("Emma Meyer", "+12025550199")]
    assert [v.client.full_name for v in visits()] == ["Lucas Meyer", "Emma Meyer", "Emma Meyer"]


def test_the_booking_tools_new_client_flag_wins_over_the_history_and_a_short_history_is_said(staff, client):
    upload(client, staff, calendar(
        ("old", "20261124T150000Z", "Tyrone Jackson: Massage", None, "Name: Tyrone Jackson\\nPhone: 503-555-0123"),
        ("again", "20261208T150000Z", "Tyrone Jackson: Massage", None,
         "Name: Tyrone Jackson\\nPhone: 503-555-0123\\nFirst time client?: Yes"),
        ("known", "20261209T150000Z", "Jessica Brown: Massage", None,
         "Name: Jessica Brown\\nPhone: 503-555-0111\\nFirst time client?: No"),
        ("plain", "20261210T150000Z", "Mei-Ling Chen: Massage", None, "Name: Mei-Ling Chen\\nPhone: 503-555-0145"),
    ))
    from outreach.services import call_lists

    call_lists.build_call_lists(db.session, staff.practice, dt.date(2026, 12, 7),
                                now=dt.datetime(2026, 12, 5, 14, tzinfo=dt.timezone.utc))
    db.session.commit()
    page = client.get(f"/week/2026-W50?practitioner={staff.id}").get_data(as_text=True)
    assert "Tyrone Jackson" in page and "Mei-Ling Chen" in page  # the flag says new; no history before
    assert "Jessica Brown" not in page  # the booking tool says she is no new client
    assert "“First visit” here means no earlier visit since" in page
    assert "Import older history" in page
    assert "The imported history starts on" in client.get("/imports").get_data(as_text=True)


def test_stop_from_a_familys_phone_opts_out_everyone_on_it(app, make):
    from outreach.services import inbound_sms

    practice = make.practice("Little Teeth", phone="+17185550100")
    lucas = make.client(practice, full_name="Lucas Meyer", phone="+17185550199")
    emma = make.client(practice, full_name="Emma Meyer", phone="+17185550199")
    inbound_sms.receive(db.session, message_sid="SM" + "1" * 32, from_phone="+17185550199",
                        to_phone="+17185550100", body="STOP", now=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc))
    db.session.commit()
    db.session.expire_all()
    assert lucas.opted_out_at is not None and emma.opted_out_at is not None
