"""Staff correct how a calendar is read: one visit's client or place, or a whole calendar's habit.

A calendar's habit (where the client is in its titles, whether its visits are
at the client's place) is applied at once to the appointments already
imported from it, and to every later import. Fixes by staff on one visit are
kept by later imports of the same event (`ics_import.apply`).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import Appointment, CalendarSource, User
from outreach.services import audit, calendar_intake
from outreach.services.client_matching import (
    SUMMARY_FORMATS,
    ClientDirectory,
    extract_client,
    reading_why,
)
from outreach.services.ics_import.context import ImportContext
from outreach.services.ics_import.places import PLACE_SETTINGS, decide_place


class ReadingError(ValueError):
    """Why a setting cannot be used."""


def set_calendar_reading(session: Session, source: CalendarSource, *, client_place: str | None = None,
                         summary_format: str | None = None, actor: User, now: dt.datetime) -> int:
    """Changes how `source` is read and re-reads its appointments; returns how many appointments changed."""
    if client_place is not None and client_place not in PLACE_SETTINGS:
        raise ReadingError(f"unknown place setting {client_place!r}")
    if summary_format is not None and summary_format not in SUMMARY_FORMATS:
        raise ReadingError(f"unknown title layout {summary_format!r}")
    changed: set[int] = set()
    appointments = session.scalars(select(Appointment).where(Appointment.source_id == source.id)
                                   .order_by(Appointment.starts_at, Appointment.id)).all()
    if client_place is not None and client_place != source.client_place:
        source.client_place = client_place
        practice = source.practitioner.practice
        for appointment in appointments:
            if _fixed_by_staff(appointment, "place") or appointment.client_id is None:
                continue  # staff said where; or no one to visit, decided when a client is set
            at_client_place, why = decide_place(appointment.location, practice.address, client_place, practice.name)
            if at_client_place != appointment.at_client_place:
                changed.add(appointment.id)
            appointment.at_client_place = at_client_place
            appointment.why = (appointment.why or {}) | {"place": why}
    if summary_format is not None and summary_format != source.summary_format:
        source.summary_format = summary_format
        changed |= _reread_names(session, source, appointments, now)
    audit.record(session, practice_id=source.practice_id, action="calendar.reading_changed", obj=source, actor=actor,
                 client_place=source.client_place, summary_format=source.summary_format)
    session.flush()
    calendar_intake.appointments_changed(session, sorted(changed), now=now)
    return len(changed)


def set_visit_place(session: Session, appointment: Appointment, at_client_place: bool, *, actor: User,
                    now: dt.datetime) -> None:
    """Staff say where one visit is; later imports keep it."""
    appointment.at_client_place = at_client_place
    appointment.why = (appointment.why or {}) | {"place": {"source": "staff", "detail": actor.full_name}}
    appointment.updated_at = now
    audit.record(session, practice_id=appointment.practice_id, action="appointment.place_set", obj=appointment,
                 actor=actor, at_client_place=at_client_place)
    session.flush()
    calendar_intake.appointments_changed(session, [appointment.id], now=now)


def _fixed_by_staff(appointment: Appointment, what: str) -> bool:
    return (appointment.why or {}).get(what, {}).get("source") == "staff"


def _reread_names(session: Session, source: CalendarSource, appointments: list[Appointment],
                  now: dt.datetime) -> set[int]:
    """Reads again the clients of appointments whose client came from the title (or was not found).

    Attendees are not stored, so appointments whose client came from one are left as they are.
    """
    context = ImportContext.of(source)
    directory = ClientDirectory(session, source.practice_id, now)
    keyed = []
    for appointment in appointments:
        why = appointment.why or {}
        if _fixed_by_staff(appointment, "client") or why.get("name", {}).get("source") not in (None, "title"):
            continue
        facts = extract_client(summary=appointment.summary, description=appointment.description,
                               location=appointment.location, attendees=(), organizer=None, region=context.region,
                               summary_format=context.summary_format, practice_side=context.practice_side)
        keyed.append((appointment, facts, directory.resolve(facts)))
    directory.save()
    changed = set()
    for appointment, facts, key in keyed:
        client_id = None if key is None else directory.client_id(key)
        if client_id != appointment.client_id:
            changed.add(appointment.id)
        appointment.client_id = client_id
        appointment.needs_attention = client_id is None and not facts.not_a_visit
        place = (appointment.why or {}).get("place", {})
        appointment.why = reading_why(facts, place, context)
        appointment.updated_at = now
    return changed
