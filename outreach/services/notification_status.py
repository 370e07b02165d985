"""The life cycle of a `Notification` row (an outgoing text) and the only ways it changes.

    pending ──claim──▶ sending ──Twilio accepted──▶ queued ▶ sent ▶ delivered ▶ read
       │                  │                               ╰────▶ undelivered / failed
       │                  ╰──refused──▶ failed
       ╰──settle──▶ cancelled | missed | skipped | held

Every change is one conditional UPDATE (`WHERE status IN (...)`) whose
rowcount says whether it applied, so concurrent workers, callbacks and pages
cannot undo each other's changes, on SQLite as on PostgreSQL. Each applied
change leaves an AuditEvent.
"""
from __future__ import annotations

import logging
from collections.abc import Collection

from sqlalchemy import update
from sqlalchemy.orm import Session

from outreach.clock import utcnow
from outreach.messages import UserError, as_json
from outreach.models import Notification
from outreach.services import audit

log = logging.getLogger(__name__)

# Statuses the app itself gives a row.
PENDING = "pending"
SENDING = "sending"  # claimed by a worker; once it has a SID, it is Twilio's own "sending"
CANCELLED = "cancelled"  # the visit was cancelled or moved away, or another text replaced this one
MISSED = "missed"  # too late to be useful
SKIPPED = "skipped"  # opted out, invalid number, quiet hours, nothing to send from
FAILED = "failed"  # Twilio refused it (also Twilio's final "failed")
HELD = "held"  # held back at sending by the practice's per-client limits (texts a day, minutes apart)
# Statuses of rows that never left for the client.
UNSENT = (PENDING, CANCELLED, MISSED, SKIPPED, HELD)

# Forward-only order of Twilio's message statuses: a status is applied only if
# it ranks above the current one, and of equal ranks the first stays
# (delivered and undelivered are both final). Twilio's "sending" shares the
# claim's rank, so a "sending" callback after "queued" is ignored, which loses
# nothing useful. Unsent states rank lowest: if Twilio reports on a message the
# app thought unsent, Twilio is right.
STATUS_RANK = {
    PENDING: 0, CANCELLED: 0, MISSED: 0, SKIPPED: 0, HELD: 0,
    SENDING: 1,
    "accepted": 2, "scheduled": 3, "queued": 4, "receiving": 5, "sent": 6, "received": 6,
    "partially_delivered": 7,
    "delivered": 8, "undelivered": 8, FAILED: 8, "canceled": 8,
    "read": 9,
}


def transition(session: Session, notification: Notification, from_statuses: Collection[str], *conditions,
               **values) -> bool:
    """UPDATE this row with `values` while its status is one of `from_statuses` (and `conditions` hold).

    Returns whether it applied. The changed attributes of `notification` are
    expired, so they are read back from the database when next used.
    """
    result = session.execute(
        update(Notification)
        .where(Notification.id == notification.id, Notification.status.in_(list(from_statuses)), *conditions)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    session.expire(notification, list(values))
    return True


def settle(session: Session, notification: Notification, status: str, reason: UserError,
           actor: object = audit.SYSTEM) -> bool:
    """Mark a pending row as not to be sent (cancelled, missed, skipped, held); False if it was no longer pending.

    The reason is kept in English as the trace, and as a message that pages say in the reader's language.
    """
    if not transition(session, notification, [PENDING], status=status, status_detail=clip(str(reason)),
                      status_reason=as_json(reason), updated_at=utcnow()):
        return False
    audit.record(session, practice_id=notification.practice_id, action=f"notification.{status}", obj=notification,
                 actor=actor, reason=str(reason))
    return True


def apply_status(session: Session, notification: Notification, status: str, error_code: int | None,
                 *, actor: object) -> bool:
    """Move the row to Twilio's `status` if that is forward, storing the error code; False if ignored."""
    rank = STATUS_RANK.get(status)
    if rank is None:
        log.warning("unknown message status %r for notification %s ignored", status, notification.id)
        return False
    earlier = [known for known, known_rank in STATUS_RANK.items() if known_rank < rank]
    previous = notification.status
    values: dict = {"status": status, "updated_at": utcnow()}
    if error_code is not None:
        values["error_code"] = error_code
    if not transition(session, notification, earlier, **values):
        return False
    audit.record(session, practice_id=notification.practice_id, action="notification.status_changed",
                 obj=notification, actor=actor, previous=previous, status=status, error_code=error_code)
    return True


def clip(text: str, limit: int = 300) -> str:
    """Fits `text` in a `status_detail`."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
