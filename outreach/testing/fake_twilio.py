"""A fake Twilio: the part of Twilio's REST API the app uses, plus the webhooks Twilio sends back.

It serves, under /2010-04-01/Accounts/{AccountSid}/, with HTTP basic auth
(account SID and auth token):

    POST Calls.json           GET Calls/{Sid}.json         POST Calls/{Sid}.json (update with Twiml)
    GET Calls.json
    POST Messages.json        GET Messages/{Sid}.json      GET Messages.json
    GET Recordings.json       GET Recordings/{Sid}.json    DELETE Recordings/{Sid}.json
    GET Recordings/{Sid}.wav  (the media, a WAV of silence as long as the recording)

with the JSON shapes, status codes and error codes of Twilio's API, and after
each create it plays what Twilio would do next, on background threads: status
callbacks for the call or message, the call's voice webhook, and for a
`<Dial><Number>` in the TwiML the dialled leg and the Dial `action`. Every
webhook is POSTed with a valid X-Twilio-Signature. (Twilio can also use GET
for webhooks; the fake always POSTs.)

The TwiML of a call is played verb by verb: <Say> and <Play> are noted as
heard on that leg (`fake.heard(call_sid)`); <Gather> gets the digits the
person on the leg presses (`fake.presses`, else the scenario's `digits`, else
"1" from a human and nothing from a machine), then its `action` (with no
digits only if `actionOnEmptyResult`); <Record>
records what they say (`fake.leaves_message`): a Recording resource, the
Record `action`, `recordingStatusCallback` and the transcription callback;
<Dial><Number url=...> runs the screening TwiML on the dialled leg before
connecting (a <Hangup> there leaves the legs unbridged: `DialBridged=false`),
and `machineDetection` with `amdStatusCallback` reports the leg's AnsweredBy
(the scenario's `answered_by`, e.g. "machine_end_beep"). A call updated with
new Twiml while in progress plays that instead. `fake.inbound_call(url,
from_, to)` rings the app's voice URL as a call from `from_` to `to` would.

In a test:

    with FakeTwilio() as fake:
        gateway = TwilioRestGateway(fake.account_sid, fake.auth_token, api_url=fake.url)
        fake.rule(to="+15005550001", error_code=21211)       # this number is invalid
        fake.scenario("+15005550002", "busy")                # calls to it are busy
        fake.fail_next(http_status=500)                      # next API request fails
        fake.slow_next(3.0)                                  # next API request answers 3 s late
        ...
        fake.wait_idle()                                     # all callbacks sent
        fake.requests, fake.callbacks                        # what happened

As its own process (e.g. for benchmarks, where several app workers share it;
its state lives in memory, so run one fake process, never several behind one
URL):

    python -m outreach.testing.fake_twilio --port 8765 --account-sid AC... --auth-token ...

It prints "FakeTwilio listening on http://HOST:PORT (account AC...)" once it
accepts requests, and stops on SIGTERM or Ctrl-C.

and steer it over HTTP with JSON bodies, under /__fake__/ (no auth):

    POST /__fake__/rule               {"to", "error_code", "http_status"?, "message"?}
    POST /__fake__/fail_next          {"http_status"?, "count"?, "accept_then_error"?, "error_code"?}
    POST /__fake__/scenario           {"to", "outcome", "error_code"?, "duration"?, "answered_by"?, "digits"?,
                                       "hold_seconds"?}
    POST /__fake__/latency            {"seconds"}
    POST /__fake__/slow_next          {"seconds", "count"?}
    POST /__fake__/reset              {}
    POST /__fake__/deliver_callbacks  {}                    -> {"callbacks": [...]}
    POST /__fake__/wait_idle          {"timeout"?}          -> {"idle": bool}
    POST /__fake__/post_signed        {"url", "params"}     -> {"status"}
    POST /__fake__/inbound_sms        {"url", "from", "to", "body"} -> {"status"}
    POST /__fake__/inbound_call       {"url", "from", "to", "status_callback"?}  -> {"call_sid"}
    POST /__fake__/presses            {"number", "digits"}
    POST /__fake__/leaves_message     {"number", "transcription"?, "duration"?}
    GET  /__fake__/requests | /__fake__/callbacks | /__fake__/pending_callbacks
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import http
import itertools
import json
import logging
import re
import secrets
import signal
import sys
import threading
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from twilio.request_validator import RequestValidator

from outreach.services.sms_cost import sms_cost
from outreach.sound import silent_wav

log = logging.getLogger("outreach.testing.fake_twilio")

DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "fedcba9876543210" * 2

API_VERSION = "2010-04-01"
CONTROL_PREFIX = "/__fake__/"
_API_PATH = re.compile(
    r"^/2010-04-01/Accounts/(?P<account_sid>[^/]+)/(?P<collection>Calls|Messages|Recordings)"
    r"(?:/(?P<sid>[^/.]+))?(?P<extension>\.json|\.wav|\.mp3)?$"
)
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")

CALL_OUTCOMES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
MESSAGE_OUTCOMES = frozenset({"delivered", "undelivered", "failed"})
DEFAULT_CALL_DURATION_SECONDS = 30
# Carrier error codes reported with an undelivered or failed message when the scenario names none.
DEFAULT_MESSAGE_ERROR_CODES = {"undelivered": 30003, "failed": 30008}
# Twilio gives up on a webhook after 15 seconds.
CALLBACK_TIMEOUT_SECONDS = 15

# Messages for the error codes the fake produces or is commonly told to produce.
ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    21201: "No 'To' number is specified",
    21205: "Url parameter is required.",
    21211: "Invalid 'To' Phone Number",
    21213: "No 'From' number is specified",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number is not currently reachable via SMS",
    21614: "'To' number is not a valid mobile number",
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
    21220: "Call is not in-progress. Cannot redirect.",
}
# How long a recorded message is when the scenario does not say.
DEFAULT_MESSAGE_SECONDS = 8
# Nested <Redirect>s and actions one call may follow, as a guard against loops.
MAX_TWIML_DOCUMENTS = 20


def _first(pairs: list[tuple[str, str]], name: str) -> str | None:
    """The first value of field `name` among (name, value) pairs, or None."""
    return next((value for key, value in pairs if key == name), None)


def _all(pairs: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in pairs if key == name]


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _rfc2822(moment: datetime) -> str:
    """Twilio's date format, e.g. "Tue, 31 Aug 2010 20:36:28 +0000"."""
    return format_datetime(moment)


# --- What the fake records -------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request to the REST API (control requests are not recorded) and the fake's answer."""

    method: str
    path: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    status: int
    response: dict

    def form_value(self, name: str) -> str | None:
        """The first value of form field `name`, or None."""
        return _first(self.form, name)

    def form_values(self, name: str) -> list[str]:
        return _all(self.form, name)

    def to_json(self) -> dict:
        data = asdict(self)
        data["body"] = self.body.decode("utf-8", errors="replace")
        return data


