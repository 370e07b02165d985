"""Voicemail drop: the practitioner's greeting, recorded once by phone, left on a client's voicemail with one tap.

- Recording the greeting: the app calls the practitioner (like the bridge)
  and Twilio `<Record>`s what they say; the recording status callback stores
  it as their greeting (`services.voicemail.record_status`).
- Dropping it: while the client's leg of a bridged call is up (their
  voicemail answered), that leg is updated with TwiML that `<Play>`s the
  greeting and hangs up; the practitioner's leg is freed. The attempt is
  claimed first (`voicemail_left_at`, a conditional UPDATE), so a double tap
  or a retried AMD callback drops it once. Logged as outcome "voicemail".
- Automatically: with `Practice.voicemail_drop_auto` and a greeting on file,
  the client's `<Number>` asks for answering-machine detection
  ("DetectMessageEnd"); an AMD callback saying "machine_end_*" (the beep)
  drops the greeting.

The greeting is played from the app (`/twilio/greetings/<id>`, with a signed
token in the URL, as Twilio fetches <Play> URLs without a signature), which
fetches it from Twilio through the gateway.
"""
from __future__ import annotations

import datetime as dt

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import update
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from outreach.models import CallAttempt, Practitioner, User
from outreach.services import audit, callbacks, calls, voicemail
from outreach.services.phones import is_valid_e164
from outreach.twilio_gateway import TwilioGateway, TwilioGatewayError

MACHINE_END = ("machine_end_beep", "machine_end_silence", "machine_end_other")
MAX_GREETING_SECONDS = 60

RECORD_PROMPTS = {
    "en": ("After the tone, say the greeting clients will hear on their voicemail when you miss them. "
           "Press the pound key when you are done.", "Thank you. Your greeting is saved."),
    "ru": ("После сигнала произнесите приветствие, которое клиенты услышат на автоответчике, если вы не дозвонились. "
           "В конце нажмите решётку.", "Спасибо. Приветствие сохранено."),
}


class DropRefused(ValueError):
    """Why the greeting cannot be dropped now, in words for the practitioner."""


# --- recording the greeting --------------------------------------------------------------------


def greeting_urls(base_url: str, practitioner_id: int, call_sid: str = "") -> tuple[str, str, str, str]:
    """(TwiML, call status, recording status, after-record) URLs of a greeting call.

    The recording status URL names the call (Twilio signs the whole URL), so a
    recording of any other call is not taken for this practitioner's greeting.
    """
    root = f"{base_url}/twilio/greeting/{practitioner_id}"
    return (f"{root}/record", f"{root}/status",
            f"{base_url}/twilio/recording-status?greeting_of={practitioner_id}&call={call_sid}", f"{root}/saved")


def call_to_record_greeting(session: Session, practitioner: Practitioner, gateway: TwilioGateway, *,
                            base_url: str, actor: User) -> str:
    """Rings the practitioner to record their greeting; returns the call SID. TwilioGatewayError on failure."""
    practice = practitioner.practice
    if not is_valid_e164(practitioner.phone):
        raise DropRefused("Add your phone number first: Twilio rings you to record your greeting.")
    if not practice.phone:
        raise DropRefused("The practice has no phone number to call from; ask your admin to add it.")
    twiml_url, status_url, _, _ = greeting_urls(base_url, practitioner.id)
    result = gateway.place_call(to=practitioner.phone, from_=practice.phone, url=twiml_url, status_callback=status_url)
    audit.record(session, practice_id=practice.id, action="greeting.call_placed", obj=practitioner, actor=actor,
                 call_sid=result.sid)
    return result.sid


def _language(practitioner: Practitioner) -> str:
    locale = practitioner.user.locale or practitioner.practice.locale
    return locale if locale in RECORD_PROMPTS else "en"


def record_greeting_twiml(practitioner: Practitioner, base_url: str, call_sid: str) -> str:
    language = _language(practitioner)
    prompt, _ = RECORD_PROMPTS[language]
    _, _, recording_status, saved = greeting_urls(base_url, practitioner.id, call_sid)
    response = VoiceResponse()
    response.say(prompt, language=callbacks.SAY_LANGUAGES[language])
    response.record(action=saved, method="POST", max_length=MAX_GREETING_SECONDS, finish_on_key="#", play_beep=True,
                    recording_status_callback=recording_status, recording_status_callback_method="POST",
                    recording_status_callback_event="completed")
    return str(response)


