"""CalDAV calendars against a real CalDAV server (Radicale) on loopback.

Events are created, changed, moved and deleted on the server through CalDAV
itself, as the practice's own calendar apps would; the product syncs and its
appointments follow.
"""
from __future__ import annotations

import base64
import datetime as dt
import logging
import uuid

import json
import re

import caldav
import pytest
from sqlalchemy import select

from outreach import tasks
from outreach.clock import set_clock
from outreach.cli import cli
from outreach.extensions import db
from outreach.models import Appointment, CalDavCalendar, CalDavObject, CalendarSource, ImportRun
from outreach.services import caldav_sync, credentials
from outreach.services.ics_import import ImportLimits
from tests.caldav_server import PASSWORD, USER, RadicaleServer, Relay
from tests.conftest import TEST_CREDENTIALS_KEY

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
LIMITS = ImportLimits(feed_timeout_seconds=5)
CIPHER = credentials.Cipher(TEST_CREDENTIALS_KEY)


@pytest.fixture
def practitioner(make):
    return make.practitioner(make.practice(timezone="America/New_York"), email="glen@example.com")


@pytest.fixture
def work_calendar(radicale):
    return radicale.new_calendar()


def event(uid: str, start: str, summary: str | None = None, *, stamp: str = "20261201T000000Z") -> str:
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//other calendar app//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
            f"DTSTAMP:{stamp}\r\nDTSTART:{start}\r\nDURATION:PT45M\r\nSUMMARY:{summary or f'Client {uid} - visit'}\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


def add(practitioner, calendar_url: str, password: str = PASSWORD):
    found = caldav_sync.discover(calendar_url, USER, password, timeout=5)
    source = caldav_sync.add_calendar(db.session, practitioner, found[0], USER, password, CIPHER)
    db.session.commit()
    return source


def sync(source, *, now: dt.datetime = NOW, **options):
    report = caldav_sync.sync_source(db.session, source, now, cipher=CIPHER, limits=LIMITS, **options)
    db.session.commit()
    return report


def visits(source) -> dict[str, tuple[str, str]]:
    """uid -> (start in UTC, status)."""
    db.session.expire_all()
    return {a.uid: (a.starts_at.strftime("%Y%m%dT%H%M%SZ"), a.status) for a in db.session.scalars(
        select(Appointment).where(Appointment.source_id == source.id))}


def link(source) -> CalDavCalendar:
    db.session.expire_all()
    return db.session.scalars(select(CalDavCalendar).where(CalDavCalendar.source_id == source.id)).one()


def test_discovery_finds_the_accounts_calendars_or_the_calendar_given(app, radicale):
    work = radicale.new_calendar("work-" + uuid.uuid4().hex[:6])
    home = radicale.new_calendar("home-" + uuid.uuid4().hex[:6])

    from_the_account = caldav_sync.discover(f"{radicale.url}/{USER}/", USER, PASSWORD, timeout=5)
    assert {work, home} <= {calendar.url for calendar in from_the_account}

    from_the_calendar = caldav_sync.discover(work, USER, PASSWORD, timeout=5)
    assert [calendar.url for calendar in from_the_calendar] == [work]
    assert from_the_calendar[0].name  # Radicale names it after its path when no display name is set


def test_events_created_changed_moved_and_deleted_on_the_server_follow_on_sync(app, radicale, practitioner,
                                                                                 work_calendar):
    personal = radicale.new_calendar()
    for uid, start in [("a", "20261208T150000Z"), ("b", "20261209T150000Z"), ("c", "20261210T150000Z"),
                       ("d", "20261211T150000Z")]:
        radicale.put(work_calendar, f"{uid}.ics", event(uid, start))
    source = add(practitioner, work_calendar)

    first = sync(source)
    assert (first.status, first.created) == ("imported", 4)
    assert link(source).sync_token  # Radicale has RFC 6578 tokens
    assert source.last_success_at == NOW and source.last_error is None

    later = NOW + dt.timedelta(minutes=30)
    assert sync(source, now=later).status == "not_modified"

    radicale.put(work_calendar, "a.ics", event("a", "20261208T150000Z", "Client a - second opinion"))  # changed
    radicale.put(work_calendar, "b.ics", event("b", "20261209T170000Z"))  # moved to 5 PM
    radicale.delete(work_calendar, "c.ics")  # deleted
    radicale.move(work_calendar, "d.ics", personal)  # moved to a calendar the product does not read
    radicale.put(work_calendar, "e.ics", event("e", "20261212T150000Z"))  # new
    token_before = link(source).sync_token

    report = sync(source, now=later + dt.timedelta(minutes=30))
    assert (report.status, report.created, report.updated, report.cancelled) == ("imported", 1, 2, 2)
    assert visits(source) == {
        "a": ("20261208T150000Z", "confirmed"), "b": ("20261209T170000Z", "confirmed"),
        "c": ("20261210T150000Z", "cancelled"), "d": ("20261211T150000Z", "cancelled"),
        "e": ("20261212T150000Z", "confirmed"),
    }
    assert link(source).sync_token != token_before
    assert sorted(db.session.scalars(select(CalDavObject.href).where(CalDavObject.source_id == source.id))) == [
        f"{work_calendar.removeprefix(radicale.url)}{name}.ics" for name in ("a", "b", "e")]


