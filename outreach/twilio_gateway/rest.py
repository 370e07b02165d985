"""`TwilioRestGateway`: the gateway that talks to Twilio's REST API through the official SDK.

Loaded by `build_gateway` only when the configuration asks for Twilio: the SDK
and `requests` take a thirtieth of a second to import, which the demo, the
console backend and every command-line run without Twilio need not pay.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from outreach.twilio_gateway import (
    CALL_STATUS_EVENTS,
    RECENT_MESSAGES_SCAN_LIMIT,
    RECORDING_MEDIA_EXTENSION,
    CallRecord,
    CallRequestResult,
    MessageResult,
    RecordingAudio,
    TwilioGateway,
    TwilioGatewayError,
    as_utc,
    is_transient_http_status,
)

# Connections kept per host, as the SDK's own HTTP client does for Twilio.
_CONNECTION_POOL_SIZE = min(32, (os.cpu_count() or 1) + 4)


class _BaseUrlHttpClient(TwilioHttpClient):
    """The SDK's HTTP client, sending to another server instead of Twilio's.

    The SDK builds absolute https://api.twilio.com/... URLs (other hosts when a
    Twilio region or edge is configured). This client swaps their scheme and
    host for those of `base_url` and keeps path, query, auth and body as they
    are, so a fake Twilio sees exactly the requests Twilio would.
    """

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        # The SDK sizes the connection pool only for https://; give a plain
        # http:// fake the same, or concurrent senders churn connections.
        self.session.mount("http://", HTTPAdapter(pool_maxsize=_CONNECTION_POOL_SIZE))
        parts = urlsplit(base_url)
        self._scheme = parts.scheme
        self._netloc = parts.netloc
        self._path_prefix = parts.path.rstrip("/")

    def request(
        self, method, url, params=None, data=None, headers=None, auth=None, timeout=None, allow_redirects=False
    ):
        parts = urlsplit(url)
        redirected = urlunsplit(
            (self._scheme, self._netloc, self._path_prefix + parts.path, parts.query, parts.fragment)
        )
        return super().request(
            method,
            redirected,
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


def _error_from_response_payload(action: str, http_status: int, text: str) -> TwilioGatewayError:
    """Build the error for a non-success response the SDK did not turn into a TwilioRestException."""
    code = None
    message = f"{action} failed"
    try:
        payload = json.loads(text)
        code = payload.get("code")
        if payload.get("message"):
            message = f"{action} failed: {payload['message']}"
    except (ValueError, AttributeError):
        pass
    return TwilioGatewayError(message, code, http_status, transient=is_transient_http_status(http_status))


@contextmanager
def _translated_errors(action: str) -> Iterator[None]:
    """Turn what the SDK and `requests` raise into `TwilioGatewayError`s."""
    try:
        yield
    except TwilioRestException as exc:
        # Without a JSON body the SDK puts the HTTP status in `code`; Twilio's
        # own error codes are five digits, so a three-digit one is no code.
        code = exc.code if exc.code and exc.code != exc.status else None
        raise TwilioGatewayError(
            f"{action} failed: {exc.msg}", code, exc.status, transient=is_transient_http_status(exc.status)
        ) from exc
    except TwilioServiceException as exc:
        raise TwilioGatewayError(
            f"{action} failed: {exc.detail or exc.title}",
            exc.code,
            exc.status,
            transient=is_transient_http_status(exc.status),
        ) from exc
    except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
        # Covers read timeouts too: the request may have reached Twilio.
        raise TwilioGatewayError(f"{action} failed: {exc.__class__.__name__}: {exc}", transient=True) from exc
    except requests.RequestException as exc:
        # Invalid URLs and the like: configuration errors, retrying won't help.
        raise TwilioGatewayError(f"{action} failed: {exc.__class__.__name__}: {exc}", transient=False) from exc
    except TwilioException as exc:
        # List pages with a non-200 answer raise a bare TwilioException("Unable
        # to fetch page", response) instead of a TwilioRestException.
        response = exc.args[1] if len(exc.args) > 1 else None
        if response is not None and hasattr(response, "status_code"):
            raise _error_from_response_payload(action, response.status_code, response.text) from exc
        raise TwilioGatewayError(f"{action} failed: {exc}", transient=False) from exc


class TwilioRestGateway(TwilioGateway):
    """Talks to Twilio's REST API through the official SDK.

    `api_url` (e.g. "http://127.0.0.1:8765") sends every request to that base
    URL instead of https://api.twilio.com, for the fake Twilio server.
    `timeout` (seconds) bounds connecting and waiting for each answer.
    """

    def __init__(self, account_sid: str, auth_token: str, api_url: str | None = None, timeout: float = 10) -> None:
        if api_url:
            http_client = _BaseUrlHttpClient(api_url, timeout=timeout)
        else:
            http_client = TwilioHttpClient(timeout=timeout)
        self._http_client = http_client
        self._client = Client(account_sid, auth_token, http_client=http_client)
        self._validator = RequestValidator(auth_token)
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._api_url = (api_url or "https://api.twilio.com").rstrip("/")
        self._timeout = timeout

    def place_call(
        self, *, to: str, from_: str, url: str, status_callback: str, machine_detection: bool = False
    ) -> CallRequestResult:
        options = {"machine_detection": "Enable"} if machine_detection else {}
        with _translated_errors(f"Call to {to}"):
            call = self._client.calls.create(
                to=to,
                from_=from_,
                url=url,
                method="POST",
                status_callback=status_callback,
                status_callback_method="POST",
                status_callback_event=list(CALL_STATUS_EVENTS),
                **options,
            )
        return CallRequestResult(sid=call.sid, status=call.status)

    def send_sms(self, *, to: str, from_: str, body: str, status_callback: str) -> MessageResult:
        with _translated_errors(f"Text to {to}"):
            message = self._client.messages.create(to=to, from_=from_, body=body, status_callback=status_callback)
        return _message_result(message)

    def recent_messages(self, *, to: str, from_: str, since: datetime) -> list[MessageResult]:
        # Filtering on Twilio's side by DateSent would miss exactly the
        # messages this check is for: a message still queued has no date_sent
        # yet. So ask for the newest messages between the two numbers and
        # filter on date_created here.
        # Twilio's dates have whole seconds.
        since_utc = as_utc(since).replace(microsecond=0)
        with _translated_errors(f"Listing texts to {to}"):
            messages = self._client.messages.list(to=to, from_=from_, limit=RECENT_MESSAGES_SCAN_LIMIT)
        return [
            _message_result(message)
            for message in messages
            if message.date_created is not None and message.date_created >= since_utc
        ]

    def update_call(self, call_sid: str, *, twiml: str) -> str:
        with _translated_errors(f"Updating call {call_sid}"):
            call = self._client.calls(call_sid).update(twiml=twiml)
        return call.status

    def recording_audio(self, recording_sid: str) -> RecordingAudio:
        # The SDK reads answers as text; media is binary, so it is fetched
        # with the SDK's own HTTP session and the account's credentials.
        url = (f"{self._api_url}/2010-04-01/Accounts/{self._account_sid}/Recordings/{recording_sid}"
               f"{RECORDING_MEDIA_EXTENSION}")
        with _translated_errors(f"Fetching the audio of recording {recording_sid}"):
            response = self._http_client.session.get(url, auth=(self._account_sid, self._auth_token),
                                                     timeout=self._timeout)
        if response.status_code != 200:
            raise _error_from_response_payload(f"Fetching the audio of recording {recording_sid}",
                                               response.status_code, response.text)
        return RecordingAudio(response.content, response.headers.get("Content-Type", "audio/x-wav"))

    def delete_recording(self, recording_sid: str) -> None:
        try:
            with _translated_errors(f"Deleting recording {recording_sid}"):
                self._client.recordings(recording_sid).delete()
        except TwilioGatewayError as error:
            if error.http_status != 404:
                raise

    def recent_calls(self, *, to: str, from_: str, since: datetime) -> list[CallRecord]:
        # As for messages: a call still queued has no start time, so filter on date_created here.
        since_utc = as_utc(since).replace(microsecond=0)
        with _translated_errors(f"Listing calls to {to}"):
            calls = self._client.calls.list(to=to, from_=from_, limit=RECENT_MESSAGES_SCAN_LIMIT)
        return [
            CallRecord(sid=call.sid, status=call.status, to=call.to, from_=call._from, date_created=call.date_created)
            for call in calls
            if call.date_created is not None and call.date_created >= since_utc
        ]

    def validate_signature(self, url: str, params: Mapping, signature: str | None) -> bool:
        if not signature:
            return False
        return self._validator.validate(url, params, signature)

    def close(self) -> None:
        if self._http_client.session is not None:
            self._http_client.session.close()


def _message_result(message) -> MessageResult:
    return MessageResult(
        sid=message.sid,
        status=message.status,
        error_code=message.error_code,
        error_message=message.error_message,
        date_created=message.date_created,
        body=message.body,
    )
