"""Keeps the fake Twilio honest: gateway requests and fake answers must match Twilio's OpenAPI description.

The description is Twilio's own (shared/twilio-oai/twilio_api_v2010.yaml,
beside the repository). Each test drives the gateway, and where the gateway
has no call for it (fetches, paging) plain HTTP, against a `FakeTwilio`, then
validates every recorded request and answer with openapi-core.

Spec quirks and how they are handled:
- The description declares only the success response of each operation, not
  Twilio's error body. The error body *is* described elsewhere in the same
  file (the 408 answer of UpdateCallRecording: code, message, more_info,
  status), so the fixture adds that schema, with all four fields required, as
  the `default` response of the operations under test.
- DateSent filters are typed `date-time`, although the description's own
  examples (and Twilio's docs) also use plain dates; the tests send date-times,
  as the SDK does. The fake accepts both.
- Paths carry their own `servers` entry (https://api.twilio.com), so requests
  are validated as sent to that host: the gateway's `api_url` only swaps the
  host, never the path.
- The file is valid OpenAPI 3.0.1 (openapi-spec-validator passes it, ~1.7 s);
  the fixture skips that check and only parses the YAML (~0.5 s).
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest
import requests
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.exceptions import InvalidRequestBody
from openapi_core.validation.response.exceptions import InvalidData

from outreach.testing.fake_twilio import FakeTwilio
from outreach.twilio_gateway import TwilioGatewayError

REPO_ROOT = Path(__file__).resolve().parent.parent
# Beside the repository; a git worktree one level deeper (e.g. wt/<branch>) finds it beside its parent.
SPEC_PATH = next((candidate for candidate in (REPO_ROOT.parent / "shared" / "twilio-oai" / "twilio_api_v2010.yaml",
                                              REPO_ROOT.parent.parent / "shared" / "twilio-oai" / "twilio_api_v2010.yaml")
                  if candidate.exists()), REPO_ROOT.parent / "shared" / "twilio-oai" / "twilio_api_v2010.yaml")
TWILIO_API_HOST = "https://api.twilio.com"
ACCOUNT_PATH = "/2010-04-01/Accounts/{AccountSid}"
OPERATIONS_UNDER_TEST = [
    (f"{ACCOUNT_PATH}/Calls.json", "post"),
    (f"{ACCOUNT_PATH}/Calls.json", "get"),
    (f"{ACCOUNT_PATH}/Calls/{{Sid}}.json", "get"),
    (f"{ACCOUNT_PATH}/Messages.json", "post"),
    (f"{ACCOUNT_PATH}/Messages.json", "get"),
    (f"{ACCOUNT_PATH}/Messages/{{Sid}}.json", "get"),
    (f"{ACCOUNT_PATH}/Calls/{{Sid}}.json", "post"),
    (f"{ACCOUNT_PATH}/Recordings.json", "get"),
    (f"{ACCOUNT_PATH}/Recordings/{{Sid}}.json", "get"),
    (f"{ACCOUNT_PATH}/Recordings/{{Sid}}.json", "delete"),
]
ERROR_SCHEMA_SOURCE = (f"{ACCOUNT_PATH}/Calls/{{CallSid}}/Recordings/{{Sid}}.json", "post", "408")

AGENCY_NUMBER = "+15550100000"
CLIENT_NUMBER = "+15550100001"
AGENT_NUMBER = "+15550100002"


@pytest.fixture(scope="module")
def twilio_api() -> OpenAPI:
    if not SPEC_PATH.exists():
        pytest.skip(f"Twilio's OpenAPI description is not at {SPEC_PATH}")
    with SPEC_PATH.open(encoding="utf-8") as spec_file:
        spec = yaml.load(spec_file, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    path, method, status = ERROR_SCHEMA_SOURCE
    error_schema = copy.deepcopy(
        spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    )
    error_schema["required"] = ["code", "message", "more_info", "status"]
    for path, method in OPERATIONS_UNDER_TEST:
        spec["paths"][path][method]["responses"]["default"] = {
            "description": "Twilio error (added by this test, see the module docstring)",
            "content": {"application/json": {"schema": error_schema}},
        }
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


class _TwimlServer:
    """Answers the voice webhook with a <Dial> of the client, and every other webhook with 204."""

    def __init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = server.twiml.encode() if self.path == "/voice" else b""
                self.send_response(200 if body else 204)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.twiml = (
            f'<Response><Dial callerId="{AGENCY_NUMBER}"><Number statusCallback="{self.base_url}/leg"'
            f' statusCallbackEvent="initiated ringing answered completed">{CLIENT_NUMBER}</Number></Dial></Response>'
        )
        self._thread = Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def webhooks():
    server = _TwimlServer()
    yield server
    server.close()


def _as_openapi_request(record) -> MockRequest:
    return MockRequest(
        TWILIO_API_HOST,
        record.method,
        record.path,
        args=record.query,
        headers=record.headers,
        data=record.body,
        content_type=record.headers.get("Content-Type", "") if record.body else "",
    )


def _as_openapi_response(record) -> MockResponse:
    if record.status == 204:
        return MockResponse(b"", status_code=204, content_type="")
    return MockResponse(
        json.dumps(record.response).encode(), status_code=record.status, content_type="application/json"
    )


def assert_matches_spec(twilio_api: OpenAPI, records, *, check_requests: bool = True) -> None:
    """Every recorded request (unless told otherwise) and every answer is valid for Twilio's description."""
    assert records, "nothing was recorded"
    for record in records:
        request = _as_openapi_request(record)
        if check_requests:
            twilio_api.validate_request(request)
        twilio_api.validate_response(request, _as_openapi_response(record))


