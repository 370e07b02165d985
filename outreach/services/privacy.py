"""Forgetting people: erasing a client on request, and the practice's retention period.

Both overwrite text in place and delete no row: the visits, calls and texts
stay, anonymised, so every count on the outcomes pages stays true.

- `erase_client` blanks everything that says who the client is or what they
  said: their name, phone and e-mail; the summary, description and location
  of their visits; questions, notes and errors of their calls; the bodies and
  numbers of texts to and from them; personal words in the audit trail about
  those rows. It sets `Client.erased_at` and leaves an AuditEvent with counts
  only. Texts still waiting to go to them are cancelled (there is nobody to
  send them to).
- `apply_retention` blanks text bodies, replies, call notes and voicemail
  messages older than `Practice.retention_days`. It runs from the periodic tick but does its work
  at most once a day per practice: each run leaves a "retention.applied"
  AuditEvent, and a practice with one from the last day is skipped, so no
  column is needed to remember the last run.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from outreach.clock import utcnow
from outreach.models import (
    Appointment,
    AuditEvent,
    CallAttempt,
    CallTask,
    Client,
    InboundCall,
    InboundMessage,
    Notification,
    Practice,
    Recording,
    User,
)
from outreach.services import audit

log = logging.getLogger(__name__)

RETENTION_EVERY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Erasure:
    """How many rows of each kind were anonymised."""

    visits: int
    call_tasks: int
    call_attempts: int
    texts: int
    replies: int
    audit_events: int


def _changed(session: Session, statement) -> int:
    """Runs a bulk UPDATE; returns how many rows it changed."""
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount


def erase_client(session: Session, client: Client, actor: User | str, now: dt.datetime) -> Erasure:
    """Anonymises `client` and everything about them, keeping the rows. Flushes; the caller commits."""
    identifiers = [value for value in (client.full_name, client.phone, client.email) if value]
    their_visits = Appointment.client_id == client.id
    their_tasks = CallTask.client_id == client.id
    their_attempts = CallAttempt.task_id.in_(select(CallTask.id).where(their_tasks))
    their_texts = and_(Notification.practice_id == client.practice_id, or_(
        Notification.client_id == client.id,
        Notification.appointment_id.in_(select(Appointment.id).where(their_visits))))
    from_them = [InboundMessage.client_id == client.id]
    if client.phone:  # replies that could not be matched to the client still came from their phone
        from_them.append(InboundMessage.from_phone == client.phone)
    their_replies = and_(InboundMessage.practice_id == client.practice_id, or_(*from_them))

    # First, while the rows can still be found and read: the audit events about them.
    words = identifiers + _texts(session, [
        select(Appointment.summary, Appointment.description, Appointment.location).where(their_visits),
        select(CallTask.questions, CallTask.notes, CallTask.reason_detail).where(their_tasks),
        select(CallAttempt.questions, CallAttempt.notes, CallAttempt.error).where(their_attempts),
        select(Notification.body, Notification.status_detail).where(their_texts),
        select(InboundMessage.body).where(their_replies),
    ])
    audit_events = _scrub_audit_details(session, client.practice_id, words, {
        Client: Client.id == client.id, Appointment: their_visits, CallTask: their_tasks,
        CallAttempt: their_attempts, Notification: their_texts, InboundMessage: their_replies})
    _changed(session, update(Notification).where(their_texts, Notification.status == "pending")
             .values(status="cancelled", updated_at=now))
    erasure = Erasure(
        visits=_changed(session, update(Appointment).where(their_visits)
                        .values(summary=None, description=None, location=None)),
        call_tasks=_changed(session, update(CallTask).where(their_tasks)
                            .values(questions=None, notes=None, reason_detail=None)),
        call_attempts=_changed(session, update(CallAttempt).where(their_attempts)
                               .values(questions=None, notes=None, error=None)),
        texts=_changed(session, update(Notification).where(their_texts)
                       .values(body=None, to_phone=None, status_detail=None, status_reason=None)),
        replies=_changed(session, update(InboundMessage).where(their_replies).values(body=None, from_phone=None)),
        audit_events=audit_events,
    )
    _erase_their_calls_and_messages(session, client, now)
    session.expire_all()  # the UPDATEs above bypassed the rows this session has loaded
    client.full_name = client.phone = client.email = None
    client.erased_at = now
    session.flush()
    audit.record(session, practice_id=client.practice_id, action="client.erased", obj=client, actor=actor,
                 **asdict(erasure))
    return erasure


def _erase_their_calls_and_messages(session: Session, client: Client, now: dt.datetime) -> None:
    """Their voicemail messages lose their words and are no longer served (the tick deletes the audio at
    Twilio), and their calls to the practice lose the caller ID."""
    their_calls = and_(InboundCall.practice_id == client.practice_id, or_(
        InboundCall.client_id == client.id,
        *([InboundCall.from_phone == client.phone] if client.phone else [])))
    their_messages = and_(Recording.practice_id == client.practice_id, or_(
        Recording.client_id == client.id, Recording.inbound_call_id.in_(select(InboundCall.id).where(their_calls))))
    _changed(session, update(Recording).where(their_messages)
             .values(transcription=None, from_phone=None, erased_at=func.coalesce(Recording.erased_at, now)))
    _changed(session, update(InboundCall).where(their_calls).values(from_phone=None))


def _texts(session: Session, queries: list[Select]) -> list[str]:
    """Every non-empty text the queries find."""
    return [text for query in queries for row in session.execute(query) for text in row if text and text.strip()]


def _scrub_audit_details(session: Session, practice_id: int, words: list[str],
                         rows: dict[type, ColumnElement[bool]]) -> int:
    """Blanks the values that contain any of `words` in the details of audit events about `rows`."""
    if not words:
        return 0
    about_them = or_(*[and_(AuditEvent.object_type == model.__name__,
                            AuditEvent.object_id.in_(select(model.id).where(condition)))
                       for model, condition in rows.items()])

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return None if any(word in value for word in words) else value
        if isinstance(value, dict):
            return {key: scrub(item) for key, item in value.items()}
        if isinstance(value, list):
            return [scrub(item) for item in value]
        return value

    scrubbed = 0
    for event in session.scalars(select(AuditEvent).where(AuditEvent.practice_id == practice_id, about_them)):
        detail = scrub(event.detail or {})
        if detail != event.detail:
            event.detail = detail
            scrubbed += 1
    return scrubbed


@dataclass(frozen=True)
class Retention:
    """What one practice's retention run blanked."""

    practice_id: int
    texts: int
    replies: int
    call_attempts: int
    call_tasks: int
    recordings: int = 0
    caller_ids: int = 0  # numbers of calls to the practice


