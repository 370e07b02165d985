"""Six months of made-up history for the demo practice, so that every page has something to show.

Weekday visits of each practitioner (and a field technician's visits at
clients' homes, today's too) come in through the real importer; the weekly
call lists are built by the real builder at each week's own moment; then the
weekend calls, the visit outcomes and the arrival texts with their replies
are written as they would have happened. Clients reached before their first
visit miss it less often than those not reached, as in practice.

Deterministic: one seeded random generator and times counted from `now`.
Written in a few bulk statements, so that it takes a few seconds.
"""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from outreach.models import (
    Appointment,
    CallAttempt,
    CallList,
    CallTask,
    InboundMessage,
    Notification,
    Practice,
    Practitioner,
)
from outreach.services import arrival_texts, audit, calendar_intake, call_lists
from outreach.services.outcomes import is_first_visit

WEEKS = 26
WEEKS_BEFORE_CALLING = 4  # the practice took up the weekend calls a month into the history: a baseline
SEED = 2026

_FIRST_NAMES = ("Olivia", "Liam", "Emma", "Noah", "Ava", "Mason", "Sophia", "Lucas", "Mia", "Ethan", "Isabella",
                "James", "Amelia", "Benjamin", "Harper", "Elijah", "Evelyn", "Henry", "Abigail", "Daniel", "Nina",
                "Omar", "Priya", "Kenji", "Lena", "Mateo", "Zoe", "Ivan", "Yuki", "Ruth")
_LAST_NAMES = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Davis", "Rodriguez", "Martinez",
               "Wilson", "Anderson", "Thomas", "Moore", "Jackson", "Lee", "Harris", "Clark", "Lewis", "Young",
               "King", "Novak", "Kowalski", "Nguyen", "Patel", "Cohen")
# Fictional numbers (555-0100 to 555-0199) in area codes the demo's own calendar does not use.
_AREA_CODES = ("305", "312", "503", "646", "718", "720", "808", "929")
_SERVICES = ("Check-up", "Cleaning", "Consultation", "Filling", "Whitening", "X-ray")
_FIELD_SERVICES = ("Boiler service", "Leak repair", "Heating check", "Installation")
_STREETS = ("Elm Street", "Oak Avenue", "Maple Road", "Bedford Avenue", "Court Street", "Atlantic Avenue")
_QUESTIONS = ("Is there parking nearby?", "How long will it take?", "Can I bring my daughter?",
              "Do I need to bring my insurance card?", "Is it going to hurt?")
_REPLIES = ("Thanks, see you soon!", "The gate code is 4512.", "Great, the door is open.", "OK 👍",
            "Please ring twice, the bell is quiet.")


@dataclass
class _Person:
    name: str
    phone: str
    visits: int = 0


def seed_history(session: Session, practice: Practice, technician: Practitioner, *, now: dt.datetime) -> None:
    """Writes the history of the last `WEEKS` weeks up to `now` (and the technician's day today); flushes."""
    rng = random.Random(SEED)
    zone = ZoneInfo(practice.timezone)
    today = now.astimezone(zone).date()
    first_day = today - dt.timedelta(weeks=WEEKS)
    people = _people(rng)
    for practitioner in sorted(practice.practitioners, key=lambda p: p.id):
        calendar = _calendar(rng, practitioner, practitioner.id == technician.id, people, first_day, today, zone)
        calendar_intake.import_upload(session, practitioner, calendar, "booking-history.ics", config={}, now=now,
                                      window_start=first_day)
    _build_lists_and_call(session, rng, practice, first_day, now)
    _mark_visits(session, rng, practice, now)
    _texts_and_replies(session, rng, practice, technician, now)
    audit.record(session, practice_id=practice.id, action="demo.history_seeded", obj=practice, weeks=WEEKS)
    session.flush()


def _people(rng: random.Random) -> list[_Person]:
    numbers = [f"+1 {area}-555-01{n:02d}" for area in _AREA_CODES for n in range(100)]
    rng.shuffle(numbers)
    names = [f"{first} {last}" for first in _FIRST_NAMES for last in _LAST_NAMES]
    rng.shuffle(names)
    return [_Person(name, phone) for name, phone in zip(names, numbers, strict=False)]


