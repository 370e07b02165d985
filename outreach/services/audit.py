"""Audit trail: who did what, when."""
from typing import Any

from sqlalchemy.orm import Session

from outreach.clock import utcnow
from outreach.models import AuditEvent, User

SYSTEM = "system"
TWILIO = "twilio"


def record(
    session: Session,
    *,
    practice_id: int,
    action: str,
    obj: Any,
    actor: User | str = SYSTEM,
    **detail: Any,
) -> AuditEvent:
    """Adds an AuditEvent for `action` done to `obj` by a user, "system" or "twilio"."""
    event = AuditEvent(
        practice_id=practice_id,
        actor_user_id=actor.id if isinstance(actor, User) else None,
        actor=actor.email if isinstance(actor, User) else actor,
        action=action,
        object_type=type(obj).__name__,
        object_id=getattr(obj, "id", None),
        detail=detail,
        created_at=utcnow(),
    )
    session.add(event)
    return event
