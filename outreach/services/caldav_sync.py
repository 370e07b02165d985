"""CalDAV calendars: a practitioner's calendar on Nextcloud, iCloud, Fastmail or Radicale, read over CalDAV.

Read-only: the product only ever sends PROPFIND and REPORT requests (through
the `caldav` client library); it never writes to the practice's calendar.

Adding one discovers the calendars under the address staff give (principal →
calendar home → calendars; a calendar's own address works too) and keeps the
user name and the app password, encrypted with the CREDENTIALS_KEY.

A sync asks the server what changed since the last one with RFC 6578
`sync-collection` and its sync token; where the server has no tokens or
rejects ours, it lists every object's ETag instead (sync-collection without a
token, else a PROPFIND) and compares them with the local mirror. Only the
objects whose ETag changed are fetched, with `calendar-multiget`.

The mirror (one `CalDavObject` per object on the server) is then assembled
into one calendar and imported through `import_calendar(...,
cancel_vanished=True)`, exactly like a feed: the same import rules,
cancellations, call lists and arrival texts follow. All network traffic
happens before the first database write, and the mirror, the import and the
new sync token are written in the caller's one transaction, so a server that
goes away mid-sync leaves nothing half-applied.

No Flask here: callers pass the session and commit (`sync_sources` commits
after each calendar).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

import caldav
from caldav.elements import cdav, dav
from caldav.lib import error as caldav_error
from caldav.lib.http_sync import requests as caldav_http  # niquests, or requests where niquests is not installed
from lxml import etree
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from outreach.models import CalDavCalendar, CalDavObject, CalendarSource, Practitioner
from outreach.services import calendar_intake
from outreach.services.credentials import Cipher, CredentialsError
from outreach.services.ics_import import ImportLimits, ImportReport, import_calendar, record_import_run

logger = logging.getLogger(__name__)

KIND = "caldav"
REFUSED = "the calendar server refused the user name or password"
NOT_FOUND = "the address could not be found"
NOT_CALDAV = "this address is not a CalDAV calendar"
UNREACHABLE = "the calendar server could not be reached"
_CALENDAR_TYPE = "{urn:ietf:params:xml:ns:caldav}calendar"
_MULTIGET_BATCH = 100
_USER_AGENT = "outreach-calendar-sync/1 (read-only)"


class CalDavError(Exception):
    """A CalDAV calendar that could not be added or synced; the message is meant for staff."""


@dataclass(frozen=True)
class FoundCalendar:
    url: str
    name: str


@dataclass
class _Changes:
    """What the server has that the mirror does not: objects to store (path → (ETag, text)) and paths gone."""

    fetched: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    sync_token: str | None = None


# Makes the client for a URL, user name, password and timeout; tests may pass their own.
ClientFactory = Callable[[str, str, str, float], caldav.DAVClient]


def connect(url: str, username: str, password: str, timeout: float) -> caldav.DAVClient:
    # No RFC 6764 DNS discovery: staff give the address, and a lookup must not send it elsewhere.
    return caldav.DAVClient(url=url, username=username, password=password, timeout=timeout,
                            enable_rfc6764=False, headers={"User-Agent": _USER_AGENT})


def check_address(url: str) -> str:
    """The calendar address as given, or a CalDavError saying what is wrong with it."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise CalDavError(f"{url!r} is not a CalDAV address (it should start with https://)")
    if parts.username or parts.password:
        # A password in the address would be stored and shown in plain text.
        raise CalDavError("put the user name and password in their own fields, not in the address")
    if len(url) > 2000:
        raise CalDavError("the address is longer than 2000 characters")
    return url


def discover(url: str, username: str, password: str, *, timeout: float,
             connect: ClientFactory = connect) -> list[FoundCalendar]:
    """The calendars with events at `url`: the calendar itself, or every calendar of the account it belongs to."""
    url = check_address(url)
    with _errors_in_words():
        client = connect(url, username, password, timeout)
        with client:
            here = client.calendar(url=url)
            props = here.get_properties([dav.ResourceType(), dav.DisplayName(),
                                         cdav.SupportedCalendarComponentSet()])
            if _CALENDAR_TYPE in (props.get(dav.ResourceType.tag) or []):
                if not _holds_events(props.get(cdav.SupportedCalendarComponentSet.tag)):
                    raise CalDavError("this calendar holds tasks or notes, not events")
                return [FoundCalendar(str(here.url), _name(here.url, props.get(dav.DisplayName.tag)))]
            found = [
                FoundCalendar(str(calendar.url), _name(calendar.url, calendar.get_display_name()))
                for calendar in client.principal().calendars()
                if _holds_events(calendar.get_supported_components())
            ]
    if not found:
        raise CalDavError("no calendar with events was found at this address")
    return found


def add_calendar(session: Session, practitioner: Practitioner, calendar: FoundCalendar, username: str,
                 password: str, cipher: Cipher) -> CalendarSource:
    """Adds a discovered calendar as a source of the practitioner; it is synced on the next run of the tick."""
    url = check_address(calendar.url)
    source = CalendarSource(practice_id=practitioner.practice_id, practitioner_id=practitioner.id, kind=KIND,
                            name=(calendar.name or urlsplit(url).hostname or url).strip()[:200], url=url)
    session.add(source)
    session.flush()
    session.add(CalDavCalendar(practice_id=source.practice_id, source_id=source.id, username=username.strip()[:300],
                               password_encrypted=cipher.encrypt(password), import_pending=True))
    session.flush()
    return source


def link_of(session: Session, source: CalendarSource) -> CalDavCalendar:
    return session.scalars(select(CalDavCalendar).where(CalDavCalendar.source_id == source.id)).one()


def change_login(session: Session, source: CalendarSource, username: str, password: str | None,
                 cipher: Cipher) -> None:
    """New user name, and a new password when one is given (an empty one keeps the saved password)."""
    link = link_of(session, source)
    link.username = username.strip()[:300]
    if password:
        link.password_encrypted = cipher.encrypt(password)
    source.last_error = None


def sync_source(session: Session, source: CalendarSource, now: dt.datetime, *, cipher: Cipher,
                limits: ImportLimits = ImportLimits(), connect: ClientFactory = connect) -> ImportReport:
    """Brings one CalDAV calendar's appointments up to date with the server; the caller commits.

    The report's status is "not_modified" when nothing changed on the
    server. On failure the source keeps the error in `last_error`, and the
    mirror, the sync token and the appointments stay as they were.
    """
    link = link_of(session, source)
    url = source.url or ""
    source.last_attempt_at = now
    mirror = dict(session.execute(select(CalDavObject.href, CalDavObject.etag)
                                  .where(CalDavObject.source_id == source.id)).all())
    try:
        password = cipher.decrypt(link.password_encrypted)
        with _errors_in_words():
            client = connect(url, link.username, password, limits.feed_timeout_seconds)
            with client:
                changes = _changes_since(client.calendar(url=url), mirror, link.sync_token)
    except (CalDavError, CredentialsError) as exc:
        source.last_error = str(exc)
        report = ImportReport.failed(url, str(exc), source.id)
        record_import_run(session, source, report, now)
        return report

    # Two syncs of one calendar at once (the tick and "Sync now") write one after the other.
    session.refresh(link, with_for_update=True)
    mirror_changed = _update_mirror(session, source, changes)
    link.sync_token = changes.sync_token
    if not mirror_changed and not link.import_pending:
        source.last_success_at, source.last_error = now, None
        report = ImportReport(file=url, status="not_modified", source_id=source.id)
        record_import_run(session, source, report, now)
        return report

    report = import_calendar(session, source, _assembled(session, source), url, now=now, limits=limits,
                             cancel_vanished=True)
    calendar_intake.appointments_changed(session, report.changed_appointment_ids, now=now)
    link.import_pending = report.status != "imported"
    if report.status == "imported":
        source.last_success_at, source.last_error = now, None
    else:
        source.last_error = report.error
    return report


def all_sources(session: Session) -> list[CalendarSource]:
    return list(session.scalars(select(CalendarSource).where(CalendarSource.kind == KIND)
                                .order_by(CalendarSource.id)))


def due_sources(session: Session, now: dt.datetime) -> list[CalendarSource]:
    """CalDAV calendars never tried, or last tried at least their sync interval ago."""
    return [
        source for source in all_sources(session)
        if source.last_attempt_at is None
        or source.last_attempt_at + dt.timedelta(minutes=source.sync_interval_minutes) <= now
    ]


def sync_sources(session: Session, sources: list[CalendarSource], *, now: dt.datetime, cipher: Cipher,
                 limits: ImportLimits, connect: ClientFactory = connect) -> list[ImportReport]:
    """Syncs the calendars in turn, committing after each so one calendar's trouble never undoes another's work."""
    reports = []
    for source in sources:
        source_id, url = source.id, source.url or ""
        try:
            report = sync_source(session, source, now, cipher=cipher, limits=limits, connect=connect)
            session.commit()
        except Exception:
            # The database itself failed, or a bug; the other calendars may still go through.
            logger.exception("syncing CalDAV source %s failed", source_id)
            session.rollback()
            report = ImportReport.failed(url, "the sync failed unexpectedly (the error was logged)", source_id)
        reports.append(report)
    return reports


def _changes_since(calendar: caldav.Calendar, mirror: dict[str, str | None], sync_token: str | None) -> _Changes:
    """Asks the server what changed (by sync token, else by listing every ETag), then fetches what did."""
    by_token = _changed_by_token(calendar, sync_token) if sync_token else None
    if by_token is not None:
        changed, removed, new_token = by_token
    else:
        changed, new_token = _listing(calendar)
        removed = set(mirror) - set(changed)
    changes = _Changes(removed=removed, sync_token=new_token)
    wanted = sorted(path for path, etag in changed.items() if etag is None or mirror.get(path) != etag)
    for start in range(0, len(wanted), _MULTIGET_BATCH):
        batch = wanted[start:start + _MULTIGET_BATCH]
        fetched = {_path(calendar, item.url): item for item in calendar.multiget(
            [calendar.url.join(quote(path, safe="/:@")) for path in batch]) if item.data}
        for path in batch:
            if (item := fetched.get(path)) is None:
                # Gone between the listing and the fetch, or held back by the server: whichever it was,
                # the next sync must list everything again rather than trust a token that skipped it.
                changes.sync_token = None
                continue
            changes.fetched[path] = (_etag(item) or changed[path], str(item.data))
    return changes


def _changed_by_token(calendar: caldav.Calendar,
                      sync_token: str) -> tuple[dict[str, str | None], set[str], str] | None:
    """What changed since the token: (path → ETag, paths removed, the new token); None when the server cannot say."""
    try:
        result = calendar.get_objects_by_sync_token(sync_token=sync_token, load_objects=False, disable_fallback=True)
    except caldav_error.DAVError as exc:
        # The token expired or is unknown (RFC 6578: 403 valid-sync-token; 412 on some servers), or the server
        # stopped offering sync-collection. If the login is what is wrong, the full listing is refused too and says so.
        logger.info("%s did not accept the sync token (%s); listing every object", calendar.url, type(exc).__name__)
        return None
    if result.truncated:  # cut short with no token to go on from (RFC 6578, 3.6)
        logger.info("%s cut its list of changes short; listing every object", calendar.url)
        return None
    removed = {_path(calendar, url) for url in result.deleted_urls}
    changed = {path: _etag(item) for item in result if (path := _path(calendar, item.url)) not in removed}
    return changed, removed, result.sync_token


def _listing(calendar: caldav.Calendar) -> tuple[dict[str, str | None], str | None]:
    """Every object of the calendar with its ETag, and a fresh sync token when the server has them."""
    try:
        result = calendar.get_objects_by_sync_token(sync_token=None, load_objects=False, disable_fallback=True)
    except caldav_error.DAVError as exc:
        if isinstance(exc, caldav_error.AuthorizationError) and not exc.preconditions:
            raise
        logger.info("%s offers no sync tokens (%s); listing ETags with PROPFIND", calendar.url, type(exc).__name__)
        return _propfind_listing(calendar), None
    if result.truncated:  # an incomplete listing would cancel every appointment it left out
        logger.info("%s cut its listing short; listing ETags with PROPFIND", calendar.url)
        return _propfind_listing(calendar), None
    # A first sync-collection may still name recently deleted objects (Radicale does), as removed.
    gone = {_path(calendar, url) for url in result.deleted_urls}
    listing = {path: _etag(item) for item in result if (path := _path(calendar, item.url)) not in gone}
    return listing, result.sync_token


def _propfind_listing(calendar: caldav.Calendar) -> dict[str, str | None]:
    """Every object of the calendar with its ETag, by a depth-1 PROPFIND (what every CalDAV server answers)."""
    response = calendar.get_properties([dav.GetEtag()], depth=1, parse_response_xml=False)
    own_path = unquote(calendar.url.path).rstrip("/")
    listing = {}
    for href, props in response.expand_simple_props([dav.GetEtag()]).items():
        path = _path(calendar, href)
        if path.rstrip("/") != own_path and not path.endswith("/"):
            listing[path] = props.get(dav.GetEtag.tag)
    return listing


def _update_mirror(session: Session, source: CalendarSource, changes: _Changes) -> bool:
    """Writes what the server changed into the mirror; False when nothing did."""
    if changes.removed:
        session.execute(delete(CalDavObject).where(CalDavObject.source_id == source.id,
                                                   CalDavObject.href.in_(sorted(changes.removed))))
    stored = {row.href: row for row in session.scalars(
        select(CalDavObject).where(CalDavObject.source_id == source.id,
                                   CalDavObject.href.in_(sorted(changes.fetched))))} if changes.fetched else {}
    changed = bool(changes.removed)
    for path, (etag, ics) in changes.fetched.items():
        row = stored.get(path)
        if row is None:
            session.add(CalDavObject(practice_id=source.practice_id, source_id=source.id, href=path,
                                     etag=(etag or "")[:300] or None, ics=ics))
            changed = True
        elif row.ics != ics or row.etag != etag:
            changed = changed or row.ics != ics
            row.etag, row.ics = (etag or "")[:300] or None, ics
    session.flush()
    return changed


def _assembled(session: Session, source: CalendarSource) -> bytes:
    """The mirror as one file of calendars, one per object: the importer reads each with its own time zones."""
    texts = session.scalars(select(CalDavObject.ics).where(CalDavObject.source_id == source.id)
                            .order_by(CalDavObject.href))
    empty = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//outreach//caldav mirror//EN\r\nEND:VCALENDAR\r\n"
    return ("\r\n".join(text.strip() for text in texts) or empty).encode()


def _path(calendar: caldav.Calendar, url_or_href: object) -> str:
    """An object's path on the server, the same however the server or the library spelt it."""
    return unquote(calendar.url.join(str(url_or_href)).path)


def _etag(item: caldav.CalendarObjectResource) -> str | None:
    return (getattr(item, "props", None) or {}).get(dav.GetEtag.tag)


def _holds_events(components: object) -> bool:
    # A server that does not say what a calendar holds allows every kind (RFC 4791, 5.2.3).
    return not components or "VEVENT" in [str(name).upper() for name in components]


def _name(url: object, display_name: object) -> str:
    return str(display_name or "").strip() or unquote(urlsplit(str(url)).path.rstrip("/").rsplit("/", 1)[-1])


@contextmanager
def _errors_in_words() -> Iterator[None]:
    """Turns what the server and the network answered into a sentence for staff (never with the password)."""
    try:
        yield
    except caldav_error.AuthorizationError as exc:
        raise CalDavError(REFUSED) from exc
    except caldav_error.NotFoundError as exc:
        raise CalDavError(NOT_FOUND) from exc
    except (caldav_error.DAVError, etree.LxmlError) as exc:
        raise CalDavError(NOT_CALDAV) from exc
    except caldav_http.exceptions.Timeout as exc:
        raise CalDavError(f"{UNREACHABLE} (no answer in time)") from exc
    except caldav_http.exceptions.ConnectionError as exc:
        if "NameResolution" in repr(exc) or "Name or service not known" in str(exc):
            raise CalDavError(NOT_FOUND) from exc
        raise CalDavError(UNREACHABLE) from exc
    except caldav_http.exceptions.RequestException as exc:
        raise CalDavError(f"{UNREACHABLE} ({type(exc).__name__})") from exc
