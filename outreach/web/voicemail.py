"""Closing the loop on the pages: messages to play, the missed-call text, the voicemail drop, the greeting,
and the calls to the practice."""
import datetime as dt
from dataclasses import dataclass

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from outreach import jobs, tasks
from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import CallAttempt, CallTask, InboundCall, Notification, Recording
from outreach.scoping import get_scoped_or_404, scoped
from outreach.services import audit, calls, missed_call_texts, voicemail, voicemail_drop
from outreach.twilio_gateway import TwilioGatewayError
from outreach.web.calls import task_for_current_user

bp = Blueprint("voicemail", __name__)

# The services refuse in English words; listed here so the catalogue has them, and `_say` finds
# their translation at run time.
REFUSALS = (
    _l("A missed-call text was already sent for this visit."),
    _l("This client needs no missed-call text."),
    _l("Only after a call that was not answered."),
    _l("This client opted out of texts."),
    _l("Record your voicemail greeting first."),
    _l("Your greeting was already left on this call."),
    _l("The client's phone is not answering right now: nothing to leave the greeting on."),
    _l("Add your phone number first: Twilio rings you to record your greeting."),
)


def _say(reason: str) -> str:
    return _(reason)


@dataclass(frozen=True)
class TaskLoop:
    """What a task card shows of the closing loop."""

    messages: list[Recording]
    missed_call_text: Notification | None
    can_text: bool
    # The bridged call under way on which the greeting could be dropped (the button shows while the client's
    # phone is answering, live: static/calls.js), when the practitioner has a greeting.
    drop_on: CallAttempt | None
    greeting_on_file: bool  # the drop form is on the card, for a call placed after the page was loaded too


def _loaded_for_list(call_list_id: int) -> tuple[dict[int, list[Recording]], dict[str, Notification]]:
    """Messages and missed-call texts of every task of a list, loaded once per request (a page shows them all)."""
    cache = g.setdefault("task_loops", {})
    if call_list_id not in cache:
        task_ids = db.session.scalars(select(CallTask.id).where(CallTask.call_list_id == call_list_id)).all()
        texts = db.session.scalars(select(Notification).where(
            Notification.dedupe_key.in_([missed_call_texts.dedupe_key(task_id) for task_id in task_ids])))
        cache[call_list_id] = (voicemail.messages_for_tasks(db.session, list(task_ids)),
                               {text.dedupe_key: text for text in texts})
    return cache[call_list_id]


def _has_greeting(practitioner) -> bool:
    greetings = g.setdefault("greetings", {})
    if practitioner.id not in greetings:
        greetings[practitioner.id] = voicemail.greeting_of(db.session, practitioner) is not None
    return greetings[practitioner.id]


def task_loop(task: CallTask) -> TaskLoop:
    messages, texts = _loaded_for_list(task.call_list_id)
    text = texts.get(missed_call_texts.dedupe_key(task.id))
    latest = next((a for a in reversed(task.attempts) if a.via == "bridge"), None)
    greeting_on_file = _has_greeting(task.call_list.practitioner)
    drop_on = None
    if (latest is not None and latest.voicemail_left_at is None and not calls.is_final(latest.status)
            and greeting_on_file):
        drop_on = latest
    return TaskLoop(messages=messages.get(task.id, []), missed_call_text=text,
                    can_text=text is None and missed_call_texts.why_not_yet_sent(task) is None, drop_on=drop_on,
                    greeting_on_file=greeting_on_file)


@bp.app_context_processor
def loop_helpers() -> dict:
    return {"task_loop": task_loop}


def _back(task: CallTask):
    return redirect(url_for("call_lists.week", week=task.call_list.week,
                            **({"practitioner": task.call_list.practitioner_id}
                               if current_user.sees_all_practitioners else {})) + f"#task-{task.id}")


def _recording_for_current_user(recording_id: int) -> Recording:
    recording = get_scoped_or_404(Recording, recording_id)
    if (not current_user.sees_all_practitioners and recording.practitioner_id is not None
            and recording.practitioner_id != getattr(current_user.practitioner, "id", None)):
        abort(404)
    return recording


@bp.route("/recordings/<id:recording_id>/audio")
@login_required
def recording_audio(recording_id: int):
    """The message's sound, fetched from Twilio; playing it marks it listened."""
    recording = _recording_for_current_user(recording_id)
    if not recording.playable:
        abort(404)
    try:
        sound = voicemail.audio(current_app.extensions["twilio_gateway"], recording)
    except TwilioGatewayError as exc:
        # Gone at Twilio (deleted there, or past its own retention) is gone; anything else is Twilio's trouble.
        abort(404 if exc.http_status == 404 else 502)
    voicemail.mark_listened(db.session, recording, current_user, utcnow())
    db.session.commit()
    return Response(sound.content, mimetype=sound.content_type, headers={"Cache-Control": "private, no-store"})


