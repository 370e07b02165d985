"""Click-to-call from the weekly list, its live status, and the outcome form."""
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from outreach import jobs, tasks
from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import CALL_OUTCOMES, CallAttempt, CallTask
from outreach.scoping import get_scoped_or_404
from outreach.services import calls, missed_call_texts

bp = Blueprint("calls", __name__)

# Twilio's call statuses, in the practitioner's words.
CALL_STATUS_LABELS = {
    "queued": _l("starting"), "initiated": _l("calling you"), "ringing": _l("ringing"),
    "in-progress": _l("in progress"), "completed": _l("completed"), "busy": _l("busy"),
    "no-answer": _l("no answer"), "failed": _l("failed"), "canceled": _l("canceled"),
}
CALL_OUTCOME_LABELS = {
    "reached": _l("Reached"), "voicemail": _l("Left voicemail"), "no_answer": _l("No answer"),
    "wrong_number": _l("Wrong number"), "call_back_later": _l("Call back later"),
}


def _client_zone(task: CallTask) -> str:
    return task.client.timezone or task.call_list.practitioner.practice.timezone


@bp.app_context_processor
def call_helpers() -> dict:
    """What the task cards of the weekly list need to show calls."""
    return {
        "call_status_labels": CALL_STATUS_LABELS,
        "call_outcome_labels": CALL_OUTCOME_LABELS,
        "call_final_statuses": calls.FINAL_STATUSES,
        "next_call_suggestion": lambda task: calls.suggested_next_attempt(task, ZoneInfo(_client_zone(task)),
                                                                          utcnow()),
        "practice_timezone_of": lambda task: task.call_list.practitioner.practice.timezone,
    }


def task_for_current_user(task_id: int) -> CallTask:
    """A practitioner works on their own list; staff and admins on anyone's in the practice."""
    task = get_scoped_or_404(CallTask, task_id)
    if not current_user.sees_all_practitioners and task.call_list.practitioner.user_id != current_user.id:
        abort(404)
    return task


def _back_to_list(task: CallTask):
    args = {"week": task.call_list.week}
    if current_user.sees_all_practitioners:
        args["practitioner"] = task.call_list.practitioner_id
    return redirect(url_for("call_lists.week", **args) + f"#task-{task.id}")


@bp.route("/tasks/<int:task_id>/call", methods=["POST"])
@login_required
def call(task_id: int):
    task = task_for_current_user(task_id)
    try:
        attempt = calls.start_call(db.session, task, current_user, now=utcnow())
    except calls.CallRefused as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _back_to_list(task)
    db.session.commit()
    jobs.dispatch(tasks.place_call, attempt.id)
    db.session.refresh(attempt)
    if attempt.status == "failed":
        flash(attempt.error, "error")
    else:
        flash(_("Calling you now: answer your phone and you will be connected to %(name)s.",
                name=task.client.display_name), "success")
    return _back_to_list(task)


@bp.route("/attempts/<int:attempt_id>/status")
@login_required
def attempt_status(attempt_id: int):
    attempt = get_scoped_or_404(CallAttempt, attempt_id)
    task_for_current_user(attempt.task_id)
    return jsonify(
        id=attempt.id,
        status=attempt.status,
        status_label=str(CALL_STATUS_LABELS.get(attempt.status, attempt.status)),
        client_status=attempt.client_status,
        client_leg=(f"{_('client')}: {CALL_STATUS_LABELS.get(attempt.client_status, attempt.client_status)}"
                    if attempt.client_status else ""),
        duration_seconds=attempt.duration_seconds,
        client_duration_seconds=attempt.client_duration_seconds,
        answered_by=attempt.answered_by,
        error=attempt.error,
        final=calls.is_final(attempt.status),
    )


@bp.route("/tasks/<int:task_id>/outcome", methods=["POST"])
@login_required
def outcome(task_id: int):
    task = task_for_current_user(task_id)
    chosen = request.form.get("outcome", "")
    if chosen not in CALL_OUTCOMES:
        flash(_("Choose what happened on the call."), "error")
        return _back_to_list(task)
    attempt = calls.record_outcome(db.session, task, current_user, outcome=chosen,
                                   questions=request.form.get("questions", ""), notes=request.form.get("notes", ""),
                                   questions_answered=request.form.get("questions_answered") == "yes", now=utcnow())
    missed_text = missed_call_texts.after_call(db.session, attempt, utcnow())
    db.session.commit()
    if missed_text is not None:
        jobs.dispatch(tasks.send_texts, [missed_text.id])
    flash(_("Saved the outcome for %(name)s.", name=task.client.display_name), "success")
    return _back_to_list(task)