def apply_retention(session: Session, now: dt.datetime) -> list[Retention]:
    """Blanks bodies and notes older than each practice's retention period, once a day per practice.

    Safe to run often and from several processes: the UPDATEs only touch text
    not blanked yet, so a second run the same day would change nothing, and
    the audit event of the day's run makes later ticks skip the practice.
    Commits after each practice; one failing (logged, retried next tick)
    holds back no other.
    """
    done_today = select(AuditEvent.practice_id).where(AuditEvent.action == "retention.applied",
                                                      AuditEvent.created_at > now - RETENTION_EVERY)
    due = session.execute(select(Practice.id, Practice.retention_days).where(Practice.id.not_in(done_today))).all()
    runs = []
    for practice_id, retention_days in due:
        try:
            run = _apply_retention(session, practice_id, now - dt.timedelta(days=retention_days))
            event = audit.record(session, practice_id=practice_id, action="retention.applied",
                                 obj=session.get(Practice, practice_id), older_than_days=retention_days,
                                 **{key: value for key, value in asdict(run).items() if key != "practice_id"})
            event.created_at = now  # the next run compares with the same clock
            session.commit()
            runs.append(run)
        except Exception:
            session.rollback()
            log.exception("applying the retention period of practice %s failed", practice_id)
    return runs


def _apply_retention(session: Session, practice_id: int, cutoff: dt.datetime) -> Retention:
    return Retention(
        practice_id=practice_id,
        texts=_changed(session, update(Notification).where(
            Notification.practice_id == practice_id, Notification.due_at < cutoff, Notification.body.is_not(None))
            .values(body=None)),
        replies=_changed(session, update(InboundMessage).where(
            InboundMessage.practice_id == practice_id, InboundMessage.received_at < cutoff,
            InboundMessage.body.is_not(None)).values(body=None)),
        call_attempts=_changed(session, update(CallAttempt).where(
            CallAttempt.practice_id == practice_id, CallAttempt.started_at < cutoff, CallAttempt.notes.is_not(None))
            .values(notes=None)),
        call_tasks=_changed(session, update(CallTask).where(
            CallTask.practice_id == practice_id, CallTask.updated_at < cutoff, CallTask.notes.is_not(None))
            .values(notes=None)),
        # Voicemail messages are personal data like texts; greetings are the practitioner's own and stay.
        recordings=_changed(session, update(Recording).where(
            Recording.practice_id == practice_id, Recording.kind == "voicemail", Recording.created_at < cutoff,
            Recording.erased_at.is_(None)).values(transcription=None, erased_at=utcnow())),
        caller_ids=_changed(session, update(InboundCall).where(
            InboundCall.practice_id == practice_id, InboundCall.received_at < cutoff,
            InboundCall.from_phone.is_not(None)).values(from_phone=None)),
    )
