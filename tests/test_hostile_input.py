"""Hostile input at every route of the served app: no answer is a 500, and no traceback reaches the log.

An admin (who may open the most pages) sends, over real HTTP, odd values for
every route parameter of the URL map and for every field of every form the
pages show (plus the query arguments the routes read): huge, negative and
non-numeric ids, over-long text, NUL bytes, bytes that are not UTF-8,
look-alike digits, markup, and a field given twice; and Twilio's webhooks, signed, with the
same values in every field Twilio sends. The routes come from the
URL map, the fields from the pages' own forms, so a new route or field is
covered without touching this test. A few hundred requests per database.
"""
from __future__ import annotations

import datetime as dt
import logging
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

import pytest
import requests

from outreach.extensions import db
from outreach.models import CallAttempt, ImportRun, InboundCall, InboundMessage, Notification, Recording
from tests.factories import Factory

# Query arguments the routes read beside their forms' fields.
QUERY_ARGUMENTS = ("practitioner", "from", "to", "months", "show", "notification", "next", "back")

HOSTILE_VALUES = {
    "empty": "",
    "over-long": "x" * 100_000,
    "huge number": "99" * 20,
    "beyond int32": "3000000000",
    "negative": "-1",
    "nul": "a\x00b",
    "not UTF-8": b"\xff\xfe\xc3(",
    "look-alike digits": "١٢٣²",
    "markup": "<script>alert(1)</script>' OR '1'='1",
    "odd times and weeks": "25:99 2026-W99 1e309 NaN",
    "the calendar's last week": "9999-W52",
    "the calendar's first week": "0001-W01",
}
HOSTILE_PATH_SEGMENTS = ("99999999999999999999", "3000000000", "-1", "0", "abc", "%00", "1.5", "%FF%FE",
                         "x" * 5000, "2026-W99", "0000-W00", "0001-W01", "9999-W52")
HOSTILE_FILES = {
    "hostile name.ics": ("../../" + "é" * 400 + ".ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"),
    "nul in the calendar": ("nul.ics", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:\x00\r\nDTSTART:20261208T150000Z\r\n"
                                       b"SUMMARY:A\x00B\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"),
    "not UTF-8": ("bytes.ics", b"\xff\xfe\xfd" * 1000),
    "UTF-16 without a BOM": ("u16.ics", "BEGIN:VCALENDAR\r\n".encode("utf-16-le")),
    "nul in the name": ("a\x00b.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"),
}


