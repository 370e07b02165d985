"""Every query a user makes goes through here, scoped to the user's practice.

A user of practice A asking for any object of practice B gets 404, exactly as
if it did not exist: the object's id tells them nothing.
"""
from typing import TypeVar

from flask import abort
from flask_login import current_user
from sqlalchemy import Select, select

from outreach.extensions import db

T = TypeVar("T")


def scoped(model: type[T]) -> Select:
    """SELECT of `model` limited to the signed-in user's practice."""
    return select(model).where(model.practice_id == current_user.practice_id)


def get_scoped_or_404(model: type[T], object_id: int) -> T:
    obj = db.session.get(model, object_id)
    if obj is None or obj.practice_id != current_user.practice_id:
        abort(404)
    return obj
