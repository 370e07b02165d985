"""The Twilio gateway through the real SDK against the fake Twilio, the console gateway, and the fake itself."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests

from outreach.testing.fake_twilio import FakeTwilio
from outreach.twilio_gateway import CALL_STATUS_EVENTS, ConsoleGateway, TwilioGatewayError, build_gateway
from outreach.twilio_gateway.rest import TwilioRestGateway

REPO_ROOT = Path(__file__).resolve().parent.parent
AGENCY_NUMBER = "+15550100000"
CLIENT_NUMBER = "+15550100001"
AGENT_NUMBER = "+15550100002"


class WebhookReceiver:
    """A tiny stand-in for the app's webhook endpoints: records every POST, answers from `responses`."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        # path -> (status, body, content type)
        self.responses: dict[str, tuple[int, str, str]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True)
                with receiver._lock:
                    receiver.received.append({"path": self.path, "headers": dict(self.headers.items()), "form": form})
                status, body, content_type = receiver.responses.get(self.path, (204, "", "text/plain"))
                encoded = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)

            def log_message(self, format: str, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def posts_to(self, path: str) -> list[dict]:
        with self._lock:
            return [request for request in self.received if request["path"] == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def receiver():
    webhook_receiver = WebhookReceiver()
    yield webhook_receiver
    webhook_receiver.close()


def _statuses(received: list[dict], field: str) -> list[str]:
    return [dict(request["form"])[field] for request in received]


# --- the REST gateway through the SDK ---------------------------------------------


def test_place_call_sends_twilio_the_call_request(fake, gateway, receiver):
    result = gateway.place_call(
        to=CLIENT_NUMBER,
        from_=AGENCY_NUMBER,
        url=receiver.url("/voice"),
        status_callback=receiver.url("/status"),
        machine_detection=True,
    )

    assert result.status == "queued"
    assert result.sid.startswith("CA") and len(result.sid) == 34
    [request] = fake.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{fake.account_sid}/Calls.json"
    expected_auth = base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected_auth}"
    assert request.form_value("To") == CLIENT_NUMBER
    assert request.form_value("From") == AGENCY_NUMBER
    assert request.form_value("Url") == receiver.url("/voice")
    assert request.form_value("Method") == "POST"
    assert request.form_value("StatusCallback") == receiver.url("/status")
    assert request.form_value("StatusCallbackMethod") == "POST"
    assert request.form_values("StatusCallbackEvent") == list(CALL_STATUS_EVENTS)
    assert request.form_value("MachineDetection") == "Enable"
    assert request.status == 201 and request.response["sid"] == result.sid


def test_place_call_without_machine_detection_leaves_it_off(fake, gateway, receiver):
    gateway.place_call(
        to=CLIENT_NUMBER, from_=AGENCY_NUMBER, url=receiver.url("/voice"), status_callback=receiver.url("/status")
    )

    assert fake.requests[0].form_value("MachineDetection") is None


def test_send_sms_returns_the_created_message(fake, gateway, receiver):
    result = gateway.send_sms(
        to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="See you Tuesday", status_callback=receiver.url("/sms-status")
    )

    assert result.sid.startswith("SM") and len(result.sid) == 34
    assert result.status == "queued"
    assert result.body == "See you Tuesday"
    assert result.error_code is None and result.error_message is None
    assert abs(result.date_created - datetime.now(timezone.utc)) < timedelta(seconds=5)
    [request] = fake.requests
    assert request.path == f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    assert dict(request.form) == {
        "To": CLIENT_NUMBER,
        "From": AGENCY_NUMBER,
        "Body": "See you Tuesday",
        "StatusCallback": receiver.url("/sms-status"),
    }


@pytest.mark.parametrize("error_code", [21211, 21610])
def test_refused_destination_is_a_permanent_error_with_twilio_code(fake, gateway, error_code):
    fake.rule(to=CLIENT_NUMBER, error_code=error_code, http_status=400)

    with pytest.raises(TwilioGatewayError) as raised:
        gateway.send_sms(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="hi", status_callback="http://127.0.0.1:9/s")

    error = raised.value
    assert error.code == error_code
    assert error.http_status == 400
    assert error.transient is False
    assert str(error_code) in str(error) and CLIENT_NUMBER in str(error)


def test_malformed_number_is_refused_by_twilio_with_21211(gateway):
    with pytest.raises(TwilioGatewayError) as raised:
        gateway.place_call(
            to="555-0100", from_=AGENCY_NUMBER, url="http://127.0.0.1:9/v", status_callback="http://127.0.0.1:9/s"
        )

    assert (raised.value.code, raised.value.http_status, raised.value.transient) == (21211, 400, False)


@pytest.mark.parametrize("http_status", [500, 503, 429])
def test_server_errors_and_throttling_are_transient(fake, gateway, http_status):
    fake.fail_next(http_status=http_status)

    with pytest.raises(TwilioGatewayError) as raised:
        gateway.send_sms(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="hi", status_callback="http://127.0.0.1:9/s")

    assert raised.value.transient is True
    assert raised.value.http_status == http_status
    assert raised.value.code == 20000 + http_status
    # Refused outright: nothing was created, and the next attempt goes through.
    assert gateway.send_sms(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="hi", status_callback="http://127.0.0.1:9/s")
    assert (
        len(
            gateway.recent_messages(
                to=CLIENT_NUMBER, from_=AGENCY_NUMBER, since=datetime.now(timezone.utc) - timedelta(minutes=1)
            )
        )
        == 1
    )


def test_failed_listing_is_transient(fake, gateway):
    fake.fail_next(http_status=502)

    with pytest.raises(TwilioGatewayError) as raised:
        gateway.recent_messages(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, since=datetime.now(timezone.utc))

    assert (raised.value.code, raised.value.http_status, raised.value.transient) == (20502, 502, True)


def test_wrong_credentials_are_a_permanent_error(fake):
    wrong = TwilioRestGateway(fake.account_sid, "not-the-token", api_url=fake.url, timeout=2)
    try:
        with pytest.raises(TwilioGatewayError) as raised:
            wrong.send_sms(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="hi", status_callback="http://127.0.0.1:9/s")
    finally:
        wrong.close()

    assert (raised.value.code, raised.value.http_status, raised.value.transient) == (20003, 401, False)


def test_message_accepted_before_a_500_is_found_by_recent_messages(fake, gateway):
    before = datetime.now(timezone.utc)
    gateway.send_sms(
        to=AGENT_NUMBER, from_=AGENCY_NUMBER, body="other recipient", status_callback="http://127.0.0.1:9/s"
    )
    fake.fail_next(accept_then_error=True)

    with pytest.raises(TwilioGatewayError) as raised:
        gateway.send_sms(
            to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="Your visit is at 10:00", status_callback="http://127.0.0.1:9/s"
        )
    assert raised.value.transient is True

    found = gateway.recent_messages(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, since=before)
    assert [message.body for message in found] == ["Your visit is at 10:00"]
    assert found[0].sid.startswith("SM")
    assert found[0].date_created >= before.replace(microsecond=0)


def test_recent_messages_leaves_out_older_messages(gateway):
    gateway.send_sms(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="old", status_callback="http://127.0.0.1:9/s")

    assert (
        gateway.recent_messages(
            to=CLIENT_NUMBER, from_=AGENCY_NUMBER, since=datetime.now(timezone.utc) + timedelta(seconds=2)
        )
        == []
    )
    # A naive `since` is UTC.
    naive_earlier = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=1)
    assert [m.body for m in gateway.recent_messages(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, since=naive_earlier)] == [
        "old"
    ]