def test_a_rejected_sync_token_falls_back_to_listing_every_object(app, radicale, practitioner, work_calendar):
    radicale.put(work_calendar, "a.ics", event("a", "20261208T150000Z"))
    radicale.put(work_calendar, "b.ics", event("b", "20261209T150000Z"))
    source = add(practitioner, work_calendar)
    sync(source)

    radicale.put(work_calendar, "b.ics", event("b", "20261209T180000Z"))
    radicale.delete(work_calendar, "a.ics")
    radicale.put(work_calendar, "c.ics", event("c", "20261210T150000Z"))
    link(source).sync_token = "http://radicale.org/ns/sync/" + "0" * 64  # one the server never issued
    db.session.commit()

    report = sync(source, now=NOW + dt.timedelta(hours=1))
    assert (report.status, report.created, report.updated, report.cancelled) == ("imported", 1, 1, 1)
    assert visits(source) == {"a": ("20261208T150000Z", "cancelled"), "b": ("20261209T180000Z", "confirmed"),
                              "c": ("20261210T150000Z", "confirmed")}
    token = link(source).sync_token
    assert token and not token.endswith("0" * 64)
    assert sync(source, now=NOW + dt.timedelta(hours=2)).status == "not_modified"  # the new token works


def test_a_server_without_sync_tokens_is_synced_by_listing_etags(app, radicale, practitioner, work_calendar):
    def without_sync_tokens(url, username, password, timeout):
        return caldav.DAVClient(url=url, username=username, password=password, timeout=timeout,
                                enable_rfc6764=False, features={"sync-token": {"support": "unsupported"}})

    radicale.put(work_calendar, "a.ics", event("a", "20261208T150000Z"))
    radicale.put(work_calendar, "b.ics", event("b", "20261209T150000Z"))
    source = add(practitioner, work_calendar)
    assert sync(source, connect=without_sync_tokens).created == 2
    assert link(source).sync_token is None

    radicale.put(work_calendar, "b.ics", event("b", "20261209T160000Z"))
    radicale.delete(work_calendar, "a.ics")
    report = sync(source, now=NOW + dt.timedelta(hours=1), connect=without_sync_tokens)
    assert (report.updated, report.cancelled) == (1, 1)
    assert visits(source) == {"a": ("20261208T150000Z", "cancelled"), "b": ("20261209T160000Z", "confirmed")}
    assert sync(source, now=NOW + dt.timedelta(hours=2), connect=without_sync_tokens).status == "not_modified"


def test_a_wrong_password_is_said_in_words_and_changes_nothing(app, radicale, practitioner, work_calendar):
    with pytest.raises(caldav_sync.CalDavError, match="refused the user name or password"):
        caldav_sync.discover(work_calendar, USER, "wrong", timeout=5)

    radicale.put(work_calendar, "a.ics", event("a", "20261208T150000Z"))
    source = add(practitioner, work_calendar)
    sync(source)
    token = link(source).sync_token
    caldav_sync.change_login(db.session, source, USER, "not-the-password", CIPHER)
    db.session.commit()
    radicale.delete(work_calendar, "a.ics")

    report = sync(source, now=NOW + dt.timedelta(hours=1))
    assert (report.status, report.error) == ("error", caldav_sync.REFUSED)
    assert source.last_error == caldav_sync.REFUSED and source.last_success_at == NOW
    assert visits(source) == {"a": ("20261208T150000Z", "confirmed")}
    assert link(source).sync_token == token


def test_addresses_that_are_not_caldav_calendars_are_said_in_words(app, radicale, feed_server):
    def refused(url: str) -> str:
        with pytest.raises(caldav_sync.CalDavError) as raised:
            caldav_sync.discover(url, USER, PASSWORD, timeout=5)
        return str(raised.value)

    assert refused(f"{radicale.url}/{USER}/no-such-calendar/") == caldav_sync.NOT_FOUND
    assert refused("https://calendar.invalid/dav/") == caldav_sync.NOT_FOUND
    assert refused(feed_server.url) == caldav_sync.NOT_CALDAV
    assert refused("ftp://example.com/") .startswith("'ftp://example.com/' is not a CalDAV address")
    assert "own fields" in refused(f"http://{USER}:{PASSWORD}@127.0.0.1/")


