"""Voice webhooks of click-to-call: the caller's leg (screening, then the bridge) and both legs' status.

Each names its attempt in the URL and must also be about that attempt's own
calls (`calls.is_about`): a signed request carrying another call's SID is
logged and answered 404, and changes nothing.
"""
import logging
import time

from flask import Response, abort, current_app, request
from sqlalchemy.exc import IntegrityError

from outreach import jobs, tasks
from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import CallAttempt
from outreach.services import calls, missed_call_texts, voicemail_drop
from outreach.web.twilio import bp, twilio_signed

log = logging.getLogger(__name__)

# Twilio may call back before the request that placed the call has stored its SID.
_SID_WAIT_TRIES = 30
_SID_WAIT_PAUSE_SECONDS = 0.1


def _attempt_for_callback(attempt_id: int, *, leg: str) -> CallAttempt:
    attempt = db.get_or_404(CallAttempt, attempt_id)
    for _ in range(_SID_WAIT_TRIES):
        if attempt.call_sid:
            break
        db.session.rollback()  # ends the transaction, so the next read sees the placing request's commit
        time.sleep(_SID_WAIT_PAUSE_SECONDS)
    params = request.form.to_dict()
    if not calls.is_about(attempt, params, leg=leg):
        log.warning("Twilio %s callback for attempt %s refused: it is about call %s (parent %s)", leg, attempt.id,
                    params.get("CallSid"), params.get("ParentCallSid"))
        abort(404)
    return attempt


def _twiml(twiml: str) -> Response:
    db.session.commit()
    return Response(twiml, mimetype="text/xml")


@bp.route("/voice/<id:attempt_id>", methods=["POST"])
@twilio_signed
def voice(attempt_id: int):
    attempt = _attempt_for_callback(attempt_id, leg="parent")
    return _twiml(calls.voice_twiml(db.session, attempt, base_url=current_app.config["PUBLIC_BASE_URL"],
                                    answered_by=request.form.get("AnsweredBy"), now=utcnow()))


@bp.route("/voice/<id:attempt_id>/screened", methods=["POST"])
@twilio_signed
def screened(attempt_id: int):
    attempt = _attempt_for_callback(attempt_id, leg="parent")
    base_url = current_app.config["PUBLIC_BASE_URL"]
    return _twiml(calls.screened_twiml(
        db.session, attempt, digits=request.form.get("Digits", ""), base_url=base_url, now=utcnow(),
        machine_detection_url=voicemail_drop.machine_detection_url(db.session, attempt, base_url)))


@bp.route("/call-status/<id:attempt_id>", methods=["POST"])
@twilio_signed
def call_status(attempt_id: int):
    return _apply_status(attempt_id, leg="parent")


@bp.route("/client-status/<id:attempt_id>", methods=["POST"])
@twilio_signed
def client_status(attempt_id: int):
    return _apply_status(attempt_id, leg="client")


def _apply_status(attempt_id: int, *, leg: str):
    attempt = _attempt_for_callback(attempt_id, leg=leg)
    calls.apply_call_status(db.session, attempt, request.form.to_dict(), leg=leg, now=utcnow())
    try:
        missed_text = missed_call_texts.after_call(db.session, attempt, utcnow())
        db.session.commit()
    except IntegrityError:
        # Another callback of this call queued the missed-call text at the same moment: keep the status only.
        db.session.rollback()
        attempt = _attempt_for_callback(attempt_id, leg=leg)
        calls.apply_call_status(db.session, attempt, request.form.to_dict(), leg=leg, now=utcnow())
        db.session.commit()
        missed_text = None
    if missed_text is not None:
        jobs.dispatch(tasks.send_texts, [missed_text.id])
    return Response(calls.empty_twiml(), mimetype="text/xml")