def test_answer_slower_than_the_timeout_is_transient(fake):
    slow_gateway = TwilioRestGateway(fake.account_sid, fake.auth_token, api_url=fake.url, timeout=0.2)
    fake.latency = 0.5
    try:
        with pytest.raises(TwilioGatewayError) as raised:
            slow_gateway.send_sms(
                to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="hi", status_callback="http://127.0.0.1:9/s"
            )
    finally:
        slow_gateway.close()

    assert raised.value.transient is True
    assert raised.value.http_status is None
    # Twilio (and the fake) may have created the message all the same.
    assert [request.status for request in fake.requests] == [201]


def test_unreachable_api_is_transient(fake):
    unreachable_url = fake.url
    fake.stop()
    unreachable = TwilioRestGateway(fake.account_sid, fake.auth_token, api_url=unreachable_url, timeout=1)
    try:
        with pytest.raises(TwilioGatewayError) as raised:
            unreachable.place_call(
                to=CLIENT_NUMBER,
                from_=AGENCY_NUMBER,
                url="http://127.0.0.1:9/v",
                status_callback="http://127.0.0.1:9/s",
            )
    finally:
        unreachable.close()

    assert raised.value.transient is True


def test_signed_callback_validates_and_forged_one_does_not(fake, gateway, receiver):
    status_url = receiver.url("/twilio/status?attempt=1")
    assert fake.post_signed(status_url, {"CallSid": "CA" + "1" * 32, "CallStatus": "completed"}) == 204

    [posted] = receiver.received
    params = dict(posted["form"])
    signature = posted["headers"]["X-Twilio-Signature"]
    assert gateway.validate_signature(status_url, params, signature) is True
    assert gateway.validate_signature(status_url, {**params, "CallStatus": "busy"}, signature) is False
    assert gateway.validate_signature(receiver.url("/twilio/other"), params, signature) is False
    assert gateway.validate_signature(status_url, params, "bm90IGEgc2lnbmF0dXJl") is False
    assert gateway.validate_signature(status_url, params, None) is False
    other_account = TwilioRestGateway(fake.account_sid, "another-token", api_url=fake.url)
    try:
        assert other_account.validate_signature(status_url, params, signature) is False
    finally:
        other_account.close()


