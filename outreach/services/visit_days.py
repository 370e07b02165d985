"""The front desk's lists of visits: one day of the practice, and the first visits nobody has marked yet."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from outreach.models import Appointment, Practice
from outreach.services.outcomes import is_first_visit


def day_bounds(practice: Practice, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The day from midnight to midnight in the practice's zone."""
    zone = ZoneInfo(practice.timezone)
    return (dt.datetime.combine(day, dt.time(0), zone),
            dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone))


def visits_of_day(practice: Practice, day: dt.date, practitioner_id: int | None = None) -> Select:
    """SELECT of the practice's visits (cancelled ones too) starting on `day`, of one practitioner if given."""
    start, end = day_bounds(practice, day)
    query = (select(Appointment)
             .where(Appointment.practice_id == practice.id, Appointment.starts_at >= start,
                    Appointment.starts_at < end)
             .order_by(Appointment.starts_at, Appointment.id))
    if practitioner_id is not None:
        query = query.where(Appointment.practitioner_id == practitioner_id)
    return query


def first_visit_ids(session: Session, appointment_ids: list[int]) -> set[int]:
    """Which of these visits (not cancelled) are their client's first with the practice."""
    if not appointment_ids:
        return set()
    return set(session.scalars(select(Appointment.id).where(
        Appointment.id.in_(appointment_ids), Appointment.client_id.is_not(None), Appointment.status != "cancelled",
        is_first_visit())))