@dataclass(frozen=True)
class RecordedCallback:
    """One webhook the fake POSTed, and how the app answered.

    `kind` is "call-status", "message-status", "voice", "dial-action", "screen", "gather",
    "redirect", "record-action", "recording-status", "transcription", "amd-status",
    "inbound-sms" or "manual" (from `post_signed`). `status` is None when the
    URL could not be reached; `error` then says why.
    """

    kind: str
    url: str
    params: dict[str, str]
    signature: str
    status: int | None
    response_body: str
    error: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PendingSimulation:
    """Callbacks for one call or message, held back while `auto_callbacks` is off."""

    resource: str  # "call" or "message"
    sid: str
    to: str

    def to_json(self) -> dict:
        return asdict(self)


# --- How the fake is told to behave ----------------------------------------


@dataclass(frozen=True)
class _Rule:
    error_code: int
    http_status: int
    message: str | None


@dataclass(frozen=True)
class _Failure:
    http_status: int
    error_code: int
    message: str
    accept_then_error: bool


@dataclass(frozen=True)
class Scenario:
    """How calls or messages to one number end (see `FakeTwilio.scenario`)."""

    outcome: str
    error_code: int | None = None
    duration: int | None = None
    answered_by: str | None = None
    # What the person answering presses at a <Gather>: None means "1" for a
    # human and nothing for a machine; "" means no key at all.
    digits: str | None = None
    # Real seconds an answered dialled leg stays up, during which the call can be updated.
    hold_seconds: float = 0.0


class _ApiError(Exception):
    """Answered as Twilio's error JSON."""

    def __init__(self, http_status: int, code: int, message: str | None = None) -> None:
        super().__init__(message or ERROR_MESSAGES.get(code) or f"Error {code}")
        self.http_status = http_status
        self.code = code

    def payload(self) -> dict:
        return {
            "code": self.code,
            "message": str(self),
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.http_status,
        }


def _not_found(path: str) -> _ApiError:
    return _ApiError(404, 20404, f"The requested resource {path} was not found")


@dataclass(frozen=True)
class _Simulation:
    """What Twilio does after a create: `play` sends the callbacks of the described resource."""

    description: PendingSimulation
    play: Callable[[], None]


@dataclass
class _ApiAnswer:
    status: int
    payload: dict | None
    headers: dict[str, str] = field(default_factory=dict)
    # A body that is not JSON (recording media), sent with headers["Content-Type"].
    raw: bytes | None = None
    # Started once the answer has been written.
    simulation: _Simulation | None = None


@dataclass(frozen=True)
class _CallPlan:
    """What a call create asked for that matters to what happens next."""

    sid: str
    to: str
    from_: str
    url: str | None
    twiml: str | None
    status_callback: str | None
    status_callback_events: frozenset[str]
    machine_detection: bool


@dataclass(frozen=True)
class _Dial:
    """The `<Dial>` of a call's TwiML, as far as the fake acts on it."""

    number: str
    caller_id: str | None
    action: str | None
    status_callback: str | None
    status_callback_events: frozenset[str]
    # Screening TwiML run on the dialled leg before the legs are bridged.
    url: str | None = None
    machine_detection: bool = False
    amd_status_callback: str | None = None


def _events(values: list[str]) -> frozenset[str]:
    """Callback events from repeated and/or space-separated values; Twilio's default is "completed" only."""
    events = frozenset(event for value in values for event in value.split())
    return events or frozenset({"completed"})


def _parse_twiml(twiml: str) -> ElementTree.Element | None:
    try:
        root = ElementTree.fromstring(twiml)
    except ElementTree.ParseError:
        log.warning("fake twilio: TwiML is not XML: %r", twiml[:200])
        return None
    return root if root.tag == "Response" else None


def _parse_dial(twiml: str) -> _Dial | None:
    root = _parse_twiml(twiml)
    dial = root.find("Dial") if root is not None else None
    return _dial_of(dial) if dial is not None else None


def _dial_of(dial: ElementTree.Element) -> _Dial | None:
    number = dial.find("Number")
    if number is not None and (number.text or "").strip():
        return _Dial(
            number=number.text.strip(),
            caller_id=dial.get("callerId"),
            action=dial.get("action"),
            status_callback=number.get("statusCallback"),
            status_callback_events=_events([number.get("statusCallbackEvent", "")]),
            url=number.get("url"),
            machine_detection=bool(number.get("machineDetection")),
            amd_status_callback=number.get("amdStatusCallback"),
        )
    if (dial.text or "").strip():
        return _Dial(
            number=dial.text.strip(),
            caller_id=dial.get("callerId"),
            action=dial.get("action"),
            status_callback=None,
            status_callback_events=frozenset(),
        )
    return None


def _num_segments(body: str) -> int:
    """SMS segments of a body, as Twilio bills them (GSM-7 or UCS-2); a body-less message counts one."""
    return max(1, sms_cost(body).segments)


def _parse_date_filter(value: str) -> date | datetime:
    """A DateSent filter value: a day (YYYY-MM-DD) or a moment (ISO 8601 or RFC 2822; naive means UTC)."""
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            raise _ApiError(400, 400, f"Invalid DateSent filter: {value!r}") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


@dataclass(frozen=True)
class _LegContext:
    """A call leg as the TwiML player sees it: its SID, who is on it, and the fields its webhooks carry."""

    sid: str
    party: str  # the person's number on this leg: the caller of an inbound call, the callee of an outbound one
    params: dict[str, str]
    answered_by: str | None = None  # what machine detection said of the leg, if it was asked


@dataclass(frozen=True)
class _Message:
    """What someone says when asked to leave a message (see `FakeTwilio.leaves_message`)."""

    transcription: str
    duration: int