# --- the console gateway and build_gateway ------------------------------------------


def test_console_gateway_walks_calls_and_messages_through_statuses():
    seen: list[tuple[str, dict]] = []
    done = threading.Event()

    def sink(kind: str, params: dict) -> None:
        seen.append((kind, params))
        if len(seen) == 6:
            done.set()

    console = ConsoleGateway(status_sink=sink, step_seconds=0)
    call = console.place_call(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, url="http://x/voice", status_callback="http://x/s")
    message = console.send_sms(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="hello", status_callback="http://x/m")
    assert done.wait(2)

    assert re.fullmatch(r"CA[0-9a-f]{32}", call.sid)
    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
    call_steps = [params for kind, params in seen if kind == "call"]
    assert [params["CallStatus"] for params in call_steps] == ["initiated", "ringing", "in-progress", "completed"]
    assert {params["CallSid"] for params in call_steps} == {call.sid}
    assert call_steps[-1]["CallDuration"].isdigit()
    assert call_steps[0]["To"] == CLIENT_NUMBER and call_steps[0]["From"] == AGENCY_NUMBER
    message_steps = [params for kind, params in seen if kind == "message"]
    assert [(p["MessageSid"], p["MessageStatus"]) for p in message_steps] == [
        (message.sid, "sent"),
        (message.sid, "delivered"),
    ]
    assert console.validate_signature("http://x/s", {}, None) is False
    assert [
        m.sid
        for m in console.recent_messages(
            to=CLIENT_NUMBER, from_=AGENCY_NUMBER, since=datetime.now(timezone.utc) - timedelta(minutes=1)
        )
    ] == [message.sid]


def test_console_gateway_without_sink_only_logs(caplog):
    caplog.set_level("INFO", logger="outreach.twilio")
    console = ConsoleGateway()

    console.send_sms(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="hello", status_callback="http://x/m")

    assert any("hello" in record.getMessage() for record in caplog.records)
    assert any("delivered" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, ConsoleGateway),
        ({"TWILIO_ACCOUNT_SID": "AC" + "0" * 32}, ConsoleGateway),
        ({"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t"}, TwilioRestGateway),
        (
            {"TWILIO_BACKEND": "console", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t"},
            ConsoleGateway,
        ),
        (
            {
                "TWILIO_BACKEND": "twilio",
                "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
                "TWILIO_AUTH_TOKEN": "t",
                "TWILIO_API_URL": "",
                "TWILIO_TIMEOUT": 3,
            },
            TwilioRestGateway,
        ),
    ],
)
def test_build_gateway_picks_the_backend(config, expected):
    built = build_gateway(config)
    try:
        assert type(built) is expected
    finally:
        built.close()


