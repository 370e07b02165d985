"""Test data that reads like the domain: a practice, its people, clients and visits."""
from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import Appointment, CalendarSource, CallList, CallTask, Client, Practice, Practitioner, User
from outreach.services import accounts

_sequence = itertools.count(1)


class Factory:
    PASSWORD = "correct horse battery staple"

    def __init__(self, session: Session) -> None:
        self.session = session

    def practice(self, name: str | None = None, *, timezone: str = "America/New_York", locale: str = "en",
                 phone: str | None = None, **settings) -> Practice:
        practice = accounts.create_practice(
            self.session, name=name or f"Practice {next(_sequence)}", timezone=timezone, locale=locale,
            phone=phone or self._free_practice_phone(),
        )
        for column, value in settings.items():
            setattr(practice, column, value)
        self.session.commit()
        return practice

    def _free_practice_phone(self) -> str:
        """+1 202-555-0100 for the first practice; further ones from 0600 on (a number is one practice's)."""
        taken = set(self.session.scalars(select(Practice.phone)))
        candidates = ("+12025550100", *(f"+1202555{n:04d}" for n in range(600, 700)))
        return next(number for number in candidates if number not in taken)

    def user(self, practice: Practice, *, role: str = "staff", email: str | None = None,
             full_name: str = "Pat Example", **extra) -> User:
        user, _ = accounts.create_user(
            self.session, practice=practice, email=email or f"user{next(_sequence)}@example.com", role=role,
            full_name=full_name, password=self.PASSWORD, **extra,
        )
        self.session.commit()
        return user

    def practitioner(self, practice: Practice, *, full_name: str = "Dr. Glen Gorab", preferred_name: str = "Glen",
                     phone: str | None = "+12025550150", email: str | None = None) -> Practitioner:
        user = self.user(practice, role="practitioner", email=email, full_name=full_name,
                         preferred_name=preferred_name, phone=phone)
        return user.practitioner

    def client(self, practice: Practice, *, full_name: str = "Anna Petrova", phone: str | None = None,
               email: str | None = None, **extra) -> Client:
        client = Client(practice_id=practice.id, full_name=full_name,
                        phone=phone or f"+1202555{next(_sequence) % 10000:04d}", email=email, **extra)
        self.session.add(client)
        self.session.commit()
        return client

    def source(self, practitioner: Practitioner, *, kind: str = "file", url: str | None = None) -> CalendarSource:
        source = CalendarSource(practice_id=practitioner.practice_id, practitioner_id=practitioner.id, kind=kind,
                                name="Test calendar", url=url)
        self.session.add(source)
        self.session.commit()
        return source

    def appointment(self, practitioner: Practitioner, client: Client | None, starts_at: dt.datetime, *,
                    minutes: int = 45, status: str = "confirmed", location: str | None = None,
                    at_client_place: bool = False, source: CalendarSource | None = None) -> Appointment:
        source = source or self.source(practitioner)
        appointment = Appointment(
            practice_id=practitioner.practice_id, practitioner_id=practitioner.id, source_id=source.id,
            client_id=client.id if client else None, uid=f"test-{next(_sequence)}@example.com",
            starts_at=starts_at, ends_at=starts_at + dt.timedelta(minutes=minutes), status=status,
            location=location, at_client_place=at_client_place, summary=client.full_name if client else "",
        )
        self.session.add(appointment)
        self.session.commit()
        return appointment

    def call_task(self, appointment: Appointment, *, reason: str = "first_visit") -> CallTask:
        """The appointment's client on its practitioner's call list for the visit's ISO week."""
        year, week, _ = appointment.starts_at.isocalendar()
        week_name = f"{year}-W{week:02d}"
        call_list = self.session.query(CallList).filter_by(
            practitioner_id=appointment.practitioner_id, week=week_name).one_or_none()
        if call_list is None:
            call_list = CallList(practice_id=appointment.practice_id, practitioner_id=appointment.practitioner_id,
                                 week=week_name, week_start=dt.date.fromisocalendar(year, week, 1))
            self.session.add(call_list)
            self.session.flush()
        task = CallTask(practice_id=appointment.practice_id, call_list_id=call_list.id,
                        client_id=appointment.client_id, appointment_id=appointment.id, reason=reason)
        self.session.add(task)
        self.session.commit()
        return task
