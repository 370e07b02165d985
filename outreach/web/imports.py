"""Staff bring appointments in: .ics uploads, feeds, CalDAV calendars, and the visits whose client needs fixing."""
import json

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import get_locale, ngettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import func, select
from wtforms import (DateField, EmailField, HiddenField, PasswordField, SelectField, SelectMultipleField, StringField,
                     TelField)
from wtforms.widgets import CheckboxInput, ListWidget
from wtforms.validators import DataRequired, Optional

from outreach import jobs, tasks
from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import Appointment, CalDavCalendar, CalendarSource, Client, ImportRun, Practitioner
from outreach.scoping import get_scoped_or_404, scoped
from outreach.services import (caldav_sync, calendar_intake, calendar_sync, credentials, feeds, import_words, reading_fixes,
                               removals)
from outreach.services.ics_import import ImportLimits
from outreach.services.appointment_listing import history_is_short, history_start
from outreach.services.client_matching import likely_clients, practice_clients
from outreach.web.auth import roles_required
from outreach.web.formatting import translated
from outreach.web.forms import show_error
from outreach.web.ids import id_arg
from outreach.web.validators import fits, flash_form_errors

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
    url = StringField(_l("Feed address (https:// or webcal://)"), validators=[DataRequired(), fits(CalendarSource.url)],
                      render_kw={"inputmode": "url", "autocomplete": "off"})
    name = StringField(_l("Name"), validators=[Optional(), fits(CalendarSource.name)])


class CalDavForm(FlaskForm):
    practitioner = SelectField(_l("Practitioner"), coerce=int)
    url = StringField(_l("CalDAV address (the server's, the account's or one calendar's)"),
                      validators=[DataRequired()], render_kw={"inputmode": "url", "autocomplete": "off"})
    username = StringField(_l("User name"), validators=[DataRequired()], render_kw={"autocomplete": "off"})
    password = PasswordField(_l("App password"), validators=[DataRequired()],
                             render_kw={"autocomplete": "new-password"})


class CalDavChoiceForm(FlaskForm):
    # The login and the calendars found, encrypted, so that the password never reaches the browser in clear.
    found = HiddenField()
    calendars = SelectMultipleField(_l("Calendars to import"), option_widget=CheckboxInput(),
                                    widget=ListWidget(prefix_label=False))


class CalDavLoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired()], render_kw={"autocomplete": "off"})
    # Never filled in: the saved password is not shown again.
    password = PasswordField(_l("App password"), validators=[Optional()],
                             render_kw={"autocomplete": "new-password",
                                        "placeholder": _l("saved — enter a new one to replace")})


# How long staff have to choose among the discovered calendars before the login must be given again.
_CHOICE_SECONDS = 30 * 60


class FixClientForm(FlaskForm):
    full_name = StringField(_l("Client's name"), validators=[Optional(), fits(Client.full_name)])
    phone = TelField(_l("Phone"), validators=[Optional()], render_kw={"autocomplete": "off"})
    email = EmailField(_l("E-mail"), validators=[Optional(), fits(Client.email)], render_kw={"autocomplete": "off"})


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
    known = practice_clients(db.session, current_user.practice_id) if attention.items else []
    candidates = {a.id: likely_clients(db.session, a.practice_id, [a.summary, a.description, a.location],
                                       clients=known) for a in attention.items}
    since = history_start(db.session, current_user.practice_id)
    return render_template("imports/upload.html", form=form, reports=reports, attention=attention,
                           candidates=candidates, history_since=since,
                           history_short=since is not None and history_is_short(since, utcnow()))


ATTENTION_PER_PAGE = 50


@bp.route("/appointments/<id:appointment_id>/client", methods=["GET", "POST"])
@roles_required("admin", "staff")
def fix_client(appointment_id: int):
    """Staff put the right client on a visit the importer could not recognise one for."""
    appointment = get_scoped_or_404(Appointment, appointment_id)
    form = FixClientForm(obj=appointment.client)
    details = None
    candidate_id = request.form.get("client_id", type=id_arg) if request.method == "POST" else None
    if candidate_id is not None:
        # One tap on a likely candidate: that client, as they are.
        chosen = get_scoped_or_404(Client, candidate_id)
        details = {"full_name": chosen.full_name, "phone": chosen.phone, "email": chosen.email}
    elif form.validate_on_submit():
        details = {"full_name": form.full_name.data, "phone": form.phone.data, "email": form.email.data}
    if details is not None:
        try:
            calendar_intake.assign_client(db.session, appointment, **details, actor=current_user, now=utcnow())
        except calendar_intake.ClientDetailsError as exc:
            db.session.rollback()
            if not show_error(form, exc):
                flash(translated(exc), "error")
            return render_template("imports/fix_client.html", form=form, appointment=appointment,
                                   candidates=[]), 400
        db.session.commit()
        flash(_("Saved the client of this visit."), "success")
        return redirect(url_for("visits.show", appointment_id=appointment.id))
    candidates = likely_clients(db.session, appointment.practice_id,
                                [appointment.summary, appointment.description, appointment.location])
    return render_template("imports/fix_client.html", form=form, appointment=appointment, candidates=candidates)


