"""Click-to-call: Twilio rings the practitioner, then bridges to the client.

The flow: `start_call` stores a CallAttempt and the job `place_call` asks
Twilio to ring the practitioner's phone from the practice number. When they
answer, Twilio fetches `voice_twiml`, which whispers who is next and dials
the client from the practice number. Status callbacks for both legs go
through `apply_call_status`, a forward-only state machine, so retried and
out-of-order callbacks change nothing. After the call (or instead of one)
the practitioner records the outcome with `record_outcome`.
"""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import CALL_OUTCOMES, CallAttempt, CallTask, User
from outreach.services import audit, scripts
from outreach.services.phones import is_valid_e164
from outreach.twilio_gateway import TwilioGateway, TwilioGatewayError

# Twilio's call statuses, by how far a call has got. A callback may only move
# an attempt forward; the final ones never change again.
_PROGRESS = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3}
FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
_FINAL_RANK = 4

# Polite hours to phone a client, in the client's time zone.
POLITE_FROM = dt.time(9, 0)
POLITE_UNTIL = dt.time(20, 0)
RETRY_AFTER = {"no_answer": dt.timedelta(hours=3), "call_back_later": dt.timedelta(hours=24),
               "voicemail": dt.timedelta(hours=24)}


class CallRefused(ValueError):
    """Why a call cannot be started, in words for the practitioner."""


@dataclass(frozen=True)
class CallUrls:
    """Where Twilio reaches us for one attempt (absolute, from PUBLIC_BASE_URL)."""

    voice: str
    status: str
    client_status: str

    @classmethod
    def for_attempt(cls, base_url: str, attempt_id: int) -> CallUrls:
        return cls(
            voice=f"{base_url}/twilio/voice/{attempt_id}",
            status=f"{base_url}/twilio/call-status/{attempt_id}",
            client_status=f"{base_url}/twilio/client-status/{attempt_id}",
        )


def _rank(status: str | None) -> int:
    if status in FINAL_STATUSES:
        return _FINAL_RANK
    return _PROGRESS.get(status or "queued", 0)


def is_final(status: str | None) -> bool:
    return status in FINAL_STATUSES


def start_call(session: Session, task: CallTask, caller: User, *, now: dt.datetime) -> CallAttempt:
    """Stores a new attempt for `task`, or says clearly why no call can be made."""
    practitioner = task.call_list.practitioner
    practice = practitioner.practice
    if task.state != "active":
        raise CallRefused("This visit is no longer on the list.")
    if not practitioner.phone:
        raise CallRefused("Add your phone number first: Twilio rings you, then connects the client.")
    if not practice.phone:
        raise CallRefused("The practice has no phone number to call from; ask your admin to add it.")
    if not is_valid_e164(task.client.phone):
        raise CallRefused(f"{task.client.display_name} has no valid phone number on file.")
    busy = session.scalar(
        select(CallAttempt).where(CallAttempt.task_id == task.id, CallAttempt.via == "bridge",
                                  CallAttempt.status.not_in(FINAL_STATUSES))
    )
    if busy is not None and now - busy.started_at < dt.timedelta(minutes=10):
        raise CallRefused("A call to this client is already under way.")
    attempt = CallAttempt(practice_id=task.practice_id, task_id=task.id, caller_user_id=caller.id,
                          via="bridge", status="queued", started_at=now)
    session.add(attempt)
    session.flush()
    audit.record(session, practice_id=task.practice_id, action="call.started", obj=attempt, actor=caller,
                 task_id=task.id, client_id=task.client_id)
    return attempt


