"""Appointments as the importer read them: who, where, whether it is a first visit, and why.

The one place that answers "is this a first visit?": the booking tool's own
"new client" flag wins; otherwise it is the client's first non-cancelled
appointment in the imported calendars, which can only be as sure as the
history imported — `history_start` says from when.
"""
from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.models import Appointment, Client, Practice
from outreach.services.visit_outcomes import counts_as_earlier_visit


def history_start(session: Session, practice_id: int) -> dt.datetime | None:
    """When the practice's imported history begins: its earliest imported appointment."""
    return session.scalar(select(func.min(Appointment.starts_at)).where(Appointment.practice_id == practice_id))


# Less imported history than this, and "no earlier visit" may only mean "none imported".
SHORT_HISTORY = dt.timedelta(weeks=26)


def history_is_short(since: dt.datetime | None, now: dt.datetime) -> bool:
    return since is None or since > now - SHORT_HISTORY


def first_visit(session: Session, appointment: Appointment) -> tuple[bool | None, dict[str, Any]]:
    """Whether `appointment` is its client's first visit, and why; None when it has no client."""
    if appointment.new_client is not None:
        detail = (appointment.why or {}).get("new_client", {}).get("detail")
        return appointment.new_client, {"source": "booking_tool", "detail": detail}
    if appointment.client_id is None:
        return None, {"source": "no_client"}
    earlier = session.scalar(
        select(func.count()).select_from(Appointment)
        .where(Appointment.client_id == appointment.client_id, counts_as_earlier_visit(),
               Appointment.starts_at < appointment.starts_at))
    since = history_start(session, appointment.practice_id)
    return earlier == 0, {"source": "history", "since": since.date().isoformat() if since else None}


def appointments_json(session: Session, practice: Practice, first_day: dt.date | None = None,
                      last_day: dt.date | None = None) -> list[dict[str, Any]]:
    """One object per appointment of `practice` starting between the two days (inclusive, the practice's zone)."""
    zone = ZoneInfo(practice.timezone)
    query = (select(Appointment, Client).outerjoin(Client, Client.id == Appointment.client_id)
             .where(Appointment.practice_id == practice.id)
             .order_by(Appointment.starts_at, Appointment.id))
    if first_day:
        query = query.where(Appointment.starts_at >= dt.datetime.combine(first_day, dt.time(), zone))
    if last_day:
        query = query.where(Appointment.starts_at < dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(),
                                                                        zone))
    result = []
    for appointment, client in session.execute(query):
        is_first, first_why = first_visit(session, appointment)
        result.append({
            "uid": appointment.uid,
            "recurrence_id": appointment.recurrence_id,
            "starts_at": appointment.starts_at.isoformat(),
            "status": appointment.status,
            "client": None if client is None else {"name": client.full_name, "phone": client.phone,
                                                   "email": client.email},
            "at_client_place": appointment.at_client_place,
            "first_visit": is_first,
            "why": (appointment.why or {}) | {"first_visit": first_why},
        })
    return result