class FakeTwilio:
    """The fake Twilio server; see the module docstring.

    `latency` delays every API answer by that many seconds (the request is
    processed first, as Twilio would: a client that times out may still have
    created something). `callback_delay` spaces the callbacks of one call or
    message that many seconds apart. With `auto_callbacks` False nothing is
    sent until `deliver_callbacks()`.
    """

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        latency: float = 0.0,
        auto_callbacks: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        callback_delay: float = 0.0,
        callback_workers: int = 8,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.latency = latency
        self.auto_callbacks = auto_callbacks
        self.callback_delay = callback_delay
        self._initial_latency = latency
        self._host = host
        self._port = port
        self._callback_workers = callback_workers
        self._validator = RequestValidator(auth_token)
        self._expected_authorization = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()

        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._callbacks: list[RecordedCallback] = []
        self._rules: dict[str, _Rule] = {}
        self._failures: list[_Failure] = []
        self._slow_answers: list[float] = []
        self._call_scenarios: dict[str, Scenario] = {}
        self._message_scenarios: dict[str, Scenario] = {}
        self._calls: dict[str, dict] = {}
        self._messages: dict[str, dict] = {}  # in creation order
        self._recordings: dict[str, dict] = {}  # in creation order
        self._digits: dict[str, str] = {}
        self._spoken_messages: dict[str, _Message] = {}
        self._heard: dict[str, list[tuple[str, str]]] = {}
        self._updates: dict[str, str] = {}  # call SID -> Twiml it was updated with, not played yet
        self._pending: list[_Simulation] = []
        # Simulations started or about to start (their create's answer is
        # being written) and not finished: `wait_idle` right after a create
        # waits for its callbacks.
        self._unfinished_simulations = 0
        self._simulations_done = threading.Condition(self._lock)

        self._server: _Server | None = None
        self._server_thread: threading.Thread | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    # --- lifecycle -----------------------------------------------------------

    def start(self) -> "FakeTwilio":
        self._server = _Server((self._host, self._port), self)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._callback_workers, thread_name_prefix="fake-twilio-callbacks"
        )
        self._server_thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-twilio-server", daemon=True
        )
        self._server_thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server_thread.join()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._server = None

    def __enter__(self) -> "FakeTwilio":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL to give the gateway as `api_url`, e.g. "http://127.0.0.1:40123"."""
        if self._server is None:
            raise RuntimeError("FakeTwilio is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- what happened --------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """REST API requests so far, oldest first (a snapshot)."""
        with self._lock:
            return list(self._requests)

    @property
    def callbacks(self) -> list[RecordedCallback]:
        """Webhooks sent so far, oldest first (a snapshot)."""
        with self._lock:
            return list(self._callbacks)

    def call(self, sid: str) -> dict:
        """The call resource as GET Calls/{Sid}.json would return it."""
        with self._lock:
            return dict(self._calls[sid])

    def message(self, sid: str) -> dict:
        """The message resource as GET Messages/{Sid}.json would return it."""
        with self._lock:
            return dict(self._messages[sid])

    def recording(self, sid: str) -> dict:
        """The recording resource as GET Recordings/{Sid}.json would return it (deleted ones too)."""
        with self._lock:
            return dict(self._recordings[sid])

    @property
    def recordings(self) -> list[dict]:
        with self._lock:
            return [dict(recording) for recording in self._recordings.values()]

    def heard(self, call_sid: str) -> list[tuple[str, str]]:
        """What was said and played on a call leg, in order: ("say", text) and ("play", url)."""
        with self._lock:
            return list(self._heard.get(call_sid, []))

    def calls_between(self, from_: str, to: str) -> list[dict]:
        with self._lock:
            return [dict(call) for call in self._calls.values() if call["from"] == from_ and call["to"] == to]

    # --- steering ---------------------------------------------------------------

    def rule(self, to: str, error_code: int, http_status: int = 400, message: str | None = None) -> None:
        """Refuse every call and message create to `to` with this Twilio error."""
        with self._lock:
            self._rules[to] = _Rule(error_code, http_status, message)

    def fail_next(
        self,
        http_status: int = 500,
        count: int = 1,
        accept_then_error: bool = False,
        error_code: int | None = None,
    ) -> None:
        """Answer the next `count` API requests with an error.

        With `accept_then_error` the request is carried out first (a message
        is created and sent) and only the answer is an error, as when Twilio
        fails after accepting: its create is not idempotent.
        """
        # Twilio's codes for HTTP-level errors are 20000 + status (20429, 20500, ...).
        code = error_code or 20000 + http_status
        failure = _Failure(http_status, code, http.HTTPStatus(http_status).phrase, accept_then_error)
        with self._lock:
            self._failures.extend([failure] * count)

    def slow_next(self, seconds: float, count: int = 1) -> None:
        """Answer the next `count` API requests `seconds` late (after carrying them out, as Twilio would:
        a client that gives up waiting may still have created a call or message)."""
        with self._lock:
            self._slow_answers.extend([float(seconds)] * count)

    def scenario(
        self,
        to: str,
        outcome: str,
        error_code: int | None = None,
        duration: int | None = None,
        answered_by: str | None = None,
        digits: str | None = None,
        hold_seconds: float = 0.0,
    ) -> None:
        """How calls and/or messages to `to` end.

        Call outcomes: completed (the default), busy, no-answer, failed,
        canceled; `duration` is the talk time of a completed call and
        `answered_by` the AnsweredBy reported when the call asked for
        machine detection (default "human"), `digits` what is pressed at a
        `<Gather>` (default "1" for a human, nothing for a machine; "" for
        no key at all; `presses` overrides it), `hold_seconds` keeps an
        answered dialled leg up that long in real time, or until the call is
        updated (e.g. to play a voicemail greeting). Message outcomes: delivered (the
        default), undelivered, failed, with `error_code` (defaults 30003,
        30008). "failed" applies to both.
        """
        if outcome not in CALL_OUTCOMES | MESSAGE_OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        chosen = Scenario(outcome, error_code, duration, answered_by, digits, hold_seconds)
        with self._lock:
            if outcome in CALL_OUTCOMES:
                self._call_scenarios[to] = chosen
            if outcome in MESSAGE_OUTCOMES:
                self._message_scenarios[to] = chosen

    def presses(self, number: str, digits: str) -> None:
        """What the person at `number` presses when a <Gather> asks them ("" presses nothing)."""
        with self._lock:
            self._digits[number] = digits

    def leaves_message(self, number: str, transcription: str = "", duration: int = DEFAULT_MESSAGE_SECONDS) -> None:
        """The person at `number`, asked by <Record>, speaks for `duration` seconds, saying `transcription`.

        Without this they hang up at the beep and nothing is recorded.
        """
        with self._lock:
            self._spoken_messages[number] = _Message(transcription, duration)

    def inbound_call(self, url: str, from_: str, to: str, status_callback: str | None = None) -> str:
        """A call from `from_` to the number `to`, whose voice URL is `url`; returns its SID.

        Played like Twilio would, in the background (see `wait_idle`). `status_callback` is
        the number's status callback URL, told when the call ends.
        """
        sid = "CA" + secrets.token_hex(16)
        with self._lock:
            self._calls[sid] = self._call_resource(sid, to=to, from_=from_, direction="inbound")
            self._unfinished_simulations += 1
        simulation = _Simulation(PendingSimulation("call", sid, to),
                                 lambda: self._simulate_inbound(sid, url, status_callback))
        self._start_simulation(simulation)
        return sid

    def reset(self) -> None:
        """Forget all recordings, rules, failures, scenarios, resources and pending callbacks; restore latency."""
        with self._lock:
            self._requests.clear()
            self._callbacks.clear()
            self._rules.clear()
            self._failures.clear()
            self._slow_answers.clear()
            self._call_scenarios.clear()
            self._message_scenarios.clear()
            self._calls.clear()
            self._messages.clear()
            self._recordings.clear()
            self._digits.clear()
            self._spoken_messages.clear()
            self._heard.clear()
            self._updates.clear()
            self._pending.clear()
            self.latency = self._initial_latency

    # --- callbacks ---------------------------------------------------------------

    def pending_callbacks(self) -> list[PendingSimulation]:
        """Calls and messages whose callbacks wait for `deliver_callbacks` (auto_callbacks off)."""
        with self._lock:
            return [simulation.description for simulation in self._pending]

    def deliver_callbacks(self) -> list[RecordedCallback]:
        """Play all pending simulations now, in this thread, oldest first; returns the callbacks sent."""
        with self._lock:
            pending, self._pending = self._pending, []
            first_new = len(self._callbacks)
        for simulation in pending:
            simulation.play()
        with self._lock:
            return self._callbacks[first_new:]

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every scheduled simulation has sent its callbacks; False on timeout."""
        with self._simulations_done:
            return self._simulations_done.wait_for(lambda: self._unfinished_simulations == 0, timeout)

    def post_signed(self, url: str, params: dict[str, str]) -> int | None:
        """POST a hand-made webhook, signed like Twilio's; the app's HTTP status (None if unreachable)."""
        return self._send_webhook("manual", url, params).status

    def send_inbound_sms(self, url: str, from_: str, to: str, body: str) -> int | None:
        """Deliver an incoming text to the app's messaging webhook; the app's HTTP status."""
        sid = "SM" + secrets.token_hex(16)
        now = _now()
        with self._lock:
            self._messages[sid] = self._message_resource(
                sid, to=to, from_=from_, body=body, status="received", direction="inbound", created=now
            ) | {"date_sent": _rfc2822(now)}
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": str(_num_segments(body)),
            "SmsStatus": "received",
            "ApiVersion": API_VERSION,
        }
        return self._send_webhook("inbound-sms", url, params).status

    # --- the REST API ------------------------------------------------------------

    def _answer_api_request(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> _ApiAnswer:
        query_pairs = parse_qsl(query, keep_blank_values=True)
        form_pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True) if body else []
        try:
            if headers.get("Authorization") != self._expected_authorization:
                raise _ApiError(401, 20003)
            operation = self._operation(method, path)
            with self._lock:
                failure = self._failures.pop(0) if self._failures else None
            if failure and not failure.accept_then_error:
                raise _ApiError(failure.http_status, failure.error_code, failure.message)
            answer = operation(query_pairs, form_pairs)
            if failure:
                # Carried out, but the client is told it failed.
                error = _ApiError(failure.http_status, failure.error_code, failure.message)
                answer = _ApiAnswer(error.http_status, error.payload(), simulation=answer.simulation)
        except _ApiError as error:
            extra_headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if error.http_status == 401 else {}
            answer = _ApiAnswer(error.http_status, error.payload(), headers=extra_headers)
        with self._lock:
            self._requests.append(
                RecordedRequest(
                    method, path, query_pairs, form_pairs, headers, body, answer.status, answer.payload or {}
                )
            )
            if answer.simulation is not None:
                if self.auto_callbacks:
                    self._unfinished_simulations += 1
                else:
                    self._pending.append(answer.simulation)
                    answer.simulation = None
        return answer

    def _operation(self, method: str, path: str) -> Callable[[list, list], _ApiAnswer]:
        match = _API_PATH.match(path)
        if match is None or match["account_sid"] != self.account_sid:
            raise _not_found(path)
        collection, sid = match["collection"], match["sid"]
        extension = match["extension"] or ""
        if collection == "Recordings" and sid is not None and extension != ".json" and method == "GET":
            return lambda query, form: self._recording_media(sid, path, extension)
        if extension != ".json":
            raise _not_found(path)
        if collection == "Recordings":
            if sid is None and method == "GET":
                return lambda query, form: self._list_recordings(path, query)
            if sid is not None and method == "DELETE":
                return lambda query, form: self._delete_recording(sid, path)
        if collection == "Calls" and sid is not None and method == "POST":
            return lambda query, form: self._update_call(sid, path, form)
        if collection == "Calls" and sid is None and method == "POST":
            return self._create_call
        if collection == "Messages" and sid is None and method == "POST":
            return self._create_message
        if collection == "Messages" and sid is None and method == "GET":
            return lambda query, form: self._list_messages(path, query)
        if collection == "Calls" and sid is None and method == "GET":
            return lambda query, form: self._list_calls(path, query)
        if sid is not None and method == "GET":
            store = {"Calls": self._calls, "Messages": self._messages, "Recordings": self._recordings}[collection]
            return lambda query, form: self._fetch(store, sid, path)
        raise _ApiError(405, 20004, f"FakeTwilio does not implement {method} {path}")

    def _next_slow_answer(self) -> float:
        with self._lock:
            return self._slow_answers.pop(0) if self._slow_answers else 0.0

    def _fetch(self, store: dict[str, dict], sid: str, path: str) -> _ApiAnswer:
        with self._lock:
            if sid not in store or store[sid].get("status") == "deleted":
                raise _not_found(path)
            return _ApiAnswer(200, dict(store[sid]))

    def _update_call(self, sid: str, path: str, form: list) -> _ApiAnswer:
        """Redirect a call in progress to new TwiML (Twiml or Url), or end it (Status=completed|canceled)."""
        twiml, url, status = _first(form, "Twiml"), _first(form, "Url"), _first(form, "Status")
        with self._lock:
            call = self._calls.get(sid)
            if call is None:
                raise _not_found(path)
            if call["status"] in CALL_OUTCOMES:
                raise _ApiError(400, 21220)
            if status in ("completed", "canceled"):
                self._updates[sid] = "<Response><Hangup/></Response>"
            elif twiml is not None or url:
                self._updates[sid] = twiml if twiml is not None else f'<Response><Redirect>{url}</Redirect></Response>'
            else:
                raise _ApiError(400, 21205, "Either Url, Twiml or Status is required.")
            return _ApiAnswer(200, dict(call))

    def _recording_media(self, sid: str, path: str, extension: str) -> _ApiAnswer:
        with self._lock:
            recording = self._recordings.get(sid)
        if recording is None or recording["status"] == "deleted":
            raise _not_found(path)
        if extension == ".mp3":
            raise _ApiError(405, 20004, "FakeTwilio serves recording media as WAV only")
        audio = silent_wav(int(recording["duration"] or 0) or 1)
        return _ApiAnswer(200, None, headers={"Content-Type": "audio/x-wav"}, raw=audio)

    def _delete_recording(self, sid: str, path: str) -> _ApiAnswer:
        with self._lock:
            recording = self._recordings.get(sid)
            if recording is None or recording["status"] == "deleted":
                raise _not_found(path)
            recording.update(status="deleted", date_updated=_rfc2822(_now()))
        return _ApiAnswer(204, None)

    def _list_recordings(self, path: str, query: list) -> _ApiAnswer:
        params = dict(query)
        try:
            page_size = min(max(int(params.get("PageSize", 50)), 1), 1000)
            page = max(int(params.get("Page", 0)), 0)
        except ValueError:
            raise _ApiError(400, 400, "PageSize and Page must be integers") from None
        with self._lock:
            newest_first = [dict(r) for r in reversed(self._recordings.values()) if r["status"] != "deleted"]
        matching = [r for r in newest_first if params.get("CallSid") in (None, r["call_sid"])]
        start = page * page_size
        on_page = matching[start : start + page_size]
        kept = [(key, value) for key, value in query if key == "CallSid"]

        def page_uri(number: int) -> str:
            return f"{path}?{urlencode(kept + [('PageSize', page_size), ('Page', number)])}"

        return _ApiAnswer(200, {
            "recordings": on_page,
            "end": start + len(on_page) - 1 if on_page else 0,
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if start + page_size < len(matching) else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "start": start,
            "uri": page_uri(page),
        })

    def _refuse_by_rule(self, to: str) -> None:
        with self._lock:
            rule = self._rules.get(to)
        if rule is not None:
            raise _ApiError(rule.http_status, rule.error_code, rule.message)

    def _create_call(self, query: list, form: list) -> _ApiAnswer:
        to, from_ = _first(form, "To"), _first(form, "From")
        url, twiml = _first(form, "Url"), _first(form, "Twiml")
        if not to:
            raise _ApiError(400, 21201)
        if not from_:
            raise _ApiError(400, 21213)
        if not (url or twiml):
            raise _ApiError(400, 21205, "Either Url or Twiml is required.")
        if not (_E164.match(to) or to.startswith(("client:", "sip:"))):
            raise _ApiError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        self._refuse_by_rule(to)
        sid = "CA" + secrets.token_hex(16)
        resource = self._call_resource(sid, to=to, from_=from_, direction="outbound-api")
        with self._lock:
            self._calls[sid] = resource
        plan = _CallPlan(
            sid=sid,
            to=to,
            from_=from_,
            url=url,
            twiml=twiml,
            status_callback=_first(form, "StatusCallback"),
            status_callback_events=_events(_all(form, "StatusCallbackEvent")),
            machine_detection=bool(_first(form, "MachineDetection")),
        )
        return _ApiAnswer(
            201,
            dict(resource),
            simulation=_Simulation(PendingSimulation("call", sid, to), lambda: self._simulate_call(plan)),
        )

    def _create_message(self, query: list, form: list) -> _ApiAnswer:
        to, from_, body = _first(form, "To"), _first(form, "From"), _first(form, "Body")
        messaging_service_sid = _first(form, "MessagingServiceSid")
        if not to:
            raise _ApiError(400, 21604)
        if not (from_ or messaging_service_sid):
            raise _ApiError(400, 21603)
        if not (body or _first(form, "MediaUrl") or _first(form, "ContentSid")):
            raise _ApiError(400, 21602)
        if not _E164.match(to):
            raise _ApiError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        self._refuse_by_rule(to)
        sid = "SM" + secrets.token_hex(16)
        resource = self._message_resource(
            sid, to=to, from_=from_, body=body or "", status="queued", direction="outbound-api", created=_now()
        )
        resource["messaging_service_sid"] = messaging_service_sid
        with self._lock:
            self._messages[sid] = resource
        status_callback = _first(form, "StatusCallback")
        return _ApiAnswer(
            201,
            dict(resource),
            simulation=_Simulation(
                PendingSimulation("message", sid, to), lambda: self._simulate_message(sid, status_callback)
            ),
        )

    def _list_calls(self, path: str, query: list) -> _ApiAnswer:
        """Calls, newest first, filtered by To and From (Twilio's other filters are not used by the app)."""
        params = dict(query)
        unsupported = sorted(set(params) - {"To", "From", "PageSize", "Page"})
        if unsupported:
            raise _ApiError(400, 400, f"FakeTwilio does not filter calls by {', '.join(unsupported)}")
        with self._lock:
            newest_first = [dict(call) for call in reversed(self._calls.values())]
        matching = [call for call in newest_first
                    if params.get("To") in (None, call["to"]) and params.get("From") in (None, call["from"])]
        return self._page(path, query, "calls", matching, ("To", "From"))

    def _page(self, path: str, query: list, key: str, matching: list[dict], filters: tuple[str, ...]) -> _ApiAnswer:
        params = dict(query)
        try:
            page_size = min(max(int(params.get("PageSize", 50)), 1), 1000)
            page = max(int(params.get("Page", 0)), 0)
        except ValueError:
            raise _ApiError(400, 400, "PageSize and Page must be integers") from None
        start = page * page_size
        on_page = matching[start : start + page_size]
        kept_filters = [(name, value) for name, value in query if name in filters]

        def page_uri(number: int) -> str:
            return f"{path}?{urlencode(kept_filters + [('PageSize', page_size), ('Page', number)])}"

        return _ApiAnswer(
            200,
            {
                key: on_page,
                "end": start + len(on_page) - 1 if on_page else 0,
                "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) if start + page_size < len(matching) else None,
                "page": page,
                "page_size": page_size,
                "previous_page_uri": page_uri(page - 1) if page > 0 else None,
                "start": start,
                "uri": page_uri(page),
            },
        )

    def _list_messages(self, path: str, query: list) -> _ApiAnswer:
        params = dict(query)
        date_filters = [
            (operator, _parse_date_filter(params[name]))
            for name, operator in (("DateSent", "="), ("DateSent>", ">="), ("DateSent<", "<="))
            if params.get(name)
        ]
        with self._lock:
            newest_first = [dict(message) for message in reversed(self._messages.values())]
        matching = [
            message
            for message in newest_first
            if params.get("To") in (None, message["to"])
            and params.get("From") in (None, message["from"])
            and all(_date_matches(message["date_sent"], operator, bound) for operator, bound in date_filters)
        ]
        return self._page(path, query, "messages", matching, ("To", "From", "DateSent", "DateSent>", "DateSent<"))

    def _resource_uri(self, collection: str, sid: str) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/{collection}/{sid}"

    def _call_resource(
        self, sid: str, *, to: str, from_: str, direction: str, parent_call_sid: str | None = None
    ) -> dict:
        base = self._resource_uri("Calls", sid)
        created = _rfc2822(_now())
        return {
            "account_sid": self.account_sid,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": created,
            "date_updated": created,
            "direction": direction,
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": from_,
            "from_formatted": from_,
            "group_sid": None,
            "parent_call_sid": parent_call_sid,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": sid,
            "start_time": None,
            "status": "queued",
            "subresource_uris": {
                name: f"{base}/{name.title().replace('_', '')}.json"
                for name in ("notifications", "recordings", "events")
            },
            "to": to,
            "to_formatted": to,
            "trunk_sid": None,
            "uri": f"{base}.json",
        }

    def _message_resource(
        self, sid: str, *, to: str, from_: str | None, body: str, status: str, direction: str, created: datetime
    ) -> dict:
        base = self._resource_uri("Messages", sid)
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": _rfc2822(created),
            "date_sent": None,
            "date_updated": _rfc2822(created),
            "direction": direction,
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(_num_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": status,
            "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
            "to": to,
            "uri": f"{base}.json",
        }

    def _update(self, store: dict[str, dict], sid: str, **changes) -> dict:
        with self._lock:
            store[sid].update(changes, date_updated=_rfc2822(_now()))
            return dict(store[sid])

    # --- playing what Twilio does after a create ---------------------------------

    def _start_simulation(self, simulation: _Simulation) -> None:
        try:
            self._executor.submit(self._run_simulation, simulation)
        except RuntimeError:
            # Stopped between answering the create and starting its callbacks.
            self._simulation_finished()

    def _simulation_finished(self) -> None:
        with self._simulations_done:
            self._unfinished_simulations -= 1
            self._simulations_done.notify_all()

    def _run_simulation(self, simulation: _Simulation) -> None:
        try:
            simulation.play()
        except Exception:
            log.exception("fake twilio: simulating %s failed", simulation.description)
        finally:
            self._simulation_finished()

    def _pause(self) -> None:
        if self.callback_delay:
            time.sleep(self.callback_delay)

    def _send_webhook(self, kind: str, url: str, params: dict[str, str]) -> RecordedCallback:
        signature = self._validator.compute_signature(url, params)
        headers = {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"}
        try:
            response = requests.post(
                url, data=params, headers=headers, timeout=CALLBACK_TIMEOUT_SECONDS, allow_redirects=False
            )
            record = RecordedCallback(kind, url, dict(params), signature, response.status_code, response.text)
        except requests.RequestException as exc:
            record = RecordedCallback(kind, url, dict(params), signature, None, "", f"{exc.__class__.__name__}: {exc}")
        with self._lock:
            self._callbacks.append(record)
        return record

    def _simulate_message(self, sid: str, status_callback: str | None) -> None:
        message = self.message(sid)
        with self._lock:
            scenario = self._message_scenarios.get(message["to"], Scenario("delivered"))
        error_code = None
        if scenario.outcome != "delivered":
            error_code = scenario.error_code or DEFAULT_MESSAGE_ERROR_CODES[scenario.outcome]
        steps = ["queued", "failed"] if scenario.outcome == "failed" else ["queued", "sent", scenario.outcome]
        common = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "From": message["from"] or "",
            "To": message["to"],
            "ApiVersion": API_VERSION,
        }
        for status in steps:
            changes: dict = {"status": status}
            params = {**common, "MessageStatus": status, "SmsStatus": status}
            if status == "sent":
                changes["date_sent"] = _rfc2822(_now())
            if status in DEFAULT_MESSAGE_ERROR_CODES:
                changes.update(error_code=error_code, error_message=ERROR_MESSAGES.get(error_code))
                params["ErrorCode"] = str(error_code)
            self._update(self._messages, sid, **changes)
            if status_callback:
                self._pause()
                self._send_webhook("message-status", status_callback, params)

    def _call_scenario(self, to: str) -> Scenario:
        with self._lock:
            return self._call_scenarios.get(to, Scenario("completed"))

    def _simulate_call(self, plan: _CallPlan) -> None:
        scenario = self._call_scenario(plan.to)
        answered_by = (scenario.answered_by or "human") if plan.machine_detection else None
        common = {
            "CallSid": plan.sid,
            "AccountSid": self.account_sid,
            "From": plan.from_,
            "To": plan.to,
            "Direction": "outbound-api",
            "ApiVersion": API_VERSION,
        }
        reporter = _CallStatusReporter(self, plan.status_callback, plan.status_callback_events, common)

        def connect() -> None:
            twiml = plan.twiml if plan.twiml is not None else self._fetch_twiml(plan.url, common, answered_by)
            if twiml:
                self._play_twiml(_LegContext(plan.sid, plan.to, {**common, "CallStatus": "in-progress"}, answered_by),
                                 twiml, plan.url)

        self._play_call_leg(plan.sid, reporter, scenario, answered_by, on_answer=connect)

    def _simulate_inbound(self, sid: str, url: str, status_callback: str | None) -> None:
        call = self.call(sid)
        common = {
            "CallSid": sid,
            "AccountSid": self.account_sid,
            "From": call["from"],
            "To": call["to"],
            "Caller": call["from"],
            "Called": call["to"],
            "Direction": "inbound",
            "ApiVersion": API_VERSION,
        }
        self._update(self._calls, sid, status="ringing")
        self._pause()
        record = self._send_webhook("voice", url, {**common, "CallStatus": "ringing"})
        self._update(self._calls, sid, status="in-progress", start_time=_rfc2822(_now()))
        if record.status == 200 and record.response_body:
            self._play_twiml(_LegContext(sid, call["from"], {**common, "CallStatus": "in-progress"}),
                             record.response_body, url)
        self._update(self._calls, sid, status="completed", duration=str(DEFAULT_CALL_DURATION_SECONDS),
                     end_time=_rfc2822(_now()))
        _CallStatusReporter(self, status_callback, frozenset({"completed"}), common).report(
            "completed", "completed", CallDuration=str(DEFAULT_CALL_DURATION_SECONDS))

    def _fetch_twiml(self, url: str, common: dict[str, str], answered_by: str | None) -> str | None:
        params = {**common, "CallStatus": "in-progress"}
        if answered_by:
            params["AnsweredBy"] = answered_by
        self._pause()
        record = self._send_webhook("voice", url, params)
        # Twilio would play an "application error" message and hang up.
        return record.response_body if record.status == 200 else None

    def _hear(self, sid: str, kind: str, text: str) -> None:
        with self._lock:
            self._heard.setdefault(sid, []).append((kind, text))

    def _take_update(self, sid: str) -> str | None:
        with self._lock:
            return self._updates.pop(sid, None)

    def _play_twiml(self, leg: _LegContext, twiml: str, document_url: str | None, kind: str = "action") -> bool:
        """Play a TwiML document on a leg, following actions and redirects; False when it hung up.

        True means the document ran out of verbs with the leg still up (for a
        screening document on a dialled leg: the legs get bridged).
        """
        documents = 0
        while twiml is not None and documents < MAX_TWIML_DOCUMENTS:
            documents += 1
            root = _parse_twiml(twiml)
            if root is None:
                return False
            twiml, next_url = None, None
            for verb in root:
                if verb.tag == "Say":
                    self._hear(leg.sid, "say", (verb.text or "").strip())
                elif verb.tag == "Play":
                    self._hear(leg.sid, "play", (verb.text or "").strip())
                elif verb.tag in ("Hangup", "Reject"):
                    return False
                elif verb.tag == "Redirect":
                    next_url = (verb.text or "").strip()
                    twiml = self._request_twiml("redirect", next_url, leg.params)
                    break
                elif verb.tag == "Gather":
                    for spoken in verb:
                        self._hear(leg.sid, "say" if spoken.tag == "Say" else "play", (spoken.text or "").strip())
                    digits = self._pressed(leg, verb)
                    if digits or verb.get("actionOnEmptyResult") == "true":
                        next_url = verb.get("action") or document_url
                        pressed = {"Digits": digits, "FinishedOnKey": ""} if digits else {}
                        twiml = self._request_twiml("gather", next_url, {**leg.params, **pressed})
                        if twiml is None:
                            return False  # the action could not be reached: the fake hangs up
                        break
                elif verb.tag == "Record":
                    self._record(leg, verb, document_url)
                    return False  # the caller hangs up after leaving the message, or at the beep
                elif verb.tag == "Dial":
                    dial = _dial_of(verb)
                    if dial is None:
                        continue
                    status, duration, bridged = self._simulate_dial(leg, dial)
                    if dial.action:
                        params = {**leg.params, "CallStatus": "in-progress", "DialCallSid": self._last_dialled(leg),
                                  "DialCallStatus": status, "DialBridged": "true" if bridged else "false"}
                        if status == "completed":
                            params["DialCallDuration"] = str(duration)
                        next_url = dial.action
                        twiml = self._request_twiml("dial-action", dial.action, params)
                        break
            document_url = next_url or document_url
        return twiml is None and documents < MAX_TWIML_DOCUMENTS

    def _pressed(self, leg: _LegContext, gather: ElementTree.Element) -> str:
        """The keys the person on the leg presses at a <Gather> (see `presses` and `Scenario.digits`)."""
        with self._lock:
            digits = self._digits.get(leg.party)
            scenario = self._call_scenarios.get(leg.party)
        if digits is None and scenario is not None:
            digits = scenario.digits
        if digits is None:
            digits = "" if (leg.answered_by or "").startswith(("machine", "fax")) else "1"
        num_digits = gather.get("numDigits")
        return digits[: int(num_digits)] if num_digits else digits

    def _request_twiml(self, kind: str, url: str | None, params: dict[str, str]) -> str | None:
        if not url:
            return None
        self._pause()
        record = self._send_webhook(kind, url, params)
        return record.response_body if record.status == 200 and record.response_body else None

    def _record(self, leg: _LegContext, verb: ElementTree.Element, document_url: str | None) -> None:
        """<Record>: what the person on the leg says, as a Recording with its callbacks."""
        with self._lock:
            message = self._spoken_messages.get(leg.party)
        if message is None:
            return  # hung up at the beep: Twilio keeps no recording
        sid = "RE" + secrets.token_hex(16)
        now = _now()
        uri = self._resource_uri("Recordings", sid)
        resource = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "call_sid": leg.sid,
            "conference_sid": None,
            "date_created": _rfc2822(now),
            "date_updated": _rfc2822(now),
            "start_time": _rfc2822(now),
            "duration": str(message.duration),
            "sid": sid,
            "price": None,
            "price_unit": "USD",
            "status": "completed",
            "channels": 1,
            "source": "RecordVerb",
            "error_code": None,
            "uri": f"{uri}.json",
            "encryption_details": None,
            "subresource_uris": {
                "add_on_results": f"{uri}/AddOnResults.json",
                "transcriptions": f"{uri}/Transcriptions.json",
            },
            "media_url": f"https://api.twilio.com{uri}",
        }
        with self._lock:
            self._recordings[sid] = resource
        recording_url = f"https://api.twilio.com{uri}"
        action = verb.get("action") or document_url
        if action:
            self._request_twiml("record-action", action, {
                **leg.params, "RecordingUrl": recording_url, "RecordingSid": sid,
                "RecordingDuration": str(message.duration), "Digits": "hangup"})
        status_callback = verb.get("recordingStatusCallback")
        if status_callback:
            self._pause()
            self._send_webhook("recording-status", status_callback, {
                "AccountSid": self.account_sid, "CallSid": leg.sid, "RecordingSid": sid,
                "RecordingUrl": recording_url, "RecordingStatus": "completed",
                "RecordingDuration": str(message.duration), "RecordingChannels": "1",
                "RecordingStartTime": _rfc2822(now), "RecordingSource": "RecordVerb", "ErrorCode": "0"})
        transcribe_callback = verb.get("transcribeCallback")
        if transcribe_callback and verb.get("transcribe", "true") != "false":
            self._pause()
            transcription_sid = "TR" + secrets.token_hex(16)
            self._send_webhook("transcription", transcribe_callback, {
                **leg.params, "TranscriptionSid": transcription_sid, "TranscriptionText": message.transcription,
                "TranscriptionStatus": "completed",
                "TranscriptionUrl": f"https://api.twilio.com{uri}/Transcriptions/{transcription_sid}",
                "RecordingSid": sid, "RecordingUrl": recording_url, "CallStatus": "completed"})

    def _last_dialled(self, parent: _LegContext) -> str:
        with self._lock:
            children = [sid for sid, call in self._calls.items() if call["parent_call_sid"] == parent.sid]
        return children[-1] if children else ""

    def _simulate_dial(self, parent: _LegContext, dial: _Dial) -> tuple[str, int, bool]:
        """The dialled leg of a <Dial>: its final status, talk time, and whether it was bridged."""
        sid = "CA" + secrets.token_hex(16)
        caller = dial.caller_id or parent.params.get("From", "")
        with self._lock:
            self._calls[sid] = self._call_resource(
                sid, to=dial.number, from_=caller, direction="outbound-dial", parent_call_sid=parent.sid
            )
        common = {
            "CallSid": sid,
            "ParentCallSid": parent.sid,
            "AccountSid": self.account_sid,
            "From": caller,
            "To": dial.number,
            "Direction": "outbound-dial",
            "ApiVersion": API_VERSION,
        }
        reporter = _CallStatusReporter(self, dial.status_callback, dial.status_callback_events, common)
        scenario = self._call_scenario(dial.number)
        bridged = [False]

        def answered() -> None:
            leg = _LegContext(sid, dial.number, {**common, "CallStatus": "in-progress"})
            if dial.url:
                screening = self._request_twiml("screen", dial.url, leg.params)
                if screening is not None and not self._play_twiml(leg, screening, dial.url):
                    return
            bridged[0] = True
            if dial.machine_detection and dial.amd_status_callback:
                self._pause()
                self._send_webhook("amd-status", dial.amd_status_callback, {
                    "CallSid": sid, "AccountSid": self.account_sid,
                    "AnsweredBy": scenario.answered_by or "human", "MachineDetectionDuration": "4200"})
            update = self._take_update(sid)
            held_until = time.monotonic() + scenario.hold_seconds
            while update is None and time.monotonic() < held_until:
                time.sleep(0.05)
                update = self._take_update(sid)
            if update is not None:
                self._play_twiml(leg, update, None)

        final_status, duration = self._play_call_leg(sid, reporter, scenario, None, on_answer=answered)
        return final_status, duration, bridged[0]

    def _play_call_leg(
        self,
        sid: str,
        reporter: "_CallStatusReporter",
        scenario: Scenario,
        answered_by: str | None,
        on_answer: Callable[[], None] | None = None,
    ) -> tuple[str, int]:
        """Walk one call leg to its end; returns its final status and talk time."""
        reporter.report("initiated", "initiated")
        if scenario.outcome != "failed":
            self._update(self._calls, sid, status="ringing")
            reporter.report("ringing", "ringing")
        if scenario.outcome != "completed":
            self._update(self._calls, sid, status=scenario.outcome, duration="0", end_time=_rfc2822(_now()))
            extra = {"CallDuration": "0"}
            if scenario.error_code:
                extra["ErrorCode"] = str(scenario.error_code)
            reporter.report("completed", scenario.outcome, **extra)
            return scenario.outcome, 0
        self._update(self._calls, sid, status="in-progress", start_time=_rfc2822(_now()), answered_by=answered_by)
        answered_extra = {"AnsweredBy": answered_by} if answered_by else {}
        reporter.report("answered", "in-progress", **answered_extra)
        if on_answer is not None:
            on_answer()
        duration = scenario.duration if scenario.duration is not None else DEFAULT_CALL_DURATION_SECONDS
        self._update(self._calls, sid, status="completed", duration=str(duration), end_time=_rfc2822(_now()))
        reporter.report("completed", "completed", CallDuration=str(duration), **answered_extra)
        return "completed", duration

    # --- control endpoints ---------------------------------------------------------

    def _answer_control_request(self, method: str, name: str, payload: dict) -> dict:
        def ok(_result=None) -> dict:
            return {"ok": True}

        operations: dict[tuple[str, str], Callable[[dict], dict]] = {
            ("GET", "requests"): lambda p: {"requests": [r.to_json() for r in self.requests]},
            ("GET", "callbacks"): lambda p: {"callbacks": [c.to_json() for c in self.callbacks]},
            ("GET", "pending_callbacks"): lambda p: {"pending": [s.to_json() for s in self.pending_callbacks()]},
            ("POST", "rule"): lambda p: ok(self.rule(**p)),
            ("POST", "fail_next"): lambda p: ok(self.fail_next(**p)),
            ("POST", "scenario"): lambda p: ok(self.scenario(**p)),
            ("POST", "latency"): lambda p: ok(setattr(self, "latency", float(p["seconds"]))),
            ("POST", "slow_next"): lambda p: ok(self.slow_next(**p)),
            ("POST", "reset"): lambda p: ok(self.reset()),
            ("POST", "deliver_callbacks"): lambda p: {"callbacks": [c.to_json() for c in self.deliver_callbacks()]},
            ("POST", "wait_idle"): lambda p: {"idle": self.wait_idle(**p)},
            ("POST", "post_signed"): lambda p: {"status": self.post_signed(p["url"], p["params"])},
            ("POST", "inbound_call"): lambda p: {"call_sid": self.inbound_call(
                p["url"], from_=p["from"], to=p["to"], status_callback=p.get("status_callback"))},
            ("POST", "presses"): lambda p: ok(self.presses(p["number"], p["digits"])),
            ("POST", "leaves_message"): lambda p: ok(self.leaves_message(**p)),
            ("POST", "inbound_sms"): lambda p: {
                "status": self.send_inbound_sms(p["url"], from_=p["from"], to=p["to"], body=p["body"])
            },
        }
        operation = operations.get((method, name))
        if operation is None:
            raise LookupError(f"no control operation {method} {CONTROL_PREFIX}{name}")
        return operation(payload)