IMPORTS_PER_PAGE = 20


@bp.route("/sources")
@roles_required("admin", "staff")
def sources():
    """Every calendar the practice imports from with its counts, and every import, newest first (paged)."""
    form = FeedForm()
    form.practitioner.choices = _practitioner_choices()
    caldav_form = CalDavForm()
    caldav_form.practitioner.choices = form.practitioner.choices
    calendars = db.session.scalars(scoped(CalendarSource).order_by(
        CalendarSource.removed_at.is_not(None), CalendarSource.kind, CalendarSource.name, CalendarSource.id)).all()
    latest_runs = {
        source_id: db.session.get(ImportRun, run_id)
        for source_id, run_id in db.session.execute(
            select(ImportRun.source_id, func.max(ImportRun.id))
            .where(ImportRun.practice_id == current_user.practice_id).group_by(ImportRun.source_id))
    }
    logins = {link.source_id: link.username for link in db.session.scalars(scoped(CalDavCalendar))}
    runs = db.paginate(removals.import_runs(current_user.practice_id), per_page=IMPORTS_PER_PAGE, error_out=False)
    counts = removals.calendar_counts(db.session, current_user.practice_id, utcnow())
    return render_template("imports/sources.html", form=form, caldav_form=caldav_form, calendars=calendars,
                           latest_runs=latest_runs, logins=logins, problem_words=caldav_problem_words, runs=runs,
                           counts=counts, no_counts=removals.CalendarCounts(),
                           health=calendar_sync.health(db.session, calendars, utcnow()),
                           synced_kinds=calendar_sync.SYNCERS)



@bp.route("/imports/<id:import_run_id>/remove", methods=["GET", "POST"])
@roles_required("admin", "staff")
def remove_import(import_run_id: int):
    """Confirm, then cancel the future visits this import brought in."""
    run = get_scoped_or_404(ImportRun, import_run_id)
    return _removal(run, removals.plan_import_removal, removals.remove_import,
                    _("Removed the import of %(file)s.", file=run.filename))


@bp.route("/sources/<id:source_id>/remove", methods=["GET", "POST"])
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
        flash_form_errors(form, _("Choose a practitioner and give the feed's address."))
        return redirect(url_for("imports.sources"))
    practitioner = get_scoped_or_404(Practitioner, form.practitioner.data)
    try:
        source = feeds.add_feed(db.session, practitioner, form.url.data, form.name.data or None,
                                allowed_private_hosts=feeds.allowed_private_hosts(current_app.config))
    except feeds.FeedError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("imports.sources"))
    db.session.commit()
    jobs.dispatch(tasks.sync_calendar, source.id)
    flash(_("Added the feed; it is being synced now and then every %(minutes)s minutes.",
            minutes=source.sync_interval_minutes), "success")
    return redirect(url_for("imports.sources"))


@bp.route("/sources/<id:source_id>/reading", methods=["POST"])
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


@bp.route("/sources/<id:source_id>/sync", methods=["POST"])
@roles_required("admin", "staff")
def sync_now(source_id: int):
    source = get_scoped_or_404(CalendarSource, source_id)
    if source.removed_at is not None or not calendar_sync.is_synced(source):
        abort(404)
    jobs.dispatch(tasks.sync_calendar, source.id)
    flash(_("Syncing %(name)s now.", name=source.name), "success")
    return redirect(url_for("imports.sources"))