class FormFields(HTMLParser):
    """(action path, method) -> field names, of every form on a page."""

    def __init__(self, page_path: str) -> None:
        super().__init__()
        self.page_path = page_path
        self.forms: dict[tuple[str, str], set[str]] = {}
        self._current: set[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "form":
            action = urlsplit(attributes.get("action") or self.page_path).path or self.page_path
            self._current = self.forms.setdefault((action, (attributes.get("method") or "get").upper()), set())
        elif tag in ("input", "select", "textarea", "button") and self._current is not None and attributes.get("name"):
            self._current.add(attributes["name"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


@pytest.fixture
def practice_with_everything(make):
    """A practice with one of each object; its admin is the one who sends the hostile input."""
    practice = make.practice("Smile Dental")
    make.user(practice, role="admin", email="admin@smile.example")
    glen = make.practitioner(practice, email="glen@smile.example")
    client = make.client(practice, full_name="Anna Petrova")
    visit = make.appointment(glen, client, dt.datetime(2026, 12, 8, 15, tzinfo=dt.timezone.utc),
                             at_client_place=True, location="1 Elm St")
    task = make.call_task(visit)
    attempt = CallAttempt(practice_id=practice.id, task_id=task.id, call_sid="CA" + "1" * 32, status="completed")
    notification = Notification(practice_id=practice.id, appointment_id=visit.id, client_id=client.id,
                                kind="arrival", dedupe_key="hostile", to_phone=client.phone, body="Hi",
                                due_at=visit.starts_at)
    reply = InboundMessage(practice_id=practice.id, client_id=client.id, appointment_id=visit.id,
                           message_sid="SM" + "1" * 32, from_phone=client.phone, body="ok")
    feed = make.source(glen, kind="feed", url="https://calendar.example.com/glen.ics")
    import_run = ImportRun(practice_id=practice.id, source_id=feed.id, filename="glen.ics", status="imported",
                           report={}, created_at=visit.starts_at)
    call_back = InboundCall(practice_id=practice.id, call_sid="CA" + "2" * 32, from_phone=client.phone,
                            to_phone=practice.phone, matched="one", client_id=client.id, route="voicemail")
    db.session.add_all([attempt, notification, reply, import_run, call_back])
    db.session.flush()
    message = Recording(practice_id=practice.id, kind="voicemail", recording_sid="RE" + "2" * 32,
                        inbound_call_id=call_back.id, client_id=client.id, task_id=task.id, transcription="Hello")
    db.session.add(message)
    db.session.commit()
    return {"practitioner_id": glen.id, "user_id": glen.user_id, "appointment_id": visit.id, "client_id": client.id,
            "task_id": task.id, "attempt_id": attempt.id, "source_id": feed.id, "notification_id": notification.id, "week": "2026-W50",
            "import_run_id": import_run.id, "inbound_call_id": call_back.id, "recording_id": message.id}


def _signed_in_admin(base_url: str) -> requests.Session:
    session = requests.Session()
    response = session.post(f"{base_url}/login", allow_redirects=False, timeout=10,
                            data={"email": "admin@smile.example", "password": Factory.PASSWORD})
    assert response.status_code == 302
    return session


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "auth.logout"):  # files on disk; signing out would end the run
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


TWILIO_FIELDS = ("AccountSid", "CallSid", "ParentCallSid", "CallStatus", "CallDuration", "AnsweredBy", "MessageSid",
                 "SmsSid", "MessageStatus", "ErrorCode", "From", "To", "Body")


def test_hostile_input_never_breaks_the_served_app(fake_twilio, app, live_server, practice_with_everything, caplog):
    caplog.set_level(logging.INFO)
    admin = _signed_in_admin(live_server.url)
    answers: list[tuple[int, str]] = []

    def send(method: str, path: str, *, query: dict | None = None, form: dict | None = None,
             files: dict | None = None) -> None:
        if query:  # a URL stays within what servers read (werkzeug: 64 KB), over-long text goes in forms
            query = {name: value[:2000] for name, value in query.items()}
        url = live_server.url + path + ("?" + urlencode(query, doseq=True) if query else "")
        body = urlencode(form, doseq=True) if form is not None and files is None else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
        response = admin.request(method, url, data=body if files is None else form, files=files, headers=headers,
                                 allow_redirects=False, timeout=60)
        answers.append((response.status_code, f"{method} {url[:200]}"))

    # The forms every page shows, and where they are sent.
    fields: dict[str, set[str]] = {}
    for rule, method in _routes(app):
        if method == "GET":
            path = rule.build(practice_with_everything, append_unknown=False)[1]
            page = admin.get(live_server.url + path, timeout=30)
            assert page.status_code < 500, f"GET {path} answered {page.status_code}"
            parser = FormFields(path)
            parser.feed(page.text)
            for (action, _), names in parser.forms.items():
                fields.setdefault(action, set()).update(names)

    for rule, method in _routes(app):
        path = rule.build(practice_with_everything, append_unknown=False)[1]
        names = sorted(fields.get(path, set()) - {"csrf_token"})
        # Every route parameter, hostile.
        for argument in rule.arguments:
            marker = "1999-W01" if argument == "week" else 987654321  # a value the converter accepts
            marked = rule.build({**practice_with_everything, argument: marker}, append_unknown=False)[1]
            for segment in HOSTILE_PATH_SEGMENTS:
                send(method, marked.replace(str(marker), segment))
        # Every field and query argument at once, for each kind of hostile value.
        for value in HOSTILE_VALUES.values():
            query = {name: value for name in QUERY_ARGUMENTS}
            if method == "GET":
                send(method, path, query={**query, **{name: value for name in names}})
            else:
                send(method, path, query=query, form={name: [value, value] if name in names[:1] else value
                                                      for name in names})
        if rule.endpoint == "imports.upload" and method == "POST":
            for filename, content in HOSTILE_FILES.values():
                send(method, path, form={"practitioner": str(practice_with_everything["practitioner_id"])},
                     files={"files": (filename, content, "text/calendar")})

    # Twilio's webhooks, signed as Twilio signs them: hostile in every field, and with this call's own SIDs.
    own = {"AccountSid": fake_twilio.account_sid, "CallSid": "CA" + "1" * 32, "ParentCallSid": "CA" + "1" * 32}
    for rule, method in _routes(app):
        if not rule.endpoint.startswith("twilio."):
            continue
        url = live_server.url + rule.build(practice_with_everything, append_unknown=False)[1]
        url += f"?notification={practice_with_everything['notification_id']}"
        for value in HOSTILE_VALUES.values():
            if isinstance(value, str):
                hostile = {field: value for field in TWILIO_FIELDS}
                for params in (hostile, {**hostile, **own}):
                    answers.append((fake_twilio.post_signed(url, params) or 599, f"signed POST {url}"))

    assert len(answers) > 300
    # Still signed in: the answers above were the admin's, not the sign-in page's.
    assert admin.get(f"{live_server.url}/admin/", allow_redirects=False, timeout=10).status_code == 200
    crashed = [where for status, where in answers if status >= 500]
    assert crashed == [], f"{len(crashed)} answers were errors: {crashed[:10]}"
    tracebacks = [record.getMessage()[:300] for record in caplog.records
                  if record.exc_info or "Traceback" in record.getMessage()]
    assert tracebacks == [], tracebacks[:5]
