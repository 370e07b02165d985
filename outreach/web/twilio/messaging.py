"""Twilio's messaging webhooks: delivery status of our texts, and texts clients send us."""
from flask import Response, request
from sqlalchemy.exc import IntegrityError
from twilio.twiml.messaging_response import MessagingResponse

from outreach.clock import utcnow
from outreach.extensions import db
from outreach.services import inbound_sms, sms_outbox
from outreach.web.ids import id_arg
from outreach.web.twilio import bp, twilio_signed


@bp.route("/message-status", methods=["POST"])
@twilio_signed
def message_status():
    sms_outbox.apply_status_callback(db.session, request.form,
                                     notification_id=request.args.get("notification", type=id_arg))
    db.session.commit()
    return "", 204


@bp.route("/inbound-sms", methods=["POST"])
@twilio_signed
def inbound_sms_received():
    form = request.form
    fields = {"message_sid": form.get("MessageSid") or form.get("SmsSid") or "", "from_phone": form.get("From", ""),
              "to_phone": form.get("To", ""), "body": form.get("Body")}
    if not fields["message_sid"]:
        return twiml(None), 400
    try:
        received = inbound_sms.receive(db.session, now=utcnow(), **fields)
        db.session.commit()
    except IntegrityError:
        # The same message delivered twice at once: the other request stored it.
        db.session.rollback()
        return twiml(None)
    if received.message is None:
        return twiml(None), 404  # sent to a number that is not one practice's: logged and refused
    return twiml(received.reply)


def twiml(reply: str | None) -> Response:
    """TwiML answering an incoming text: `reply` texted back, or nothing."""
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return Response(str(response), mimetype="text/xml")
