"""Whether a client may be texted: STOP and START replies, and Twilio's error 21610."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from outreach.models import Client
from outreach.services import audit


def opt_out(session: Session, client: Client, now: dt.datetime, *, actor: object, reason: str) -> None:
    """No more texts to `client` until they opt back in."""
    if client.opted_out_at is None:
        client.opted_out_at = now
        audit.record(session, practice_id=client.practice_id, action="client.opted_out", obj=client, actor=actor,
                     reason=reason)


def opt_in(session: Session, client: Client, *, actor: object, reason: str) -> None:
    if client.opted_out_at is not None:
        client.opted_out_at = None
        audit.record(session, practice_id=client.practice_id, action="client.opted_in", obj=client, actor=actor,
                     reason=reason)
