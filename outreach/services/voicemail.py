"""Voicemail messages clients leave, and the greetings practitioners record for voicemail drops.

- A message: Twilio's recording status callback (`record_status`) stores a
  `Recording` attached to the inbound call's client and task (its RecordingSid
  is unique, so retries store it once). The transcription callback adds the
  words, once, and if the practitioner asked for it queues one text to them
  ("Anna Petrova left you a message: …") in the outbox.
- The audio stays at Twilio; `audio` fetches it through the gateway with the
  account's credentials when someone plays it, which marks it listened.
- A greeting: the practitioner's own recording (kind "greeting"), made by
  phone (`services.voicemail_drop`); the newest one is used.
- Erasure: `services.privacy` blanks a recording's words and marks it erased
  (with the client, or after the retention period); the periodic tick then
  deletes its audio at Twilio (`delete_erased_recordings`).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import InboundCall, Notification, Practice, Practitioner, Recording, User
from outreach.services import audit
from outreach.services.notification_status import PENDING
from outreach.services.phones import is_valid_e164
from outreach.twilio_gateway import RecordingAudio, TwilioGateway, TwilioGatewayError

log = logging.getLogger(__name__)

VOICEMAIL = "voicemail"
GREETING = "greeting"
# The outbox kind of the text telling a practitioner about a message.
VOICEMAIL_NOTE = "voicemail_note"
NOTE_WORDS_LIMIT = 200

NOTES = {
    "en": ("{caller} left you a message: {words}", "{caller} left you a message ({seconds} s)."),
    "ru": ("{caller} оставил(а) вам сообщение: {words}", "{caller} оставил(а) вам сообщение ({seconds} с)."),
}


def _duration(params: Mapping) -> int | None:
    value = params.get("RecordingDuration") or ""
    return int(value) if value.isdigit() else None


def record_status(session: Session, params: Mapping, *, inbound_call: InboundCall | None = None,
                  greeting_of: Practitioner | None = None, now: dt.datetime) -> Recording | None:
    """A recording status callback for a message left on `inbound_call`, or a greeting of `greeting_of`.

    Returns the Recording (the same one for a repeated callback), or None when
    the callback is not about that call or is incomplete. Flushes.
    """
    sid = params.get("RecordingSid")
    status = params.get("RecordingStatus") or "completed"
    if not sid:
        return None
    known = session.scalar(select(Recording).where(Recording.recording_sid == sid))
    if known is not None:
        if known.status != status and known.status != "completed":
            known.status = status
        return known
    if inbound_call is not None:
        if params.get("CallSid") != inbound_call.call_sid:
            log.warning("recording %s is of call %s, not of inbound call %s", sid, params.get("CallSid"),
                        inbound_call.call_sid)
            return None
        recording = Recording(practice_id=inbound_call.practice_id, kind=VOICEMAIL, recording_sid=sid,
                              call_sid=inbound_call.call_sid, inbound_call_id=inbound_call.id,
                              client_id=inbound_call.client_id, task_id=inbound_call.task_id,
                              practitioner_id=inbound_call.practitioner_id, from_phone=inbound_call.from_phone,
                              status=status, duration_seconds=_duration(params), created_at=now)
        if inbound_call.outcome in (None, "no_message"):
            inbound_call.outcome = "message"
    elif greeting_of is not None:
        recording = Recording(practice_id=greeting_of.practice_id, kind=GREETING, recording_sid=sid,
                              call_sid=params.get("CallSid"), practitioner_id=greeting_of.id, status=status,
                              duration_seconds=_duration(params), created_at=now)
    else:
        return None
    session.add(recording)
    session.flush()
    audit.record(session, practice_id=recording.practice_id, action=f"recording.{recording.kind}", obj=recording,
                 actor=audit.TWILIO, recording_sid=sid, duration=recording.duration_seconds,
                 client_id=recording.client_id, task_id=recording.task_id)
    return recording


def transcription(session: Session, inbound_call: InboundCall, params: Mapping, now: dt.datetime) -> Recording | None:
    """The words of a message, once; returns its Recording, or None if the message is not stored (yet)."""
    sid = params.get("RecordingSid")
    recording = session.scalar(select(Recording).where(Recording.recording_sid == sid,
                                                       Recording.inbound_call_id == inbound_call.id))
    if recording is None:
        # Transcriptions usually follow the recording callback; if this one came first, store the recording now.
        recording = record_status(session, {**params, "RecordingStatus": "completed"}, inbound_call=inbound_call,
                                  now=now)
        if recording is None:
            return None
    if (recording.transcription is None and recording.erased_at is None
            and params.get("TranscriptionStatus") == "completed"):
        recording.transcription = (params.get("TranscriptionText") or "").strip() or None
    return recording


def caller_name(recording: Recording) -> str:
    if recording.client is not None:
        return recording.client.display_name
    return recording.from_phone or "?"


def queue_note_to_practitioner(session: Session, recording: Recording, now: dt.datetime) -> Notification | None:
    """One text telling the practitioner about this message, if they asked for such texts. Flushes."""
    practitioner = recording.practitioner
    if practitioner is None or not practitioner.text_me_voicemails or not is_valid_e164(practitioner.phone):
        return None
    key = f"{VOICEMAIL_NOTE}:{recording.id}"
    if session.scalar(select(Notification.id).where(Notification.dedupe_key == key)) is not None:
        return None
    practice = session.get(Practice, recording.practice_id)
    language = practitioner.user.locale if practitioner.user.locale in NOTES else practice.locale
    with_words, without_words = NOTES.get(language, NOTES["en"])
    words = (recording.transcription or "").strip()
    if len(words) > NOTE_WORDS_LIMIT:
        words = words[:NOTE_WORDS_LIMIT - 1].rstrip() + "…"
    body = (with_words.format(caller=caller_name(recording), words=words) if words
            else without_words.format(caller=caller_name(recording), seconds=recording.duration_seconds or 0))
    note = Notification(practice_id=recording.practice_id, practitioner_id=practitioner.id, kind=VOICEMAIL_NOTE,
                        dedupe_key=key, to_phone=practitioner.phone, from_phone=practice.phone, body=body, due_at=now,
                        status=PENDING, created_at=now, updated_at=now)
    session.add(note)
    session.flush()
    audit.record(session, practice_id=recording.practice_id, action="notification.planned", obj=note,
                 kind=VOICEMAIL_NOTE, recording_id=recording.id)
    return note


def messages_for_tasks(session: Session, task_ids: list[int]) -> dict[int, list[Recording]]:
    """Messages left about these tasks, oldest first, by task id."""
    found: dict[int, list[Recording]] = {}
    if not task_ids:
        return found
    for recording in session.scalars(select(Recording).where(Recording.kind == VOICEMAIL,
                                                             Recording.task_id.in_(task_ids))
                                     .order_by(Recording.created_at, Recording.id)):
        found.setdefault(recording.task_id, []).append(recording)
    return found


def audio(gateway: TwilioGateway, recording: Recording) -> RecordingAudio:
    """The sound of a recording, from Twilio; ValueError for an erased one."""
    if not recording.playable:
        raise ValueError("this recording was erased")
    return gateway.recording_audio(recording.recording_sid)


def mark_listened(session: Session, recording: Recording, user: User, now: dt.datetime) -> None:
    if recording.listened_at is None:
        recording.listened_at = now
        recording.listened_by_user_id = user.id
        audit.record(session, practice_id=recording.practice_id, action="recording.listened", obj=recording,
                     actor=user)


def greeting_of(session: Session, practitioner: Practitioner) -> Recording | None:
    """The practitioner's newest voicemail greeting that can still be played."""
    return session.scalar(select(Recording).where(Recording.practitioner_id == practitioner.id,
                                                  Recording.kind == GREETING, Recording.erased_at.is_(None),
                                                  Recording.status == "completed")
                          .order_by(Recording.created_at.desc(), Recording.id.desc()).limit(1))


def delete_erased_recordings(session: Session, gateway: TwilioGateway, now: dt.datetime, limit: int = 100) -> int:
    """Deletes at Twilio the audio of erased recordings; returns how many. Commits after each."""
    deleted = 0
    due = session.scalars(select(Recording).where(Recording.erased_at.is_not(None),
                                                  Recording.deleted_at_twilio.is_(None)).limit(limit)).all()
    for recording in due:
        try:
            gateway.delete_recording(recording.recording_sid)
        except TwilioGatewayError as error:
            log.warning("could not delete recording %s at Twilio: %s", recording.recording_sid, error)
            session.rollback()
            continue
        recording.deleted_at_twilio = now
        audit.record(session, practice_id=recording.practice_id, action="recording.deleted_at_twilio",
                     obj=recording, actor=audit.SYSTEM)
        session.commit()
        deleted += 1
    return deleted
