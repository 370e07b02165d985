"""Click-to-call from the weekly list, its live status, and the outcome form.

What comes of Call and Save is said on the task's card (an aria-live
region), not at the top of the page: with JavaScript, Call is sent with
fetch and answers JSON; without, the message is flashed for that card.
"""
import time
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from outreach import jobs, tasks
from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import CALL_OUTCOMES, CallAttempt, CallTask
from outreach.scoping import get_scoped_or_404
from outreach.services import calls, missed_call_texts
from outreach.services.phones import client_zone
from outreach.web.formatting import translated

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
    return client_zone(task.client, task.call_list.practitioner.practice).key


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


def _card_message(task: CallTask, message: str, *, ok: bool, status_url: str | None = None):
    """The answer to Call or Save, shown on the task's card: JSON for the page's script, else a flash."""
    if request.accept_mimetypes.best == "application/json":
        return jsonify(ok=ok, message=message, status_url=status_url), (200 if ok else 409)
    flash(message, f"task-{task.id} {'success' if ok else 'error'}")
    return _back_to_list(task)


@bp.route("/tasks/<id:task_id>/call", methods=["POST"])
@login_required
def call(task_id: int):
    """Starts the call, then waits (a few seconds) for Twilio's answer to the create before saying anything."""
    task = task_for_current_user(task_id)
    try:
        attempt = calls.start_call(db.session, task, current_user, now=utcnow())
    except calls.CallRefused as exc:
        db.session.rollback()
        return _card_message(task, translated(exc), ok=False)
    db.session.commit()
    jobs.dispatch(tasks.place_call, attempt.id)
    attempt = _wait_for_twilios_answer(attempt)
    status_url = url_for("calls.attempt_status", attempt_id=attempt.id)
    if attempt.status == "failed":
        return _card_message(task, attempt.error, ok=False, status_url=status_url)
    if attempt.call_sid is None:
        return _card_message(task, _("Twilio has not answered yet; the call status below follows it."), ok=True,
                             status_url=status_url)
    return _card_message(task, _("Calling you now: answer your phone and press 1 to be connected to %(name)s.",
                                 name=task.client.display_name), ok=True, status_url=status_url)


def _wait_for_twilios_answer(attempt: CallAttempt) -> CallAttempt:
    """The attempt once Twilio has taken or refused the create (the job may run on a worker), or at the deadline."""
    deadline = time.monotonic() + current_app.config["CALL_CREATE_WAIT_SECONDS"]
    while True:
        db.session.expire(attempt)
        if attempt.call_sid or calls.is_final(attempt.status) or time.monotonic() >= deadline:
            return attempt
        db.session.rollback()  # PostgreSQL: see the worker's commit
        time.sleep(0.2)


@bp.route("/attempts/<id:attempt_id>/status")
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
        voicemail_drop_url=(url_for("voicemail.voicemail_drop_now", attempt_id=attempt.id)
                            if attempt.voicemail_left_at is None else None),
    )


@bp.route("/tasks/<id:task_id>/outcome", methods=["POST"])
@login_required
def outcome(task_id: int):
    task = task_for_current_user(task_id)
    chosen = request.form.get("outcome", "")
    if chosen not in CALL_OUTCOMES:
        return _card_message(task, _("Choose what happened on the call."), ok=False)
    attempt = calls.record_outcome(db.session, task, current_user, outcome=chosen,
                                   questions=request.form.get("questions", ""), notes=request.form.get("notes", ""),
                                   questions_answered=request.form.get("questions_answered") == "yes", now=utcnow())
    missed_text = missed_call_texts.after_call(db.session, attempt, utcnow())
    db.session.commit()
    if missed_text is not None:
        jobs.dispatch(tasks.send_texts, [missed_text.id])
    return _card_message(task, _("Saved the outcome for %(name)s.", name=task.client.display_name), ok=True)
