"""Calendar feeds, served by a real HTTP server on 127.0.0.1 that each test scripts."""
from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import select

from outreach.extensions import db
from outreach.models import Appointment, ImportRun
from outreach.services import calendar_sync, feeds
from outreach.services.ics_import import ImportLimits

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
LIMITS = ImportLimits(feed_timeout_seconds=2)
LOOPBACK = ("127.0.0.1",)  # the feed server stands in for an on-premises calendar server
SYNC_CONFIG = {"FEED_ALLOWED_PRIVATE_HOSTS": ",".join(LOOPBACK)}


@pytest.fixture
def practitioner(make):
    return make.practitioner(make.practice(timezone="America/New_York"))


@pytest.fixture
def feed(practitioner, feed_server):
    source = feeds.add_feed(db.session, practitioner, feed_server.url, "Front desk calendar",
                            allowed_private_hosts=LOOPBACK)
    db.session.commit()
    return source


def calendar(*visits: tuple[str, str]) -> bytes:
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDURATION:PT45M\r\n"
        f"SUMMARY:Client {uid} - visit\r\nEND:VEVENT\r\n"
        for uid, start in visits
    )
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\n{events}END:VCALENDAR\r\n".encode()


def sync(source, *, now: dt.datetime = NOW, limits: ImportLimits = LIMITS):
    report = feeds.sync_feed(db.session, source, now=now, limits=limits, allowed_private_hosts=LOOPBACK)
    db.session.commit()
    return report


def visits(source) -> list[tuple[str, str]]:
    db.session.expire_all()
    return [(a.uid, a.status) for a in db.session.scalars(
        select(Appointment).where(Appointment.source_id == source.id).order_by(Appointment.uid))]


def test_unchanged_feed_is_not_downloaded_again_thanks_to_its_etag(feed, feed_server):
    feed_server.body, feed_server.etag = calendar(("a", "20260305T150000Z")), '"v1"'
    first = sync(feed)
    assert (first.status, first.created) == ("imported", 1)
    assert (feed.etag, feed.last_error, feed.last_success_at) == ('"v1"', None, NOW)

    later = NOW + dt.timedelta(minutes=30)
    second = sync(feed, now=later)
    assert second.as_json()["status"] == "not_modified"
    assert feed_server.requests[-1]["If-None-Match"] == '"v1"'
    assert (feed.last_attempt_at, feed.last_success_at) == (later, later)

    feed_server.body, feed_server.etag = calendar(("a", "20260305T160000Z")), '"v2"'
    third = sync(feed, now=later + dt.timedelta(minutes=30))
    assert (third.status, third.updated) == ("imported", 1)
    runs = db.session.scalars(select(ImportRun.status).where(ImportRun.source_id == feed.id).order_by(ImportRun.id))
    assert list(runs) == ["imported", "not_modified", "imported"]


def test_last_modified_makes_a_conditional_request_too(feed, feed_server):
    feed_server.body = calendar(("a", "20260305T150000Z"))
    feed_server.last_modified = "Mon, 02 Mar 2026 08:00:00 GMT"
    assert sync(feed).status == "imported"
    assert sync(feed).status == "not_modified"
    assert feed_server.requests[-1]["If-Modified-Since"] == "Mon, 02 Mar 2026 08:00:00 GMT"


def test_a_slow_server_times_out_and_changes_nothing(feed, feed_server):
    feed_server.body = calendar(("a", "20260305T150000Z"))
    sync(feed)
    feed_server.body, feed_server.delay_seconds = calendar(), 1.5
    report = sync(feed, limits=ImportLimits(feed_timeout_seconds=0.3))
    assert report.status == "error"  # had it waited out the 1.5 s, the answer would have been read
    assert feed.last_error == report.error == "the server did not answer within 0.3 seconds"
    assert visits(feed) == [("a", "confirmed")]


@pytest.mark.parametrize("send_length", [True, False], ids=["content-length", "streamed"])
def test_a_feed_over_the_size_cap_is_refused(feed, feed_server, send_length):
    feed_server.body = calendar(*((f"v{n}", "20260305T150000Z") for n in range(40)))
    feed_server.send_length = send_length
    report = sync(feed, limits=ImportLimits(max_bytes=1024, feed_timeout_seconds=2))
    assert report.status == "error" and report.error.startswith("the feed is larger than the")
    assert visits(feed) == []


