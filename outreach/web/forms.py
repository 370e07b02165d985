"""What the forms of every page share: service errors shown next to their field."""
from flask_wtf import FlaskForm

from outreach.messages import UserError
from outreach.web.formatting import translated


def show_error(form: FlaskForm, error: UserError) -> bool:
    """Puts a service's reason next to the field it is about; False when the form has no such field
    (the page then shows it above the form)."""
    field = form._fields.get(error.field or "")
    if field is None:
        return False
    field.errors = [*field.errors, translated(error)]
    return True