@bp.route("/tasks/<id:task_id>/missed-call-text", methods=["POST"])
@login_required
def missed_call_text(task_id: int):
    task = task_for_current_user(task_id)
    try:
        text = missed_call_texts.queue(db.session, task, current_user, utcnow())
    except missed_call_texts.TextRefused as exc:
        db.session.rollback()
        flash(_say(str(exc)), "error")
        return _back(task)
    db.session.commit()
    jobs.dispatch(tasks.send_texts, [text.id])
    flash(_("The text to %(name)s is on its way.", name=task.client.display_name), "success")
    return _back(task)


@bp.route("/attempts/<id:attempt_id>/voicemail-drop", methods=["POST"])
@login_required
def voicemail_drop_now(attempt_id: int):
    attempt = get_scoped_or_404(CallAttempt, attempt_id)
    task = task_for_current_user(attempt.task_id)
    try:
        voicemail_drop.drop(db.session, attempt, current_app.extensions["twilio_gateway"],
                            base_url=current_app.config["PUBLIC_BASE_URL"],
                            secret_key=current_app.config["SECRET_KEY"], actor=current_user, now=utcnow())
    except voicemail_drop.DropRefused as exc:
        db.session.rollback()
        flash(_say(str(exc)), "error")
        return _back(task)
    db.session.commit()
    flash(_("Your greeting is being left on %(name)s's voicemail.", name=task.client.display_name), "success")
    return _back(task)


@bp.route("/greeting", methods=["GET", "POST"])
@login_required
def greeting():
    practitioner = current_user.practitioner
    if practitioner is None:
        abort(404)
    if request.method == "POST":
        try:
            voicemail_drop.call_to_record_greeting(db.session, practitioner, current_app.extensions["twilio_gateway"],
                                                   base_url=current_app.config["PUBLIC_BASE_URL"], actor=current_user)
        except voicemail_drop.DropRefused as exc:
            flash(_say(str(exc)), "error")
            return redirect(url_for("voicemail.greeting"))
        except TwilioGatewayError:
            flash(_("Twilio could not be reached; please try again in a few minutes."), "error")
            return redirect(url_for("voicemail.greeting"))
        db.session.commit()
        flash(_("Calling you now: answer and record your greeting after the tone."), "success")
        return redirect(url_for("voicemail.greeting"))
    return render_template("voicemail/greeting.html", greeting=voicemail.greeting_of(db.session, practitioner),
                           practitioner=practitioner,
                           practice_hours=(practitioner.practice.callback_hours_start,
                                           practitioner.practice.callback_hours_end))


def _time_or_none(value: str | None) -> dt.time | None:
    """An HH:MM from a time input, None when empty; ValueError otherwise."""
    value = (value or "").strip()
    return dt.time.fromisoformat(value) if value else None


@bp.route("/greeting/settings", methods=["POST"])
@login_required
def callback_settings():
    """The practitioner's own call-back hours (empty: the practice's) and whether messages are texted to them."""
    practitioner = current_user.practitioner
    if practitioner is None:
        abort(404)
    try:
        start = _time_or_none(request.form.get("callback_hours_start"))
        end = _time_or_none(request.form.get("callback_hours_end"))
    except ValueError:
        flash(_("Give the hours as HH:MM, e.g. 09:00."), "error")
        return redirect(url_for("voicemail.greeting"))
    if (start is None) != (end is None):
        flash(_("Give both hours, or leave both empty to use the practice's hours."), "error")
        return redirect(url_for("voicemail.greeting"))
    practitioner.callback_hours_start, practitioner.callback_hours_end = start, end
    practitioner.text_me_voicemails = request.form.get("text_me_voicemails") == "yes"
    audit.record(db.session, practice_id=practitioner.practice_id, action="practitioner.callback_settings_changed",
                 obj=practitioner, actor=current_user, start=str(start), end=str(end),
                 text_me_voicemails=practitioner.text_me_voicemails)
    db.session.commit()
    flash(_("Saved."), "success")
    return redirect(url_for("voicemail.greeting"))


@bp.route("/inbound-calls")
@login_required
def inbound_calls():
    """Calls to the practice number: call-backs, other callers, and the messages they left."""
    query = scoped(InboundCall).order_by(InboundCall.received_at.desc()).limit(100)
    if not current_user.sees_all_practitioners:
        query = query.where(InboundCall.practitioner_id == getattr(current_user.practitioner, "id", None))
    calls = db.session.scalars(query).all()
    messages: dict[int, list[Recording]] = {}
    for recording in db.session.scalars(select(Recording).where(
            Recording.inbound_call_id.in_([call.id for call in calls])).order_by(Recording.id)):
        messages.setdefault(recording.inbound_call_id, []).append(recording)
    return render_template("voicemail/inbound_calls.html", calls=calls, messages=messages)
