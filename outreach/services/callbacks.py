"""Call-backs: a client calls the practice number back, and reaches the practitioner who called them.

The practice number's Voice URL is `/twilio/inbound-call`. Each call is an
`InboundCall`, decided once (by its CallSid: Twilio's retries get the same
answer) from the number dialled and the caller ID:

- The number dialled names exactly one practice
  (`practice_numbers.practice_for_number_dialled`); a number no practice
  has, or several have, is not answered.
- A caller ID that is one client of the practice, called (outbound) within
  `Practice.callback_window_days`, is a call-back: it is offered to the
  practitioner who called, with a screening whisper ("Call back from Anna
  Petrova, first visit Tuesday at 2:00 PM. Press 1 to answer."), within their
  calling hours. It is also a CallAttempt on that task (direction "inbound",
  via "callback"); when the practitioner presses 1 and the legs are bridged,
  attempt and task are "reached".
- A caller ID matching several clients is logged as such ("several") and
  never given to one of them; an unknown one is "none". Both follow the
  practice's rule for other calls: the front desk number, or voicemail.
- Outside hours, or unanswered, the caller hears a short greeting in the
  practitioner's language (else the practice's) and can leave a message
  (`services.voicemail` stores it).
- The number's status callback (`/twilio/inbound-call-status`) closes the
  log of a call that ended without a message.

TwiML is built with the twilio SDK's VoiceResponse. No Flask here.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from outreach.models import LOCALES, CallAttempt, CallTask, Client, InboundCall, Practice, Practitioner
from outreach.services import audit, practice_numbers, scripts
from outreach.services.phones import is_valid_e164

log = logging.getLogger(__name__)

# How long the practitioner's (or front desk's) phone rings before the caller gets the greeting.
RING_SECONDS = 20
# How long a message may be.
MAX_MESSAGE_SECONDS = 120
SAY_LANGUAGES = {"en": "en-US", "ru": "ru-RU"}

WHISPERS = {
    "en": "Call back from {name}, {reason} {when}. Press 1 to answer.",
    "ru": "Перезванивает {name}, {reason} {when}. Нажмите 1, чтобы ответить.",
}
WHISPER_REASONS = {
    "en": {"first_visit": "first visit", "returning": "visit", "open_question": "visit"},
    "ru": {"first_visit": "первый визит", "returning": "визит", "open_question": "визит"},
}
GREETINGS = {
    "en": {
        "practitioner": "Hello, you have reached {practitioner} at {practice}. Sorry we missed you. "
                        "Please leave a short message after the tone, and we will call you back.",
        "practice": "Hello, you have reached {practice}. "
                    "Please leave a short message after the tone, and we will call you back.",
        "thanks": "Thank you. Goodbye.",
        "not_in_service": "This number is not in service.",
    },
    "ru": {
        "practitioner": "Здравствуйте, это {practitioner}, {practice}. Извините, сейчас не можем ответить. "
                        "Оставьте, пожалуйста, короткое сообщение после сигнала, и мы вам перезвоним.",
        "practice": "Здравствуйте, это {practice}. "
                    "Оставьте, пожалуйста, короткое сообщение после сигнала, и мы вам перезвоним.",
        "thanks": "Спасибо. До свидания.",
        "not_in_service": "Этот номер не обслуживается.",
    },
}


@dataclass(frozen=True)
class InboundUrls:
    """Where Twilio reaches us during one inbound call (absolute, from PUBLIC_BASE_URL)."""

    screen: str
    screened: str
    dial_done: str
    recorded: str
    recording_status: str
    transcription: str

    @classmethod
    def for_call(cls, base_url: str, inbound_call_id: int) -> InboundUrls:
        root = f"{base_url}/twilio/inbound-call/{inbound_call_id}"
        return cls(screen=f"{root}/screen", screened=f"{root}/screened", dial_done=f"{root}/dial-done",
                   recorded=f"{root}/recorded",
                   recording_status=f"{base_url}/twilio/recording-status?inbound_call={inbound_call_id}",
                   transcription=f"{base_url}/twilio/transcription?inbound_call={inbound_call_id}")


# --- who is calling whom ---------------------------------------------------------------------------


def clients_with_phone(session: Session, practice_id: int, phone: str | None) -> list[Client]:
    """The practice's clients (not erased) with this phone number."""
    if not is_valid_e164(phone):
        return []
    return list(session.scalars(select(Client).where(Client.practice_id == practice_id, Client.phone == phone,
                                                     Client.erased_at.is_(None)).order_by(Client.id)))


