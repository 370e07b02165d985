"""Voice webhooks of the closing loop: calls to the practice number, recordings, transcriptions, AMD, greetings.

All are signed (`twilio_signed`) and idempotent; the rules are in
`services.callbacks`, `services.voicemail` and `services.voicemail_drop`.
Webhooks about one inbound call must come from that call: the CallSid (or
the ParentCallSid of the practitioner's leg) and the number dialled must be
the call's own, and the AMD callback of a bridged call must be its client
leg's CallSid, else they are refused with 403.
"""
import time

from flask import Response, abort, current_app, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from outreach import jobs, tasks
from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import CallAttempt, InboundCall, Practitioner, Recording
from outreach.services import callbacks, voicemail, voicemail_drop
from outreach.web.twilio import bp, twilio_signed

# The AMD callback of the client's leg comes at the beep, seconds after the leg's
# first status callback stored its SID; a short wait covers callbacks racing.
_CLIENT_SID_WAIT_TRIES = 30
_CLIENT_SID_WAIT_PAUSE_SECONDS = 0.1


def _twiml(document: str) -> Response:
    return Response(document, mimetype="text/xml")


def _base_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"]


@bp.route("/inbound-call", methods=["POST"])
@twilio_signed
def inbound_call():
    form = request.form
    call_sid = form.get("CallSid")
    if not call_sid:
        abort(400)
    fields = {"call_sid": call_sid, "from_phone": form.get("From"), "to_phone": form.get("To"), "now": utcnow()}
    try:
        inbound = callbacks.receive_inbound_call(db.session, **fields)
        db.session.commit()
    except IntegrityError:
        # The same call delivered twice at once: the other request stored it.
        db.session.rollback()
        inbound = callbacks.receive_inbound_call(db.session, **fields)
    if inbound is None:
        return _twiml(callbacks.not_in_service_twiml())
    return _twiml(callbacks.answer_twiml(db.session, inbound, _base_url()))


@bp.route("/inbound-call-status", methods=["POST"])
@twilio_signed
def inbound_call_status():
    """The practice number's status callback: a call to it ended."""
    inbound = db.session.scalar(select(InboundCall).where(InboundCall.call_sid == request.form.get("CallSid")))
    if inbound is None:
        return "", 204  # a call no practice took
    if request.form.get("To") != inbound.to_phone:
        abort(403)
    callbacks.call_ended(db.session, inbound, request.form.to_dict(), utcnow())
    db.session.commit()
    return "", 204


def _inbound_of_this_call(inbound_call_id: int, *, leg: str) -> InboundCall:
    """The inbound call a webhook is about, if the webhook comes from that call (the caller's or the dialled leg)."""
    inbound = db.get_or_404(InboundCall, inbound_call_id)
    form = request.form
    own_sid = form.get("CallSid") if leg == "caller" else form.get("ParentCallSid")
    if own_sid != inbound.call_sid or (leg == "caller" and form.get("To") != inbound.to_phone):
        abort(403)
    return inbound


@bp.route("/inbound-call/<id:inbound_call_id>/screen", methods=["POST"])
@twilio_signed
def inbound_screen(inbound_call_id: int):
    inbound = _inbound_of_this_call(inbound_call_id, leg="dialled")
    return _twiml(callbacks.screen_twiml(inbound, _base_url()))


@bp.route("/inbound-call/<id:inbound_call_id>/screened", methods=["POST"])
@twilio_signed
def inbound_screened(inbound_call_id: int):
    inbound = _inbound_of_this_call(inbound_call_id, leg="dialled")
    document = callbacks.screened(db.session, inbound, request.form.get("Digits"), utcnow())
    db.session.commit()
    return _twiml(document)


@bp.route("/inbound-call/<id:inbound_call_id>/dial-done", methods=["POST"])
@twilio_signed
def dial_done(inbound_call_id: int):
    inbound = _inbound_of_this_call(inbound_call_id, leg="caller")
    document = callbacks.dial_finished(db.session, inbound, request.form.to_dict(), _base_url(), utcnow())
    db.session.commit()
    return _twiml(document)


@bp.route("/inbound-call/<id:inbound_call_id>/recorded", methods=["POST"])
@twilio_signed
def recorded(inbound_call_id: int):
    inbound = _inbound_of_this_call(inbound_call_id, leg="caller")
    document = callbacks.message_done(db.session, inbound, request.form.to_dict(), utcnow())
    db.session.commit()
    return _twiml(document)


