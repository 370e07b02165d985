"""Visits: the practitioner's today page, one visit's page, On my way / Running late, and the texts' wording.

Practitioners see and text about their own visits; staff and admins those of
every practitioner of the practice. Anything else is 404, as if it did not exist.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from wtforms import TextAreaField
from wtforms.validators import ValidationError

from outreach import jobs, tasks
from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import LOCALES, Appointment, CallTask, InboundMessage, Notification, Practitioner
from outreach.scoping import get_scoped_or_404, scoped, visible_appointments
from outreach.services import arrival_texts, audit, outcomes, reading_fixes, visit_days
from outreach.services import call_lists
from outreach.services.call_lists import WeekError
from outreach.services.notification_status import PENDING
from outreach.services.phones import is_landline
from outreach.services.sms_cost import SmsCost, sms_cost
from outreach.web.auth import roles_required
from outreach.web.errors import reshows_expired_form
from outreach.web.formatting import local_time, translated

bp = Blueprint("visits", __name__)

ETA_RANGE = (1, 180)

# How each text status reads on the page, and its badge colour.
STATUS_LABELS = {
    "pending": _l("scheduled"), "sending": _l("sending"), "accepted": _l("queued"), "scheduled": _l("queued"),
    "queued": _l("queued"), "sent": _l("sent"), "delivered": _l("delivered"), "read": _l("read"),
    "partially_delivered": _l("partly delivered"), "undelivered": _l("not delivered"), "failed": _l("failed"),
    "canceled": _l("cancelled"), "cancelled": _l("cancelled"), "missed": _l("missed"), "skipped": _l("not sent"),
    "held": _l("held back"),
}
STATUS_BADGES = {"delivered": "good", "read": "good", "sent": "good", "undelivered": "bad", "failed": "bad",
                 "missed": "bad", "held": "bad", "pending": "warn", "sending": "warn", "queued": "warn", "accepted": "warn"}
KIND_LABELS = {arrival_texts.ARRIVAL: _l("Arrival text"), arrival_texts.ON_MY_WAY: _l("On my way"),
               arrival_texts.RUNNING_LATE: _l("Running late")}
REPLY_LABELS = {"stop": _l("opted out"), "start": _l("opted back in"), "help": _l("asked for help")}
# What each {placeholder} of the texts' wording stands for, in the reader's language.
PLACEHOLDER_HELP = {
    "client": _l("the client's first name"),
    "practitioner": _l("the practitioner's name"),
    "practice": _l("the practice's name"),
    "minutes": _l("minutes until arrival"),
    "time": _l("the arrival time, in the client's time zone"),
}


@bp.app_context_processor
def text_labels() -> dict:
    return {"text_status_labels": STATUS_LABELS, "text_status_badges": STATUS_BADGES, "text_kind_labels": KIND_LABELS,
            "reply_labels": REPLY_LABELS, "may_text_about": _may_text_about, "is_landline": is_landline,
            "text_window_of": lambda appointment: arrival_texts.text_window(appointment, current_user.practice)}


def _may_text_about(appointment: Appointment) -> bool:
    """Whether On my way / Running late are offered now: the visit's day and window, no outcome, not cancelled."""
    practice = current_user.practice
    return arrival_texts.why_no_text_about_visit(appointment, practice, utcnow()) is None


# --- today and one visit ---------------------------------------------------------------------------


@bp.route("/today")
@login_required
def today():
    practice = current_user.practice
    zone = ZoneInfo(practice.timezone)
    local_day = utcnow().astimezone(zone).date()
    day_start = dt.datetime.combine(local_day, dt.time(0), zone)
    next_day_start = dt.datetime.combine(local_day + dt.timedelta(days=1), dt.time(0), zone)
    visits = visible_appointments().where(Appointment.starts_at >= day_start,
                                           Appointment.starts_at < next_day_start)
    appointments = db.session.scalars(visits.order_by(Appointment.starts_at, Appointment.id)).all()
    by_practitioner: dict[Practitioner, list[Appointment]] = defaultdict(list)
    for appointment in appointments:
        by_practitioner[appointment.practitioner].append(appointment)
    texts, replies = _texts_and_replies([appointment.id for appointment in appointments])
    return render_template("visits/today.html", day=local_day, by_practitioner=by_practitioner, texts=texts,
                           replies=replies, default_eta=practice.arrival_lead_minutes)