def recent_outbound_attempt(session: Session, client: Client, practice: Practice,
                            now: dt.datetime) -> CallAttempt | None:
    """The latest call the practice made to this client within its call-back window, on a task still on a list."""
    since = now - dt.timedelta(days=practice.callback_window_days)
    return session.scalar(
        select(CallAttempt).join(CallTask, CallAttempt.task_id == CallTask.id)
        .where(CallTask.client_id == client.id, CallTask.state == "active", CallAttempt.direction == "outbound",
               CallAttempt.via == "bridge", CallAttempt.started_at >= since, CallAttempt.started_at <= now)
        .order_by(CallAttempt.started_at.desc(), CallAttempt.id.desc()).limit(1)
    )


def calling_hours(practitioner: Practitioner) -> tuple[dt.time, dt.time]:
    """When call-backs are put through to this practitioner, in the practice's local time."""
    practice = practitioner.practice
    return (practitioner.callback_hours_start or practice.callback_hours_start,
            practitioner.callback_hours_end or practice.callback_hours_end)


def within_calling_hours(practitioner: Practitioner, now: dt.datetime) -> bool:
    start, end = calling_hours(practitioner)
    local = now.astimezone(ZoneInfo(practitioner.practice.timezone)).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # hours across midnight


@dataclass(frozen=True)
class Decision:
    route: str  # "practitioner" | "front_desk" | "voicemail"
    matched: str  # "one" | "several" | "none"
    reason: str
    client: Client | None = None
    task: CallTask | None = None
    practitioner: Practitioner | None = None


def decide(session: Session, practice: Practice, from_phone: str | None, now: dt.datetime) -> Decision:
    """Where a call to `practice` from `from_phone` goes, and why."""
    clients = clients_with_phone(session, practice.id, from_phone)
    if len(clients) > 1:
        return _other_call(practice, "several", f"the caller ID matches {len(clients)} clients")
    if not clients:
        return _other_call(practice, "none", "the caller is not a client")
    client = clients[0]
    attempt = recent_outbound_attempt(session, client, practice, now)
    if attempt is None:
        return _other_call(practice, "one", f"not called in the last {practice.callback_window_days} days",
                           client=client)
    practitioner = attempt.task.call_list.practitioner
    if not is_valid_e164(practitioner.phone):
        reason, route = "the practitioner has no phone number", "voicemail"
    elif not within_calling_hours(practitioner, now):
        reason, route = "outside the practitioner's calling hours", "voicemail"
    else:
        reason, route = "a call-back within the practitioner's calling hours", "practitioner"
    return Decision(route=route, matched="one", reason=reason, client=client, task=attempt.task,
                    practitioner=practitioner)


def _other_call(practice: Practice, matched: str, reason: str, client: Client | None = None) -> Decision:
    if practice.other_inbound_calls == "front_desk" and is_valid_e164(practice.front_desk_phone):
        return Decision(route="front_desk", matched=matched, reason=f"{reason}: to the front desk", client=client)
    return Decision(route="voicemail", matched=matched, reason=f"{reason}: to voicemail", client=client)


def receive_inbound_call(session: Session, *, call_sid: str, from_phone: str | None, to_phone: str | None,
                         now: dt.datetime) -> InboundCall | None:
    """The InboundCall for this CallSid, decided and stored the first time; None if no one practice has the number.

    Flushes; the caller commits. Two deliveries of the same call at once
    collide on the unique CallSid: the caller rolls back and reads the other's row.
    """
    known = session.scalar(select(InboundCall).where(InboundCall.call_sid == call_sid))
    if known is not None:
        return known
    try:
        practice = practice_numbers.practice_for_number_dialled(session, to_phone, what=f"call {call_sid}")
    except practice_numbers.NumberNotRouted:
        return None
    decision = decide(session, practice, from_phone, now)
    inbound = InboundCall(
        practice_id=practice.id, call_sid=call_sid, from_phone=from_phone, to_phone=to_phone,
        matched=decision.matched, client_id=decision.client.id if decision.matched == "one" else None,
        task_id=decision.task.id if decision.task else None,
        practitioner_id=decision.practitioner.id if decision.practitioner else None,
        route=decision.route, route_reason=decision.reason, received_at=now,
    )
    if decision.task is not None:
        attempt = CallAttempt(practice_id=practice.id, task_id=decision.task.id, direction="inbound", via="callback",
                              call_sid=call_sid, status="ringing", started_at=now)
        session.add(attempt)
        session.flush()
        inbound.attempt_id = attempt.id
    session.add(inbound)
    session.flush()
    audit.record(session, practice_id=practice.id, action="inbound_call.received", obj=inbound, actor=audit.TWILIO,
                 route=decision.route, matched=decision.matched, reason=decision.reason, task_id=inbound.task_id)
    return inbound