def test_a_server_that_goes_away_mid_sync_leaves_nothing_half_applied(app, practitioner, tmp_path):
    server = RadicaleServer(tmp_path / "radicale")
    server.start()
    relay = Relay(server.url)
    try:
        calendar = server.new_calendar()
        for uid, start in [("a", "20261208T150000Z"), ("b", "20261209T150000Z")]:
            server.put(calendar, f"{uid}.ics", event(uid, start))
        source = add(practitioner, calendar.replace(server.url, relay.url))
        sync(source)
        token = link(source).sync_token
        mirror = sorted(db.session.execute(select(CalDavObject.href, CalDavObject.etag)).all())

        server.put(calendar, "a.ics", event("a", "20261208T190000Z"))
        server.delete(calendar, "b.ics")
        server.put(calendar, "c.ics", event("c", "20261210T150000Z"))
        # The sync asks what changed (request 1), then fetches it (request 2): the server dies in between.
        relay.count = 0
        relay.on_request = lambda n: server.stop() if n == 2 else None
        report = sync(source, now=NOW + dt.timedelta(hours=1))
        assert report.status == "error" and report.error.startswith(caldav_sync.UNREACHABLE)
        assert visits(source) == {"a": ("20261208T150000Z", "confirmed"), "b": ("20261209T150000Z", "confirmed")}
        assert link(source).sync_token == token
        assert sorted(db.session.execute(select(CalDavObject.href, CalDavObject.etag)).all()) == mirror

        relay.on_request = lambda n: None
        server.start()
        report = sync(source, now=NOW + dt.timedelta(hours=2))
        assert (report.status, report.created, report.updated, report.cancelled) == ("imported", 1, 1, 1)
        assert visits(source) == {"a": ("20261208T190000Z", "confirmed"), "b": ("20261209T150000Z", "cancelled"),
                                  "c": ("20261210T150000Z", "confirmed")}
    finally:
        relay.stop()
        server.stop()


def test_the_password_is_stored_encrypted_and_never_logged(app, radicale, practitioner, work_calendar, caplog):
    caplog.set_level(logging.DEBUG)
    radicale.put(work_calendar, "a.ics", event("a", "20261208T150000Z"))
    source = add(practitioner, work_calendar)
    sync(source)
    link(source).sync_token = "http://radicale.org/ns/sync/rejected"
    db.session.commit()
    sync(source, now=NOW + dt.timedelta(hours=1))
    caldav_sync.change_login(db.session, source, USER, "wrong-" + PASSWORD, CIPHER)
    db.session.commit()
    sync(source, now=NOW + dt.timedelta(hours=2))

    stored = link(source)
    assert PASSWORD not in stored.password_encrypted
    assert CIPHER.decrypt(stored.password_encrypted) == "wrong-" + PASSWORD
    assert caplog.records  # the libraries did log their requests
    assert PASSWORD not in caplog.text
    assert base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() not in caplog.text  # nor its Basic header
    for run in db.session.scalars(select(ImportRun).where(ImportRun.source_id == source.id)):
        assert PASSWORD not in repr(run.report) + run.filename


def test_an_empty_password_keeps_the_saved_one(app, radicale, practitioner, work_calendar):
    source = add(practitioner, work_calendar)
    caldav_sync.change_login(db.session, source, USER, "", CIPHER)
    db.session.commit()
    assert CIPHER.decrypt(link(source).password_encrypted) == PASSWORD
    assert sync(source).status == "imported"