@pytest.mark.parametrize(
    "config",
    [
        {"TWILIO_BACKEND": "twilio"},
        {"TWILIO_BACKEND": "carrier-pigeon", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"},
    ],
)
def test_build_gateway_rejects_unusable_configuration(config):
    with pytest.raises(ValueError):
        build_gateway(config)


def test_built_rest_gateway_talks_to_the_configured_api_url(fake):
    built = build_gateway(
        {
            "TWILIO_ACCOUNT_SID": fake.account_sid,
            "TWILIO_AUTH_TOKEN": fake.auth_token,
            "TWILIO_API_URL": fake.url,
            "TWILIO_TIMEOUT": "2",
        },
        status_sink=lambda kind, params: None,
    )
    try:
        built.send_sms(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="hi", status_callback="http://127.0.0.1:9/s")
    finally:
        built.close()

    assert [request.status for request in fake.requests] == [201]


# --- what the fake plays after a create ------------------------------------------------


def _dial_twiml(receiver: WebhookReceiver, *, action: bool) -> str:
    action_attribute = f' action="{receiver.url("/dial-done")}"' if action else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Dial callerId="{AGENCY_NUMBER}"{action_attribute}>'
        f'<Number statusCallback="{receiver.url("/client-leg")}"'
        ' statusCallbackEvent="initiated ringing answered completed" statusCallbackMethod="POST">'
        f"{CLIENT_NUMBER}</Number></Dial></Response>"
    )


def test_answered_call_fetches_twiml_and_dials_the_client(fake, gateway, receiver):
    receiver.responses["/voice"] = (200, _dial_twiml(receiver, action=True), "text/xml")
    fake.scenario(AGENT_NUMBER, "completed", duration=75)
    fake.scenario(CLIENT_NUMBER, "completed", duration=60)

    call = gateway.place_call(
        to=AGENT_NUMBER, from_=AGENCY_NUMBER, url=receiver.url("/voice"), status_callback=receiver.url("/status")
    )
    assert fake.wait_idle()

    parent_steps = [dict(r["form"]) for r in receiver.posts_to("/status")]
    assert [p["CallStatus"] for p in parent_steps] == ["initiated", "ringing", "in-progress", "completed"]
    assert [p["SequenceNumber"] for p in parent_steps] == ["0", "1", "2", "3"]
    assert {p["CallSid"] for p in parent_steps} == {call.sid}
    assert parent_steps[-1]["CallDuration"] == "75"
    [voice] = [dict(r["form"]) for r in receiver.posts_to("/voice")]
    assert (
        voice["CallSid"] == call.sid and voice["CallStatus"] == "in-progress" and voice["Direction"] == "outbound-api"
    )
    assert voice["AccountSid"] == fake.account_sid and voice["To"] == AGENT_NUMBER and voice["From"] == AGENCY_NUMBER
    client_steps = [dict(r["form"]) for r in receiver.posts_to("/client-leg")]
    assert [p["CallStatus"] for p in client_steps] == ["initiated", "ringing", "in-progress", "completed"]
    child_sid = client_steps[0]["CallSid"]
    assert child_sid != call.sid and {p["ParentCallSid"] for p in client_steps} == {call.sid}
    assert client_steps[-1]["CallDuration"] == "60"
    [dial_done] = [dict(r["form"]) for r in receiver.posts_to("/dial-done")]
    assert (dial_done["DialCallSid"], dial_done["DialCallStatus"], dial_done["DialCallDuration"]) == (
        child_sid,
        "completed",
        "60",
    )
    # Every webhook is signed for its exact URL.
    for posted in receiver.received:
        assert gateway.validate_signature(
            receiver.url(posted["path"]), dict(posted["form"]), posted["headers"]["X-Twilio-Signature"]
        )
    assert fake.call(call.sid)["status"] == "completed" and fake.call(call.sid)["duration"] == "75"
    assert fake.call(child_sid)["parent_call_sid"] == call.sid
    assert [c.kind for c in fake.callbacks] == (
        ["call-status"] * 3 + ["voice"] + ["call-status"] * 4 + ["dial-action", "call-status"]
    )