@bp.route("/appointments/<id:appointment_id>")
@login_required
def show(appointment_id: int):
    appointment = _visit_or_404(appointment_id)
    texts, replies = _texts_and_replies([appointment.id])
    # What the client asked or said on the pre-visit call: the practitioner walks in knowing it.
    call_tasks = db.session.scalars(select(CallTask).where(CallTask.appointment_id == appointment.id)
                                    .order_by(CallTask.id)).all()
    return render_template("visits/show.html", appointment=appointment, texts=texts, replies=replies,
                           call_tasks=call_tasks, default_eta=current_user.practice.arrival_lead_minutes)


@bp.route("/appointments/<id:appointment_id>/place", methods=["POST"])
@login_required
def set_place(appointment_id: int):
    """One tap: this visit is (or is not) at the client's place; later imports keep it."""
    appointment = _visit_or_404(appointment_id)
    reading_fixes.set_visit_place(db.session, appointment, request.form.get("at_client_place") == "1",
                                  actor=current_user, now=utcnow())
    db.session.commit()
    flash(_("Saved where this visit is."), "success")
    return redirect(url_for("visits.show", appointment_id=appointment.id))


@bp.route("/appointments/<id:appointment_id>/layout", methods=["POST"])
@login_required
def set_layout(appointment_id: int):
    """One tap: where the client is in this calendar's titles, applied to all its events and later imports."""
    appointment = _visit_or_404(appointment_id)
    try:
        changed = reading_fixes.set_calendar_reading(db.session, appointment.source,
                                                     summary_format=request.form.get("summary_format", ""),
                                                     actor=current_user, now=utcnow())
    except reading_fixes.ReadingError:
        db.session.rollback()
        abort(400)
    db.session.commit()
    flash(_("This calendar's titles are read the new way; %(n)s visits changed.", n=changed), "success")
    return redirect(url_for("visits.show", appointment_id=appointment.id))


# --- the front desk: any day, and the first visits without an outcome ---------------------------------

UNMARKED_PER_PAGE = 50


def _chosen_practitioner_id() -> int | None:
    """Whose visits: one practitioner's (`?practitioner=`), else everybody's; a practitioner always sees their own."""
    if not current_user.sees_all_practitioners:
        return current_user.practitioner.id if current_user.practitioner else -1
    requested = request.args.get("practitioner", type=int)
    return get_scoped_or_404(Practitioner, requested).id if requested else None


@bp.route("/visits/day")
@login_required
def day():
    """Every visit of one day with what became of it, to mark attended / no-show afterwards."""
    practice = current_user.practice
    today = utcnow().astimezone(ZoneInfo(practice.timezone)).date()
    try:
        shown = dt.date.fromisoformat(request.args["date"]) if request.args.get("date") else today
    except ValueError:
        shown = None
    if shown is None or not call_lists.FIRST_YEAR <= shown.year <= call_lists.LAST_YEAR:
        abort(400, _("Choose a day like %(example)s.", example=today.isoformat()))
    practitioner_id = _chosen_practitioner_id()
    appointments = db.session.scalars(visit_days.visits_of_day(practice, shown, practitioner_id)).all()
    return render_template(
        "visits/day.html", day=shown, today=today, appointments=appointments, practitioner_id=practitioner_id,
        first_visits=visit_days.first_visit_ids(db.session, [a.id for a in appointments]),
        practitioners=_practitioners_to_choose(), previous_day=shown - dt.timedelta(days=1),
        next_day=shown + dt.timedelta(days=1))