def test_staff_add_a_caldav_calendar_from_the_command_line_and_sync_feeds_syncs_it(runner, radicale, practitioner,
                                                                                    work_calendar, clock_file):
    set_clock(clock_file, NOW)
    radicale.put(work_calendar, "a.ics", event("a", "20261208T150000Z"))
    radicale.new_calendar()  # the account has another calendar
    account = f"{radicale.url}/{USER}/"

    several = runner.invoke(cli, ["add-caldav", account, "--practitioner", "glen@example.com", "--username", USER],
                            input=PASSWORD + "\n")
    assert several.exit_code == 1
    assert "calendars:" in several.output and "choose with --calendar NAME" in several.output

    added = runner.invoke(cli, ["add-caldav", account, "--practitioner", "glen@example.com", "--username", USER,
                                "--calendar", work_calendar], input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert added.output.startswith("Added CalDAV calendar")
    assert PASSWORD not in added.output
    [source] = db.session.scalars(select(CalendarSource).where(CalendarSource.kind == "caldav")).all()
    assert source.url == work_calendar

    synced = runner.invoke(cli, ["sync-feeds", "--json"])
    assert synced.exit_code == 0, synced.output
    [line] = [json.loads(text) for text in synced.output.splitlines()]
    assert (line["source"], line["status"], line["created"]) == (source.name, "imported", 1)
    assert runner.invoke(cli, ["sync-feeds"]).output == "No feed is due.\n"


def test_a_wrong_password_on_the_command_line_adds_nothing(runner, radicale, practitioner, work_calendar,
                                                           monkeypatch):
    monkeypatch.setenv("CALDAV_PASSWORD", "wrong")
    result = runner.invoke(cli, ["add-caldav", work_calendar, "--practitioner", "glen@example.com",
                                 "--username", USER])
    assert result.exit_code == 1
    assert "the calendar server refused the user name or password" in result.output
    assert db.session.scalars(select(CalendarSource)).all() == []


@pytest.fixture
def front_desk(make, auth, practitioner, clock_file):
    set_clock(clock_file, NOW)
    make.user(practitioner.practice, role="staff", email="front@example.com")
    auth.login("front@example.com")
    return practitioner


def test_front_desk_add_a_caldav_calendar_on_the_calendars_page(front_desk, client, radicale, work_calendar):
    radicale.put(work_calendar, "a.ics", event("a", "20261208T150000Z"))
    radicale.new_calendar()  # the account has another calendar

    found = client.post("/sources/caldav", data={"practitioner": front_desk.id, "url": f"{radicale.url}/{USER}/",
                                                 "username": USER, "password": PASSWORD})
    page = found.get_data(as_text=True)
    assert found.status_code == 200
    assert work_calendar in page and "only read" in page
    assert PASSWORD not in page  # the login travels encrypted
    sealed = re.search(r'name="found" type="hidden" value="([^"]+)"', page).group(1)

    assert client.post("/sources/caldav/choose", data={"found": sealed}).status_code == 400  # nothing chosen
    added = client.post("/sources/caldav/choose", data={"found": sealed, "calendars": [work_calendar]})
    assert added.status_code == 302
    [source] = db.session.scalars(select(CalendarSource).where(CalendarSource.kind == "caldav")).all()
    assert visits(source) == {"a": ("20261208T150000Z", "confirmed")}  # synced as soon as it was added

    listed = client.get("/sources").get_data(as_text=True)
    assert f"CalDAV, read-only, as {USER}" in listed and "Change login" in listed

    radicale.put(work_calendar, "a.ics", event("a", "20261208T160000Z"))
    assert client.post(f"/sources/{source.id}/sync").status_code == 302  # "Sync now"
    assert visits(source) == {"a": ("20261208T160000Z", "confirmed")}

    login_page = client.get(f"/sources/{source.id}/caldav").get_data(as_text=True)
    assert "saved — enter a new one to replace" in login_page
    assert PASSWORD not in login_page and link(source).password_encrypted not in login_page


def test_a_refused_login_on_the_calendars_page_is_said_and_saves_nothing(front_desk, client, radicale,
                                                                       work_calendar):
    refused = client.post("/sources/caldav", data={"practitioner": front_desk.id, "url": work_calendar,
                                                   "username": USER, "password": "wrong"}, follow_redirects=True)
    assert "the calendar server refused the user name or password" in refused.get_data(as_text=True)
    assert db.session.scalars(select(CalendarSource)).all() == []

    source = add(front_desk, work_calendar)
    changed = client.post(f"/sources/{source.id}/caldav", data={"username": USER, "password": "wrong"})
    assert changed.status_code == 400
    assert "refused the user name or password" in changed.get_data(as_text=True)
    assert CIPHER.decrypt(link(source).password_encrypted) == PASSWORD

    kept = client.post(f"/sources/{source.id}/caldav", data={"username": USER, "password": ""})
    assert kept.status_code == 302
    assert CIPHER.decrypt(link(source).password_encrypted) == PASSWORD


def test_the_calendars_page_speaks_russian_about_caldav(front_desk, client, radicale):
    front_desk.practice.locale = "ru"
    db.session.commit()
    refused = client.post("/sources/caldav", data={"practitioner": front_desk.id,
                                                   "url": f"{radicale.url}/{USER}/nothing-here/",
                                                   "username": USER, "password": PASSWORD}, follow_redirects=True)
    assert "адрес не найден" in refused.get_data(as_text=True)


def test_the_periodic_tick_syncs_due_caldav_calendars(app, radicale, practitioner, work_calendar, clock_file):
    set_clock(clock_file, NOW)
    radicale.put(work_calendar, "a.ics", event("a", "20261208T150000Z"))
    source = add(practitioner, work_calendar)
    tasks.tick()  # jobs run inline in the tests
    assert visits(source) == {"a": ("20261208T150000Z", "confirmed")}

    radicale.delete(work_calendar, "a.ics")
    set_clock(clock_file, NOW + dt.timedelta(minutes=10))
    tasks.tick()  # not due yet
    assert visits(source) == {"a": ("20261208T150000Z", "confirmed")}
    set_clock(clock_file, NOW + dt.timedelta(minutes=source.sync_interval_minutes))
    tasks.tick()
    assert visits(source) == {"a": ("20261208T150000Z", "cancelled")}


def test_the_embedded_default_keeps_a_generated_key_in_its_instance_folder(tmp_path):
    config = {"CREDENTIALS_KEY": "", "CREDENTIALS_KEY_FILE": str(tmp_path / "instance" / "credentials.key")}
    sealed = credentials.cipher(config).encrypt(PASSWORD)
    assert (tmp_path / "instance" / "credentials.key").stat().st_mode & 0o777 == 0o600
    assert credentials.cipher(config).decrypt(sealed) == PASSWORD  # the same key next time

    with pytest.raises(credentials.CredentialsError, match="CREDENTIALS_KEY is not set"):
        credentials.cipher({"CREDENTIALS_KEY": "", "CREDENTIALS_KEY_FILE": None}).encrypt(PASSWORD)
    with pytest.raises(credentials.CredentialsError, match="not a valid key"):
        credentials.Cipher("not-a-key").encrypt(PASSWORD)
    with pytest.raises(credentials.CredentialsError, match="cannot be decrypted"):
        credentials.Cipher(credentials.new_key()).decrypt(sealed)


VTIMEZONE_NEW_YORK = (
    "BEGIN:VTIMEZONE\r\nTZID:Eastern\r\nBEGIN:STANDARD\r\nDTSTART:19701101T020000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\nDTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nTZOFFSETFROM:-0500\r\n"
    "TZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
)


def series(override_start: str | None) -> str:
    """A weekly series at 10:00 in a zone named only inside this object, with one visit moved or not."""
    override = "" if override_start is None else (
        "BEGIN:VEVENT\r\nUID:weekly\r\nDTSTAMP:20261201T000000Z\r\nRECURRENCE-ID;TZID=Eastern:20261215T100000\r\n"
        f"DTSTART;TZID=Eastern:{override_start}\r\nDURATION:PT45M\r\nSUMMARY:Client weekly - therapy\r\n"
        "END:VEVENT\r\n")
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//other calendar app//EN\r\n" + VTIMEZONE_NEW_YORK +
            "BEGIN:VEVENT\r\nUID:weekly\r\nDTSTAMP:20261201T000000Z\r\nDTSTART;TZID=Eastern:20261208T100000\r\n"
            "DURATION:PT45M\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nSUMMARY:Client weekly - therapy\r\nEND:VEVENT\r\n"
            + override + "END:VCALENDAR\r\n")