def test_client_that_does_not_answer_is_reported_to_the_dial_action(fake, gateway, receiver):
    receiver.responses["/voice"] = (200, _dial_twiml(receiver, action=True), "text/xml")
    fake.scenario(CLIENT_NUMBER, "no-answer")

    gateway.place_call(
        to=AGENT_NUMBER, from_=AGENCY_NUMBER, url=receiver.url("/voice"), status_callback=receiver.url("/status")
    )
    assert fake.wait_idle()

    assert _statuses(receiver.posts_to("/client-leg"), "CallStatus") == ["initiated", "ringing", "no-answer"]
    [dial_done] = [dict(r["form"]) for r in receiver.posts_to("/dial-done")]
    assert dial_done["DialCallStatus"] == "no-answer" and "DialCallDuration" not in dial_done
    assert _statuses(receiver.posts_to("/status"), "CallStatus")[-1] == "completed"


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("busy", ["initiated", "ringing", "busy"]),
        ("no-answer", ["initiated", "ringing", "no-answer"]),
        ("canceled", ["initiated", "ringing", "canceled"]),
        ("failed", ["initiated", "failed"]),
    ],
)
def test_unanswered_call_outcomes(fake, gateway, receiver, outcome, expected):
    fake.scenario(AGENT_NUMBER, outcome)

    call = gateway.place_call(
        to=AGENT_NUMBER, from_=AGENCY_NUMBER, url=receiver.url("/voice"), status_callback=receiver.url("/status")
    )
    assert fake.wait_idle()

    assert _statuses(receiver.posts_to("/status"), "CallStatus") == expected
    assert receiver.posts_to("/voice") == []
    assert fake.call(call.sid)["status"] == outcome


def test_machine_detection_reports_answered_by(fake, gateway, receiver):
    fake.scenario(AGENT_NUMBER, "completed", answered_by="machine_start")

    gateway.place_call(
        to=AGENT_NUMBER,
        from_=AGENCY_NUMBER,
        url=receiver.url("/voice"),
        status_callback=receiver.url("/status"),
        machine_detection=True,
    )
    assert fake.wait_idle()

    assert dict(receiver.posts_to("/voice")[0]["form"])["AnsweredBy"] == "machine_start"
    assert dict(receiver.posts_to("/status")[-1]["form"])["AnsweredBy"] == "machine_start"


@pytest.mark.parametrize(
    ("outcome", "error_code", "expected"),
    [
        ("delivered", None, [("queued", None), ("sent", None), ("delivered", None)]),
        ("undelivered", 30005, [("queued", None), ("sent", None), ("undelivered", "30005")]),
        ("failed", None, [("queued", None), ("failed", "30008")]),
    ],
)
def test_message_status_callbacks(fake, gateway, receiver, outcome, error_code, expected):
    fake.scenario(CLIENT_NUMBER, outcome, error_code=error_code)

    sent = gateway.send_sms(
        to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="hi", status_callback=receiver.url("/sms-status")
    )
    assert fake.wait_idle()

    steps = [dict(r["form"]) for r in receiver.posts_to("/sms-status")]
    assert [(p["MessageStatus"], p.get("ErrorCode")) for p in steps] == expected
    assert {p["MessageSid"] for p in steps} == {sent.sid}
    stored = fake.message(sent.sid)
    assert stored["status"] == outcome
    assert stored["error_code"] == (int(expected[-1][1]) if expected[-1][1] else None)
    assert (stored["date_sent"] is None) == (outcome == "failed")


