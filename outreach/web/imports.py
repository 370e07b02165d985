"""Staff bring appointments in: .ics uploads, and the visits whose client needs fixing."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from flask_wtf.file import FileField, FileRequired
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Optional

from outreach import jobs, tasks
from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import Appointment, CalendarSource, ImportRun, Practitioner
from outreach.scoping import get_scoped_or_404, scoped
from outreach.services import calendar_intake, calendar_sync, feeds
from outreach.web.auth import roles_required

bp = Blueprint("imports", __name__)


class UploadForm(FlaskForm):
    practitioner = SelectField(_l("Practitioner"), coerce=int)
    files = FileField(_l("Calendar files (.ics)"), validators=[FileRequired()], render_kw={"multiple": True,
                                                                                            "accept": ".ics,text/calendar"})


class FeedForm(FlaskForm):
    practitioner = SelectField(_l("Practitioner"), coerce=int)
    url = StringField(_l("Feed address (https:// or webcal://)"), validators=[DataRequired()])
    name = StringField(_l("Name"), validators=[Optional()])


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


@bp.route("/sources")
@roles_required("admin", "staff")
def sources():
    """Every calendar the practice imports from, with how its last import or sync went."""
    form = FeedForm()
    form.practitioner.choices = _practitioner_choices()
    calendars = db.session.scalars(scoped(CalendarSource).order_by(CalendarSource.kind, CalendarSource.name)).all()
    last_run_ids = scoped(ImportRun).with_only_columns(func.max(ImportRun.id)).group_by(ImportRun.source_id)
    latest_runs = {run.source_id: run
                   for run in db.session.scalars(select(ImportRun).where(ImportRun.id.in_(last_run_ids)))}
    return render_template("imports/sources.html", form=form, calendars=calendars, latest_runs=latest_runs,
                           health=calendar_sync.health(db.session, calendars, utcnow()),
                           synced_kinds=calendar_sync.SYNCERS)


@bp.route("/sources/feeds", methods=["POST"])
@roles_required("admin", "staff")
def add_feed():
    form = FeedForm()
    form.practitioner.choices = _practitioner_choices()
    if not form.validate_on_submit():
        flash(_("Choose a practitioner and give the feed's address."), "error")
        return redirect(url_for("imports.sources"))
    practitioner = get_scoped_or_404(Practitioner, form.practitioner.data)
    try:
        source = feeds.add_feed(db.session, practitioner, form.url.data, form.name.data or None)
    except feeds.FeedError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("imports.sources"))
    db.session.commit()
    jobs.dispatch(tasks.sync_calendar, source.id)
    flash(_("Added the feed; it is being synced now and then every %(minutes)s minutes.",
            minutes=source.sync_interval_minutes), "success")
    return redirect(url_for("imports.sources"))


@bp.route("/sources/<int:source_id>/sync", methods=["POST"])
@roles_required("admin", "staff")
def sync_now(source_id: int):
    source = get_scoped_or_404(CalendarSource, source_id)
    if not calendar_sync.is_synced(source):
        abort(404)
    jobs.dispatch(tasks.sync_calendar, source.id)
    flash(_("Syncing %(name)s now.", name=source.name), "success")
    return redirect(url_for("imports.sources"))