@bp.route("/recording-status", methods=["POST"])
@twilio_signed
def recording_status():
    inbound = db.session.get(InboundCall, request.args.get("inbound_call", type=int) or 0)
    practitioner = db.session.get(Practitioner, request.args.get("greeting_of", type=int) or 0)
    if inbound is None and practitioner is None:
        abort(404)
    if practitioner is not None and request.args.get("call") != request.form.get("CallSid"):
        abort(403)  # a greeting is recorded on the call placed for it
    try:
        voicemail.record_status(db.session, request.form.to_dict(), inbound_call=inbound, greeting_of=practitioner,
                                now=utcnow())
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # a retry raced this one and stored the recording
    return "", 204


@bp.route("/transcription", methods=["POST"])
@twilio_signed
def transcription():
    inbound = db.get_or_404(InboundCall, request.args.get("inbound_call", type=int) or 0)
    if request.form.get("CallSid") != inbound.call_sid:
        abort(403)
    try:
        recording = voicemail.transcription(db.session, inbound, request.form.to_dict(), utcnow())
        note = voicemail.queue_note_to_practitioner(db.session, recording, utcnow()) if recording else None
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # a retry raced this one
        return "", 204
    if note is not None:
        jobs.dispatch(tasks.send_texts, [note.id])
    return "", 204


@bp.route("/amd/<id:attempt_id>", methods=["POST"])
@twilio_signed
def answering_machine(attempt_id: int):
    """Answering-machine detection on the client's leg of a bridged call; it must be that leg (its CallSid)."""
    attempt = db.get_or_404(CallAttempt, attempt_id)
    for _ in range(_CLIENT_SID_WAIT_TRIES):
        if attempt.client_call_sid:
            break
        db.session.rollback()  # the client leg's first status callback stores its SID; read it afresh
        time.sleep(_CLIENT_SID_WAIT_PAUSE_SECONDS)
    if not attempt.client_call_sid or request.form.get("CallSid") != attempt.client_call_sid:
        abort(403)
    voicemail_drop.machine_detected(db.session, attempt, request.form.to_dict(),
                                    current_app.extensions["twilio_gateway"], base_url=_base_url(),
                                    secret_key=current_app.config["SECRET_KEY"], now=utcnow())
    db.session.commit()
    return "", 204


@bp.route("/greeting/<id:practitioner_id>/record", methods=["POST"])
@twilio_signed
def greeting_record(practitioner_id: int):
    practitioner = _practitioner_called(practitioner_id)
    return _twiml(voicemail_drop.record_greeting_twiml(practitioner, _base_url(), request.form.get("CallSid", "")))


@bp.route("/greeting/<id:practitioner_id>/saved", methods=["POST"])
@twilio_signed
def greeting_saved(practitioner_id: int):
    return _twiml(voicemail_drop.greeting_saved_twiml(_practitioner_called(practitioner_id)))


@bp.route("/greeting/<id:practitioner_id>/status", methods=["POST"])
@twilio_signed
def greeting_call_status(practitioner_id: int):
    _practitioner_called(practitioner_id)
    # The greeting call's progress matters to nobody; its recording arrives by its own callback.
    return "", 204


def _practitioner_called(practitioner_id: int) -> Practitioner:
    """The practitioner a greeting webhook names, if it comes from a call to their phone."""
    practitioner = db.get_or_404(Practitioner, practitioner_id)
    if request.form.get("To") != practitioner.phone:
        abort(403)
    return practitioner


@bp.route("/greetings/<id:recording_id>")
def greeting_audio(recording_id: int):
    """The greeting's sound for Twilio's <Play>, which fetches without a signature: the URL carries a token."""
    if not voicemail_drop.greeting_token_is_valid(current_app.config["SECRET_KEY"], recording_id,
                                                  request.args.get("token")):
        abort(403)
    recording = db.get_or_404(Recording, recording_id)
    if recording.kind != voicemail.GREETING or not recording.playable:
        abort(404)
    sound = voicemail.audio(current_app.extensions["twilio_gateway"], recording)
    return Response(sound.content, mimetype=sound.content_type)