# --- what Twilio does with the call ------------------------------------------------------------------


def _language(inbound: InboundCall) -> str:
    """The practitioner's own language when the call is theirs, else the practice's."""
    practice = inbound.practitioner.practice if inbound.practitioner else None
    if inbound.practitioner is not None and inbound.practitioner.user.locale in LOCALES:
        return inbound.practitioner.user.locale
    if practice is not None:
        return scripts.language_of(practice.locale)
    return "en"


def not_in_service_twiml() -> str:
    response = VoiceResponse()
    response.say(GREETINGS["en"]["not_in_service"], language=SAY_LANGUAGES["en"])
    response.hangup()
    return str(response)


def answer_twiml(session: Session, inbound: InboundCall, base_url: str) -> str:
    """What the caller gets first: the practitioner or front desk rung (voicemail if unanswered), or voicemail."""
    practice = session.get(Practice, inbound.practice_id)
    urls = InboundUrls.for_call(base_url, inbound.id)
    if inbound.route == "practitioner" and inbound.outcome is None:
        return _dial(practice, inbound.practitioner.phone, urls, screen=True)
    if inbound.route == "front_desk" and inbound.outcome is None:
        return _dial(practice, practice.front_desk_phone, urls, screen=False)
    return voicemail_twiml(session, inbound, base_url)


def _dial(practice: Practice, number: str, urls: InboundUrls, *, screen: bool) -> str:
    response = VoiceResponse()
    dial = Dial(caller_id=practice.phone, action=urls.dial_done, method="POST", timeout=RING_SECONDS,
                answer_on_bridge=True)
    dial.number(number, url=urls.screen if screen else None, method="POST" if screen else None)
    response.append(dial)
    return str(response)


def whisper(inbound: InboundCall) -> tuple[str, str]:
    """What the practitioner hears before taking the call-back, and the language code for <Say>."""
    language = _language(inbound)
    task = inbound.task
    practice = task.call_list.practitioner.practice
    zone = ZoneInfo(task.client.timezone or practice.timezone)
    when = scripts.visit_when(task.appointment.starts_at.astimezone(zone), language).replace("\u202f", " ")
    words = WHISPERS[language].format(name=task.client.display_name, reason=WHISPER_REASONS[language][task.reason],
                                      when=when)
    return words, SAY_LANGUAGES[language]


def screen_twiml(inbound: InboundCall, base_url: str) -> str:
    """Run on the practitioner's phone when they pick up: the whisper, and press 1 to take the call."""
    urls = InboundUrls.for_call(base_url, inbound.id)
    response = VoiceResponse()
    if inbound.task is None or inbound.outcome is not None:
        response.hangup()
        return str(response)
    words, language = whisper(inbound)
    gather = Gather(num_digits=1, action=urls.screened, method="POST", timeout=8)
    gather.say(words, language=language)
    response.append(gather)
    response.hangup()  # nothing pressed: the caller goes on to the greeting
    return str(response)


def screened(session: Session, inbound: InboundCall, digits: str | None, now: dt.datetime) -> str:
    """The practitioner's key press: 1 connects them to the caller; anything else sends the caller to voicemail."""
    response = VoiceResponse()
    if digits == "1" and inbound.outcome is None:
        if inbound.answered_at is None:
            inbound.answered_at = now
            audit.record(session, practice_id=inbound.practice_id, action="inbound_call.answered", obj=inbound,
                         actor=audit.TWILIO)
        return str(response)  # an empty document: the legs are bridged
    response.hangup()
    return str(response)