def _calendar(rng: random.Random, practitioner: Practitioner, in_the_field: bool, people: list[_Person],
              first_day: dt.date, today: dt.date, zone: ZoneInfo) -> bytes:
    """A booking export of the practitioner's visits from `first_day` to today.

    Written as text: building a thousand events with icalendar takes longer than importing them.
    """
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//outreach//demo booking history//EN",
             f"X-WR-TIMEZONE:{zone.key}"]
    for number, (start, person) in enumerate(_visits(rng, in_the_field, people, first_day, today, zone)):
        service = rng.choice(_FIELD_SERVICES if in_the_field else _SERVICES)
        lines += ["BEGIN:VEVENT", f"UID:demo-history-{practitioner.id}-{number}@smile.example",
                  "DTSTAMP:20260101T000000Z", f"DTSTART;TZID={zone.key}:{start:%Y%m%dT%H%M%S}",
                  f"DTEND;TZID={zone.key}:{start + dt.timedelta(minutes=45):%Y%m%dT%H%M%S}",
                  f"SUMMARY:{person.name} - {service}", f"DESCRIPTION:Phone: {person.phone}"]
        if in_the_field:
            lines.append(f"LOCATION:{rng.randint(2, 480)} {rng.choice(_STREETS)}\\, Brooklyn\\, NY")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def _visits(rng: random.Random, in_the_field: bool, people: list[_Person], first_day: dt.date, today: dt.date,
            zone: ZoneInfo) -> Iterator[tuple[dt.datetime, _Person]]:
    """Two or three visits a weekday (the technician: today too, whatever the day), a third of them new clients."""
    day = first_day
    while day <= today:
        if day.isoweekday() <= 5 or (in_the_field and day == today):
            hours = [9, 11, 13, 15, 17] if in_the_field and day == today else rng.sample([9, 10, 11, 14, 15, 16],
                                                                                        rng.randint(2, 3))
            for hour in sorted(hours):
                known = [person for person in people if person.visits]
                if known and rng.random() > 0.35:
                    person = rng.choice(known)
                else:
                    person = next(person for person in people if not person.visits)
                person.visits += 1
                yield dt.datetime.combine(day, dt.time(hour, rng.choice((0, 30))), zone), person
        day += dt.timedelta(days=1)


def _build_lists_and_call(session: Session, rng: random.Random, practice: Practice, first_day: dt.date,
                          now: dt.datetime) -> None:
    """Every week's lists since the practice took up the calls, built at their weekend; past weeks called through."""
    being_called = call_lists.week_to_show(practice, now)
    monday = first_day - dt.timedelta(days=first_day.weekday()) + dt.timedelta(weeks=1 + WEEKS_BEFORE_CALLING)
    while monday <= being_called:
        call_lists.build_call_lists(session, practice, monday, now=min(call_lists.build_moment(practice, monday), now))
        monday += dt.timedelta(weeks=1)
    attempts, task_changes = [], []
    tasks = session.execute(
        select(CallTask.id, CallList.week_start, CallList.practitioner_id, Practitioner.user_id)
        .join(CallList, CallTask.call_list_id == CallList.id).join(Practitioner, CallList.practitioner_id == Practitioner.id)
        .where(CallTask.practice_id == practice.id, CallTask.state == "active", CallList.week_start < being_called)
        .order_by(CallTask.id)).all()
    for task_id, week_start, _practitioner_id, user_id in tasks:
        called_at = call_lists.build_moment(practice, week_start) + dt.timedelta(minutes=rng.randint(30, 240))
        outcomes = [rng.choices(("reached", "voicemail", "no_answer", "wrong_number"), (62, 20, 15, 3))[0]]
        if outcomes[0] in ("voicemail", "no_answer") and rng.random() < 0.4:
            outcomes.append(rng.choices(("reached", "voicemail"), (70, 30))[0])  # tried again on Sunday
        questions = rng.choice(_QUESTIONS) if outcomes[-1] == "reached" and rng.random() < 0.35 else None
        for index, outcome in enumerate(outcomes):
            started = called_at + dt.timedelta(days=index)
            reached = outcome == "reached"
            attempts.append({
                "practice_id": practice.id, "task_id": task_id, "caller_user_id": user_id, "via": "bridge",
                "call_sid": f"CAdemo{task_id:010d}{index:020d}", "status": "completed",
                "client_call_sid": f"CAdemoclient{task_id:010d}{index:014d}",
                "client_status": "completed" if reached or outcome == "voicemail" else "no-answer",
                "answered_by": "machine_start" if outcome == "voicemail" else ("human" if reached else None),
                "duration_seconds": rng.randint(90, 420) if reached else rng.randint(20, 60),
                "client_duration_seconds": rng.randint(60, 400) if reached else None,
                "outcome": outcome, "questions": questions if index == len(outcomes) - 1 else None,
                "notes": "Left a message with the visit time." if outcome == "voicemail" else None,
                "error": None, "started_at": started, "ended_at": started + dt.timedelta(minutes=4),
            })
        task_changes.append({"id": task_id, "outcome": outcomes[-1], "questions": questions,
                             "questions_answered": bool(questions and rng.random() < 0.6),
                             "updated_at": called_at})
    if attempts:
        session.execute(insert(CallAttempt), attempts)
        session.execute(update(CallTask), task_changes)


