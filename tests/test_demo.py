"""The demo practice has six months of history, so that a newcomer sees every page working."""
import datetime as dt

from sqlalchemy import func, select

from outreach.extensions import db
from outreach.models import Appointment, CallAttempt, InboundMessage, Notification
from outreach.services import demo, outcomes
from tests.conftest import empty_all_tables

NOW = dt.datetime(2026, 11, 21, 15, 0, tzinfo=dt.timezone.utc)  # a Saturday, 10:00 in New York


def history() -> list[tuple]:
    return db.session.execute(select(Appointment.uid, Appointment.starts_at, Appointment.visit_outcome)
                              .order_by(Appointment.uid, Appointment.recurrence_id)).all()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_the_demo_has_history_on_every_page_and_is_the_same_every_time(app):
    practice = demo.create_demo(db.session, now=NOW)
    db.session.commit()
    first = history()
    assert len(first) > 500 and count(CallAttempt) > 200 and count(Notification) > 100 and count(InboundMessage) > 20

    figures = outcomes.practice_figures(db.session, practice.id, outcomes.recent_weeks(practice, NOW, 26)).totals
    visits = figures.first_visits
    assert visits.reached.no_show_rate < visits.not_reached.no_show_rate
    assert visits.reached.no_show_rate < visits.no_list.no_show_rate
    assert visits.all.unmarked > 0  # something left for the front desk to mark

    technician = next(p for p in practice.practitioners if p.email == "sam@smile.example")
    today = db.session.scalars(select(Appointment).where(
        Appointment.practitioner_id == technician.id, Appointment.starts_at >= NOW - dt.timedelta(hours=5),
        Appointment.starts_at < NOW + dt.timedelta(hours=9))).all()
    assert len(today) == 5 and all(visit.at_client_place for visit in today)

    demo.create_demo(db.session, now=NOW + dt.timedelta(days=3))  # a second run changes nothing
    db.session.commit()
    assert history() == first

    db.session.remove()
    empty_all_tables()
    demo.create_demo(db.session, now=NOW)
    db.session.commit()
    assert history() == first  # seeded: the same history on every machine
