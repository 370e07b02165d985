"""Every query a user makes goes through here, scoped to the user's practice.

A user of practice A asking for any object of practice B gets 404, exactly as
if it did not exist: the object's id tells them nothing.
"""
from typing import TypeVar

from flask import abort
from flask_login import current_user
from sqlalchemy import Select, select

from outreach.extensions import db
from outreach.models import MAX_ID, Appointment

T = TypeVar("T")


def scoped(model: type[T]) -> Select:
    """SELECT of `model` limited to the signed-in user's practice."""
    return select(model).where(model.practice_id == current_user.practice_id)


def get_scoped_or_404(model: type[T], object_id: int) -> T:
    if not 1 <= object_id <= MAX_ID:
        abort(404)
    obj = db.session.get(model, object_id)
    if obj is None or obj.practice_id != current_user.practice_id:
        abort(404)
    return obj


def visible_appointments() -> Select:
    """SELECT of the visits the signed-in user may see: the practice's, or a practitioner's own.

    What a practitioner sees of a client is their history with that practitioner:
    texts, replies, calls and notes follow the visits they are about.
    """
    query = scoped(Appointment)
    if not current_user.sees_all_practitioners:
        own = current_user.practitioner
        query = query.where(Appointment.practitioner_id == (own.id if own else None))
    return query
