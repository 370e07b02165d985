"""Staff bring appointments in: .ics uploads, and the visits whose client needs fixing."""
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import Optional

from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import Appointment, Practitioner
from outreach.scoping import get_scoped_or_404, scoped
from outreach.services import calendar_intake
from outreach.web.auth import roles_required

bp = Blueprint("imports", __name__)


class UploadForm(FlaskForm):
    practitioner = SelectField(_l("Practitioner"), coerce=int)
    files = FileField(_l("Calendar files (.ics)"), validators=[FileRequired()], render_kw={"multiple": True,
                                                                                            "accept": ".ics,text/calendar"})


class FixClientForm(FlaskForm):
    full_name = StringField(_l("Client's name"), validators=[Optional()])
    phone = StringField(_l("Phone"), validators=[Optional()])
    email = EmailField(_l("E-mail"), validators=[Optional()])


def _practitioner_choices() -> list[tuple[int, str]]:
    practitioners = db.session.scalars(scoped(Practitioner).order_by(Practitioner.full_name)).all()
    return [(p.id, p.full_name) for p in practitioners]


@bp.route("/imports", methods=["GET", "POST"])
@roles_required("admin", "staff")
def upload():
    form = UploadForm()
    form.practitioner.choices = _practitioner_choices()
    reports = []
    if form.validate_on_submit():
        practitioner = get_scoped_or_404(Practitioner, form.practitioner.data)
        for upload in request.files.getlist(form.files.name):
            # Each file is its own transaction: one bad file never undoes or blocks the others.
            report = calendar_intake.import_upload(
                db.session, practitioner, upload.read(), upload.filename or "calendar.ics",
                config=current_app.config, now=utcnow(),
            )
            db.session.commit()
            reports.append(report)
    elif request.method == "POST":
        flash(_("Choose a practitioner and at least one .ics file."), "error")
    attention = db.session.scalars(
        scoped(Appointment).where(Appointment.needs_attention.is_(True), Appointment.status != "cancelled",
                                  Appointment.starts_at >= utcnow()).order_by(Appointment.starts_at).limit(50)
    ).all()
    return render_template("imports/upload.html", form=form, reports=reports, attention=attention)


@bp.route("/appointments/<int:appointment_id>/client", methods=["GET", "POST"])
@roles_required("admin", "staff")
def fix_client(appointment_id: int):
    """Staff put the right client on a visit the importer could not recognise one for."""
    appointment = get_scoped_or_404(Appointment, appointment_id)
    form = FixClientForm(obj=appointment.client)
    if form.validate_on_submit():
        try:
            calendar_intake.assign_client(
                db.session, appointment, full_name=form.full_name.data, phone=form.phone.data,
                email=form.email.data, actor=current_user, now=utcnow(),
            )
        except calendar_intake.ClientDetailsError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return render_template("imports/fix_client.html", form=form, appointment=appointment), 400
        db.session.commit()
        flash(_("Saved the client of this visit."), "success")
        return redirect(url_for("imports.upload"))
    return render_template("imports/fix_client.html", form=form, appointment=appointment)
