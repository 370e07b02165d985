"""Voice webhooks of click-to-call: the TwiML for the practitioner's leg and both legs' status."""
from flask import Response, current_app, request

from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import CallAttempt
from outreach.services import calls
from outreach.web.twilio import bp, twilio_signed


def _attempt_or_404(attempt_id: int) -> CallAttempt:
    return db.get_or_404(CallAttempt, attempt_id)


@bp.route("/voice/<id:attempt_id>", methods=["POST"])
@twilio_signed
def voice(attempt_id: int):
    attempt = _attempt_or_404(attempt_id)
    twiml = calls.voice_twiml(attempt, base_url=current_app.config["PUBLIC_BASE_URL"])
    return Response(twiml, mimetype="text/xml")


@bp.route("/call-status/<id:attempt_id>", methods=["POST"])
@twilio_signed
def call_status(attempt_id: int):
    return _apply_status(attempt_id, leg="parent")


@bp.route("/client-status/<id:attempt_id>", methods=["POST"])
@twilio_signed
def client_status(attempt_id: int):
    return _apply_status(attempt_id, leg="client")


def _apply_status(attempt_id: int, *, leg: str):
    attempt = _attempt_or_404(attempt_id)
    calls.apply_call_status(db.session, attempt, request.form.to_dict(), leg=leg, now=utcnow())
    db.session.commit()
    # Twilio only needs a 2xx; an empty TwiML document is the polite answer.
    return Response('<?xml version="1.0" encoding="UTF-8"?><Response/>', mimetype="text/xml")
