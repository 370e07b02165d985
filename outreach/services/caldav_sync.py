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
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from outreach.models import CalDavCalendar, CalDavObject, CalendarSource, Practitioner
from outreach.services import calendar_intake
from outreach.services.credentials import Cipher, CredentialsError
from outreach.services.ics_import import ImportLimits, ImportReport, import_calendar, record_import_run

if TYPE_CHECKING:
    from outreach.services.caldav_client import Changes, ClientFactory

KIND = "caldav"
REFUSED = "the calendar server refused the user name or password"
NOT_FOUND = "the address could not be found"
NOT_CALDAV = "this address is not a CalDAV calendar"
UNREACHABLE = "the calendar server could not be reached"


class CalDavError(Exception):
    """A CalDAV calendar that could not be added or synced; the message is meant for staff."""


@dataclass(frozen=True)
class FoundCalendar:
    url: str
    name: str


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
             connect: ClientFactory | None = None) -> list[FoundCalendar]:
    """The calendars with events at `url`: the calendar itself, or every calendar of the account it belongs to.

    `connect` makes the CalDAV client (tests pass their own); by default `caldav_client.connect`.
    """
    url = check_address(url)
    from outreach.services import caldav_client  # loaded on first use: see its docstring

    found = caldav_client.calendars_at(url, username, password, timeout=timeout,
                                       connect=connect or caldav_client.connect)
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
                limits: ImportLimits = ImportLimits(), connect: ClientFactory | None = None) -> ImportReport:
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
        from outreach.services import caldav_client  # loaded on first use: see its docstring

        changes = caldav_client.changes_since(url, link.username, password, mirror, link.sync_token,
                                              timeout=limits.feed_timeout_seconds,
                                              connect=connect or caldav_client.connect)
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


def _update_mirror(session: Session, source: CalendarSource, changes: Changes) -> bool:
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
