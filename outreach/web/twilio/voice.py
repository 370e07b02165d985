"""Voice webhooks of click-to-call: the caller's leg (screening, then the bridge) and both legs' status."""
from flask import Response, current_app, request

from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import CallAttempt
from outreach.services import calls
from outreach.web.twilio import bp, twilio_signed


def _attempt_or_404(attempt_id: int) -> CallAttempt:
    return db.get_or_404(CallAttempt, attempt_id)


def _twiml(twiml: str) -> Response:
    db.session.commit()
    return Response(twiml, mimetype="text/xml")


@bp.route("/voice/<int:attempt_id>", methods=["POST"])
@twilio_signed
def voice(attempt_id: int):
    attempt = _attempt_or_404(attempt_id)
    return _twiml(calls.voice_twiml(db.session, attempt, base_url=current_app.config["PUBLIC_BASE_URL"],
                                    answered_by=request.form.get("AnsweredBy"), now=utcnow()))


@bp.route("/voice/<int:attempt_id>/screened", methods=["POST"])
@twilio_signed
def screened(attempt_id: int):
    attempt = _attempt_or_404(attempt_id)
    return _twiml(calls.screened_twiml(db.session, attempt, digits=request.form.get("Digits", ""),
                                       base_url=current_app.config["PUBLIC_BASE_URL"], now=utcnow()))


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
    return _twiml(calls.empty_twiml())