def test_a_series_and_its_moved_visit_sync_with_the_time_zone_of_their_own_object(app, radicale, practitioner,
                                                                                    work_calendar):
    radicale.put(work_calendar, "weekly.ics", series(None))
    radicale.put(work_calendar, "a.ics", event("a", "20261208T200000Z"))
    source = add(practitioner, work_calendar)
    assert sync(source).created == 4
    starts = sorted(a.starts_at.strftime("%Y%m%dT%H%M%SZ") for a in db.session.scalars(
        select(Appointment).where(Appointment.source_id == source.id)))
    assert starts == ["20261208T150000Z", "20261208T200000Z", "20261215T150000Z", "20261222T150000Z"]

    radicale.put(work_calendar, "weekly.ics", series("20261216T110000"))  # one visit of the series moved
    report = sync(source, now=NOW + dt.timedelta(hours=1))
    assert (report.created, report.updated, report.cancelled) == (0, 1, 0)
    db.session.expire_all()
    moved = db.session.scalars(select(Appointment).where(Appointment.source_id == source.id,
                                                         Appointment.recurrence_id != "")
                               .order_by(Appointment.starts_at)).all()
    assert [a.starts_at.strftime("%Y%m%dT%H%M%SZ") for a in moved] == [
        "20261208T150000Z", "20261216T160000Z", "20261222T150000Z"]