def test_a_server_error_keeps_the_appointments_and_shows_the_error(feed, feed_server):
    feed_server.body = calendar(("a", "20260305T150000Z"), ("b", "20260306T150000Z"))
    sync(feed)
    feed_server.status = 500
    report = sync(feed, now=NOW + dt.timedelta(hours=1))
    assert report.as_json()["error"] == "the server answered 500 Internal Server Error"
    assert feed.last_error == "the server answered 500 Internal Server Error"
    assert (feed.last_attempt_at, feed.last_success_at) == (NOW + dt.timedelta(hours=1), NOW)
    assert visits(feed) == [("a", "confirmed"), ("b", "confirmed")]


def test_something_that_is_not_a_calendar_is_an_error_and_is_downloaded_again_next_time(feed, feed_server):
    feed_server.body, feed_server.etag = b"<html>Sign in to see this calendar</html>", '"login"'
    report = sync(feed)
    assert report.status == "error"
    assert feed.last_error == "this is not an iCalendar file: it has no BEGIN:VCALENDAR or BEGIN:VEVENT"
    assert feed.etag is None


def test_a_future_visit_missing_from_the_feed_is_cancelled(feed, feed_server):
    feed_server.body = calendar(("past", "20260220T150000Z"), ("soon", "20260305T150000Z"),
                                ("later", "20260306T150000Z"))
    sync(feed)
    feed_server.body = calendar(("later", "20260306T150000Z"))
    report = sync(feed)
    assert (report.cancelled, report.unchanged) == (1, 1)
    assert visits(feed) == [("later", "confirmed"), ("past", "confirmed"), ("soon", "cancelled")]


def test_due_calendars_are_those_whose_moment_has_come(make, practitioner):
    never = make.source(practitioner, kind="feed", url="https://example.com/a.ics")
    later = make.source(practitioner, kind="feed", url="https://example.com/b.ics")
    overdue = make.source(practitioner, kind="feed", url="https://example.com/c.ics")
    make.source(practitioner, kind="file")
    later.next_sync_at = NOW + dt.timedelta(minutes=10)
    overdue.next_sync_at = NOW - dt.timedelta(minutes=1)
    db.session.commit()
    assert [source.id for source in calendar_sync.due_sources(db.session, NOW)] == [never.id, overdue.id]


def test_syncing_due_calendars_reports_each_and_schedules_the_next(make, practitioner, feed, feed_server):
    feed_server.body = calendar(("a", "20260305T150000Z"))
    broken = make.source(practitioner, kind="feed", url="http://127.0.0.1:9/nothing-listens-here.ics")
    reports = calendar_sync.sync_sources(db.session, calendar_sync.due_sources(db.session, NOW), now=NOW,
                                         limits=LIMITS, config=SYNC_CONFIG)
    assert [(report.source_id, report.status) for report in reports] == [(feed.id, "imported"),
                                                                        (broken.id, "error")]
    db.session.expire_all()
    assert broken.last_error.startswith("the feed could not be downloaded")
    assert visits(feed) == [("a", "confirmed")]
    assert NOW < feed.next_sync_at <= NOW + dt.timedelta(minutes=30)
    assert (broken.failed_syncs, broken.next_sync_at) == (1, NOW + dt.timedelta(minutes=30))