def test_callbacks_wait_for_deliver_when_auto_callbacks_is_off(receiver):
    with FakeTwilio(auto_callbacks=False) as held:
        held_gateway = TwilioRestGateway(held.account_sid, held.auth_token, api_url=held.url, timeout=2)
        try:
            sent = held_gateway.send_sms(
                to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="hi", status_callback=receiver.url("/m")
            )
        finally:
            held_gateway.close()
        assert [(p.resource, p.sid, p.to) for p in held.pending_callbacks()] == [("message", sent.sid, CLIENT_NUMBER)]
        assert receiver.received == []

        delivered = held.deliver_callbacks()

        assert [c.params["MessageStatus"] for c in delivered] == ["queued", "sent", "delivered"]
        assert held.pending_callbacks() == []
        assert _statuses(receiver.received, "MessageStatus") == ["queued", "sent", "delivered"]


def test_inbound_sms_is_signed_and_listed(fake, gateway, receiver):
    status = fake.send_inbound_sms(receiver.url("/sms-in"), from_=CLIENT_NUMBER, to=AGENCY_NUMBER, body="STOP")

    assert status == 204
    [posted] = receiver.received
    params = dict(posted["form"])
    assert params["Body"] == "STOP" and params["From"] == CLIENT_NUMBER and params["NumMedia"] == "0"
    assert params["MessageSid"].startswith("SM") and params["AccountSid"] == fake.account_sid
    assert gateway.validate_signature(receiver.url("/sms-in"), params, posted["headers"]["X-Twilio-Signature"])
    listed = gateway.recent_messages(
        to=AGENCY_NUMBER, from_=CLIENT_NUMBER, since=datetime.now(timezone.utc) - timedelta(minutes=1)
    )
    assert [m.sid for m in listed] == [params["MessageSid"]]


def test_unreachable_webhook_is_recorded_without_status(fake):
    assert fake.post_signed("http://127.0.0.1:9/nowhere", {"CallSid": "CA" + "2" * 32}) is None
    assert fake.callbacks[-1].error is not None