def place_call(
    session: Session, attempt: CallAttempt, gateway: TwilioGateway, *, base_url: str, now: dt.datetime,
    retry_delays: tuple[float, ...], sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Asks Twilio to ring the practitioner; retries transient failures with backoff.

    Idempotent: an attempt that already has a Twilio SID or a final status is left alone.
    """
    if attempt.call_sid or is_final(attempt.status):
        return
    practitioner = attempt.task.call_list.practitioner
    urls = CallUrls.for_attempt(base_url, attempt.id)
    for delay in (*retry_delays, None):
        try:
            result = gateway.place_call(to=practitioner.phone, from_=practitioner.practice.phone, url=urls.voice,
                                        status_callback=urls.status)
        except TwilioGatewayError as exc:
            if exc.transient and delay is not None:
                audit.record(session, practice_id=attempt.practice_id, action="call.retrying", obj=attempt,
                             actor=audit.TWILIO, error=str(exc), retry_in_seconds=delay)
                session.commit()
                sleep(delay)
                continue
            attempt.status = "failed"
            attempt.error = readable_twilio_error(exc)
            attempt.ended_at = now
            audit.record(session, practice_id=attempt.practice_id, action="call.failed", obj=attempt,
                         actor=audit.TWILIO, error=attempt.error, code=exc.code)
            return
        attempt.call_sid = result.sid
        audit.record(session, practice_id=attempt.practice_id, action="call.placed", obj=attempt,
                     actor=audit.TWILIO, call_sid=result.sid)
        return


def readable_twilio_error(exc: TwilioGatewayError) -> str:
    messages = {
        21211: "Twilio says the number is not a valid phone number.",
        21214: "Twilio says the number cannot be reached.",
        21215: "This account may not call that country.",
        13224: "Twilio says the number is not a valid phone number.",
    }
    if exc.code in messages:
        return messages[exc.code]
    if exc.transient:
        return "Twilio could not be reached; please try again in a few minutes."
    return f"Twilio refused the call: {exc}"


# What the practitioner hears on answering, before the client's phone rings.
_WHISPERS = {
    "en": ("Connecting you to {name}, {reason} {when}.",
           {"first_visit": "first visit", "returning": "returning after a long gap, visit",
            "open_question": "open question, visit"}, "en-US"),
    "ru": ("Соединяю с клиентом {name}, {reason} {when}.",
           {"first_visit": "первый визит", "returning": "давно не был, визит",
            "open_question": "есть вопрос, визит"}, "ru-RU"),
}


def whisper(attempt: CallAttempt) -> tuple[str, str]:
    """The whisper in the practice's language, and the language code for Twilio's <Say>."""
    task = attempt.task
    practice = task.call_list.practitioner.practice
    language = scripts.language_of(practice.locale)
    sentence, reasons, say_language = _WHISPERS.get(language, _WHISPERS["en"])
    zone = ZoneInfo(task.client.timezone or practice.timezone)
    when = scripts.visit_when(task.appointment.starts_at.astimezone(zone), practice.locale)
    return sentence.format(name=task.client.display_name, reason=reasons[task.reason], when=when), say_language


def voice_twiml(attempt: CallAttempt, *, base_url: str, machine_detection_url: str | None = None) -> str:
    """TwiML for the practitioner's leg: the whisper, then the client, from the practice number.

    With `machine_detection_url`, Twilio listens for the client's voicemail
    beep and reports it there (see `services.voicemail_drop`).
    """
    practice_phone = attempt.task.call_list.practitioner.practice.phone
    client_phone = attempt.task.client.phone
    if is_final(attempt.status) or not is_valid_e164(client_phone):
        return _twiml('<Say>This call was cancelled.</Say><Hangup/>')
    urls = CallUrls.for_attempt(base_url, attempt.id)
    words, language = whisper(attempt)
    amd = (f' machineDetection="DetectMessageEnd" amdStatusCallback={quoteattr(machine_detection_url)}'
           f' amdStatusCallbackMethod="POST"' if machine_detection_url else "")
    return _twiml(
        f"<Say language={quoteattr(language)}>{escape(words)}</Say>"
        f"<Dial callerId={quoteattr(practice_phone)} answerOnBridge=\"true\" timeout=\"25\">"
        f"<Number statusCallback={quoteattr(urls.client_status)} statusCallbackMethod=\"POST\" "
        f"statusCallbackEvent=\"initiated ringing answered completed\"{amd}>{escape(client_phone)}</Number>"
        f"</Dial>"
    )


def _twiml(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


def apply_call_status(session: Session, attempt: CallAttempt, params: dict, *, leg: str, now: dt.datetime) -> bool:
    """Applies one status callback for the practitioner's ("parent") or client's leg.

    Returns whether anything changed: a repeated or out-of-date callback changes nothing.
    """
    status = params.get("CallStatus") or params.get("DialCallStatus")
    if status not in _PROGRESS and status not in FINAL_STATUSES:
        return False
    current = attempt.status if leg == "parent" else attempt.client_status
    if _rank(status) <= _rank(current) and not (current is None and leg == "client"):
        return False
    duration = params.get("CallDuration") or params.get("DialCallDuration")
    if leg == "parent":
        if params.get("CallSid") and attempt.call_sid and params["CallSid"] != attempt.call_sid:
            return False
        attempt.status = status
        if duration and duration.isdigit():
            attempt.duration_seconds = int(duration)
        if is_final(status):
            attempt.ended_at = now
    else:
        attempt.client_status = status
        attempt.client_call_sid = attempt.client_call_sid or params.get("CallSid")
        if params.get("AnsweredBy"):
            attempt.answered_by = params["AnsweredBy"]
        if duration and duration.isdigit():
            attempt.client_duration_seconds = int(duration)
    audit.record(session, practice_id=attempt.practice_id, action=f"call.{leg}_status", obj=attempt,
                 actor=audit.TWILIO, status=status, duration=duration)
    return True


def record_outcome(
    session: Session, task: CallTask, actor: User, *, outcome: str, questions: str = "", notes: str = "",
    questions_answered: bool = False, now: dt.datetime,
) -> CallAttempt:
    """Logs what came of calling the client, on the latest bridged call or as a call from the practitioner's own phone."""
    if outcome not in CALL_OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(CALL_OUTCOMES)}")
    attempt = session.scalar(
        select(CallAttempt).where(CallAttempt.task_id == task.id, CallAttempt.outcome.is_(None),
                                  CallAttempt.via == "bridge").order_by(CallAttempt.id.desc())
    )
    if attempt is None:
        attempt = CallAttempt(practice_id=task.practice_id, task_id=task.id, caller_user_id=actor.id,
                              via="own_phone", status="completed", started_at=now, ended_at=now)
        session.add(attempt)
    attempt.outcome = outcome
    attempt.questions = questions.strip() or None
    attempt.notes = notes.strip() or None
    task.outcome = outcome
    if attempt.questions:
        task.questions = _append(task.questions, attempt.questions)
    # An unanswered question puts the client on next week's list too (when the practice asks for that).
    if task.questions:
        task.questions_answered = questions_answered
    if attempt.notes:
        task.notes = _append(task.notes, attempt.notes)
    task.updated_at = now
    session.flush()
    audit.record(session, practice_id=task.practice_id, action="call.outcome", obj=attempt, actor=actor,
                 task_id=task.id, outcome=outcome, has_questions=bool(attempt.questions))
    return attempt


def _append(existing: str | None, new: str) -> str:
    return f"{existing}\n{new}" if existing else new


def suggested_next_attempt(task: CallTask, client_zone: ZoneInfo, now: dt.datetime) -> dt.datetime | None:
    """When to try again after no answer / call back later / voicemail, inside polite hours and before the visit."""
    if task.outcome not in RETRY_AFTER or not task.attempts:
        return None
    last = max(attempt.started_at for attempt in task.attempts)
    candidate = max(last + RETRY_AFTER[task.outcome], now).astimezone(client_zone)
    if candidate.time() < POLITE_FROM:
        candidate = candidate.replace(hour=POLITE_FROM.hour, minute=0, second=0, microsecond=0)
    elif candidate.time() >= POLITE_UNTIL:
        candidate = (candidate + dt.timedelta(days=1)).replace(hour=POLITE_FROM.hour + 1, minute=0, second=0,
                                                               microsecond=0)
    candidate = candidate.astimezone(dt.timezone.utc)
    return candidate if candidate < task.appointment.starts_at else None
