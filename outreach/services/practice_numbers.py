"""Which practice a phone number belongs to: one practice per number, and inbound traffic routed by it.

A practice's number is the caller ID of its calls and the sender of its texts,
so whatever a client sends or rings to that number is that practice's: the
replies, and the STOP that must opt them out of that practice's texts. Two
practices can never hold the same number (checked here on every change and
by a unique index), and an inbound message or call to a number that names no
practice, or more than one, is logged and refused rather than guessed.
"""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import Practice
from outreach.services.phones import InvalidPhone, to_e164

log = logging.getLogger(__name__)


class NumberNotRouted(LookupError):
    """Why inbound traffic to a number is refused: no practice has it, or it is not one number."""


class NumberTaken(ValueError):
    """The number is already another practice's."""


def practice_for_number_dialled(session: Session, to_number: str | None, *, what: str = "inbound") -> Practice:
    """The one practice whose number `to_number` is; raises NumberNotRouted (and logs why) otherwise.

    `what` names the traffic in the log, e.g. "text SM…" or "call CA…".
    """
    try:
        number = to_e164(to_number or "")
    except InvalidPhone:
        log.warning("%s to %r refused: not a phone number", what, (to_number or "")[:40])
        raise NumberNotRouted(f"{(to_number or '')[:40]!r} is not a phone number") from None
    practices = session.scalars(select(Practice).where(Practice.phone == number).limit(2)).all()
    if not practices:
        log.warning("%s to %s refused: no practice has this number", what, number)
        raise NumberNotRouted(f"no practice has the number {number}")
    if len(practices) > 1:
        log.error("%s to %s refused: more than one practice has this number", what, number)
        raise NumberNotRouted(f"more than one practice has the number {number}")
    return practices[0]


def check_number_is_free(session: Session, number: str | None, practice: Practice | None) -> None:
    """Raises NumberTaken when a practice other than `practice` already has `number` (E.164)."""
    if not number:
        return
    query = select(Practice.name).where(Practice.phone == number)
    if practice is not None and practice.id is not None:
        query = query.where(Practice.id != practice.id)
    if session.scalar(query.limit(1)) is not None:
        raise NumberTaken(f"{number} is already the number of another practice; each practice needs its own")