def _fetch(fake: FakeTwilio, path: str, **params) -> requests.Response:
    return requests.get(f"{fake.url}{path}", params=params, auth=(fake.account_sid, fake.auth_token), timeout=5)


def test_calls_create_and_fetch_match_the_spec(twilio_api, fake, gateway, webhooks):
    fake.scenario(AGENT_NUMBER, "completed", duration=90, answered_by="human")
    answered = gateway.place_call(
        to=AGENT_NUMBER,
        from_=AGENCY_NUMBER,
        url=f"{webhooks.base_url}/voice",
        status_callback=f"{webhooks.base_url}/status",
        machine_detection=True,
    )
    fake.scenario(CLIENT_NUMBER, "busy")
    busy = gateway.place_call(
        to=CLIENT_NUMBER,
        from_=AGENCY_NUMBER,
        url=f"{webhooks.base_url}/voice",
        status_callback=f"{webhooks.base_url}/status",
    )
    assert fake.wait_idle()
    child_sid = next(c.params["CallSid"] for c in fake.callbacks if c.params.get("ParentCallSid") == answered.sid)

    for sid in (answered.sid, busy.sid, child_sid):
        assert _fetch(fake, f"/2010-04-01/Accounts/{fake.account_sid}/Calls/{sid}.json").status_code == 200

    records = fake.requests
    assert [(r.method, r.status) for r in records] == [
        ("POST", 201),
        ("POST", 201),
        ("GET", 200),
        ("GET", 200),
        ("GET", 200),
    ]
    assert [r.response["status"] for r in records[2:]] == ["completed", "busy", "busy"]
    assert_matches_spec(twilio_api, records)


def test_a_screened_call_and_the_list_of_calls_match_the_spec(twilio_api, fake, gateway, webhooks):
    """The caller's leg asks "press 1" (<Gather>) before the <Dial>; calls are listed to find one created
    by a create whose answer was lost."""
    gather_url = f"{webhooks.base_url}/gathered"  # where the fake posts the key pressed (not /voice: no loop)
    webhooks.twiml = (f'<Response><Gather numDigits="1" action="{gather_url}" actionOnEmptyResult="true">'
                      f'<Say>Press 1</Say></Gather><Hangup/></Response>')
    first = gateway.place_call(to=AGENT_NUMBER, from_=AGENCY_NUMBER, url=f"{webhooks.base_url}/voice",
                               status_callback=f"{webhooks.base_url}/status", machine_detection=True)
    assert fake.wait_idle()
    [gathered] = [c for c in fake.callbacks if c.kind == "gather"]
    assert gathered.params["Digits"] == "1" and gathered.params["CallSid"] == first.sid

    fake.scenario(AGENT_NUMBER, "completed", answered_by="machine_start")
    second = gateway.place_call(to=AGENT_NUMBER, from_=AGENCY_NUMBER, url=f"{webhooks.base_url}/voice",
                                status_callback=f"{webhooks.base_url}/status", machine_detection=True)
    assert fake.wait_idle()
    # A machine presses nothing: the action hears no Digits.
    assert "Digits" not in [c for c in fake.callbacks if c.kind == "gather"][-1].params

    found = gateway.recent_calls(to=AGENT_NUMBER, from_=AGENCY_NUMBER,
                                 since=datetime.now(timezone.utc) - timedelta(minutes=1))
    assert [call.sid for call in found] == [second.sid, first.sid]
    assert gateway.recent_calls(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, since=datetime(2000, 1, 1)) == []
    assert_matches_spec(twilio_api, fake.requests)