@bp.route("/visits/unmarked")
@login_required
def unmarked():
    """The first visits of the outcomes page's weeks that have no outcome yet (the figures leave them out)."""
    practice = current_user.practice
    default = outcomes.recent_weeks(practice, utcnow(), 12)
    try:
        weeks = outcomes.weeks_between(request.args.get("from") or default[0], request.args.get("to") or default[-1])
    except WeekError:
        abort(400, _("Choose weeks like 2026-W40, the first no later than the last, at most two years apart."))
    practitioner_id = _chosen_practitioner_id()
    pages = db.paginate(outcomes.unmarked_first_visits(practice, weeks, practitioner_id),
                        per_page=UNMARKED_PER_PAGE, error_out=False)
    return render_template("visits/unmarked.html", pages=pages, weeks=weeks, practitioner_id=practitioner_id,
                           practitioners=_practitioners_to_choose())


def _practitioners_to_choose() -> list[Practitioner]:
    if not current_user.sees_all_practitioners:
        return []
    return db.session.scalars(scoped(Practitioner).order_by(Practitioner.full_name)).all()


def _visit_or_404(appointment_id: int) -> Appointment:
    appointment = get_scoped_or_404(Appointment, appointment_id)
    if not current_user.sees_all_practitioners and (
            current_user.practitioner is None or appointment.practitioner_id != current_user.practitioner.id):
        abort(404)
    return appointment


def _texts_and_replies(appointment_ids: list[int]) -> tuple[dict, dict]:
    """Texts sent (or to be sent) and replies received, per appointment id, oldest first."""
    texts: dict[int, list[Notification]] = defaultdict(list)
    replies: dict[int, list[InboundMessage]] = defaultdict(list)
    if appointment_ids:
        for text in db.session.scalars(scoped(Notification).where(Notification.appointment_id.in_(appointment_ids))
                                       .order_by(Notification.due_at, Notification.id)):
            texts[text.appointment_id].append(text)
        for reply in db.session.scalars(scoped(InboundMessage)
                                        .where(InboundMessage.appointment_id.in_(appointment_ids))
                                        .order_by(InboundMessage.received_at, InboundMessage.id)):
            replies[reply.appointment_id].append(reply)
    return texts, replies


# --- the practitioner's own texts -------------------------------------------------------------------


@bp.route("/appointments/<id:appointment_id>/on-my-way", methods=["POST"])
@login_required
def on_my_way(appointment_id: int):
    def create(appointment: Appointment, minutes: int) -> tuple[Notification, str]:
        notification = arrival_texts.create_on_my_way(db.session, appointment, eta_minutes=minutes,
                                                      actor=current_user, now=utcnow())
        return notification, _("On my way: texting %(client)s that you'll be there in about %(minutes)s minutes.",
                               client=appointment.client.greeting_name, minutes=minutes)

    return _text_by_hand(appointment_id, "eta_minutes", create)


@bp.route("/appointments/<id:appointment_id>/running-late", methods=["POST"])
@login_required
def running_late(appointment_id: int):
    def create(appointment: Appointment, minutes: int) -> tuple[Notification, str]:
        notification = arrival_texts.create_running_late(db.session, appointment, minutes_late=minutes,
                                                         actor=current_user, now=utcnow())
        return notification, _("Running late: texting %(client)s that you'll be there at about %(time)s.",
                               client=appointment.client.greeting_name,
                               time=local_time(appointment.starts_at + dt.timedelta(minutes=minutes)))

    return _text_by_hand(appointment_id, "minutes_late", create)