def _date_matches(date_sent: str | None, operator: str, bound: date | datetime) -> bool:
    if date_sent is None:
        return False  # not sent yet: Twilio's DateSent filters can't match it
    sent = parsedate_to_datetime(date_sent)
    value = sent if isinstance(bound, datetime) else sent.date()
    return {"=": value == bound, ">=": value >= bound, "<=": value <= bound}[operator]


class _CallStatusReporter:
    """Sends one call leg's status callbacks: only the subscribed events, numbered in order."""

    def __init__(self, fake: FakeTwilio, url: str | None, events: frozenset[str], common: dict[str, str]) -> None:
        self._fake = fake
        self._url = url
        self._events = events
        self._common = common
        self._sequence = itertools.count()

    def report(self, event: str, call_status: str, **extra: str) -> None:
        if not self._url or event not in self._events:
            return
        params = {
            **self._common,
            "CallStatus": call_status,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(next(self._sequence)),
            "Timestamp": _rfc2822(_now()),
            **extra,
        }
        self._fake._pause()
        self._fake._send_webhook("call-status", self._url, params)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Benchmarks open many connections at once; the default backlog is 5.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: FakeTwilio) -> None:
        super().__init__(address, _RequestHandler)
        self.fake = fake

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            # A client that gave up waiting (latency > its timeout); expected.
            log.debug("fake twilio: connection from %s dropped", client_address)
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    # Keep-alive, as Twilio's API does; the SDK reuses connections.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm on, each
    # answer on a kept-alive connection would wait ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server_version = "FakeTwilio/1.0"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args) -> None:
        log.debug("fake twilio: " + format, *args)

    def _handle(self) -> None:
        fake: FakeTwilio = self.server.fake
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = urlsplit(self.path)
        if target.path.startswith(CONTROL_PREFIX):
            self._handle_control(fake, target.path[len(CONTROL_PREFIX) :], body)
            return
        answer = fake._answer_api_request(self.command, target.path, target.query, dict(self.headers.items()), body)
        delay = fake.latency + fake._next_slow_answer()
        if delay:
            time.sleep(delay)
        try:
            if answer.raw is not None:
                self._send_raw(answer.status, answer.raw, answer.headers)
            elif answer.payload is None:
                self._send_raw(answer.status, b"", answer.headers)
            else:
                self._send_json(answer.status, answer.payload, answer.headers)
        except ConnectionError:
            self.close_connection = True
        finally:
            if answer.simulation is not None:
                fake._start_simulation(answer.simulation)

    def _handle_control(self, fake: FakeTwilio, name: str, body: bytes) -> None:
        try:
            payload = json.loads(body) if body else {}
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            status, result = 200, fake._answer_control_request(self.command, name, payload)
        except LookupError as exc:
            status, result = 404, {"error": str(exc)}
        except (ValueError, TypeError) as exc:
            status, result = 400, {"error": f"{exc.__class__.__name__}: {exc}"}
        self._send_json(status, result, {})

    def _send_raw(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if status != 204:
            self.wfile.write(body)

    def _send_json(self, status: int, payload: dict, headers: dict[str, str]) -> None:
        encoded = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(encoded)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m outreach.testing.fake_twilio", description="Run the fake Twilio REST API until interrupted."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed on start)")
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every API answer")
    parser.add_argument("--callback-delay", type=float, default=0.0, help="seconds between callbacks of one resource")
    parser.add_argument(
        "--no-auto-callbacks", action="store_true", help="hold callbacks until /__fake__/deliver_callbacks"
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    fake = FakeTwilio(
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        latency=args.latency,
        auto_callbacks=not args.no_auto_callbacks,
        host=args.host,
        port=args.port,
        callback_delay=args.callback_delay,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    with fake:
        # Harnesses wait for this line before sending requests.
        print(f"FakeTwilio listening on {fake.url} (account {fake.account_sid})", flush=True)
        while not stopping.wait(0.5):
            pass


if __name__ == "__main__":
    main()
