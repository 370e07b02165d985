"""The practitioner's weekly call list page, and the page where they write their call script.

Practitioners see their own list; staff and admins see any practitioner of
their practice with `?practitioner=<id>` (the first one by name otherwise).
"""
from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton, format_time
from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload
from wtforms import TextAreaField
from wtforms.validators import Length

from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import Appointment, CallList, CallTask, Client, Practitioner
from outreach.scoping import get_scoped_or_404, scoped
from outreach.services import audit, call_lists, scripts
from outreach.services.phones import client_zone
from outreach.services.phones import display as display_phone
from outreach.web.auth import roles_required
from outreach.web.ids import id_arg

bp = Blueprint("call_lists", __name__)

SHOW_FILTERS = ("all", "todo", "done")
CALLING_HINTS = {
    "too_early": _l("Now is %(time)s for the client — too early"),
    "good": _l("Now is %(time)s for the client — a good time"),
    "too_late": _l("Now is %(time)s for the client — too late"),
}


def _practitioner_for_request() -> Practitioner:
    """Whose list or script this request is about (404 for anyone else's)."""
    requested = request.values.get("practitioner", type=id_arg)
    if current_user.role == "practitioner":
        own = current_user.practitioner
        if requested is not None and requested != own.id:
            abort(404)
        return own
    if requested is not None:
        return get_scoped_or_404(Practitioner, requested)
    first = db.session.scalar(scoped(Practitioner).order_by(Practitioner.full_name).limit(1))
    if first is None:
        abort(404, _("This practice has no practitioners yet: an admin adds them on the Admin page."))
    return first


def _practitioner_param(practitioner: Practitioner) -> int | None:
    """`?practitioner=` for links that staff follow; a practitioner's own links need none."""
    return practitioner.id if current_user.sees_all_practitioners else None


# --- The week ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskCard:
    task: CallTask
    visit_local: dt.datetime  # in the practice's time zone: the day the task is grouped under
    visit_time: str
    phone: str  # for people to read; the tel: link takes task.client.phone
    script: scripts.Script
    calling_hint: str  # "too_early" | "good" | "too_late"
    calling_hint_text: str


@dataclass(frozen=True)
class Day:
    weekday: str
    date: str
    cards: list[TaskCard]


@bp.route("/week", defaults={"week": None})
@bp.route("/week/<week>")
@login_required
def week(week: str | None):
    """A practitioner's list of `week` (2026-W49); without one, this week, or next week from Friday on."""
    practitioner = _practitioner_for_request()
    if week is None:
        return _week_page(practitioner, call_lists.week_to_show(practitioner.practice, utcnow()))
    try:
        monday = call_lists.parse_week(week)
    except call_lists.WeekError:
        abort(404)
    return _week_page(practitioner, monday)


def _week_page(practitioner: Practitioner, monday: dt.date):
    practice = practitioner.practice
    now = utcnow()
    label = call_lists.week_label(monday)
    show = request.args.get("show") if request.args.get("show") in SHOW_FILTERS else "all"
    call_list = db.session.scalar(
        scoped(CallList).where(CallList.practitioner_id == practitioner.id, CallList.week == label))
    tasks = [] if call_list is None else db.session.scalars(
        scoped(CallTask).where(CallTask.call_list_id == call_list.id)
        .options(joinedload(CallTask.client), joinedload(CallTask.appointment), selectinload(CallTask.attempts))
    ).all()
    active = [task for task in tasks if task.state == "active"]
    card_for = _CardMaker(practitioner, now)
    cards = sorted((card_for(task) for task in active if show == "all" or task.is_done == (show == "done")),
                   key=lambda card: card.visit_local)
    days = [
        Day(format_date(day, "EEEE"), format_skeleton("MMMMd", day, locale=get_locale()), list(day_cards))
        for day, day_cards in itertools.groupby(cards, key=lambda card: card.visit_local.date())
    ]
    start, end = call_lists.week_bounds(monday, practice.timezone)
    needs_client = db.session.scalar(select(func.count()).select_from(
        scoped(Appointment).where(Appointment.practitioner_id == practitioner.id, Appointment.client_id.is_(None),
                                  Appointment.status != "cancelled", Appointment.starts_at >= start,
                                  Appointment.starts_at < end).subquery()))
    practitioners = (db.session.scalars(scoped(Practitioner).order_by(Practitioner.full_name)).all()
                     if current_user.sees_all_practitioners else [])
    return render_template(
        "call_lists/week.html", practitioner=practitioner, practice=practice, call_list=call_list, label=label,
        monday=monday, sunday=monday + dt.timedelta(days=6), days=days, show=show,
        build_moment=call_lists.build_moment(practice, monday),
        removed=[task for task in tasks if task.state == "removed"],
        reached=sum(task.outcome == "reached" for task in active), total=len(active), needs_client=needs_client,
        script_error=next((card.script.error for card in cards if card.script.error), None),
        practitioners=practitioners, practitioner_param=_practitioner_param(practitioner), now=now,
        previous_week=call_lists.week_label(monday - dt.timedelta(days=7)),
        next_week=call_lists.week_label(monday + dt.timedelta(days=7)),
    )


