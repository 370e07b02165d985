"""Import reports and feed errors in words staff understand, in English and Russian."""
import datetime as dt
import io

import pytest
from flask_babel import refresh

from outreach.clock import set_clock
from outreach.extensions import db
from outreach.services import feeds, import_words

BROKEN = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:test-123\r
DTSTAMP:20261101T000000Z\r
DTSTART:20260231T090000Z\r
SUMMARY:Anna Schmidt – cleaning\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:test-124\r
DTSTAMP:20261101T000000Z\r
SUMMARY:Boris Orlov – check-up\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:fine\r
DTSTAMP:20261101T000000Z\r
DTSTART:20261203T150000Z\r
SUMMARY:Carla Gomez – cleaning\r
END:VEVENT\r
END:VCALENDAR\r
""".encode()


def old_history(count: int) -> bytes:
    events = "".join(f"BEGIN:VEVENT\r\nUID:old-{n}\r\nDTSTAMP:20200101T000000Z\r\nDTSTART:2020{n % 12 + 1:02d}10T150000Z"
                     f"\r\nSUMMARY:Visit {n}\r\nEND:VEVENT\r\n" for n in range(count))
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{events}END:VCALENDAR\r\n".encode()


@pytest.fixture
def staff(make, auth, clock_file):
    set_clock(clock_file, dt.datetime(2026, 12, 2, 12, tzinfo=dt.timezone.utc))
    practice = make.practice("Smile Dental")
    practitioner = make.practitioner(practice, email="glen@example.com")
    make.user(practice, role="staff", email="front@example.com")
    make.user(practice, role="staff", email="olga@example.com").locale = "ru"
    db.session.commit()
    auth.login("front@example.com")
    return practitioner


def sign_in_in_russian(auth) -> None:
    """Olga works in Russian; the tests' app context outlives a request and Flask-Babel keeps the language in it."""
    auth.logout()
    auth.login("olga@example.com")
    refresh()


def _upload(client, practitioner, name, data, **window):
    return client.post("/imports", data={"practitioner": practitioner.id, "files": [(io.BytesIO(data), name)],
                                         **window}, content_type="multipart/form-data").get_data(as_text=True)


def test_skipped_events_are_named_by_title_and_day_with_what_is_wrong(staff, client, auth):
    page = _upload(client, staff, "week.ics", BROKEN)
    assert "1 created" in page and "2 events skipped" in page
    assert ("&#39;Anna Schmidt – cleaning&#39; on Tue 3 Mar 2026: the start time is written wrongly "
            "(&#39;20260231T090000Z&#39;)") in page
    assert "&#39;Boris Orlov – check-up&#39;: it has no start time" in page
    assert "test-123" not in page

    sign_in_in_russian(auth)
    page = _upload(client, staff, "week.ics", BROKEN)
    assert "пропущено" in page
    assert "«Anna Schmidt – cleaning» вт 3 мар. 2026: время начала записано неверно" in page
    assert "«Boris Orlov – check-up»: у него нет времени начала" in page


def test_a_file_of_old_history_says_why_nothing_was_imported_and_the_window_widens_it(staff, client, auth):
    page = _upload(client, staff, "2020.ics", old_history(42))
    assert ("Nothing was imported: all 42 events are before Wed 4 Dec 2024, the start of the import window; "
            "import older history by choosing an earlier first day under Import window.") in page

    page = _upload(client, staff, "2020.ics", old_history(42), first_day="2020-01-01")
    assert "42 created" in page and "Nothing was imported" not in page

    sign_in_in_russian(auth)
    page = _upload(client, staff, "2019.ics", old_history(1).replace(b"old-0", b"older"))
    assert "Ничего не импортировано: все события файла (1) раньше ср 4 дек. 2024 — начала периода импорта" in page


def test_plurals_follow_the_number():
    assert import_words.events_skipped(1) == "1 event skipped"
    assert import_words.events_skipped(2) == "2 events skipped"
    assert import_words.events_skipped(1, "ru") == "1 событие пропущено"
    assert import_words.events_skipped(3, "ru") == "3 события пропущено"
    assert import_words.events_skipped(5, "ru") == "5 событий пропущено"


@pytest.mark.parametrize("status, english, russian", [
    (404, "the server answered 404: the address is wrong or the calendar was unpublished",
     "сервер ответил 404: адрес неверен или календарь больше не опубликован"),
    (401, "the calendar server refused the password", "сервер календаря не принял пароль"),
])
def test_a_failing_feed_says_what_went_wrong_in_words_with_the_detail_behind_a_toggle(
        staff, client, auth, feed_server, status, english, russian):
    feed = feeds.add_feed(db.session, staff, feed_server.url, "Booking tool", allowed_private_hosts=LOOPBACK)
    db.session.commit()
    feed_server.status = status
    client.post(f"/sources/{feed.id}/sync")
    page = client.get("/sources").get_data(as_text=True)
    assert f"Last try failed: {english}" in page
    assert "<summary>Technical detail</summary><code>the server answered" in page

    sign_in_in_russian(auth)
    assert russian in client.get("/sources").get_data(as_text=True)


# The loopback feed server stands in for an on-premises calendar server.
LOOPBACK = ("127.0.0.1",)


def test_feed_problems_are_told_apart(staff, feed_server):
    problems = {}
    for url in ("https://calendar.invalid/secret.ics", "http://127.0.0.1:1/closed.ics"):
        with pytest.raises(feeds.FeedError) as caught:
            feeds.download(url, {}, 5, 1000, LOOPBACK)
        problems[url] = caught.value.problem
    feed_server.delay_seconds = 1
    with pytest.raises(feeds.FeedError) as caught:
        feeds.download(feed_server.url, {}, 0.3, 1000, LOOPBACK)
    assert caught.value.problem == import_words.TOO_SLOW
    assert problems == {"https://calendar.invalid/secret.ics": import_words.ADDRESS_NOT_FOUND,
                        "http://127.0.0.1:1/closed.ics": import_words.NO_CONNECTION}
    assert import_words.feed_problem(import_words.ADDRESS_NOT_FOUND, "HTTPSConnectionPool…") == (
        "the address could not be found: check the feed's address")
    assert import_words.feed_problem(None, "this is not an iCalendar file: it has no BEGIN:VCALENDAR").startswith(
        "the file is not a calendar")
    assert import_words.feed_problem(import_words.TOO_SLOW, "", locale="ru").startswith(
        "сервер слишком долго не отвечал")