@bp.route("/sources/caldav", methods=["POST"])
@roles_required("admin", "staff")
def add_caldav():
    """First step: the address and login; the server is asked which calendars there are."""
    form = CalDavForm()
    form.practitioner.choices = _practitioner_choices()
    if not form.validate_on_submit():
        flash(_("Choose a practitioner and give the CalDAV address, user name and app password."), "error")
        return redirect(url_for("imports.sources"))
    practitioner = get_scoped_or_404(Practitioner, form.practitioner.data)
    try:
        found = caldav_sync.discover(form.url.data, form.username.data, form.password.data,
                                     timeout=ImportLimits.from_config(current_app.config).feed_timeout_seconds)
        sealed = credentials.cipher(current_app.config).encrypt(json.dumps({
            "practitioner": practitioner.id, "username": form.username.data, "password": form.password.data,
            "calendars": [[calendar.url, calendar.name] for calendar in found],
        }))
    except (caldav_sync.CalDavError, credentials.CredentialsError) as exc:
        flash(_caldav_problem(exc), "error")
        return redirect(url_for("imports.sources"))
    choice = CalDavChoiceForm(formdata=None, found=sealed)
    choice.calendars.choices = [(calendar.url, calendar.name) for calendar in found]
    choice.calendars.data = [found[0].url] if len(found) == 1 else []
    return render_template("imports/caldav_choose.html", form=choice, practitioner=practitioner,
                           username=form.username.data)


@bp.route("/sources/caldav/choose", methods=["POST"])
@roles_required("admin", "staff")
def choose_caldav():
    """Second step: the calendars staff chose are added and synced."""
    form = CalDavChoiceForm()
    cipher = credentials.cipher(current_app.config)
    try:
        found = json.loads(cipher.decrypt(form.found.data or "", ttl_seconds=_CHOICE_SECONDS))
    except credentials.CredentialsError:
        flash(_("That took too long; give the CalDAV address and login again."), "error")
        return redirect(url_for("imports.sources"))
    practitioner = get_scoped_or_404(Practitioner, found["practitioner"])
    form.calendars.choices = [(url, name) for url, name in found["calendars"]]
    if not form.validate_on_submit() or not form.calendars.data:
        flash(_("Choose at least one calendar."), "error")
        return render_template("imports/caldav_choose.html", form=form, practitioner=practitioner,
                               username=found["username"]), 400
    sources = [
        caldav_sync.add_calendar(db.session, practitioner, caldav_sync.FoundCalendar(url, name), found["username"],
                                 found["password"], cipher)
        for url, name in found["calendars"] if url in form.calendars.data
    ]
    db.session.commit()
    for source in sources:
        jobs.dispatch(tasks.sync_calendar, source.id)
    flash(_("Added %(count)s CalDAV calendars; they are being synced now and then every %(minutes)s minutes. "
            "Nothing is ever written to them.", count=len(sources), minutes=sources[0].sync_interval_minutes),
          "success")
    return redirect(url_for("imports.sources"))


@bp.route("/sources/<id:source_id>/caldav", methods=["GET", "POST"])
@roles_required("admin", "staff")
def caldav_login(source_id: int):
    """Staff replace a CalDAV calendar's login; the saved password is never shown."""
    source = get_scoped_or_404(CalendarSource, source_id)
    if source.kind != caldav_sync.KIND:
        abort(404)
    link = caldav_sync.link_of(db.session, source)
    form = CalDavLoginForm(obj=link)
    if form.validate_on_submit():
        cipher = credentials.cipher(current_app.config)
        try:
            password = form.password.data or cipher.decrypt(link.password_encrypted)
            # Checked with the server before anything is saved: a typo must not stop the syncs.
            caldav_sync.discover(source.url or "", form.username.data, password,
                                 timeout=ImportLimits.from_config(current_app.config).feed_timeout_seconds)
            caldav_sync.change_login(db.session, source, form.username.data, form.password.data, cipher)
        except (caldav_sync.CalDavError, credentials.CredentialsError) as exc:
            db.session.rollback()
            flash(_("Not saved: %(problem)s.", problem=caldav_problem_words(str(exc))), "error")
            return render_template("imports/caldav_login.html", form=form, source=source), 400
        db.session.commit()
        jobs.dispatch(tasks.sync_calendar, source.id)
        flash(_("Saved the login of %(name)s; it is being synced now.", name=source.name), "success")
        return redirect(url_for("imports.sources"))
    return render_template("imports/caldav_login.html", form=form, source=source)


def _caldav_problem(exc: Exception) -> str:
    return _("Could not add the calendar: %(problem)s.", problem=caldav_problem_words(str(exc)))


def caldav_problem_words(problem: str) -> str:
    """The staff's words (in their language) for what the calendar server answered."""
    known = {
        caldav_sync.REFUSED: _("the calendar server refused the user name or password"),
        caldav_sync.NOT_FOUND: _("the address could not be found"),
        caldav_sync.NOT_CALDAV: _("this address is not a CalDAV calendar"),
        caldav_sync.UNREACHABLE: _("the calendar server could not be reached"),
    }
    for english, words in known.items():
        if problem.startswith(english):
            return words + problem[len(english):]
    return problem