class _CardMaker:
    """Makes the task cards of one page. What is the same for many cards (the compiled script, the
    locale, the client's time in each zone) is worked out once: a 50-task list stays fast."""

    def __init__(self, practitioner: Practitioner, now: dt.datetime) -> None:
        self.practitioner = practitioner
        self.practice = practitioner.practice
        self.zone = ZoneInfo(self.practice.timezone)
        self.now = now
        self.locale = get_locale()
        self.renderer = scripts.ScriptRenderer(practitioner.script_template)
        self._hints: dict[str, tuple[str, str]] = {}

    def __call__(self, task: CallTask) -> TaskCard:
        visit_local = task.appointment.starts_at.astimezone(self.zone)
        variables = scripts.script_variables(client=task.client, practitioner=self.practitioner,
                                             practice=self.practice, visit_starts_at=task.appointment.starts_at,
                                             now=self.now)
        hint, hint_text = self._hint(client_zone(task.client, self.practice).key)
        return TaskCard(
            task=task,
            visit_local=visit_local,
            visit_time=format_time(visit_local.time(), "short", locale=self.locale),
            phone=display_phone(task.client.phone),
            script=self.renderer.render(variables, scripts.script_locale(task.client, self.practice)),
            calling_hint=hint,
            calling_hint_text=hint_text,
        )

    def _hint(self, client_zone: str) -> tuple[str, str]:
        if client_zone not in self._hints:
            hint = call_lists.calling_hour_hint(self.now, client_zone)
            client_time = format_time(self.now.astimezone(ZoneInfo(client_zone)).time(), "short", locale=self.locale)
            self._hints[client_zone] = hint, str(CALLING_HINTS[hint]) % {"time": client_time}
        return self._hints[client_zone]


@bp.route("/week/<week>/build", methods=["POST"])
@roles_required("admin", "staff")
def build(week: str):
    """Build (or rebuild) the practice's lists of `week` now, from the page of one practitioner."""
    practitioner = _practitioner_for_request()
    try:
        monday = call_lists.parse_week(week)
    except call_lists.WeekError:
        abort(404)
    result = call_lists.build_call_lists(db.session, practitioner.practice, monday, now=utcnow(), actor=current_user)
    db.session.commit()
    flash(_("Call lists for %(week)s built: %(added)d added, %(removed)d removed, %(kept)d kept.",
            week=result.week, **result.totals()), "success")
    return redirect(url_for("call_lists.week", week=result.week, practitioner=_practitioner_param(practitioner)))


# --- The script --------------------------------------------------------------------------------


class ScriptForm(FlaskForm):
    script_template = TextAreaField(_l("Your call script"),
                                    validators=[Length(max=scripts.MAX_TEMPLATE_LENGTH)])


@bp.route("/settings/script", methods=["GET", "POST"])
@login_required
def script_settings():
    practitioner = _practitioner_for_request()
    default = scripts.default_source(practitioner.user.locale or practitioner.practice.locale)
    form = ScriptForm(data={"script_template": practitioner.script_template or default})
    source = "" if request.form.get("use_default") else (form.script_template.data or "").strip()
    sample = _preview(practitioner, source)
    if form.validate_on_submit() and sample["error"] is None:
        # Saving the default unchanged keeps the default: it then follows each client's language.
        practitioner.script_template = None if source in ("", *scripts.DEFAULT_TEMPLATES.values()) else source
        audit.record(db.session, practice_id=practitioner.practice_id, action="practitioner.script_changed",
                     obj=practitioner, actor=current_user)
        db.session.commit()
        flash(_("Script saved."), "success")
        return redirect(url_for("call_lists.script_settings", practitioner=_practitioner_param(practitioner)))
    status = 400 if request.method == "POST" else 200
    return render_template("call_lists/script_settings.html", form=form, practitioner=practitioner, sample=sample,
                           variables=scripts.VARIABLES, practitioner_param=_practitioner_param(practitioner)), status


@bp.route("/settings/script/preview", methods=["POST"])
@login_required
def script_preview():
    """The script as it would read for a real client on the list (JSON, for the settings page's live preview)."""
    practitioner = _practitioner_for_request()
    return jsonify(_preview(practitioner, request.form.get("script_template", "")))


def _preview(practitioner: Practitioner, source: str | None) -> dict:
    """Renders `source` for one of the practitioner's clients (a sample client when there is none yet)."""
    now = utcnow()
    task = _preview_task(practitioner, now)
    if task is not None:
        client, starts_at = task.client, task.appointment.starts_at
    else:
        client = Client(full_name=_("Anna Sample"))
        starts_at = now + dt.timedelta(days=3)
    practice = practitioner.practice
    variables = scripts.script_variables(client=client, practitioner=practitioner, practice=practice,
                                         visit_starts_at=starts_at, now=now)
    script = scripts.ScriptRenderer(source).render(variables, scripts.script_locale(client, practice))
    return {"text": script.text, "error": script.error, "client": client.display_name, "sample": task is None}


def _preview_task(practitioner: Practitioner, now: dt.datetime) -> CallTask | None:
    """The practitioner's next client to call, else the latest one."""
    tasks = (scoped(CallTask).join(CallList).join(Appointment, CallTask.appointment_id == Appointment.id)
             .where(CallList.practitioner_id == practitioner.id, CallTask.state == "active")
             .options(joinedload(CallTask.client), joinedload(CallTask.appointment)).limit(1))
    upcoming = db.session.scalar(tasks.where(Appointment.starts_at >= now).order_by(Appointment.starts_at))
    return upcoming or db.session.scalar(tasks.order_by(Appointment.starts_at.desc()))