def dial_finished(session: Session, inbound: InboundCall, params: dict, base_url: str, now: dt.datetime) -> str:
    """The <Dial> ended: a bridged call-back is "reached"; otherwise the caller gets the greeting. Idempotent."""
    status = params.get("DialCallStatus")
    bridged = (status == "completed" and params.get("DialBridged") != "false"
               and (inbound.route == "front_desk" or inbound.answered_at is not None))
    if inbound.dial_status is None:
        inbound.dial_status = status
    if bridged and inbound.outcome is None:
        inbound.outcome = "bridged"
        inbound.ended_at = now
        duration = params.get("DialCallDuration")
        attempt = session.get(CallAttempt, inbound.attempt_id) if inbound.attempt_id else None
        if attempt is not None:
            _reached(session, attempt, int(duration) if duration and duration.isdigit() else None, now)
        audit.record(session, practice_id=inbound.practice_id, action="inbound_call.bridged", obj=inbound,
                     actor=audit.TWILIO, route=inbound.route, duration=duration)
    if inbound.outcome == "bridged":
        response = VoiceResponse()
        response.hangup()
        return str(response)
    return voicemail_twiml(session, inbound, base_url)


def _reached(session: Session, attempt: CallAttempt, duration: int | None, now: dt.datetime) -> None:
    """A call-back the practitioner took: the attempt and its task are "reached"."""
    attempt.status = "completed"
    attempt.client_status = "completed"
    attempt.outcome = "reached"
    attempt.duration_seconds = duration
    attempt.ended_at = now
    task = attempt.task
    task.outcome = "reached"
    task.updated_at = now
    audit.record(session, practice_id=attempt.practice_id, action="call.outcome", obj=attempt, actor=audit.TWILIO,
                 task_id=task.id, outcome="reached", direction="inbound")


def voicemail_twiml(session: Session, inbound: InboundCall, base_url: str) -> str:
    """The greeting in the practitioner's (or practice's) language, then <Record> with its callbacks."""
    practice = session.get(Practice, inbound.practice_id)
    language = _language(inbound)
    words = GREETINGS[language]
    urls = InboundUrls.for_call(base_url, inbound.id)
    if inbound.practitioner is not None:
        greeting = words["practitioner"].format(practitioner=inbound.practitioner.full_name, practice=practice.name)
    else:
        greeting = words["practice"].format(practice=practice.name)
    response = VoiceResponse()
    response.say(greeting, language=SAY_LANGUAGES[language])
    response.record(action=urls.recorded, method="POST", max_length=MAX_MESSAGE_SECONDS, timeout=5,
                    finish_on_key="#", play_beep=True, recording_status_callback=urls.recording_status,
                    recording_status_callback_method="POST", recording_status_callback_event="completed",
                    transcribe=True, transcribe_callback=urls.transcription)
    return str(response)


def call_ended(session: Session, inbound: InboundCall, params: dict, now: dt.datetime) -> bool:
    """The number's status callback: the call is over. Closes its log; returns whether anything changed."""
    status = params.get("CallStatus")
    if status not in ("completed", "busy", "no-answer", "failed", "canceled") or inbound.ended_at is not None:
        return False
    inbound.ended_at = now
    inbound.outcome = inbound.outcome or "no_message"
    attempt = session.get(CallAttempt, inbound.attempt_id) if inbound.attempt_id else None
    if attempt is not None and attempt.ended_at is None:
        attempt.status = status
        attempt.ended_at = now
    audit.record(session, practice_id=inbound.practice_id, action="inbound_call.ended", obj=inbound,
                 actor=audit.TWILIO, status=status, outcome=inbound.outcome)
    return True


def message_done(session: Session, inbound: InboundCall, params: dict, now: dt.datetime) -> str:
    """The <Record> ended (the caller pressed # or hung up): thank them, and close the call's log."""
    if inbound.outcome is None:
        inbound.outcome = "message" if params.get("RecordingSid") else "no_message"
        inbound.ended_at = now
        attempt = session.get(CallAttempt, inbound.attempt_id) if inbound.attempt_id else None
        if attempt is not None and attempt.status != "completed":
            attempt.status = "completed"
            attempt.ended_at = now
    response = VoiceResponse()
    response.say(GREETINGS[_language(inbound)]["thanks"], language=SAY_LANGUAGES[_language(inbound)])
    response.hangup()
    return str(response)
