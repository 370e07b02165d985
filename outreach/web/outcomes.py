"""Outcomes: what the calls and texts achieved, as pages, plots, a printable report and a CSV export.

Also the two actions that feed and guard those figures: marking what became of
a visit, and erasing a client on request.

Who sees what: admins and staff see the whole practice, or one practitioner
with `?practitioner=<id>`; a practitioner sees their own figures only (and gets
404 for anyone else's). The weeks are `?from=2026-W40&to=2026-W49`, by default
the last 12 weeks up to the current one. The plots and the export take the
same query arguments as the page, so what is shown is what is downloaded.
"""
from __future__ import annotations

import io
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import func, select

from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import Appointment, Client, Practitioner
from outreach.scoping import get_scoped_or_404, scoped
from outreach.services import outcomes, privacy, visit_outcomes
from outreach.services.call_lists import WeekError
from outreach.web import charts
from outreach.web.auth import roles_required
from outreach.web.ids import id_arg

bp = Blueprint("outcomes", __name__)

DEFAULT_WEEKS = 12
DEFAULT_REPORT_MONTHS = 6
MAX_REPORT_MONTHS = 24
VISIT_OUTCOME_LABELS = {
    "attended": _l("Attended"),
    "no_show": _l("No-show"),
    "cancelled_late": _l("Cancelled late"),
    "rescheduled": _l("Rescheduled"),
}


@bp.app_template_global()
def visit_outcome_labels() -> dict:
    """For `outcomes/_visit_outcome_control.html`, which other blueprints' pages include."""
    return VISIT_OUTCOME_LABELS


def format_share(value: float | None) -> str:
    """A rate as the pages show it, e.g. 12.5%, in the reader's language."""
    return "—" if value is None else format_percent(value, "#,##0.0%")


def format_tick(value: float) -> str:
    """A plot's gridline label, e.g. 25%."""
    return format_percent(value)


@bp.context_processor
def formatting() -> dict:
    return {"share": format_share, "plot_size": {"width": charts.WIDTH, "height": charts.HEIGHT}}


# --- Whose figures, which weeks ---------------------------------------------------------------


def _chosen_practitioner() -> Practitioner | None:
    """The practitioner whose figures are asked for; None for the whole practice (admins and staff only)."""
    requested = request.args.get("practitioner", type=id_arg)
    if not current_user.sees_all_practitioners:
        own = current_user.practitioner
        if own is None or (requested is not None and requested != own.id):
            abort(404)
        return own
    return get_scoped_or_404(Practitioner, requested) if requested is not None else None


def _chosen_weeks() -> list[str]:
    default = outcomes.recent_weeks(current_user.practice, utcnow(), DEFAULT_WEEKS)
    try:
        return outcomes.weeks_between(request.args.get("from") or default[0], request.args.get("to") or default[-1])
    except WeekError:
        abort(400, _("Choose weeks like 2026-W40, the first no later than the last, at most two years apart."))


def _report_months() -> int:
    months = request.args.get("months", DEFAULT_REPORT_MONTHS, type=int)
    if not months or not 1 <= months <= MAX_REPORT_MONTHS:
        abort(400, _("Choose from 1 to %(most)d months.", most=MAX_REPORT_MONTHS))
    return months


def _query(practitioner: Practitioner | None, **args) -> dict:
    """Query arguments for links to figures of the same practitioner (a practitioner's own need none)."""
    if practitioner is not None and current_user.sees_all_practitioners:
        args["practitioner"] = practitioner.id
    return args


def _range_query(weeks: list[str], practitioner: Practitioner | None) -> dict:
    """The query arguments of these weeks' figures, for the plots and the export."""
    return _query(practitioner, **{"from": weeks[0], "to": weeks[-1]})


def _figures(weeks: list[str], practitioner: Practitioner | None) -> outcomes.OutcomeFigures:
    return outcomes.practice_figures(db.session, current_user.practice_id, weeks,
                                     practitioner.id if practitioner else None)


# --- Pages ------------------------------------------------------------------------------------


@bp.route("/outcomes")
@login_required
def index():
    practitioner = _chosen_practitioner()
    weeks = _chosen_weeks()
    practitioners = []
    if current_user.sees_all_practitioners:
        practitioners = db.session.scalars(scoped(Practitioner).order_by(Practitioner.full_name)).all()
    return render_template("outcomes/index.html", figures=_figures(weeks, practitioner), weeks=weeks,
                           practitioner=practitioner, practitioners=practitioners,
                           query=_range_query(weeks, practitioner),
                           report_query=_query(practitioner, months=DEFAULT_REPORT_MONTHS))


@bp.route("/outcomes/report")
@login_required
def report():
    practitioner = _chosen_practitioner()
    months = _report_months()
    weeks = outcomes.weeks_for_months(current_user.practice, utcnow(), months)
    questions = outcomes.top_questions(db.session, current_user.practice_id, weeks,
                                       practitioner.id if practitioner else None)
    return render_template("outcomes/report.html", figures=_figures(weeks, practitioner), weeks=weeks,
                           practitioner=practitioner, questions=questions,
                           query=_range_query(weeks, practitioner),
                           months=months, now=utcnow())


