"""Click-to-call: Twilio rings the person who pressed Call, then bridges to the client.

The flow: `start_call` stores a CallAttempt and the job `place_call` asks
Twilio to ring the caller's own phone (a practitioner's, or a staff
member's calling on a practitioner's behalf) from the practice number, with
answering-machine detection. When they answer, Twilio fetches
`voice_twiml`: a machine gets nothing; a person hears who is next and
"Press 1 to be connected" (`<Gather>`). Only a 1 (`screened_twiml`) dials
the client from the practice number; no key or a machine is recorded as
"you did not answer", so no client is ever connected to a voicemail greeting.
Status callbacks for both legs go through `apply_call_status`, a
forward-only state machine, so retried and out-of-order callbacks change
nothing. After the call (or instead of one) the practitioner records the
outcome with `record_outcome`.

Twilio's call create is not idempotent: after a timeout or 5xx, `place_call`
lists the calls Twilio has between the two numbers since the first try
before it ever asks again, so one tap rings once.
"""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from outreach.messages import N_, UserError
from outreach.models import CALL_OUTCOMES, CallAttempt, CallTask, User
from outreach.services import audit, scripts
from outreach.services.phones import client_zone, is_valid_e164
from outreach.services.phones import display as display_phone
from outreach.twilio_gateway import CallRecord, TwilioGateway, TwilioGatewayError

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

# A call under way blocks another Call on the same task until Twilio reports it
# finished. These only free tasks whose attempt never hears from Twilio again:
# a placed call after this long (no call lasts hours), and an attempt Twilio
# never confirmed creating after this long (the create and its retries are over).
PLACED_CALL_STALE_AFTER = dt.timedelta(hours=4)
UNPLACED_CALL_STALE_AFTER = dt.timedelta(minutes=5)
# Twilio's clock and ours may differ: look this much further back for a created call.
CLOCK_SKEW_ALLOWANCE = dt.timedelta(minutes=2)
# How long the practitioner has to press 1 after the prompt.
SCREENING_TIMEOUT_SECONDS = 8


class CallRefused(UserError):
    """Why a call cannot be started, in words for the practitioner."""


@dataclass(frozen=True)
class CallUrls:
    """Where Twilio reaches us for one attempt (absolute, from PUBLIC_BASE_URL)."""

    voice: str
    screened: str
    status: str
    client_status: str

    @classmethod
    def for_attempt(cls, base_url: str, attempt_id: int) -> CallUrls:
        return cls(
            voice=f"{base_url}/twilio/voice/{attempt_id}",
            screened=f"{base_url}/twilio/voice/{attempt_id}/screened",
            status=f"{base_url}/twilio/call-status/{attempt_id}",
            client_status=f"{base_url}/twilio/client-status/{attempt_id}",
        )


def caller_phone(user: User) -> str | None:
    """Where Call rings `user`: a practitioner's own phone, else the user's (staff, admins)."""
    if user.practitioner is not None:
        return user.practitioner.phone
    return user.phone


def _rank(status: str | None) -> int:
    if status in FINAL_STATUSES:
        return _FINAL_RANK
    return _PROGRESS.get(status or "queued", 0)


def is_final(status: str | None) -> bool:
    return status in FINAL_STATUSES


def start_call(session: Session, task: CallTask, caller: User, *, now: dt.datetime) -> CallAttempt:
    """Stores a new attempt for `task`, to ring `caller`'s own phone, or says clearly why no call can be made."""
    practitioner = task.call_list.practitioner
    practice = practitioner.practice
    if task.state != "active":
        raise CallRefused(N_("This visit is no longer on the list."))
    if not caller_phone(caller):
        raise CallRefused(N_("You have no phone number set: add yours on My settings. "
                             "Call rings your phone, then connects the client."))
    if not practice.phone:
        raise CallRefused(N_("The practice has no phone number to call from; ask your admin to add it."))
    if not is_valid_e164(task.client.phone):
        raise CallRefused(N_("%(name)s has no valid phone number on file."), name=task.client.display_name)
    if call_under_way(session, task, now) is not None:
        raise CallRefused(N_("A call to this client is already under way: wait until it has ended."))
    attempt = CallAttempt(practice_id=task.practice_id, task_id=task.id, caller_user_id=caller.id,
                          via="bridge", status="queued", started_at=now)
    session.add(attempt)
    session.flush()
    audit.record(session, practice_id=task.practice_id, action="call.started", obj=attempt, actor=caller,
                 task_id=task.id, client_id=task.client_id, on_behalf=caller.id != practitioner.user_id)
    return attempt