def test_messages_create_fetch_and_list_match_the_spec(twilio_api, fake, gateway, webhooks):
    fake.scenario(AGENT_NUMBER, "undelivered", error_code=30003)
    fake.scenario("+15550100003", "failed")
    sent = [
        gateway.send_sms(
            to=number, from_=AGENCY_NUMBER, body=f"Hello {number}", status_callback=f"{webhooks.base_url}/sms"
        )
        for number in (CLIENT_NUMBER, AGENT_NUMBER, "+15550100003")
    ]
    assert fake.wait_idle()
    fake.send_inbound_sms(f"{webhooks.base_url}/sms-in", from_=CLIENT_NUMBER, to=AGENCY_NUMBER, body="Thanks")

    messages_path = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    for message in sent:
        assert _fetch(fake, f"/2010-04-01/Accounts/{fake.account_sid}/Messages/{message.sid}.json").status_code == 200
    assert gateway.recent_messages(
        to=CLIENT_NUMBER, from_=AGENCY_NUMBER, since=datetime.now(timezone.utc) - timedelta(minutes=1)
    )
    a_minute_ago = (datetime.now(timezone.utc) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    first_page = _fetch(fake, messages_path, **{"From": AGENCY_NUMBER, "DateSent>": a_minute_ago, "PageSize": 1}).json()
    second_page = requests.get(
        fake.url + first_page["next_page_uri"], auth=(fake.account_sid, fake.auth_token), timeout=5
    ).json()
    assert _fetch(fake, messages_path, **{"DateSent<": a_minute_ago}).json()["messages"] == []

    # The failed message was never sent, so a DateSent filter leaves it out.
    assert [m["to"] for m in first_page["messages"] + second_page["messages"]] == [AGENT_NUMBER, CLIENT_NUMBER]
    assert second_page["next_page_uri"] is None and second_page["previous_page_uri"] is not None
    assert [fake.message(message.sid)["status"] for message in sent] == ["delivered", "undelivered", "failed"]
    assert_matches_spec(twilio_api, fake.requests)


def test_recordings_and_call_updates_match_the_spec(twilio_api, fake, gateway, webhooks):
    webhooks.twiml = f'<Response><Record recordingStatusCallback="{webhooks.base_url}/recorded"/></Response>'
    fake.leaves_message(AGENT_NUMBER, "Hello from the agent", duration=5)
    call = gateway.place_call(to=AGENT_NUMBER, from_=AGENCY_NUMBER, url=f"{webhooks.base_url}/voice",
                              status_callback=f"{webhooks.base_url}/status")
    assert fake.wait_idle()
    [recorded] = [c for c in fake.callbacks if c.kind == "recording-status"]
    sid = recorded.params["RecordingSid"]
    assert recorded.params["CallSid"] == call.sid and recorded.params["RecordingDuration"] == "5"

    recording_path = f"/2010-04-01/Accounts/{fake.account_sid}/Recordings/{sid}.json"
    fetched = _fetch(fake, recording_path).json()
    assert (fetched["call_sid"], fetched["status"], fetched["duration"]) == (call.sid, "completed", "5")
    listed = _fetch(fake, f"/2010-04-01/Accounts/{fake.account_sid}/Recordings.json", CallSid=call.sid).json()
    assert [r["sid"] for r in listed["recordings"]] == [sid]
    audio = gateway.recording_audio(sid)
    assert audio.content[:4] == b"RIFF" and audio.content_type == "audio/x-wav"

    fake.auto_callbacks = False  # the next call stays up, so it can be updated
    ringing = gateway.place_call(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, url=f"{webhooks.base_url}/voice",
                                 status_callback=f"{webhooks.base_url}/status")
    assert gateway.update_call(ringing.sid, twiml="<Response><Play>https://example.com/g.wav</Play></Response>")
    with pytest.raises(TwilioGatewayError) as ended:
        gateway.update_call(call.sid, twiml="<Response><Hangup/></Response>")
    assert ended.value.code == 21220

    gateway.delete_recording(sid)
    gateway.delete_recording(sid)  # already gone counts as deleted
    assert _fetch(fake, recording_path).status_code == 404
    with pytest.raises(TwilioGatewayError) as gone:
        gateway.recording_audio(sid)
    assert gone.value.http_status == 404
    api_records = [r for r in fake.requests if not r.path.endswith(".wav")]
    assert_matches_spec(twilio_api, api_records)


def test_error_answers_match_the_spec(twilio_api, fake, gateway):
    fake.rule(to=CLIENT_NUMBER, error_code=21610)
    with pytest.raises(TwilioGatewayError):
        gateway.send_sms(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="hi", status_callback="http://127.0.0.1:9/s")
    with pytest.raises(TwilioGatewayError):
        gateway.place_call(
            to="not a number", from_=AGENCY_NUMBER, url="http://127.0.0.1:9/v", status_callback="http://127.0.0.1:9/s"
        )
    fake.fail_next(http_status=500)
    with pytest.raises(TwilioGatewayError):
        gateway.recent_messages(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, since=datetime.now(timezone.utc))
    fake.fail_next(http_status=429)
    with pytest.raises(TwilioGatewayError):
        gateway.send_sms(to=AGENT_NUMBER, from_=AGENCY_NUMBER, body="hi", status_callback="http://127.0.0.1:9/s")
    assert_matches_spec(twilio_api, fake.requests)
    gateway_requests = len(fake.requests)

    account = f"/2010-04-01/Accounts/{fake.account_sid}"
    assert _fetch(fake, f"{account}/Calls/CA{'0' * 32}.json").status_code == 404
    for resource in ("Messages", "Calls"):  # no Body, no Url: both refused
        incomplete = requests.post(f"{fake.url}{account}/{resource}.json",
                                   data={"To": CLIENT_NUMBER, "From": AGENCY_NUMBER},
                                   auth=(fake.account_sid, fake.auth_token), timeout=5)
        assert incomplete.status_code == 400, resource
    assert (
        requests.get(f"{fake.url}{account}/Messages.json", auth=(fake.account_sid, "wrong"), timeout=5).status_code
        == 401
    )

    answers = fake.requests[gateway_requests:]
    assert [(r.status, r.response["code"]) for r in answers] == [(404, 20404), (400, 21602), (400, 21205), (401, 20003)]
    assert_matches_spec(twilio_api, answers)
    assert [(r.status, r.response["code"]) for r in fake.requests[:gateway_requests]] == [
        (400, 21610),
        (400, 21211),
        (500, 20500),
        (429, 20429),
    ]


def test_the_contract_check_catches_a_wrong_answer_and_a_wrong_request(twilio_api, fake, gateway):
    """Guards against a vacuous check: a broken answer or request must fail validation."""
    gateway.send_sms(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="hi", status_callback="http://127.0.0.1:9/s")
    [record] = fake.requests
    request = _as_openapi_request(record)

    wrong_status = MockResponse(
        json.dumps({**record.response, "status": "initiated"}).encode(),
        status_code=201,
        content_type="application/json",
    )
    with pytest.raises(InvalidData):
        twilio_api.validate_response(request, wrong_status)
    wrong_error_code = MockResponse(
        json.dumps({**record.response, "error_code": "30003"}).encode(),
        status_code=201,
        content_type="application/json",
    )
    with pytest.raises(InvalidData):
        twilio_api.validate_response(request, wrong_error_code)
    error_without_code = MockResponse(
        json.dumps({"message": "x", "more_info": "y", "status": 400}).encode(),
        status_code=400,
        content_type="application/json",
    )
    with pytest.raises(InvalidData):
        twilio_api.validate_response(request, error_without_code)
    without_to = MockRequest(
        TWILIO_API_HOST,
        "POST",
        record.path,
        headers=record.headers,
        data=b"From=%2B15550100000&Body=hi",
        content_type="application/x-www-form-urlencoded",
    )
    with pytest.raises(InvalidRequestBody):
        twilio_api.validate_request(without_to)