def test_message_list_filters_and_pages(fake, gateway):
    for number in (CLIENT_NUMBER, AGENT_NUMBER, CLIENT_NUMBER):
        gateway.send_sms(to=number, from_=AGENCY_NUMBER, body=f"to {number}", status_callback="http://127.0.0.1:9/s")
    assert fake.wait_idle()  # sent, so they have a date_sent
    messages_url = f"{fake.url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    auth = (fake.account_sid, fake.auth_token)
    today = datetime.now(timezone.utc).date()

    def listed(**params) -> dict:
        response = requests.get(messages_url, params=params, auth=auth, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()

    assert [m["to"] for m in listed(To=CLIENT_NUMBER)["messages"]] == [CLIENT_NUMBER, CLIENT_NUMBER]
    assert len(listed(**{"DateSent": today.isoformat()})["messages"]) == 3
    assert listed(**{"DateSent<": (today - timedelta(days=1)).isoformat()})["messages"] == []
    assert (
        len(listed(**{"DateSent>": (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()})["messages"]) == 3
    )
    first = listed(PageSize=2)
    assert (len(first["messages"]), first["page"], first["page_size"], first["previous_page_uri"]) == (2, 0, 2, None)
    second = requests.get(fake.url + first["next_page_uri"], auth=auth, timeout=5).json()
    assert (len(second["messages"]), second["page"], second["next_page_uri"]) == (1, 1, None)
    assert second["messages"][0]["body"] == f"to {CLIENT_NUMBER}"  # the oldest comes last
    bad_filter = requests.get(messages_url, params={"DateSent>": "last week"}, auth=auth, timeout=5)
    assert bad_filter.status_code == 400


def test_reset_forgets_everything(fake, gateway):
    fake.rule(to=CLIENT_NUMBER, error_code=21610)
    fake.fail_next(http_status=500, count=3)
    fake.latency = 1.0
    fake.reset()

    assert fake.requests == [] and fake.latency == 0.0
    gateway.send_sms(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="hi", status_callback="http://127.0.0.1:9/s")
    assert [request.status for request in fake.requests] == [201]


# --- steering the fake over HTTP, and running it as a process -----------------------------


def _control(base_url: str, name: str, payload: dict | None = None, method: str = "POST") -> dict:
    response = requests.request(method, f"{base_url}/__fake__/{name}", json=payload, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def test_control_endpoints_steer_the_fake(fake, gateway, receiver):
    _control(fake.url, "rule", {"to": CLIENT_NUMBER, "error_code": 21610})
    _control(fake.url, "scenario", {"to": AGENT_NUMBER, "outcome": "undelivered", "error_code": 30007})
    _control(fake.url, "fail_next", {"http_status": 503})

    with pytest.raises(TwilioGatewayError) as first:
        gateway.send_sms(to=AGENT_NUMBER, from_=AGENCY_NUMBER, body="hi", status_callback=receiver.url("/m"))
    with pytest.raises(TwilioGatewayError) as refused:
        gateway.send_sms(to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="hi", status_callback=receiver.url("/m"))
    gateway.send_sms(to=AGENT_NUMBER, from_=AGENCY_NUMBER, body="hi", status_callback=receiver.url("/m"))
    assert _control(fake.url, "wait_idle", {"timeout": 5}) == {"idle": True}

    assert (first.value.http_status, first.value.transient) == (503, True)
    assert (refused.value.code, refused.value.transient) == (21610, False)
    assert dict(receiver.received[-1]["form"])["ErrorCode"] == "30007"
    recorded = _control(fake.url, "requests", method="GET")["requests"]
    assert [r["status"] for r in recorded] == [503, 400, 201]
    assert len(_control(fake.url, "callbacks", method="GET")["callbacks"]) == 3
    assert _control(fake.url, "post_signed", {"url": receiver.url("/x"), "params": {"A": "1"}}) == {"status": 204}
    assert _control(
        fake.url, "inbound_sms", {"url": receiver.url("/in"), "from": CLIENT_NUMBER, "to": AGENCY_NUMBER, "body": "Y"}
    ) == {"status": 204}
    _control(fake.url, "latency", {"seconds": 0.01})
    assert fake.latency == 0.01
    _control(fake.url, "reset")
    assert fake.requests == [] and fake.latency == 0.0
    assert _control(fake.url, "pending_callbacks", method="GET") == {"pending": []}
    assert _control(fake.url, "deliver_callbacks") == {"callbacks": []}


def test_control_endpoint_errors_are_reported(fake):
    assert requests.post(f"{fake.url}/__fake__/no-such-thing", json={}, timeout=5).status_code == 404
    assert requests.post(f"{fake.url}/__fake__/rule", json={"to": CLIENT_NUMBER}, timeout=5).status_code == 400
    assert (
        requests.post(
            f"{fake.url}/__fake__/scenario", json={"to": CLIENT_NUMBER, "outcome": "lost"}, timeout=5
        ).status_code
        == 400
    )
    assert requests.post(f"{fake.url}/__fake__/rule", data="[]", timeout=5).status_code == 400


def test_fake_runs_as_its_own_process():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "outreach.testing.fake_twilio",
            "--port",
            "0",
            "--auth-token",
            "process-token",
            "--log-level",
            "WARNING",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = process.stdout.readline()
        assert banner.startswith("FakeTwilio listening on http://127.0.0.1:"), banner
        base_url = banner.split()[3]
        account_sid = banner.split("(account ")[1].rstrip(")\n")
        process_gateway = TwilioRestGateway(account_sid, "process-token", api_url=base_url, timeout=5)
        try:
            sent = process_gateway.send_sms(
                to=CLIENT_NUMBER, from_=AGENCY_NUMBER, body="hi", status_callback="http://127.0.0.1:9/s"
            )
        finally:
            process_gateway.close()
        assert [r["response"]["sid"] for r in _control(base_url, "requests", method="GET")["requests"]] == [sent.sid]
    finally:
        process.terminate()
        process.stdout.close()
        assert process.wait(timeout=5) == 0
