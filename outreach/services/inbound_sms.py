"""Texts clients send back: replies shown on the visit, and the STOP / START / HELP keywords.

A reply belongs to the one practice whose number it was sent to (refused when
no practice, or more than one, has it: `practice_numbers`), to the client
with the sender's number in that practice, and to that client's visit nearest
in time. Twilio may deliver the same message twice: a MessageSid already
stored is acknowledged and otherwise ignored.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import LOCALES, Appointment, Client, InboundMessage, Practice
from outreach.services import audit, consent, practice_numbers
from outreach.services.lengths import clipped
from outreach.services.phones import display as display_phone

# Twilio's standard opt-out and opt-in keywords: the whole message, any case.
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP"})

HELP_REPLIES = {
    "en": "{practice}: for help call {phone}. Reply STOP to stop these texts.",
    "ru": "{practice}: по всем вопросам звоните {phone}. Чтобы не получать сообщения, ответьте STOP.",
}


@dataclass(frozen=True)
class Received:
    """What became of an incoming text: the stored message (None when it was refused: no practice owns the number)
    and the answer to text back, if any."""

    message: InboundMessage | None
    reply: str | None = None


def keyword_kind(body: str | None) -> str:
    """What an incoming text says: "stop", "start", "help", or "reply" for anything else."""
    word = (body or "").strip().strip(".!").upper()
    if word in OPT_OUT_KEYWORDS:
        return "stop"
    if word in OPT_IN_KEYWORDS:
        return "start"
    if word in HELP_KEYWORDS:
        return "help"
    return "reply"


def receive(session: Session, *, message_sid: str, from_phone: str, to_phone: str, body: str | None,
            now: dt.datetime) -> Received:
    """Store an incoming text and act on its keyword; flushes. The caller commits (and answers with `reply`)."""
    known = session.scalar(select(InboundMessage).where(InboundMessage.message_sid == message_sid))
    if known is not None:
        return Received(known)
    try:
        practice = practice_numbers.practice_for_number_dialled(session, to_phone, what=f"text {message_sid}")
    except practice_numbers.NumberNotRouted:
        return Received(None)
    client = session.scalar(select(Client).where(Client.practice_id == practice.id, Client.phone == from_phone))
    message = InboundMessage(
        practice_id=practice.id, client_id=client.id if client else None,
        appointment_id=_nearest_appointment_id(session, client, now) if client else None,
        message_sid=message_sid, from_phone=clipped(from_phone, InboundMessage.from_phone),
        to_phone=clipped(to_phone, InboundMessage.to_phone), body=body, kind=keyword_kind(body),
        received_at=now,
    )
    session.add(message)
    session.flush()
    audit.record(session, practice_id=practice.id, action="inbound_sms.received", obj=message, actor=audit.TWILIO,
                 kind=message.kind, client_id=message.client_id)
    reason = f"replied {(body or '').strip()[:20]}"
    if message.kind == "stop" and client is not None:
        consent.opt_out(session, client, now, actor=audit.TWILIO, reason=reason)
    elif message.kind == "start" and client is not None:
        consent.opt_in(session, client, actor=audit.TWILIO, reason=reason)
    elif message.kind == "help":
        return Received(message, help_reply(practice, client))
    return Received(message)


def help_reply(practice: Practice, client: Client | None) -> str:
    locale = client.locale if client is not None and client.locale in LOCALES else practice.locale
    template = HELP_REPLIES.get(locale, HELP_REPLIES["en"])
    return template.format(practice=practice.name, phone=display_phone(practice.phone))


def _nearest_appointment_id(session: Session, client: Client, now: dt.datetime) -> int | None:
    """The client's visit closest to `now`, before or after (a reply is usually about today's)."""
    by_start = select(Appointment.id, Appointment.starts_at).where(Appointment.client_id == client.id)
    before = session.execute(by_start.where(Appointment.starts_at <= now)
                             .order_by(Appointment.starts_at.desc()).limit(1)).first()
    after = session.execute(by_start.where(Appointment.starts_at > now)
                            .order_by(Appointment.starts_at).limit(1)).first()
    candidates = [row for row in (before, after) if row is not None]
    if not candidates:
        return None
    return min(candidates, key=lambda row: abs(row.starts_at - now)).id
