"""Endpoints Twilio calls: voice TwiML, call and message status, inbound SMS.

Each checks `X-Twilio-Signature` against the URL Twilio used (built from
PUBLIC_BASE_URL, since behind a proxy the request URL is not what Twilio saw)
and answers 403 to anything unsigned or forged. The work is in
`outreach.services.twilio_events`, which is idempotent: Twilio retries and may
deliver callbacks out of order.
"""
import re
from collections.abc import Callable
from functools import wraps

from flask import Blueprint, abort, current_app, request

from outreach.extensions import csrf

bp = Blueprint("twilio", __name__, url_prefix="/twilio")
csrf.exempt(bp)


def public_url_of_request() -> str:
    path = request.full_path if request.query_string else request.path
    return current_app.config["PUBLIC_BASE_URL"] + path


# Twilio's SIDs: two letters and 32 hex digits. Anything else in a SID field is not from Twilio.
SID_FIELDS = ("AccountSid", "CallSid", "ParentCallSid", "DialCallSid", "MessageSid", "SmsSid", "SmsMessageSid")
_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")


def twilio_signed(view: Callable) -> Callable:
    @wraps(view)
    def wrapped(*args, **kwargs):
        gateway = current_app.extensions["twilio_gateway"]
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not gateway.validate_signature(public_url_of_request(), request.form.to_dict(), signature):
            abort(403)
        if any(not _SID.fullmatch(request.form[field]) for field in SID_FIELDS if request.form.get(field)):
            abort(400)
        return view(*args, **kwargs)

    return wrapped


# The webhook modules add their routes to `bp`.
from outreach.web.twilio import voice  # noqa: E402,F401
from outreach.web.twilio import messaging  # noqa: E402,F401
from outreach.web.twilio import inbound  # noqa: E402,F401
