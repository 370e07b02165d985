"""Form validators shared by every blueprint."""
from flask import flash
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.orm import InstrumentedAttribute
from wtforms.validators import Length

from outreach.services.lengths import max_length


def fits(column: InstrumentedAttribute) -> Length:
    """The field's text must fit `column` (e.g. `User.email`): the limit comes from the model."""
    limit = max_length(column)
    if limit is None:
        raise ValueError(f"{column} has no length to check against")
    return Length(max=limit, message=_l("At most %(max)d characters, please."))


def flash_form_errors(form: FlaskForm, fallback: str) -> None:
    """What was wrong with a form that redirects instead of showing itself again: each field's error."""
    errors = [f"{form[name].label.text}: {message}" for name, messages in form.errors.items()
              if name in form for message in messages]
    flash("; ".join(errors) if errors else fallback, "error")