def _text_by_hand(appointment_id: int, minutes_field: str, create: Callable) -> object:
    """Creates the text in the outbox, then hands it to a worker to send right away."""
    appointment = _visit_or_404(appointment_id)
    back = url_for("visits.today") if request.form.get("back") == "today" else url_for(
        "visits.show", appointment_id=appointment.id)
    minutes = request.form.get(minutes_field, type=int)
    if minutes is None or not ETA_RANGE[0] <= minutes <= ETA_RANGE[1]:
        flash(_("Give the minutes, from %(low)s to %(high)s.", low=ETA_RANGE[0], high=ETA_RANGE[1]), "error")
        return redirect(back)
    try:
        notification, done_message = create(appointment, minutes)
        db.session.commit()
    except arrival_texts.TextNotPossible as exc:
        db.session.rollback()
        flash(_("No text sent: %(reason)s.", reason=translated(exc)), "error")
        return redirect(back)
    except IntegrityError:  # the same button pressed twice at once
        db.session.rollback()
        flash(_("No text sent: it was already sent."), "error")
        return redirect(back)
    jobs.dispatch(tasks.send_texts, [notification.id])
    flash(done_message, "success")
    return redirect(back)


# --- the wording, for the admin ------------------------------------------------------------------------------


def _usable_template(form: FlaskForm, field) -> None:
    if field.data and field.data.strip():
        try:
            arrival_texts.check_template(field.data)
        except arrival_texts.TemplateError as exc:
            raise ValidationError(str(exc)) from exc


class TextTemplatesForm(FlaskForm):
    arrival_template = TextAreaField(_l("Arrival and On my way text (empty: the default in the client's language)"),
                                     validators=[_usable_template])
    running_late_template = TextAreaField(_l("Running late text (empty: the default in the client's language)"),
                                          validators=[_usable_template])


@bp.route("/settings/texts", methods=["GET", "POST"])
@roles_required("admin")
@reshows_expired_form
def text_settings():
    practice = current_user.practice
    form = TextTemplatesForm(obj=practice)
    saving = request.form.get("action") == "save"
    if form.validate_on_submit() and saving:
        changes = {name: (getattr(form, name).data or "").strip() or None
                   for name in ("arrival_template", "running_late_template")}
        for name, value in changes.items():
            setattr(practice, name, value)
        audit.record(db.session, practice_id=practice.id, action="practice.text_templates_changed", obj=practice,
                     actor=current_user, **changes)
        _rewrite_pending_arrival_texts(practice.id)
        db.session.commit()
        flash(_("Texts saved; scheduled texts now use them."), "success")
        return redirect(url_for("visits.text_settings"))
    return render_template("visits/text_settings.html", form=form, previews=_previews(form),
                           placeholders={name: PLACEHOLDER_HELP.get(name, name) for name in arrival_texts.PLACEHOLDERS}), (
        400 if form.errors else 200)


def _previews(form: TextTemplatesForm) -> list[tuple[str, str, str, SmsCost]]:
    """(what, language, filled-in text, what it costs) for each wording as typed, or the default in each language."""
    practice = current_user.practice
    practitioner = current_user.practitioner or db.session.scalar(scoped(Practitioner).order_by(Practitioner.id))
    name = practitioner.spoken_name if practitioner else current_user.full_name.split()[0]
    previews = []
    for kind, field in ((arrival_texts.ARRIVAL, form.arrival_template),
                        (arrival_texts.RUNNING_LATE, form.running_late_template)):
        if field.errors:
            continue
        own = (field.data or "").strip()
        for locale in ([practice.locale] if own else LOCALES):
            template = own or arrival_texts.DEFAULT_TEMPLATES[kind][locale]
            text = arrival_texts.preview(template, practice, name, minutes=practice.arrival_lead_minutes,
                                         locale=locale)
            previews.append((str(KIND_LABELS[kind]), locale, text, sms_cost(text)))
    return previews


def _rewrite_pending_arrival_texts(practice_id: int) -> None:
    """Re-plans the practice's scheduled arrival texts, so their bodies follow the new wording."""
    appointment_ids = db.session.scalars(select(Notification.appointment_id).where(
        Notification.practice_id == practice_id, Notification.kind == arrival_texts.ARRIVAL,
        Notification.status == PENDING)).all()
    arrival_texts.plan_arrival_texts(db.session, appointment_ids, utcnow())
