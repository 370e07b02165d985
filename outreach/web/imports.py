"""Staff bring appointments in: .ics uploads, and the visits whose client needs fixing."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import get_locale, ngettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import func, select
from wtforms import DateField, EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Optional

from outreach import jobs, tasks
from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import Appointment, CalendarSource, ImportRun, Practitioner
from outreach.scoping import get_scoped_or_404, scoped
from outreach.services import calendar_intake, feeds, import_words, removals
from outreach.web.auth import roles_required

bp = Blueprint("imports", __name__)


@bp.app_context_processor
def report_words() -> dict:
    """Import reports and feed errors in the reader's language (see services/import_words.py)."""
    locale = str(get_locale())
    return {
        "skipped_event_words": lambda item: import_words.skipped_event(item, locale),
        "events_skipped_words": lambda count: import_words.events_skipped(count, locale),
        "nothing_imported_words": lambda report: import_words.nothing_imported(report, locale, widen_with="page"),
        "import_error_words": lambda error: import_words.import_error(error, locale),
        "feed_problem_words": lambda run, error: import_words.feed_problem(
            (run.report if run else {}).get("problem"), error, (run.report if run else {}).get("http_status"),
            locale),
    }


class UploadForm(FlaskForm):
    practitioner = SelectField(_l("Practitioner"), coerce=int)
    files = FileField(_l("Calendar files (.ics)"), validators=[FileRequired()], render_kw={"multiple": True,
                                                                                            "accept": ".ics,text/calendar"})
    first_day = DateField(_l("First day (default: two years ago)"), validators=[Optional()])
    last_day = DateField(_l("Last day (default: 26 weeks ahead)"), validators=[Optional()])


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
                config=current_app.config, now=utcnow(), window_start=form.first_day.data,
                window_end=form.last_day.data,
            )
            db.session.commit()
            reports.append(report)
    elif request.method == "POST":
        flash(_("Choose a practitioner and at least one .ics file."), "error")
    attention = db.paginate(
        scoped(Appointment).where(Appointment.needs_attention.is_(True), Appointment.status != "cancelled",
                                  Appointment.starts_at >= utcnow()).order_by(Appointment.starts_at, Appointment.id),
        per_page=ATTENTION_PER_PAGE, error_out=False)
    return render_template("imports/upload.html", form=form, reports=reports, attention=attention)


ATTENTION_PER_PAGE = 50


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


IMPORTS_PER_PAGE = 20


@bp.route("/sources")
@roles_required("admin", "staff")
def sources():
    """Every calendar the practice imports from with its counts, and every import, newest first (paged)."""
    form = FeedForm()
    form.practitioner.choices = _practitioner_choices()
    calendars = db.session.scalars(scoped(CalendarSource).order_by(
        CalendarSource.removed_at.is_not(None), CalendarSource.kind, CalendarSource.name, CalendarSource.id)).all()
    latest_runs = {
        source_id: db.session.get(ImportRun, run_id)
        for source_id, run_id in db.session.execute(
            select(ImportRun.source_id, func.max(ImportRun.id))
            .where(ImportRun.practice_id == current_user.practice_id).group_by(ImportRun.source_id))
    }
    runs = db.paginate(removals.import_runs(current_user.practice_id), per_page=IMPORTS_PER_PAGE, error_out=False)
    counts = removals.calendar_counts(db.session, current_user.practice_id, utcnow())
    return render_template("imports/sources.html", form=form, calendars=calendars, latest_runs=latest_runs,
                           runs=runs, counts=counts, no_counts=removals.CalendarCounts())


@bp.route("/imports/<int:import_run_id>/remove", methods=["GET", "POST"])
@roles_required("admin", "staff")
def remove_import(import_run_id: int):
    """Confirm, then cancel the future visits this import brought in."""
    run = get_scoped_or_404(ImportRun, import_run_id)
    return _removal(run, removals.plan_import_removal, removals.remove_import,
                    _("Removed the import of %(file)s.", file=run.filename))


@bp.route("/sources/<int:source_id>/remove", methods=["GET", "POST"])
@roles_required("admin", "staff")
def remove_calendar(source_id: int):
    """Confirm, then cancel every future visit of this calendar and stop it."""
    source = get_scoped_or_404(CalendarSource, source_id)
    return _removal(source, removals.plan_calendar_removal, removals.remove_calendar,
                    _("Removed the calendar %(name)s.", name=source.name))


def _removal(target: ImportRun | CalendarSource, plan, remove, done_message: str):
    now = utcnow()
    if request.method == "POST":
        try:
            removal = remove(db.session, target, actor=current_user, now=now)
        except removals.RemovalError:
            db.session.rollback()
            flash(_("This was already removed, or brought nothing in."), "error")
            return redirect(url_for("imports.sources"))
        db.session.commit()
        flash(done_message + " " + _removal_summary(removal), "success")
        return redirect(url_for("imports.sources"))
    return render_template("imports/remove.html", target=target, removal=plan(db.session, target, now),
                           is_import=isinstance(target, ImportRun), shown=REMOVAL_VISITS_SHOWN)


REMOVAL_VISITS_SHOWN = 50


def _removal_summary(removal: removals.Removal) -> str:
    return " ".join([
        ngettext("%(num)d future visit cancelled;", "%(num)d future visits cancelled;", len(removal.visits)),
        ngettext("%(num)d call task set aside;", "%(num)d call tasks set aside;", removal.call_tasks),
        ngettext("%(num)d pending text cancelled.", "%(num)d pending texts cancelled.", removal.texts),
    ])


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


@bp.route("/sources/<int:source_id>/sync", methods=["POST"])
@roles_required("admin", "staff")
def sync_now(source_id: int):
    source = get_scoped_or_404(CalendarSource, source_id)
    if source.kind != "feed" or source.removed_at is not None:
        abort(404)
    jobs.dispatch(tasks.sync_feed, source.id)
    flash(_("Syncing %(name)s now.", name=source.name), "success")
    return redirect(url_for("imports.sources"))
