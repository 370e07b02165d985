"""Voice webhooks of click-to-call: the TwiML for the practitioner's leg and both legs' status."""
from flask import Response, current_app, request
from sqlalchemy.exc import IntegrityError

from outreach import jobs, tasks
from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import CallAttempt
from outreach.services import calls, missed_call_texts, voicemail_drop
from outreach.web.twilio import bp, twilio_signed


def _attempt_or_404(attempt_id: int) -> CallAttempt:
    return db.get_or_404(CallAttempt, attempt_id)


@bp.route("/voice/<int:attempt_id>", methods=["POST"])
@twilio_signed
def voice(attempt_id: int):
    attempt = _attempt_or_404(attempt_id)
    base_url = current_app.config["PUBLIC_BASE_URL"]
    twiml = calls.voice_twiml(attempt, base_url=base_url,
                              machine_detection_url=voicemail_drop.machine_detection_url(db.session, attempt, base_url))
    return Response(twiml, mimetype="text/xml")


@bp.route("/call-status/<int:attempt_id>", methods=["POST"])
@twilio_signed
def call_status(attempt_id: int):
    return _apply_status(attempt_id, leg="parent")


@bp.route("/client-status/<int:attempt_id>", methods=["POST"])
@twilio_signed
def client_status(attempt_id: int):
    return _apply_status(attempt_id, leg="client")


def _apply_status(attempt_id: int, *, leg: str):
    attempt = _attempt_or_404(attempt_id)
    calls.apply_call_status(db.session, attempt, request.form.to_dict(), leg=leg, now=utcnow())
    try:
        missed_text = missed_call_texts.after_call(db.session, attempt, utcnow())
        db.session.commit()
    except IntegrityError:
        # Another callback of this call queued the missed-call text at the same moment: keep the status only.
        db.session.rollback()
        attempt = _attempt_or_404(attempt_id)
        calls.apply_call_status(db.session, attempt, request.form.to_dict(), leg=leg, now=utcnow())
        db.session.commit()
        missed_text = None
    if missed_text is not None:
        jobs.dispatch(tasks.send_texts, [missed_text.id])
    # Twilio only needs a 2xx; an empty TwiML document is the polite answer.
    return Response('<?xml version="1.0" encoding="UTF-8"?><Response/>', mimetype="text/xml")
