"""Status events of the console Twilio backend, applied as Twilio's webhooks would be.

With real Twilio these arrive as signed webhooks; the console backend of the
embedded default produces the same events on a thread of its own so the demo
shows calls and texts progressing. This module finds the object each event is
about and hands it to the service that owns the rule.
"""
import secrets
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.clock import utcnow
from outreach.models import CallAttempt, Notification
from outreach.services import calls, sms_outbox

# The console reports on its own thread, possibly before the request that
# placed the call has stored the SID: look for it a little while.
_LOOKUP_TRIES = 30
_LOOKUP_PAUSE_SECONDS = 0.1


def apply_console_status(session: Session, kind: str, params: dict) -> None:
    if kind == "call":
        attempt = _find(session, select(CallAttempt).where(CallAttempt.call_sid == params.get("CallSid")))
        if attempt is not None:
            calls.apply_call_status(session, attempt, params, leg="parent", now=utcnow())
            if params.get("CallStatus") == "completed" and attempt.client_status is None:
                # The console has no client leg: pretend the bridge connected, as it usually does.
                client_leg = {**params, "CallSid": attempt.client_call_sid or "CA" + secrets.token_hex(16),
                              "ParentCallSid": attempt.call_sid}
                calls.apply_call_status(session, attempt, client_leg, leg="client", now=utcnow())
            session.commit()
    elif kind == "message":
        if _find(session, select(Notification).where(Notification.message_sid == params.get("MessageSid"))):
            sms_outbox.apply_status_callback(session, params)
            session.commit()


def _find(session: Session, query):
    for _ in range(_LOOKUP_TRIES):
        found = session.scalar(query)
        if found is not None:
            return found
        session.rollback()
        time.sleep(_LOOKUP_PAUSE_SECONDS)
    return None
