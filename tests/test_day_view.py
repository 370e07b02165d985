"""The front desk marks what became of past visits: any day of the practice, and the first visits left unmarked."""
import datetime as dt

import pytest

from outreach.clock import set_clock
from outreach.extensions import db
from outreach.models import Appointment

NOW = dt.datetime(2026, 12, 2, 17, 0, tzinfo=dt.timezone.utc)  # Wednesday, noon in New York


def at(day: int, hour: int) -> dt.datetime:
    """A December 2026 moment in New York (UTC-5)."""
    return dt.datetime(2026, 12, day, hour + 5, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def practice(make, auth, clock_file):
    set_clock(clock_file, NOW)
    practice = make.practice("Smile Dental")
    glen = make.practitioner(practice, email="glen@example.com")
    maria = make.practitioner(practice, full_name="Dr. Maria Ivanova", preferred_name="Maria",
                              email="maria@example.com")
    make.user(practice, role="staff", email="front@example.com")
    anna, boris, carla = (make.client(practice, full_name=name) for name in ("Anna Petrova", "Boris Orlov",
                                                                             "Carla Gomez"))
    make.appointment(glen, anna, at(1, 9))  # Tuesday: Anna's first visit
    make.appointment(maria, boris, at(1, 11))  # Tuesday: Boris's first visit, with Maria
    make.appointment(glen, anna, at(2, 15))  # Wednesday afternoon: Anna again, still to come
    make.appointment(glen, carla, at(1, 14), status="cancelled")
    auth.login("front@example.com")
    return practice


def visit_of(name: str, day: int) -> Appointment:
    return next(a for a in db.session.scalars(db.select(Appointment))
                if a.client.full_name == name and a.starts_at.day == day)


def test_staff_open_any_day_and_mark_a_no_show_there(practice, client):
    page = client.get("/visits/day?date=2026-12-01").get_data(as_text=True)
    assert "Anna Petrova" in page and "Boris Orlov" in page and "Carla Gomez" in page
    assert page.count("first visit</span>") == 2
    assert 'href="/visits/day?date=2026-11-30"' in page and 'href="/visits/day?date=2026-12-02"' in page
    assert page.count('class="visit-outcome row"') == 2  # not on the cancelled visit

    boris = visit_of("Boris Orlov", 1)
    response = client.post(f"/appointments/{boris.id}/visit-outcome", data={"outcome": "no_show"},
                           headers={"Referer": "http://localhost/visits/day?date=2026-12-01"})
    assert response.headers["Location"] == "/visits/day?date=2026-12-01"
    db.session.expire_all()
    assert visit_of("Boris Orlov", 1).visit_outcome == "no_show"

    today = client.get("/visits/day").get_data(as_text=True)
    assert "Anna Petrova" in today and "still to come" in today and "Boris Orlov" not in today


def test_one_practitioners_day_and_a_wrong_date(practice, client, auth):
    maria = visit_of("Boris Orlov", 1).practitioner
    page = client.get(f"/visits/day?date=2026-12-01&practitioner={maria.id}").get_data(as_text=True)
    assert "Boris Orlov" in page and "Anna Petrova" not in page
    assert client.get("/visits/day?date=2026-02-31").status_code == 400

    auth.logout()
    auth.login("glen@example.com")
    own = client.get(f"/visits/day?date=2026-12-01&practitioner={maria.id}").get_data(as_text=True)
    assert "Anna Petrova" in own and "Boris Orlov" not in own  # a practitioner sees their own visits only


def test_the_outcomes_page_leads_to_the_first_visits_without_an_outcome(practice, client):
    page = client.get("/outcomes").get_data(as_text=True)
    assert "/visits/unmarked?from=" in page and "2 first visits have no outcome yet" in page
    unmarked = client.get("/visits/unmarked").get_data(as_text=True)
    assert "Anna Petrova" in unmarked and "Boris Orlov" in unmarked and "Carla Gomez" not in unmarked

    anna = visit_of("Anna Petrova", 1)
    client.post(f"/appointments/{anna.id}/visit-outcome", data={"outcome": "attended"})
    unmarked = client.get("/visits/unmarked").get_data(as_text=True)
    assert "Anna Petrova" not in unmarked and "1 first visit has no outcome yet" in unmarked


def test_the_client_page_and_the_call_list_link_the_visits(practice, client, make):
    anna = visit_of("Anna Petrova", 1)
    page = client.get(f"/clients/{anna.client_id}").get_data(as_text=True)
    assert f'href="/appointments/{anna.id}"' in page
    assert f'action="/appointments/{anna.id}/visit-outcome"' in page  # the past visit can be marked here
    later = visit_of("Anna Petrova", 2)
    assert f'action="/appointments/{later.id}/visit-outcome"' not in page

    make.call_task(later)
    week = client.get("/week/2026-W49").get_data(as_text=True)
    assert f'href="/appointments/{later.id}"' in week