def call_under_way(session: Session, task: CallTask, now: dt.datetime) -> CallAttempt | None:
    """The task's bridged call Twilio has not reported finished, however long it lasts (see the stale limits)."""
    for attempt in session.scalars(select(CallAttempt).where(
            CallAttempt.task_id == task.id, CallAttempt.via == "bridge",
            CallAttempt.status.not_in(FINAL_STATUSES)).order_by(CallAttempt.id.desc())):
        stale_after = PLACED_CALL_STALE_AFTER if attempt.call_sid else UNPLACED_CALL_STALE_AFTER
        if now - attempt.started_at < stale_after:
            return attempt
    return None


def place_call(
    session: Session, attempt: CallAttempt, gateway: TwilioGateway, *, base_url: str, now: dt.datetime,
    retry_delays: tuple[float, ...], sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Asks Twilio to ring the caller; retries transient failures with backoff, never ringing twice.

    After a timeout or 5xx the create may have reached Twilio all the same:
    before asking again, the calls Twilio has from the practice number to
    the caller's phone since the first try are listed, and one found is
    adopted. Idempotent: an attempt that already has a Twilio SID or a
    final status is left alone.
    """
    if attempt.call_sid or is_final(attempt.status):
        return
    caller = session.get(User, attempt.caller_user_id)
    to, from_ = caller_phone(caller), attempt.task.call_list.practitioner.practice.phone
    if not to:  # removed since Call was pressed
        attempt.status, attempt.ended_at = "failed", now
        attempt.error = "You have no phone number set: add yours on My settings."
        return
    urls = CallUrls.for_attempt(base_url, attempt.id)
    maybe_created = False  # a create whose answer we never heard may have rung the phone
    for delay in (*retry_delays, None):
        try:
            found = _call_created_earlier(session, gateway, attempt, to, from_) if maybe_created else None
            if found is not None:
                attempt.call_sid = found.sid
                audit.record(session, practice_id=attempt.practice_id, action="call.found_at_twilio", obj=attempt,
                             actor=audit.TWILIO, call_sid=found.sid, status=found.status)
                return
            result = gateway.place_call(to=to, from_=from_, url=urls.voice, status_callback=urls.status,
                                        machine_detection=True)
        except TwilioGatewayError as exc:
            maybe_created = maybe_created or exc.transient
            if exc.transient and delay is not None:
                audit.record(session, practice_id=attempt.practice_id, action="call.retrying", obj=attempt,
                             actor=audit.TWILIO, error=str(exc), retry_in_seconds=delay)
                session.commit()
                sleep(delay)
                continue
            attempt.status = "failed"
            attempt.error = readable_twilio_error(exc, caller_phone=to, practice_phone=from_)
            attempt.ended_at = now
            audit.record(session, practice_id=attempt.practice_id, action="call.failed", obj=attempt,
                         actor=audit.TWILIO, error=attempt.error, code=exc.code)
            return
        attempt.call_sid = result.sid
        audit.record(session, practice_id=attempt.practice_id, action="call.placed", obj=attempt,
                     actor=audit.TWILIO, call_sid=result.sid)
        return


def _call_created_earlier(session: Session, gateway: TwilioGateway, attempt: CallAttempt, to: str,
                          from_: str) -> CallRecord | None:
    """The call Twilio created for this attempt's earlier create, if any: same numbers, since the first
    try, and no other attempt's. Raises TwilioGatewayError when Twilio cannot be asked."""
    calls = gateway.recent_calls(to=to, from_=from_, since=attempt.started_at - CLOCK_SKEW_ALLOWANCE)
    if not calls:
        return None
    taken = set(session.scalars(select(CallAttempt.call_sid).where(
        CallAttempt.call_sid.in_([call.sid for call in calls]))))
    # Newest first: the oldest one not taken is this attempt's.
    return next((call for call in reversed(calls) if call.sid not in taken), None)


def readable_twilio_error(exc: TwilioGatewayError, *, caller_phone: str, practice_phone: str) -> str:
    """What went wrong placing a call, naming the number Twilio refused and what to do about it."""
    yours = display_phone(caller_phone)
    practice = display_phone(practice_phone)
    messages = {
        21211: f"Your phone number {yours} was refused by Twilio: check it on My settings.",
        13224: f"Your phone number {yours} was refused by Twilio: check it on My settings.",
        21214: f"Your phone number {yours} cannot be reached, Twilio says: check it on My settings.",
        21215: f"This account may not call your phone number {yours} (its country is not enabled): "
               "ask your admin.",
        21210: f"The practice's number {practice} was refused by Twilio as the caller ID: ask your admin to "
               "check it.",
        21212: f"The practice's number {practice} was refused by Twilio as the caller ID: ask your admin to "
               "check it.",
    }
    if exc.code in messages:
        return messages[exc.code]
    if exc.transient:
        return "Twilio could not be reached; please try again in a few minutes."
    return f"Twilio refused the call to your phone {yours}: {exc}"


# What the caller hears on answering, before the client's phone rings: who is next, and
# "press 1" so that a voicemail picking up never gets the client connected to it.
_WHISPERS = {
    "en": ("Call to {name}, {reason} {when}. Press 1 to be connected to {name}.",
           {"first_visit": "first visit", "returning": "returning after a long gap, visit",
            "open_question": "open question, visit"}, "en-US",
           "You are calling on behalf of {practitioner}. ", "Connecting.",
           "You did not press 1, so the client was not called. Goodbye."),
    "ru": ("Звонок клиенту {name}, {reason} {when}. Нажмите 1, чтобы соединиться с клиентом {name}.",
           {"first_visit": "первый визит", "returning": "давно не был, визит",
            "open_question": "есть вопрос, визит"}, "ru-RU",
           "Вы звоните от имени {practitioner}. ", "Соединяю.",
           "Вы не нажали 1, поэтому клиенту не звоним. До свидания."),
}


def _words(attempt: CallAttempt) -> tuple:
    practice = attempt.task.call_list.practitioner.practice
    return _WHISPERS.get(scripts.language_of(practice.locale), _WHISPERS["en"])


def whisper(attempt: CallAttempt) -> tuple[str, str]:
    """The whisper in the practice's language, and the language code for Twilio's <Say>.

    A staff member calling on a practitioner's behalf hears so first.
    """
    task = attempt.task
    practitioner = task.call_list.practitioner
    practice = practitioner.practice
    sentence, reasons, say_language, on_behalf, _, _ = _words(attempt)
    zone = client_zone(task.client, practice)
    when = scripts.visit_when(task.appointment.starts_at.astimezone(zone), practice.locale)
    words = sentence.format(name=task.client.display_name, reason=reasons[task.reason], when=when)
    if attempt.caller_user_id is not None and attempt.caller_user_id != practitioner.user_id:
        words = on_behalf.format(practitioner=practitioner.full_name) + words
    return words, say_language


def voice_twiml(session: Session, attempt: CallAttempt, *, base_url: str, answered_by: str | None,
                now: dt.datetime) -> str:
    """TwiML for the caller's leg once answered: "press 1 to be connected", or nothing for a machine."""
    response = VoiceResponse()
    if is_final(attempt.status) or not is_valid_e164(attempt.task.client.phone):
        response.say("This call was cancelled.")
        response.hangup()
        return str(response)
    if (answered_by or "").startswith(("machine", "fax")):
        _not_answered(session, attempt, "your voicemail picked up", now)
        response.hangup()
        return str(response)
    words, language = whisper(attempt)
    gather = response.gather(num_digits=1, action=CallUrls.for_attempt(base_url, attempt.id).screened,
                             method="POST", timeout=SCREENING_TIMEOUT_SECONDS, action_on_empty_result=True)
    gather.say(words, language=language)
    response.hangup()  # Twilio goes on here only if the action cannot be reached
    return str(response)


def screened_twiml(session: Session, attempt: CallAttempt, *, digits: str, base_url: str,
                   now: dt.datetime, machine_detection_url: str | None = None) -> str:
    """TwiML once the caller pressed a key (or none): 1 dials the client from the practice number.

    With `machine_detection_url`, Twilio listens for the client's voicemail
    beep and reports it there (see `services.voicemail_drop`).
    """
    response = VoiceResponse()
    _, _, language, _, connecting, not_pressed = _words(attempt)
    client_phone = attempt.task.client.phone
    if digits != "1" or is_final(attempt.status) or not is_valid_e164(client_phone):
        if not is_final(attempt.status):
            _not_answered(session, attempt, "no key was pressed" if not digits else f"{digits} was pressed", now)
        response.say(not_pressed, language=language)
        response.hangup()
        return str(response)
    urls = CallUrls.for_attempt(base_url, attempt.id)
    response.say(connecting, language=language)
    dial = response.dial(caller_id=attempt.task.call_list.practitioner.practice.phone, answer_on_bridge=True,
                         timeout=25)
    machine_detection = (dict(machine_detection="DetectMessageEnd", amd_status_callback=machine_detection_url,
                              amd_status_callback_method="POST") if machine_detection_url else {})
    dial.number(client_phone, status_callback=urls.client_status, status_callback_method="POST",
                status_callback_event="initiated ringing answered completed", **machine_detection)
    audit.record(session, practice_id=attempt.practice_id, action="call.screened", obj=attempt, actor=audit.TWILIO)
    return str(response)


def _not_answered(session: Session, attempt: CallAttempt, how: str, now: dt.datetime) -> None:
    """The caller's leg was picked up by no one who pressed 1: record it; the client is not called."""
    attempt.error = f"You did not answer ({how}), so {attempt.task.client.display_name} was not called."
    audit.record(session, practice_id=attempt.practice_id, action="call.not_answered", obj=attempt,
                 actor=audit.TWILIO, how=how)


def empty_twiml() -> str:
    """The polite answer to a status callback: Twilio only needs a 2xx."""
    return str(VoiceResponse())


def is_about(attempt: CallAttempt, params: dict, *, leg: str) -> bool:
    """Whether a Twilio callback is about this attempt's own calls.

    The practitioner's ("parent") leg carries the attempt's CallSid; the client's
    leg carries the parent's SID as ParentCallSid and its own CallSid, which
    the first callback of that leg makes the attempt's. A signed callback of
    any other call (another attempt's, another practice's) is not about it.
    """
    if not attempt.call_sid:
        return False
    if leg == "parent":
        return params.get("CallSid") == attempt.call_sid
    client_sid = params.get("CallSid")
    return (params.get("ParentCallSid") == attempt.call_sid and bool(client_sid)
            and attempt.client_call_sid in (None, client_sid))


def apply_call_status(session: Session, attempt: CallAttempt, params: dict, *, leg: str, now: dt.datetime) -> bool:
    """Applies one status callback for the practitioner's ("parent") or client's leg.

    Returns whether anything changed: a repeated or out-of-date callback, or
    one about another call (`is_about`), changes nothing.
    """
    if not is_about(attempt, params, leg=leg):
        return False
    status = params.get("CallStatus") or params.get("DialCallStatus")
    if status not in _PROGRESS and status not in FINAL_STATUSES:
        return False
    current = attempt.status if leg == "parent" else attempt.client_status
    if _rank(status) <= _rank(current) and not (current is None and leg == "client"):
        return False
    duration = params.get("CallDuration") or params.get("DialCallDuration")
    if leg == "parent":
        attempt.status = status
        if _is_seconds(duration):
            attempt.duration_seconds = int(duration)
        if is_final(status):
            attempt.ended_at = now
    else:
        attempt.client_status = status
        attempt.client_call_sid = params["CallSid"]
        if params.get("AnsweredBy"):
            attempt.answered_by = params["AnsweredBy"][:32]
        if _is_seconds(duration):
            attempt.client_duration_seconds = int(duration)
    audit.record(session, practice_id=attempt.practice_id, action=f"call.{leg}_status", obj=attempt,
                 actor=audit.TWILIO, status=status, duration=duration)
    return True


def _is_seconds(value: str | None) -> bool:
    """A call's length as Twilio writes it: ASCII digits, less than a few years."""
    return bool(value) and value.isascii() and value.isdigit() and len(value) <= 8


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
