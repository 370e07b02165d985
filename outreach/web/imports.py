"""Staff bring appointments in: .ics uploads, and the visits whose client needs fixing."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Optional

from outreach import jobs, tasks
from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import Appointment, CalendarSource, Client, ImportRun, Practitioner
from outreach.scoping import get_scoped_or_404, scoped
from outreach.services import calendar_intake, feeds, reading_fixes
from outreach.services.appointment_listing import history_is_short, history_start
from outreach.services.client_matching import likely_clients, practice_clients
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
    known = practice_clients(db.session, current_user.practice_id) if attention else []
    candidates = {a.id: likely_clients(db.session, a.practice_id, [a.summary, a.description, a.location],
                                       clients=known) for a in attention}
    return render_template("imports/upload.html", form=form, reports=reports, attention=attention,
                           candidates=candidates, history_since=(since := history_start(db.session, current_user.practice_id)),
                           history_short=since is not None and history_is_short(since, utcnow()))


@bp.route("/appointments/<int:appointment_id>/client", methods=["GET", "POST"])
@roles_required("admin", "staff")
def fix_client(appointment_id: int):
    """Staff put the right client on a visit the importer could not recognise one for."""
    appointment = get_scoped_or_404(Appointment, appointment_id)
    form = FixClientForm(obj=appointment.client)
    details = None
    if request.method == "POST" and request.form.get("client_id", "").isdigit():
        # One tap on a likely candidate: that client, as they are.
        chosen = get_scoped_or_404(Client, int(request.form["client_id"]))
        details = {"full_name": chosen.full_name, "phone": chosen.phone, "email": chosen.email}
    elif form.validate_on_submit():
        details = {"full_name": form.full_name.data, "phone": form.phone.data, "email": form.email.data}
    if details is not None:
        try:
            calendar_intake.assign_client(db.session, appointment, **details, actor=current_user, now=utcnow())
        except calendar_intake.ClientDetailsError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return render_template("imports/fix_client.html", form=form, appointment=appointment,
                                   candidates=[]), 400
        db.session.commit()
        flash(_("Saved the client of this visit."), "success")
        return redirect(url_for("visits.show", appointment_id=appointment.id))
    candidates = likely_clients(db.session, appointment.practice_id,
                                [appointment.summary, appointment.description, appointment.location])
    return render_template("imports/fix_client.html", form=form, appointment=appointment, candidates=candidates)


@bp.route("/sources")
@roles_required("admin", "staff")
def sources():
    """Every calendar the practice imports from, with how its last import or sync went."""
    form = FeedForm()
    form.practitioner.choices = _practitioner_choices()
    calendars = db.session.scalars(scoped(CalendarSource).order_by(CalendarSource.kind, CalendarSource.name)).all()
    latest_runs = {
        run.source_id: run
        for run in db.session.scalars(scoped(ImportRun).order_by(ImportRun.id)).all()
    }
    return render_template("imports/sources.html", form=form, calendars=calendars, latest_runs=latest_runs)


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
    jobs.dispatch(tasks.sync_feed, source.id)
    flash(_("Added the feed; it is being synced now and then every %(minutes)s minutes.",
            minutes=source.sync_interval_minutes), "success")
    return redirect(url_for("imports.sources"))


@bp.route("/sources/<int:source_id>/reading", methods=["POST"])
@roles_required("admin", "staff")
def set_reading(source_id: int):
    """Where visits of this calendar happen and where the client is in its titles; re-applied to its events."""
    source = get_scoped_or_404(CalendarSource, source_id)
    try:
        changed = reading_fixes.set_calendar_reading(
            db.session, source, client_place=request.form.get("client_place") or None,
            summary_format=request.form.get("summary_format") or None, actor=current_user, now=utcnow())
    except reading_fixes.ReadingError:
        db.session.rollback()
        flash(_("Choose one of the offered settings."), "error")
        return redirect(url_for("imports.sources"))
    db.session.commit()
    flash(_("Saved how %(name)s is read; %(n)s visits changed.", name=source.name, n=changed), "success")
    return redirect(url_for("imports.sources"))


@bp.route("/sources/<int:source_id>/sync", methods=["POST"])
@roles_required("admin", "staff")
def sync_now(source_id: int):
    source = get_scoped_or_404(CalendarSource, source_id)
    if source.kind != "feed":
        abort(404)
    jobs.dispatch(tasks.sync_feed, source.id)
    flash(_("Syncing %(name)s now.", name=source.name), "success")
    return redirect(url_for("imports.sources"))
