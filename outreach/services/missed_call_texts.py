"""The missed-call text: after a call nobody answered, one text saying why the practice called.

"Hi Anna, this is Dr. Gorab from Smile Dental. I called to say hello before
your first visit on Tuesday at 2:00 PM. No need to call back - if you have any
questions, reply here or call +1 202-555-0100."

It is a row in the SMS outbox (kind "missed_call", about the visit), so every
guard rail of texts applies: opted-out clients and invalid numbers are
skipped, quiet hours in the client's time zone hold it until they end, and
its dedupe key ("missed_call:<task>") makes a second one impossible. The
practitioner sends it with a tap, or the practice sends it by itself after
every unanswered call (`Practice.missed_call_text_auto`). Replies land on
the visit like other replies (`services.inbound_sms`).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import LOCALES, CallAttempt, CallTask, Notification, Practitioner, User
from outreach.services import audit, scripts
from outreach.services.notification_status import PENDING
from outreach.services.phones import client_zone
from outreach.services.phones import display as display_phone
from outreach.services.phones import is_valid_e164
from outreach.services.sms_outbox import in_quiet_hours

MISSED_CALL = "missed_call"
UNANSWERED_OUTCOMES = ("no_answer", "voicemail")
UNANSWERED_CLIENT_STATUSES = ("busy", "no-answer")
# Titles kept with the surname: "Dr. Glen Gorab" introduces himself as "Dr. Gorab".
TITLES = ("dr", "dr.", "prof", "prof.", "д-р", "доктор")

TEMPLATES = {
    "en": "Hi {client}, this is {practitioner} from {practice}. I called to say hello before your {reason} on "
          "{when}. No need to call back - if you have any questions, reply here or call {phone}.",
    "ru": "Здравствуйте, {client}! Это {practitioner}, {practice}. Мы звонили поздороваться перед вашим {reason} "
          "{when}. Перезванивать не нужно - если есть вопросы, ответьте на это сообщение или позвоните {phone}.",
}
REASONS = {
    "en": {"first_visit": "first visit", "returning": "visit", "open_question": "visit"},
    "ru": {"first_visit": "первым визитом", "returning": "визитом", "open_question": "визитом"},
}


class TextRefused(ValueError):
    """Why no missed-call text can be sent for this task, in words for the practitioner."""


def dedupe_key(task_id: int) -> str:
    return f"{MISSED_CALL}:{task_id}"


def is_unanswered(attempt: CallAttempt) -> bool:
    """Whether an outbound call did not reach the client: no answer, busy, an answering machine, a voicemail."""
    if attempt.direction != "outbound":
        return False
    return (attempt.outcome in UNANSWERED_OUTCOMES or attempt.client_status in UNANSWERED_CLIENT_STATUSES
            or (attempt.answered_by or "").startswith("machine") or attempt.voicemail_left_at is not None)


def introduction(practitioner: Practitioner) -> str:
    """How the practitioner signs a text: "Dr. Gorab" for "Dr. Glen Gorab", else their spoken name."""
    words = practitioner.full_name.split()
    if len(words) >= 2 and words[0].lower() in TITLES:
        return f"{words[0]} {words[-1]}"
    return practitioner.spoken_name


def compose(task: CallTask) -> str:
    """The text in the client's language (else the practice's)."""
    practitioner = task.call_list.practitioner
    practice = practitioner.practice
    client = task.client
    language = client.locale if client.locale in LOCALES else scripts.language_of(practice.locale)
    zone = client_zone(client, practice)
    # CLDR puts a narrow no-break space before "PM": outside the GSM alphabet it would cost segments.
    when = scripts.visit_when(task.appointment.starts_at.astimezone(zone), language).replace("\u202f", " ")
    return TEMPLATES[language].format(client=client.greeting_name, practitioner=introduction(practitioner),
                                      practice=practice.name, reason=REASONS[language][task.reason], when=when,
                                      phone=display_phone(practice.phone))


def existing_text(session: Session, task: CallTask) -> Notification | None:
    return session.scalar(select(Notification).where(Notification.dedupe_key == dedupe_key(task.id)))


def why_not(session: Session, task: CallTask) -> str | None:
    """Why the text cannot be sent for this task now; None if it can."""
    if existing_text(session, task) is not None:
        return "A missed-call text was already sent for this visit."
    return why_not_yet_sent(task)


def why_not_yet_sent(task: CallTask) -> str | None:
    """Why a task that has no missed-call text yet cannot get one now; None if it can."""
    if task.state != "active" or task.outcome in ("reached", "wrong_number"):
        return "This client needs no missed-call text."
    if not any(is_unanswered(attempt) for attempt in task.attempts):
        return "Only after a call that was not answered."
    if task.client.opted_out_at is not None:
        return "This client opted out of texts."
    if not is_valid_e164(task.client.phone):
        return f"{task.client.display_name} has no valid phone number on file."
    if not task.call_list.practitioner.practice.phone:
        return "The practice has no phone number to send from; ask your admin to add it."
    return None


def send_moment(task: CallTask, now: dt.datetime) -> dt.datetime:
    """Now, or the end of quiet hours in the client's time zone when it is night there."""
    practice = task.call_list.practitioner.practice
    zone = client_zone(task.client, practice)
    local = now.astimezone(zone)
    if not in_quiet_hours(local.time(), practice.quiet_hours_start, practice.quiet_hours_end):
        return now
    end = dt.datetime.combine(local.date(), practice.quiet_hours_end, zone)
    if end <= local:
        end = dt.datetime.combine(local.date() + dt.timedelta(days=1), practice.quiet_hours_end, zone)
    return end.astimezone(dt.timezone.utc)


def queue(session: Session, task: CallTask, actor: User | str, now: dt.datetime) -> Notification:
    """Puts the one missed-call text of this task in the outbox; TextRefused says why not. Flushes."""
    reason = why_not(session, task)
    if reason is not None:
        raise TextRefused(reason)
    practice = task.call_list.practitioner.practice
    text = Notification(practice_id=task.practice_id, appointment_id=task.appointment_id, client_id=task.client_id,
                        practitioner_id=task.call_list.practitioner_id, kind=MISSED_CALL,
                        dedupe_key=dedupe_key(task.id), to_phone=task.client.phone, from_phone=practice.phone,
                        body=compose(task), due_at=send_moment(task, now), status=PENDING, created_at=now,
                        updated_at=now)
    session.add(text)
    session.flush()
    audit.record(session, practice_id=task.practice_id, action="notification.planned", obj=text, actor=actor,
                 kind=MISSED_CALL, task_id=task.id)
    return text


def after_call(session: Session, attempt: CallAttempt, now: dt.datetime) -> Notification | None:
    """When the practice sends missed-call texts by itself: queue one after an unanswered call. Flushes."""
    task = attempt.task
    if not task.call_list.practitioner.practice.missed_call_text_auto or not is_unanswered(attempt):
        return None
    if why_not(session, task) is not None:
        return None
    return queue(session, task, audit.SYSTEM, now)