def test_feeds_with_one_interval_are_spread_over_it_each_at_its_own_moment(make, practitioner):
    sources = [make.source(practitioner, kind="feed", url=f"https://example.com/{n}.ics") for n in range(200)]
    interval = dt.timedelta(minutes=30)
    moments = [calendar_sync.next_regular_sync(source, NOW) for source in sources]
    assert all(NOW < moment <= NOW + interval for moment in moments)
    # Spread: no minute of the half hour gets more than a handful of the 200 feeds.
    per_minute = Counter(int((moment - NOW).total_seconds() // 60) for moment in moments)
    assert len(per_minute) >= 25 and max(per_minute.values()) <= 20
    # Stable: a feed's moment is the same in every interval.
    assert [calendar_sync.next_regular_sync(source, moment) for source, moment in zip(sources, moments)] == [
        moment + interval for moment in moments]


def test_a_failing_feed_backs_off_doubling_each_time_and_recovers(practitioner, feed, feed_server):
    feed_server.status = 500
    now, waits = NOW, []
    for _ in range(7):
        calendar_sync.sync_sources(db.session, [feed], now=now, limits=LIMITS, config=SYNC_CONFIG)
        waits.append(feed.next_sync_at - now)
        now = feed.next_sync_at
    assert [wait / dt.timedelta(minutes=1) for wait in waits] == [30, 60, 120, 240, 480, 720, 720]
    assert feed.failed_syncs == 7 and "500" in feed.last_error

    feed_server.status, feed_server.body = 200, calendar(("a", "20260305T150000Z"))
    [report] = calendar_sync.sync_sources(db.session, [feed], now=now, limits=LIMITS, config=SYNC_CONFIG)
    assert report.status == "imported"
    assert (feed.failed_syncs, feed.last_error, feed.last_success_at) == (0, None, now)
    assert now < feed.next_sync_at <= now + dt.timedelta(minutes=30)


def test_a_claimed_calendar_is_not_claimed_again_until_its_lease_ends(make, practitioner):
    source = make.source(practitioner, kind="feed", url="https://example.com/a.ics")
    assert calendar_sync.claim_due_sources(db.session, NOW) == [source.id]
    assert calendar_sync.claim_due_sources(db.session, NOW + dt.timedelta(minutes=1)) == []
    # The job was lost (its worker died): the source is due again once the lease is over.
    assert calendar_sync.claim_due_sources(db.session, NOW + calendar_sync.CLAIM_LEASE) == [source.id]


def test_webcal_addresses_are_downloaded_over_https():
    assert feeds.feed_url("webcal://calendar.example.com/u/1.ics") == "https://calendar.example.com/u/1.ics"
    assert feeds.feed_url("https://calendar.example.com/u/1.ics") == "https://calendar.example.com/u/1.ics"


@pytest.mark.parametrize("url", ["ftp://example.com/a.ics", "calendar.ics", "https://"])
def test_only_web_addresses_can_be_added_as_feeds(practitioner, url):
    with pytest.raises(feeds.FeedError, match="is not a calendar feed address"):
        feeds.add_feed(db.session, practitioner, url)


# --- Feeds come from public addresses only ----------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/cal.ics", "http://localhost/cal.ics", "webcal://169.254.169.254/latest/meta-data",
    "http://10.0.0.7/cal.ics", "http://192.168.1.1/cal.ics", "http://[::1]/cal.ics", "http://0.0.0.0/cal.ics",
    "http://224.0.0.1/cal.ics", "http://[::ffff:127.0.0.1]/cal.ics", "http://100.64.0.1/cal.ics",
])
def test_a_feed_at_an_internal_address_is_refused(practitioner, url):
    with pytest.raises(feeds.FeedError, match="inside a network"):
        feeds.add_feed(db.session, practitioner, url)


def test_an_internal_address_is_refused_at_download_time_too(practitioner, feed_server):
    """A feed stored before the check (or whose name now resolves inside) is not fetched either."""
    feed_server.body = calendar(("a", "20260305T150000Z"))
    source = feeds.add_feed(db.session, practitioner, "https://calendar.example.com/a.ics")
    source.url = feed_server.url.replace("127.0.0.1", "localhost")
    db.session.commit()
    report = sync(source)
    assert report.status == "error" and "inside a network" in source.last_error
    assert feed_server.requests == []


def test_a_redirect_to_an_internal_address_is_not_followed(feed, feed_server):
    """The allowed on-premises server redirects to another internal name: that connection is refused."""
    feed_server.status = 302
    feed_server.location = feed_server.url.replace("127.0.0.1", "localhost") + "?again"
    report = sync(feed)
    assert report.status == "error" and "inside a network" in feed.last_error
    assert len(feed_server.requests) == 1