def greeting_saved_twiml(practitioner: Practitioner) -> str:
    language = _language(practitioner)
    response = VoiceResponse()
    response.say(RECORD_PROMPTS[language][1], language=callbacks.SAY_LANGUAGES[language])
    response.hangup()
    return str(response)


# --- playing it -------------------------------------------------------------------------------


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt="voicemail-greeting")


def greeting_play_url(base_url: str, secret_key: str, recording_id: int) -> str:
    return f"{base_url}/twilio/greetings/{recording_id}?token={_serializer(secret_key).dumps(recording_id)}"


def greeting_token_is_valid(secret_key: str, recording_id: int, token: str | None) -> bool:
    try:
        return _serializer(secret_key).loads(token or "") == recording_id
    except BadSignature:
        return False


def machine_detection_url(session: Session, attempt: CallAttempt, base_url: str) -> str | None:
    """The AMD callback URL for the client's leg when this call should drop the greeting by itself, else None."""
    practitioner = attempt.task.call_list.practitioner
    if not practitioner.practice.voicemail_drop_auto or voicemail.greeting_of(session, practitioner) is None:
        return None
    return f"{base_url}/twilio/amd/{attempt.id}"


def drop(session: Session, attempt: CallAttempt, gateway: TwilioGateway, *, base_url: str, secret_key: str,
         actor: User | str, now: dt.datetime) -> None:
    """Leaves the practitioner's greeting on the client's voicemail; DropRefused says why not. Commits the claim."""
    practitioner = attempt.task.call_list.practitioner
    greeting = voicemail.greeting_of(session, practitioner)
    if greeting is None:
        raise DropRefused("Record your voicemail greeting first.")
    if attempt.voicemail_left_at is not None:
        raise DropRefused("Your greeting was already left on this call.")
    if not attempt.client_call_sid or attempt.client_status != "in-progress" or calls.is_final(attempt.status):
        raise DropRefused("The client's phone is not answering right now: nothing to leave the greeting on.")
    claimed = session.execute(
        update(CallAttempt).where(CallAttempt.id == attempt.id, CallAttempt.voicemail_left_at.is_(None))
        .values(voicemail_left_at=now).execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    if not claimed:
        raise DropRefused("Your greeting was already left on this call.")
    response = VoiceResponse()
    response.play(greeting_play_url(base_url, secret_key, greeting.id))
    response.hangup()
    try:
        gateway.update_call(attempt.client_call_sid, twiml=str(response))
    except TwilioGatewayError as error:
        session.execute(update(CallAttempt).where(CallAttempt.id == attempt.id).values(voicemail_left_at=None)
                        .execution_options(synchronize_session=False))
        audit.record(session, practice_id=attempt.practice_id, action="call.voicemail_drop_failed", obj=attempt,
                     actor=actor, error=str(error))
        session.commit()
        raise DropRefused(calls.readable_twilio_error(error)) from error
    session.refresh(attempt)
    attempt.outcome = attempt.outcome or "voicemail"
    task = attempt.task
    if task.outcome not in ("reached", "wrong_number"):
        task.outcome = "voicemail"
        task.updated_at = now
    audit.record(session, practice_id=attempt.practice_id, action="call.voicemail_left", obj=attempt, actor=actor,
                 task_id=task.id, recording_id=greeting.id)


def machine_detected(session: Session, attempt: CallAttempt, params: dict, gateway: TwilioGateway, *,
                     base_url: str, secret_key: str, now: dt.datetime) -> bool:
    """An AMD callback for the client's leg; drops the greeting at the beep when the practice says so.

    Returns whether the greeting was dropped. Repeated callbacks drop nothing twice.
    """
    answered_by = params.get("AnsweredBy") or ""
    if not attempt.client_call_sid or params.get("CallSid") != attempt.client_call_sid:
        return False  # not about this attempt's client leg
    attempt.answered_by = answered_by or attempt.answered_by
    if answered_by not in MACHINE_END or machine_detection_url(session, attempt, base_url) is None:
        return False
    if attempt.client_status not in ("in-progress", None):
        return False
    attempt.client_status = "in-progress"
    try:
        drop(session, attempt, gateway, base_url=base_url, secret_key=secret_key, actor=audit.TWILIO, now=now)
    except DropRefused:
        return False
    return True
