"""What a black-box probe of the served app found, kept closed: each story goes through the real
server over HTTP (the `live_server` fixture) where the hole was found over HTTP."""
from __future__ import annotations

import csv
import datetime as dt
import io
import time

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from outreach.cli import cli
from outreach.extensions import db
from outreach.models import CalendarSource, CallAttempt, Client, InboundMessage, Practice, Practitioner
from outreach.services import csv_files, practice_numbers
from tests.factories import Factory

UTC = dt.timezone.utc
VISIT_AT = dt.datetime(2026, 12, 1, 15, tzinfo=UTC)


def signed_in(live_server, email: str) -> requests.Session:
    """A browser-like HTTP session of `email` on the served app."""
    session = requests.Session()
    response = session.post(f"{live_server.url}/login", data={"email": email, "password": Factory.PASSWORD},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 302, f"{email} could not sign in ({response.status_code})"
    return session


@pytest.fixture
def two_practices(make):
    """Smile Dental (+1 202-555-0100) and Other Practice (+1 202-555-0600), each with an admin."""
    smile = make.practice("Smile Dental")
    other = make.practice("Other Practice")
    make.user(smile, role="admin", email="admin@smile.example")
    make.user(other, role="admin", email="admin@other.example")
    return smile, other


# --- 1. A practice phone number belongs to one practice --------------------------------------------


def settings_of(practice: Practice, **changes) -> dict:
    return {"timezone": practice.timezone, "locale": practice.locale, "phone": practice.phone or "",
            "address": "", "quiet_hours_start": "21:00", "quiet_hours_end": "08:00", "call_list_weekday": "6",
            "call_list_time": "09:00", "arrival_lead_minutes": "15", "retention_days": "730", **changes}


def test_an_admin_cannot_take_another_practices_number(two_practices, live_server):
    smile, other = two_practices
    browser = signed_in(live_server, "admin@smile.example")
    for written in (other.phone, "(202) 555-0600", "+1 202 555 0600"):
        response = browser.post(f"{live_server.url}/admin/settings", data=settings_of(smile, phone=written),
                                timeout=10)
        assert response.status_code == 400
        assert "already another practice" in response.text
    db.session.expire_all()
    assert db.session.get(Practice, smile.id).phone == "+12025550100"
    # Its own number, however written, is still its own.
    response = browser.post(f"{live_server.url}/admin/settings", data=settings_of(smile, phone="(202) 555-0100"),
                            timeout=10, allow_redirects=False)
    assert response.status_code == 302


def test_the_command_line_refuses_a_number_already_in_use_and_the_database_too(two_practices, runner):
    result = runner.invoke(cli, ["add-practice", "--name", "Third", "--timezone", "UTC", "--phone", "202-555-0600"])
    assert result.exit_code != 0 and "already the number of another practice" in result.output
    db.session.add(Practice(name="Sneaky", timezone="UTC", locale="en", phone="+12025550600"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_inbound_texts_go_to_the_practice_whose_number_was_texted(fake_twilio, live_server, two_practices, make,
                                                                  caplog):
    smile, other = two_practices
    anna_at_other = make.client(other, full_name="Anna Other", phone="+12025550143")
    inbound = f"{live_server.url}/twilio/inbound-sms"
    assert fake_twilio.send_inbound_sms(inbound, from_="+12025550143", to=other.phone, body="STOP") == 200
    db.session.expire_all()
    [reply] = db.session.scalars(select(InboundMessage)).all()
    assert (reply.practice_id, reply.client_id) == (other.id, anna_at_other.id)
    assert db.session.get(Client, anna_at_other.id).opted_out_at is not None

    assert fake_twilio.send_inbound_sms(inbound, from_="+12025550143", to="+12025550177", body="hi") == 404
    assert "no practice has this number" in caplog.text
    with pytest.raises(practice_numbers.NumberNotRouted):
        practice_numbers.practice_for_number_dialled(db.session, "not a number")


# --- 2. A practitioner sees of a client only the history with themselves ------------------------------


def test_a_practitioner_sees_only_their_own_history_with_a_shared_client(make, live_server):
    practice = make.practice("Smile Dental")
    glen = make.practitioner(practice, email="glen@smile.example", full_name="Dr. Glen Gorab")
    maria = make.practitioner(practice, email="maria@smile.example", full_name="Dr. Maria Ivanova",
                              preferred_name="Maria")
    anna = make.client(practice, full_name="Anna Petrova")
    with_glen = make.appointment(glen, anna, VISIT_AT)
    with_maria = make.appointment(maria, anna, VISIT_AT + dt.timedelta(days=7))
    db.session.add_all([
        InboundMessage(practice_id=practice.id, client_id=anna.id, appointment_id=with_glen.id,
                       message_sid="SM" + "1" * 32, from_phone=anna.phone, body="Told Glen: my knee hurts"),
        InboundMessage(practice_id=practice.id, client_id=anna.id, appointment_id=with_maria.id,
                       message_sid="SM" + "2" * 32, from_phone=anna.phone, body="See you, Maria"),
        InboundMessage(practice_id=practice.id, client_id=anna.id, appointment_id=None,
                       message_sid="SM" + "3" * 32, from_phone=anna.phone, body="Unattached remark"),
    ])
    db.session.commit()

    page = signed_in(live_server, "maria@smile.example").get(f"{live_server.url}/clients/{anna.id}", timeout=10)
    assert page.status_code == 200
    assert "See you, Maria" in page.text
    assert "my knee hurts" not in page.text and "Unattached remark" not in page.text

    make.user(practice, role="staff", email="front@smile.example")
    page = signed_in(live_server, "front@smile.example").get(f"{live_server.url}/clients/{anna.id}", timeout=10)
    assert all(text in page.text for text in ("See you, Maria", "my knee hurts", "Unattached remark"))


# --- 5. CSV formula injection ---------------------------------------------------------------------------


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_that_would_be_a_formula_is_text(start):
    formula = f'{start}HYPERLINK("http://evil.example")'
    assert csv_files.neutralise(formula) == "'" + formula
    assert csv_files.neutralise("Dr. Glen Gorab") == "Dr. Glen Gorab"
    assert csv_files.neutralise(-5) == -5


def test_the_outcomes_export_never_carries_a_formula(make, live_server):
    practice = make.practice("Smile Dental")
    make.user(practice, role="admin", email="admin@smile.example")
    evil = make.practitioner(practice, email="evil@smile.example", full_name='=HYPERLINK("http://evil.example")')
    make.call_task(make.appointment(evil, make.client(practice), VISIT_AT))
    response = signed_in(live_server, "admin@smile.example").get(
        f"{live_server.url}/outcomes/export.csv", params={"from": "2026-W49", "to": "2026-W49"}, timeout=10)
    [row] = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert row["practitioner"] == '\'=HYPERLINK("http://evil.example")'


# --- 6 and 7. Over-long input and impossible time zones -------------------------------------------------


def test_over_long_input_is_refused_with_the_limit_and_nothing_is_stored(make, live_server):
    practice = make.practice("Smile Dental")
    make.user(practice, role="admin", email="admin@smile.example")
    glen = make.practitioner(practice, email="glen@smile.example")
    browser = signed_in(live_server, "admin@smile.example")
    huge = "x" * 100_000

    response = browser.post(f"{live_server.url}/admin/users", timeout=10,
                            data={"email": f"{huge}@example.com", "full_name": huge, "role": "staff"})
    assert "At most 254 characters" in response.text and "At most 200 characters" in response.text
    response = browser.post(f"{live_server.url}/admin/practitioners/{glen.id}", timeout=10,
                            data={"full_name": huge, "preferred_name": "Glen"})
    assert response.status_code == 200 and "At most 200 characters" in response.text
    response = browser.post(f"{live_server.url}/admin/settings", data=settings_of(practice, address=huge),
                            timeout=10)
    assert "At most 300 characters" in response.text
    response = browser.post(f"{live_server.url}/sources/feeds", timeout=10,
                            data={"practitioner": glen.id, "url": "https://example.com/" + huge})
    assert "At most 2000 characters" in response.text

    db.session.expire_all()
    assert db.session.get(Practitioner, glen.id).full_name == "Dr. Glen Gorab"
    assert db.session.get(Practice, practice.id).address is None
    assert len(db.session.scalars(select(Practitioner)).all()) == 1


def test_over_long_input_is_explained_in_russian_too(make, live_server):
    practice = make.practice("Улыбка", timezone="Europe/Moscow", locale="ru", phone="+74951234567")
    make.user(practice, role="admin", email="admin@smile.example")
    response = signed_in(live_server, "admin@smile.example").post(
        f"{live_server.url}/admin/settings", data=settings_of(practice, address="я" * 301), timeout=10)
    assert "Не больше 300 символов" in response.text


def test_the_command_line_checks_lengths_against_the_columns(make, runner):
    result = runner.invoke(cli, ["add-practice", "--name", "x" * 201, "--timezone", "UTC"])
    assert result.exit_code == 2 and "at most 200 characters" in result.output
    practice = make.practice("Smile Dental")
    result = runner.invoke(cli, ["add-user", "--practice", practice.name, "--email", "a" * 250 + "@example.com",
                                 "--role", "staff", "--name", "Pat"])
    assert result.exit_code == 2 and "at most 254 characters" in result.output
    assert db.session.scalar(select(Practice).where(Practice.name == "x" * 201)) is None


def test_an_impossible_time_zone_is_a_clear_error_not_a_crash(make, live_server, runner):
    practice = make.practice("Smile Dental")
    make.user(practice, role="admin", email="admin@smile.example")
    browser = signed_in(live_server, "admin@smile.example")
    for zone in ("Europe/" + "x" * 300, "Not/A_Zone", "../../etc/passwd"):
        response = browser.post(f"{live_server.url}/admin/settings", data=settings_of(practice, timezone=zone),
                                timeout=10)
        assert response.status_code == 200 and ("Unknown time zone" in response.text
                                                or "At most 64 characters" in response.text), zone
    result = runner.invoke(cli, ["add-practice", "--name", "Far", "--timezone", "Europe/" + "x" * 50])
    assert result.exit_code == 1 and "unknown time zone" in result.output
    db.session.expire_all()
    assert db.session.get(Practice, practice.id).timezone == "America/New_York"


# --- 8. Ids no row can have --------------------------------------------------------------------------


def test_huge_ids_are_not_found_on_every_route(make, live_server):
    practice = make.practice("Smile Dental")
    make.user(practice, role="admin", email="admin@smile.example")
    browser = signed_in(live_server, "admin@smile.example")
    for number in ("99999999999999999999", "3000000000", "2147483648", "0", "-1"):
        assert browser.get(f"{live_server.url}/clients/{number}", timeout=10).status_code == 404
        assert browser.get(f"{live_server.url}/appointments/{number}", timeout=10).status_code == 404
        assert browser.post(f"{live_server.url}/twilio/call-status/{number}", timeout=10).status_code == 404
        response = browser.get(f"{live_server.url}/outcomes", params={"practitioner": number}, timeout=10)
        assert response.status_code == 200  # not a practitioner id: the whole practice, as for "abc"


def test_the_command_line_refuses_an_id_no_row_can_have(make, runner):
    practice = make.practice("Smile Dental")
    result = runner.invoke(cli, ["mark-visit", "--practice", practice.name, "--appointment", "3000000000",
                                 "attended"])
    assert result.exit_code == 2 and "3000000000" in result.output


def test_nul_characters_are_refused_plainly(make, live_server):
    practice = make.practice("Smile Dental")
    make.user(practice, role="admin", email="admin@smile.example")
    response = requests.post(f"{live_server.url}/login", data={"email": "admin@smile.example\x00",
                                                               "password": "x"}, timeout=10)
    assert response.status_code == 400 and "NUL" in response.text


# --- 3. A call's callbacks must be about its own calls -------------------------------------------------


@pytest.fixture
def two_attempts(make):
    """Two bridged calls under way, of two practices: (mine, theirs), each with its Twilio SID."""
    attempts = []
    for number, (name, sid) in enumerate((("Smile Dental", "1"), ("Other Practice", "2"))):
        practice = make.practice(name)
        practitioner = make.practitioner(practice, email=f"doc{number}@example.com")
        task = make.call_task(make.appointment(practitioner, make.client(practice), VISIT_AT))
        attempt = CallAttempt(practice_id=practice.id, task_id=task.id, call_sid="CA" + sid * 32, status="ringing")
        db.session.add(attempt)
        attempts.append(attempt)
    db.session.commit()
    return attempts


def test_a_signed_callback_about_another_call_changes_nothing(fake_twilio, live_server, two_attempts):
    mine, theirs = two_attempts
    client_leg = {"CallSid": "CA" + "c" * 32, "ParentCallSid": theirs.call_sid, "CallStatus": "completed",
                  "CallDuration": "30", "AccountSid": fake_twilio.account_sid}
    assert fake_twilio.post_signed(f"{live_server.url}/twilio/client-status/{mine.id}", client_leg) == 404
    parent_leg = {"CallSid": theirs.call_sid, "CallStatus": "failed", "AccountSid": fake_twilio.account_sid}
    assert fake_twilio.post_signed(f"{live_server.url}/twilio/call-status/{mine.id}", parent_leg) == 404
    assert fake_twilio.post_signed(f"{live_server.url}/twilio/voice/{mine.id}", parent_leg) == 404
    db.session.expire_all()
    assert (db.session.get(CallAttempt, mine.id).status, db.session.get(CallAttempt, mine.id).client_status) == (
        "ringing", None)

    # Its own client leg is taken, and from then on only that leg's SID.
    own_leg = {**client_leg, "ParentCallSid": mine.call_sid, "CallStatus": "ringing"}
    assert fake_twilio.post_signed(f"{live_server.url}/twilio/client-status/{mine.id}", own_leg) == 200
    other_leg = {**own_leg, "CallSid": "CA" + "d" * 32, "CallStatus": "completed"}
    assert fake_twilio.post_signed(f"{live_server.url}/twilio/client-status/{mine.id}", other_leg) == 404
    db.session.expire_all()
    attempt = db.session.get(CallAttempt, mine.id)
    assert (attempt.client_call_sid, attempt.client_status) == ("CA" + "c" * 32, "ringing")


# --- 4. Without Twilio credentials no webhook is believed ------------------------------------------------


def test_the_console_backend_refuses_every_webhook_and_still_walks_its_own_calls(two_attempts, make, live_server):
    mine, _ = two_attempts
    anna = db.session.get(Client, mine.task.client_id)
    practice = db.session.get(Practice, mine.practice_id)
    stop = {"MessageSid": "SM" + "5" * 32, "From": anna.phone, "To": practice.phone, "Body": "STOP"}
    assert requests.post(f"{live_server.url}/twilio/inbound-sms", data=stop, timeout=10).status_code == 403
    voice = requests.post(f"{live_server.url}/twilio/voice/{mine.id}", data={"CallSid": mine.call_sid}, timeout=10)
    assert voice.status_code == 403 and anna.full_name not in voice.text and anna.phone not in voice.text
    db.session.expire_all()
    assert db.session.get(Client, anna.id).opted_out_at is None

    # The demo's calls still go through their statuses, without HTTP.
    task = mine.task
    mine.status = "completed"  # so that a new call may start
    db.session.commit()
    browser = signed_in(live_server, task.call_list.practitioner.email)
    assert browser.post(f"{live_server.url}/tasks/{task.id}/call", timeout=10, allow_redirects=False).status_code == 302
    deadline = dt.datetime.now() + dt.timedelta(seconds=10)
    while dt.datetime.now() < deadline:
        db.session.expire_all()
        newest = db.session.scalars(select(CallAttempt).where(CallAttempt.task_id == task.id)
                                    .order_by(CallAttempt.id.desc())).first()
        if newest.id != mine.id and newest.client_status == "completed":
            break
        time.sleep(0.1)
    assert (newest.status, newest.client_status) == ("completed", "completed")


# --- 10. Sessions -----------------------------------------------------------------------------------------


def test_logging_out_ends_every_session_of_the_user_even_a_copied_cookie(make, live_server):
    practice = make.practice("Smile Dental")
    make.user(practice, role="admin", email="admin@smile.example")
    browser = signed_in(live_server, "admin@smile.example")
    thief = requests.Session()
    thief.cookies.update(browser.cookies)
    other_device = signed_in(live_server, "admin@smile.example")
    assert thief.get(f"{live_server.url}/admin/", allow_redirects=False, timeout=10).status_code == 200

    assert browser.post(f"{live_server.url}/logout", allow_redirects=False, timeout=10).status_code == 302
    for session in (thief, other_device):
        response = session.get(f"{live_server.url}/admin/", allow_redirects=False, timeout=10)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_new_password_ends_every_session_of_the_user(make, live_server):
    from outreach.services import accounts

    practice = make.practice("Smile Dental")
    admin = make.user(practice, role="admin", email="admin@smile.example")
    browser = signed_in(live_server, "admin@smile.example")
    accounts.set_password(admin, "a brand new password")
    db.session.commit()
    assert browser.get(f"{live_server.url}/admin/", allow_redirects=False, timeout=10).status_code == 302
    response = requests.post(f"{live_server.url}/login", allow_redirects=False, timeout=10,
                             data={"email": "admin@smile.example", "password": "a brand new password"})
    assert response.status_code == 302


def test_a_login_takes_as_long_for_an_unknown_address_as_for_a_known_one(make, live_server):
    practice = make.practice("Smile Dental")
    make.user(practice, role="admin", email="admin@smile.example")

    def median_seconds(email: str) -> float:
        times = []
        for _ in range(3):  # the login rate limit allows a few tries only
            started = time.perf_counter()
            response = requests.post(f"{live_server.url}/login", data={"email": email, "password": "wrong"},
                                     timeout=10)
            times.append(time.perf_counter() - started)
            assert response.status_code == 401
        return sorted(times)[1]

    known, unknown = median_seconds("admin@smile.example"), median_seconds("nobody@smile.example")
    # Without the check against a stand-in hash an unknown address answered ~20 times faster.
    assert unknown > known / 3, (known, unknown)


# --- 9. Feeds from public addresses only -------------------------------------------------------------------


def test_staff_cannot_make_the_server_fetch_an_internal_address(make, live_server, feed_server):
    practice = make.practice("Smile Dental")
    glen = make.practitioner(practice, email="glen@smile.example")
    make.user(practice, role="staff", email="front@smile.example")
    browser = signed_in(live_server, "front@smile.example")
    internal = feed_server.url.replace("127.0.0.1", "localhost")  # not the host the settings allow
    for url in (internal, "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/cal.ics"):
        page = browser.post(f"{live_server.url}/sources/feeds", data={"practitioner": glen.id, "url": url},
                            timeout=10)
        assert "inside a network" in page.text, url
    assert feed_server.requests == []
    assert db.session.scalar(select(CalendarSource).where(CalendarSource.kind == "feed")) is None


# --- 11. Calendars in UTF-16 and UTF-32 ----------------------------------------------------------------------

CALENDAR_TEXT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\nUID:bom-1\r\n"
                 "DTSTAMP:20261101T000000Z\r\nDTSTART:20261208T150000Z\r\nDURATION:PT45M\r\n"
                 "SUMMARY:Анна Петрова - first visit\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
BOMMED = {"utf-8-sig": CALENDAR_TEXT.encode("utf-8-sig"), "utf-16-le": CALENDAR_TEXT.encode("utf-16"),
          "utf-16-be": b"\xfe\xff" + CALENDAR_TEXT.encode("utf-16-be"), "utf-32": CALENDAR_TEXT.encode("utf-32"),
          "utf-32-be": b"\x00\x00\xfe\xff" + CALENDAR_TEXT.encode("utf-32-be")}


@pytest.mark.parametrize("encoding", sorted(BOMMED))
def test_a_byte_order_mark_says_the_encoding(encoding):
    from outreach.services import calendar_text

    assert calendar_text.as_utf8(BOMMED[encoding]) == CALENDAR_TEXT.encode("utf-8")
    assert calendar_text.as_utf8(b"BEGIN:VCALENDAR") == b"BEGIN:VCALENDAR"


def test_staff_upload_calendars_saved_in_utf16_and_utf32(make, live_server):
    from outreach.models import Appointment

    practice = make.practice("Smile Dental")
    glen = make.practitioner(practice, email="glen@smile.example")
    make.user(practice, role="staff", email="front@smile.example")
    browser = signed_in(live_server, "front@smile.example")
    for encoding in ("utf-16-le", "utf-32"):
        page = browser.post(f"{live_server.url}/imports", data={"practitioner": glen.id}, timeout=30,
                            files={"files": (f"{encoding}.ics", BOMMED[encoding], "text/calendar")})
        assert page.status_code == 200 and "not an iCalendar file" not in page.text, encoding
    [visit] = db.session.scalars(select(Appointment)).all()
    assert visit.uid == "bom-1" and visit.client.full_name == "Анна Петрова"

    not_a_calendar = "Dear team, see you Tuesday.".encode("utf-16")
    page = browser.post(f"{live_server.url}/imports", data={"practitioner": glen.id}, timeout=30,
                        files={"files": ("letter.ics", not_a_calendar, "text/calendar")})
    assert "not an iCalendar file" in page.text


# --- A call script cannot keep the server busy ------------------------------------------------------------


@pytest.mark.parametrize("script", [
    '{{ "x" * 100000000 }}', '{{ "%100000000d" % 1 }}', '{{ "{:>100000000}".format(1) }}',
    '{{ client_first_name.ljust(100000000) }}', "{{ 9 ** 9 ** 9 }}",
    '{% for a in "x" * 1000 %}{% for b in "y" * 1000 %}.{% endfor %}{% endfor %}',
    "{% set a = client_first_name ~ client_first_name %}{% set b = a ~ a %}{{ b }}",
])
def test_a_script_that_would_grow_without_bound_is_refused_at_once(make, live_server, script):
    make.practitioner(make.practice("Smile Dental"), email="glen@smile.example")
    started = time.perf_counter()
    preview = signed_in(live_server, "glen@smile.example").post(
        f"{live_server.url}/settings/script/preview", data={"script_template": script}, timeout=30).json()
    assert preview["error"] and "not available in a call script" in preview["error"]
    assert time.perf_counter() - started < 5


# --- Days and weeks at the ends of the calendar ---------------------------------------------------------


def test_weeks_and_days_at_the_ends_of_the_calendar_are_clear_errors(make, live_server, runner):
    practice = make.practice("Smile Dental")
    make.user(practice, role="admin", email="admin@smile.example")
    make.practitioner(practice, email="glen@smile.example")
    browser = signed_in(live_server, "admin@smile.example")
    for week in ("0001-W01", "9999-W52"):
        assert browser.get(f"{live_server.url}/week/{week}", timeout=10).status_code == 404
        assert browser.get(f"{live_server.url}/outcomes", params={"from": week, "to": week},
                           timeout=10).status_code == 400
    for arguments in (["notifications", "--date", "9999-12-31"], ["build-call-lists", "--week", "0001-W01"]):
        result = runner.invoke(cli, arguments)
        assert result.exit_code == 2 and "between 1900 and 2999" in result.output, arguments


def test_signing_in_never_sends_people_to_another_site(make, live_server):
    make.user(make.practice("Smile Dental"), role="admin", email="admin@smile.example")
    for target in ("//evil.example/", "/\\evil.example/", "/\t/evil.example/", "https://evil.example/"):
        response = requests.post(f"{live_server.url}/login", params={"next": target}, allow_redirects=False,
                                 data={"email": "admin@smile.example", "password": Factory.PASSWORD}, timeout=10)
        assert response.status_code == 302 and response.headers["Location"] == "/", target