def _mark_visits(session: Session, rng: random.Random, practice: Practice, now: dt.datetime) -> None:
    """What became of past visits; no-shows come three to four times as often when the client was not reached.

    Today's visits and one in twenty older ones are left unmarked: there is always something to mark.
    """
    zone = ZoneInfo(practice.timezone)
    start_of_today = dt.datetime.combine(now.astimezone(zone).date(), dt.time(0), zone)
    reached = set(session.scalars(select(CallTask.appointment_id).where(
        CallTask.practice_id == practice.id, CallTask.outcome == "reached")))
    listed = set(session.scalars(select(CallTask.appointment_id).where(CallTask.practice_id == practice.id)))
    first = set(session.scalars(select(Appointment.id).where(
        Appointment.practice_id == practice.id, Appointment.starts_at < start_of_today, is_first_visit())))
    changes = []
    for appointment_id, starts_at in session.execute(
            select(Appointment.id, Appointment.starts_at).where(
                Appointment.practice_id == practice.id, Appointment.starts_at < start_of_today,
                Appointment.status != "cancelled").order_by(Appointment.id)):
        if rng.random() < 0.05:
            continue
        if appointment_id in reached:
            no_show = 0.05
        elif appointment_id in listed:
            no_show = 0.16
        elif appointment_id in first:
            no_show = 0.22
        else:
            no_show = 0.08
        roll = rng.random()
        outcome = ("no_show" if roll < no_show else "cancelled_late" if roll < no_show + 0.04
                   else "rescheduled" if roll < no_show + 0.07 else "attended")
        changes.append({"id": appointment_id, "visit_outcome": outcome,
                        "visit_outcome_at": starts_at + dt.timedelta(hours=rng.randint(1, 30))})
    if changes:
        session.execute(update(Appointment), changes)


def _texts_and_replies(session: Session, rng: random.Random, practice: Practice, technician: Practitioner,
                       now: dt.datetime) -> None:
    """The arrival texts the technician's visits got before now, most delivered, some answered."""
    lead = practice.arrival_lead_minutes
    template = arrival_texts.DEFAULT_TEMPLATES[arrival_texts.ARRIVAL]["en"]
    texts, replies = [], []
    # Visits of the last minutes already have the text the importer planned.
    planned = set(session.scalars(select(Notification.appointment_id).where(Notification.practice_id == practice.id)))
    for appointment in session.scalars(select(Appointment).where(
            Appointment.practitioner_id == technician.id, Appointment.at_client_place.is_(True),
            Appointment.starts_at < now + dt.timedelta(minutes=lead)).order_by(Appointment.id)):
        if appointment.id in planned:
            continue
        client = appointment.client
        sent_at = appointment.starts_at - dt.timedelta(minutes=lead)
        status = rng.choices(("delivered", "undelivered", "sent"), (90, 4, 6))[0]
        texts.append({
            "practice_id": practice.id, "appointment_id": appointment.id, "client_id": client.id,
            "practitioner_id": technician.id, "kind": arrival_texts.ARRIVAL,
            "dedupe_key": arrival_texts.arrival_key(appointment.id, lead), "to_phone": client.phone,
            "from_phone": practice.phone,
            "body": template.format(client=client.greeting_name, practitioner=technician.spoken_name,
                                    practice=practice.name, minutes=lead),
            "due_at": sent_at, "status": status, "status_detail": None,
            "message_sid": f"SMdemo{appointment.id:026d}", "error_code": 30003 if status == "undelivered" else None,
            "send_attempts": 1, "first_try_at": sent_at, "sent_at": sent_at, "created_at": sent_at,
            "updated_at": sent_at,
        })
        if status == "delivered" and rng.random() < 0.3:
            received = sent_at + dt.timedelta(minutes=rng.randint(1, 9))
            if received < now:
                replies.append({
                    "practice_id": practice.id, "client_id": client.id, "appointment_id": appointment.id,
                    "message_sid": f"SMdemoreply{appointment.id:021d}", "from_phone": client.phone,
                    "to_phone": practice.phone, "body": rng.choice(_REPLIES), "kind": "reply",
                    "received_at": received,
                })
    if texts:
        session.execute(insert(Notification), texts)
    if replies:
        session.execute(insert(InboundMessage), replies)
