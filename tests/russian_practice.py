"""A Russian practice with a little of everything, for the pages that must all speak Russian."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from outreach.clock import set_clock
from outreach.extensions import db
from outreach.models import (
    CalendarSource,
    CallAttempt,
    CallTask,
    ImportRun,
    InboundMessage,
    Notification,
    Practitioner,
    User,
)
from outreach.services import call_lists

MOSCOW = ZoneInfo("Europe/Moscow")
SATURDAY_NOON = dt.datetime(2026, 11, 28, 12, 0, tzinfo=MOSCOW)
NEXT_MONDAY = dt.date(2026, 11, 30)


@dataclass
class RussianPractice:
    admin: User
    staff: User
    gleb: Practitioner
    client_id: int
    home_visit_id: int
    past_visit_id: int
    task_id: int


def russian_practice(make, clock_file) -> RussianPractice:
    """«Улыбка» in Moscow, Saturday noon: Dr Gleb's list of next week is built, Anna (a home visit) was
    reached, Boris had a visit this morning (a delivered text and a reply) and one last week with an outcome."""
    set_clock(clock_file, SATURDAY_NOON)
    practice = make.practice("Улыбка", timezone="Europe/Moscow", locale="ru", phone="+74951234567",
                             address="Москва, ул. Тверская, 1")
    admin = make.user(practice, role="admin", email="admin@ulybka.example", full_name="Алла Админова")
    staff = make.user(practice, role="staff", email="reg@ulybka.example", full_name="Римма Регистраторова")
    gleb = make.practitioner(practice, full_name="Д-р Глеб Горобцов", preferred_name="Глеб",
                             phone="+79161234567", email="gleb@ulybka.example")
    source = CalendarSource(practice_id=practice.id, practitioner_id=gleb.id, kind="file", name="Календарь Глеба")
    db.session.add(source)
    db.session.flush()
    db.session.add(ImportRun(practice_id=practice.id, source_id=source.id, filename="календарь",
                             status="imported", report={"created": 3, "updated": 0, "cancelled": 0, "unchanged": 0}))
    anna = make.client(practice, full_name="Анна Петрова", phone="+79031234567")
    boris = make.client(practice, full_name="Борис Смирнов", phone="+79037654321")
    home_visit = make.appointment(gleb, anna, dt.datetime(2026, 11, 30, 10, 0, tzinfo=MOSCOW), source=source,
                                  at_client_place=True, location="Москва, ул. Ленина, 5, кв. 12")
    make.appointment(gleb, boris, dt.datetime(2026, 12, 1, 14, 0, tzinfo=MOSCOW), source=source)
    this_morning = make.appointment(gleb, boris, dt.datetime(2026, 11, 28, 9, 0, tzinfo=MOSCOW), source=source,
                                    at_client_place=True, location="Москва, ул. Мира, 7")
    past_visit = make.appointment(gleb, boris, dt.datetime(2026, 11, 20, 9, 0, tzinfo=MOSCOW), source=source)
    past_visit.status = "confirmed"
    past_visit.visit_outcome = "attended"
    call_lists.build_call_lists(db.session, practice, NEXT_MONDAY, now=SATURDAY_NOON)
    db.session.commit()
    task = db.session.scalar(db.select(CallTask).where(CallTask.client_id == anna.id))
    task.outcome = "reached"
    task.questions = "Можно ли прийти с собакой?"
    db.session.add(CallAttempt(practice_id=practice.id, task_id=task.id, caller_user_id=gleb.user_id,
                               status="completed", outcome="reached", duration_seconds=95,
                               started_at=SATURDAY_NOON - dt.timedelta(hours=1)))
    db.session.add(Notification(practice_id=practice.id, appointment_id=this_morning.id, client_id=boris.id,
                                practitioner_id=gleb.id, kind="arrival", dedupe_key=f"arrival:{this_morning.id}:15",
                                to_phone=boris.phone, body="Здравствуйте, Борис! Это Глеб из Улыбка.",
                                due_at=dt.datetime(2026, 11, 28, 8, 45, tzinfo=MOSCOW), status="delivered",
                                sent_at=dt.datetime(2026, 11, 28, 8, 45, tzinfo=MOSCOW)))
    db.session.add(InboundMessage(practice_id=practice.id, client_id=boris.id, appointment_id=this_morning.id,
                                  message_sid="SM" + "1" * 32, from_phone=boris.phone, body="Жду!",
                                  received_at=dt.datetime(2026, 11, 28, 8, 50, tzinfo=MOSCOW)))
    db.session.commit()
    return RussianPractice(admin=admin, staff=staff, gleb=gleb, client_id=anna.id, home_visit_id=home_visit.id,
                           past_visit_id=past_visit.id, task_id=task.id)
