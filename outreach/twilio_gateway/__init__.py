"""The app's only door to Twilio: place and update calls, send texts, fetch and delete recordings,
check webhook signatures.

Everything else in the app talks to a `TwilioGateway` and never to the SDK, so
that the demo can run without an account (`ConsoleGateway`) and tests and
benchmarks can point the real SDK at a fake server (`TwilioRestGateway` with
`api_url`, see `outreach.testing.fake_twilio`).

Failures surface as one exception type, `TwilioGatewayError`, whose `transient`
flag tells the caller whether retrying can help. A transient failure of a
create request does not mean Twilio did not act on it: Twilio's create is not
idempotent, so before resending a text, callers look at `recent_messages`,
and before creating a call again, at `recent_calls`.
"""

from __future__ import annotations

import abc
import collections
import itertools
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Mapping

from outreach.sound import silent_wav

log = logging.getLogger("outreach.twilio")

# Call progress events the app wants on its status callback; "answered"
# arrives with CallStatus=in-progress.
CALL_STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")

# How many of the newest messages between two numbers `recent_messages` looks
# at. The check runs minutes after a failed send, so the message it looks for,
# if Twilio accepted it, is among the newest few.
RECENT_MESSAGES_SCAN_LIMIT = 50

# Called by ConsoleGateway as status_sink(kind, params) with kind "call" or
# "message" and params named like Twilio's status callback fields.
StatusSink = Callable[[str, dict], None]


@dataclass(frozen=True)
class CallRequestResult:
    """What Twilio answered to a call request: the new call's SID and its status (normally "queued")."""

    sid: str
    status: str


@dataclass(frozen=True)
class CallRecord:
    """A call as Twilio lists it."""

    sid: str
    status: str
    to: str
    from_: str
    date_created: datetime | None


@dataclass(frozen=True)
class MessageResult:
    """A message resource as Twilio reports it (on create, or when listing recent messages)."""

    sid: str
    status: str
    error_code: int | None = None
    error_message: str | None = None
    date_created: datetime | None = None
    body: str | None = None


@dataclass(frozen=True)
class RecordingAudio:
    """A recording's sound, as Twilio serves its media."""

    content: bytes
    content_type: str


# Recordings are fetched as WAV, Twilio's default format for recording media.
RECORDING_MEDIA_EXTENSION = ".wav"