@bp.route("/outcomes/export.csv")
@login_required
def export():
    """One row per call task, columns as documented at `outcomes.EXPORT_COLUMNS`."""
    practitioner = _chosen_practitioner()
    weeks = _chosen_weeks()
    rows = outcomes.export_rows(db.session, current_user.practice_id, weeks,
                                practitioner.id if practitioner else None)
    out = io.StringIO()
    out.write("\ufeff")  # the BOM makes spreadsheet programs read the file as UTF-8
    outcomes.write_csv(rows, out)
    filename = f"outcomes-{weeks[0]}-{weeks[-1]}.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- Plots ------------------------------------------------------------------------------------


def _svg(text: str) -> Response:
    return Response(text, mimetype="image/svg+xml", headers={"Cache-Control": "private, max-age=60"})


@bp.route("/outcomes/plots/weekly.svg")
@login_required
def plot_weekly():
    """Week by week: the share of the call list reached before the visit, and the first-visit no-show rate."""
    figures = _figures(_chosen_weeks(), _chosen_practitioner())
    return _svg(charts.line_chart(
        _("Week by week"), [week[-3:] for week in figures.weeks],
        [charts.Series(_("Reached before the visit"), figures.series(lambda f: f.calls.share_reached),
                       charts.COLOURS[0]),
         charts.Series(_("First-visit no-shows"), figures.series(lambda f: f.first_visits.all.no_show_rate),
                       charts.COLOURS[1])],
        format_share=format_share, format_tick=format_tick, empty_text=_("Nothing to show for these weeks yet."),
    ))


@bp.route("/outcomes/plots/no-shows.svg")
@login_required
def plot_no_shows():
    """First-visit no-show rate side by side: reached by phone, on a list but not reached, never on a list."""
    first_visits = _figures(_chosen_weeks(), _chosen_practitioner()).totals.first_visits
    groups = [(_("Reached"), first_visits.reached), (_("Not reached"), first_visits.not_reached),
              (_("No call list"), first_visits.no_list)]
    return _svg(charts.bar_chart(
        _("First-visit no-shows"),
        [charts.Bar(label, counts.no_show_rate, _("%(no_shows)d of %(visits)d", no_shows=counts.no_show,
                                                  visits=counts.known), colour)
         for (label, counts), colour in zip(groups, charts.COLOURS)],
        format_share=format_share, format_tick=format_tick,
    ))


# --- Marking a visit --------------------------------------------------------------------------


def _back(fallback: str) -> str:
    """Where the form was sent from, if it was this site; else `fallback`."""
    if request.referrer:
        parts = urlsplit(request.referrer)
        if parts.netloc == request.host:
            return urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))
    return fallback


@bp.route("/appointments/<id:appointment_id>/visit-outcome", methods=["POST"])
@login_required
def mark_visit(appointment_id: int):
    appointment = get_scoped_or_404(Appointment, appointment_id)
    if not current_user.sees_all_practitioners and appointment.practitioner.user_id != current_user.id:
        abort(404)  # a practitioner marks their own visits only
    outcome = request.form.get("outcome", "")
    try:
        changed = visit_outcomes.mark_visit(db.session, appointment, outcome, current_user, utcnow())
    except visit_outcomes.VisitStillToCome:
        flash(_("This visit is still to come: mark it once it has begun."), "error")
    except visit_outcomes.UnknownOutcome:
        flash(_("Choose what became of the visit."), "error")
    else:
        db.session.commit()
        if changed:
            flash(_("Marked: %(outcome)s.", outcome=VISIT_OUTCOME_LABELS[outcome]), "success")
    fallback = (url_for("clients.show", client_id=appointment.client_id) if appointment.client_id
                else url_for("visits.today"))
    return redirect(_back(fallback))


# --- Erasing a client -------------------------------------------------------------------------


@bp.route("/clients/<id:client_id>/erase", methods=["GET", "POST"])
@roles_required("admin")
def erase_client(client_id: int):
    client = get_scoped_or_404(Client, client_id)
    if request.method == "GET":
        visits = db.session.scalar(select(func.count(Appointment.id)).where(Appointment.client_id == client.id))
        return render_template("outcomes/erase.html", client=client, visits=visits)
    if request.form.get("confirm") != "yes":
        flash(_("Tick the box to confirm: erasing cannot be undone."), "error")
        return redirect(url_for("outcomes.erase_client", client_id=client.id))
    privacy.erase_client(db.session, client, current_user, utcnow())
    db.session.commit()
    flash(_("Client #%(id)d was erased: their visits and calls are kept, without anything personal.",
            id=client.id), "success")
    return redirect(url_for("clients.show", client_id=client.id))