class TwilioGatewayError(Exception):
    """A request to Twilio failed.

    `code` is Twilio's error code when Twilio gave one (21211 invalid 'To'
    number, 21610 unsubscribed recipient, ...), `http_status` the HTTP status
    when there was a response. `transient` is True when the same request may
    succeed later (HTTP 5xx or 429, timeouts, connection errors).
    """

    def __init__(
        self,
        message: str,
        code: int | None = None,
        http_status: int | None = None,
        *,
        transient: bool,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.transient = transient

    def __str__(self) -> str:
        details = [
            f"Twilio error {self.code}" if self.code else None,
            f"HTTP {self.http_status}" if self.http_status else None,
        ]
        details_text = ", ".join(d for d in details if d)
        return f"{self.message} ({details_text})" if details_text else self.message


def is_transient_http_status(http_status: int) -> bool:
    """Whether an HTTP status from Twilio means "try again later" rather than "this request is wrong"."""
    return http_status >= 500 or http_status == 429


class TwilioGateway(abc.ABC):
    """What the app needs from Twilio. All methods raise `TwilioGatewayError` on failure."""

    @abc.abstractmethod
    def place_call(
        self, *, to: str, from_: str, url: str, status_callback: str, machine_detection: bool = False
    ) -> CallRequestResult:
        """Start an outbound call to `to`; Twilio fetches TwiML from `url` when it is answered.

        Status callbacks for the initiated, ringing, answered and completed
        events are POSTed to `status_callback`.
        """

    @abc.abstractmethod
    def send_sms(self, *, to: str, from_: str, body: str, status_callback: str) -> MessageResult:
        """Send a text; delivery status changes are POSTed to `status_callback`."""

    @abc.abstractmethod
    def recent_messages(self, *, to: str, from_: str, since: datetime) -> list[MessageResult]:
        """Messages from `from_` to `to` created at or after `since`, newest first.

        Used after a timeout or 5xx on `send_sms` to learn whether Twilio
        accepted the message before sending it again. A naive `since` is taken
        as UTC.
        """

    @abc.abstractmethod
    def update_call(self, call_sid: str, *, twiml: str) -> str:
        """Replace what a call in progress is doing with `twiml`; returns the call's status."""

    @abc.abstractmethod
    def recording_audio(self, recording_sid: str) -> RecordingAudio:
        """A recording's sound, fetched with the account's credentials."""

    @abc.abstractmethod
    def delete_recording(self, recording_sid: str) -> None:
        """Delete a recording at Twilio; one already gone counts as deleted."""

    @abc.abstractmethod
    def recent_calls(self, *, to: str, from_: str, since: datetime) -> list[CallRecord]:
        """Calls from `from_` to `to` created at or after `since`, newest first.

        Used after a timeout or 5xx on `place_call` to learn whether Twilio
        created the call (and is ringing the phone) before asking again.
        """

    @abc.abstractmethod
    def validate_signature(self, url: str, params: Mapping, signature: str | None) -> bool:
        """Whether a webhook request really comes from Twilio.

        `url` is the full URL Twilio requested (scheme, host, path and query),
        `params` the POSTed form fields, `signature` the X-Twilio-Signature header.
        """

    def close(self) -> None:
        """Release network resources; the gateway is not used afterwards."""


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _new_sid(prefix: str) -> str:
    """A SID shaped like Twilio's: two-letter prefix and 32 hex digits."""
    return prefix + secrets.token_hex(16)


class ConsoleGateway(TwilioGateway):
    """Sends nothing: logs each call and text, for development and the demo.

    So that the demo shows calls and texts progressing, each one is "walked"
    through plausible statuses on a background thread, `step_seconds` apart,
    by calling `status_sink(kind, params)` with Twilio's callback field names.
    The sink runs on that thread, not in any request.
    """

    # How many sent texts `recent_messages` remembers.
    _REMEMBERED_MESSAGES = 1000
    # What the walked call pretends: answered after ringing, talked this long.
    _CALL_DURATION_SECONDS = 42

    def __init__(self, status_sink: StatusSink | None = None, step_seconds: float = 1.0) -> None:
        self._status_sink = status_sink
        self._step_seconds = step_seconds
        # (to, from_, result) of the newest texts, newest first.
        self._sent: collections.deque[tuple[str, str, MessageResult]] = collections.deque(
            maxlen=self._REMEMBERED_MESSAGES
        )
        self._sent_lock = threading.Lock()
        self._calls: collections.deque[CallRecord] = collections.deque(maxlen=self._REMEMBERED_MESSAGES)
        self._walk_numbers = itertools.count(1)

    def place_call(
        self, *, to: str, from_: str, url: str, status_callback: str, machine_detection: bool = False
    ) -> CallRequestResult:
        sid = _new_sid("CA")
        log.info("console: call %s from %s to %s (TwiML %s, status to %s)", sid, from_, to, url, status_callback)
        with self._sent_lock:
            self._calls.appendleft(CallRecord(sid, "queued", to, from_, datetime.now(timezone.utc)))
        common = {"CallSid": sid, "To": to, "From": from_, "Direction": "outbound-api"}
        answered = {"AnsweredBy": "human"} if machine_detection else {}
        self._walk(
            "call",
            [
                {**common, "CallStatus": "initiated"},
                {**common, "CallStatus": "ringing"},
                {**common, **answered, "CallStatus": "in-progress"},
                {**common, **answered, "CallStatus": "completed", "CallDuration": str(self._CALL_DURATION_SECONDS)},
            ],
        )
        return CallRequestResult(sid=sid, status="queued")

    def send_sms(self, *, to: str, from_: str, body: str, status_callback: str) -> MessageResult:
        sid = _new_sid("SM")
        log.info("console: text %s from %s to %s (status to %s): %s", sid, from_, to, status_callback, body)
        result = MessageResult(sid=sid, status="queued", date_created=datetime.now(timezone.utc), body=body)
        with self._sent_lock:
            self._sent.appendleft((to, from_, result))
        common = {"MessageSid": sid, "To": to, "From": from_}
        self._walk("message", [{**common, "MessageStatus": "sent"}, {**common, "MessageStatus": "delivered"}])
        return result

    def recent_messages(self, *, to: str, from_: str, since: datetime) -> list[MessageResult]:
        since_utc = as_utc(since)
        with self._sent_lock:
            return [
                result
                for sent_to, sent_from, result in self._sent
                if sent_to == to and sent_from == from_ and result.date_created >= since_utc
            ]

    def update_call(self, call_sid: str, *, twiml: str) -> str:
        log.info("console: call %s now does %s", call_sid, twiml)
        return "in-progress"

    def recording_audio(self, recording_sid: str) -> RecordingAudio:
        # The console records nothing: a second of silence stands in for every recording.
        return RecordingAudio(silent_wav(seconds=1), "audio/x-wav")

    def delete_recording(self, recording_sid: str) -> None:
        log.info("console: recording %s deleted", recording_sid)

    def recent_calls(self, *, to: str, from_: str, since: datetime) -> list[CallRecord]:
        since_utc = as_utc(since)
        with self._sent_lock:
            return [call for call in self._calls
                    if call.to == to and call.from_ == from_ and call.date_created >= since_utc]

    def validate_signature(self, url: str, params: Mapping, signature: str | None) -> bool:
        # Without an auth token nothing can be validated, so no webhook is believed: the console's
        # own status changes reach the app through `status_sink`, never over HTTP.
        return False

    def _walk(self, kind: str, steps: list[dict]) -> None:
        if self._status_sink is None:
            for params in steps:
                log.info("console: %s status %s", kind, params)
            return
        thread = threading.Thread(
            target=self._deliver_steps,
            args=(kind, steps),
            name=f"console-twilio-walk-{next(self._walk_numbers)}",
            daemon=True,
        )
        thread.start()

    def _deliver_steps(self, kind: str, steps: list[dict]) -> None:
        for params in steps:
            time.sleep(self._step_seconds)
            try:
                self._status_sink(kind, params)
            except Exception:
                # One failing status must not stop the walk; the app logs its own errors too.
                log.exception("console: status sink failed for %s %s", kind, params)


def build_gateway(config: Mapping, *, status_sink: StatusSink | None = None) -> TwilioGateway:
    """The gateway the configuration asks for.

    TWILIO_BACKEND "console" (the default when no credentials are set) logs
    instead of sending; "twilio" (the default when TWILIO_ACCOUNT_SID and
    TWILIO_AUTH_TOKEN are set) uses the REST API, at TWILIO_API_URL when set,
    with TWILIO_TIMEOUT seconds per request. `status_sink` receives the
    console gateway's simulated status callbacks, TWILIO_CONSOLE_STEP_SECONDS
    apart.
    """
    backend = (config.get("TWILIO_BACKEND") or "").strip().lower()
    account_sid = config.get("TWILIO_ACCOUNT_SID") or ""
    auth_token = config.get("TWILIO_AUTH_TOKEN") or ""
    has_credentials = bool(account_sid and auth_token)
    if backend not in ("", "console", "twilio"):
        raise ValueError(f"TWILIO_BACKEND must be 'console' or 'twilio', not {backend!r}")
    if backend == "console" or (backend == "" and not has_credentials):
        return ConsoleGateway(
            status_sink=status_sink, step_seconds=float(config.get("TWILIO_CONSOLE_STEP_SECONDS", 1.0))
        )
    if not has_credentials:
        raise ValueError("TWILIO_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    from outreach.twilio_gateway.rest import TwilioRestGateway  # the SDK is loaded only where it is used

    return TwilioRestGateway(
        account_sid,
        auth_token,
        api_url=config.get("TWILIO_API_URL") or None,
        timeout=float(config.get("TWILIO_TIMEOUT") or 10),
    )
