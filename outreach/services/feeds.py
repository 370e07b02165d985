"""Calendar feeds: a practitioner's calendar published at a URL (webcal:// or https://), synced on a schedule.

A sync downloads the feed with a conditional GET (ETag / Last-Modified, so an
unchanged feed costs one 304), within a time limit and a size cap, and
imports it, then re-plans the texts of the visits that changed (as every
import does, through `calendar_intake`). A feed always carries the whole
calendar, so a future appointment missing from it was deleted there and is
cancelled here.

A failed download records the error on the source and touches no
appointment. No Flask here: callers pass the session (and commit, except in
`sync_due_feeds`, which commits after each feed).
"""
from __future__ import annotations

import datetime as dt
import logging
import socket
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import CalendarSource, Practitioner
from outreach.services import calendar_intake, import_words, public_http
from outreach.services.ics_import import (
    ImportLimits,
    ImportReport,
    import_calendar,
    record_import_run,
)

logger = logging.getLogger(__name__)

FEED_SCHEMES = ("webcal", "webcals", "http", "https")
_USER_AGENT = "outreach-calendar-sync/1"
_CHUNK_BYTES = 64 * 1024


class FeedError(Exception):
    """A feed that could not be added or downloaded; the message is the technical detail.

    `problem` (one of import_words' feed problems) is what the pages word
    for staff in their language; `http_status` the server's answer, if any.
    """

    def __init__(self, message: str, problem: str | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.problem = problem
        self.http_status = http_status


@dataclass(frozen=True)
class FeedResponse:
    status: int  # 200, or 304 when the feed has not changed since the ETag / Last-Modified we sent
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None


# (url, request headers, timeout in seconds, size cap in bytes, hosts allowed to be private) -> response;
# raises FeedError.
HttpGet = Callable[[str, Mapping[str, str], float, int, Collection[str]], FeedResponse]


def download(url: str, headers: Mapping[str, str], timeout: float, max_bytes: int,
             allowed_private_hosts: Collection[str] = ()) -> FeedResponse:
    """GETs a feed with requests: at most `max_bytes` of body and `timeout` seconds in all, from public
    addresses only (`public_http`), redirects included.

    requests' own timeout bounds each wait for the server, not the whole
    download, so a server that trickles bytes is stopped by the clock here.
    """
    give_up_at = time.monotonic() + timeout
    try:
        with public_http.public_session(allowed_private_hosts) as session, \
                session.get(url, headers=dict(headers), timeout=timeout, stream=True) as response:
            if response.status_code == 304:
                return FeedResponse(status=304)
            if response.status_code != 200:
                raise FeedError(f"the server answered {response.status_code} {response.reason or ''}".strip(),
                                _answer_problem(response.status_code), response.status_code)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(max_bytes)
            body = bytearray()
            for chunk in response.iter_content(_CHUNK_BYTES):
                body += chunk
                if len(body) > max_bytes:
                    raise _too_large(max_bytes)
                if time.monotonic() > give_up_at:
                    raise FeedError(f"the download took longer than {timeout:g} seconds", import_words.TOO_SLOW)
            return FeedResponse(status=200, body=bytes(body), etag=response.headers.get("ETag"),
                                last_modified=response.headers.get("Last-Modified"))
    except requests.Timeout as exc:
        raise FeedError(f"the server did not answer within {timeout:g} seconds", import_words.TOO_SLOW) from exc
    except requests.RequestException as exc:
        refused = public_http.refusal(exc)
        if refused:
            raise FeedError(f"the feed was not downloaded: {refused}", import_words.PRIVATE_ADDRESS) from exc
        raise FeedError(f"the feed could not be downloaded: {exc}", _connection_problem(exc)) from exc


def _too_large(max_bytes: int) -> FeedError:
    return FeedError(f"the feed is larger than the {max_bytes / (1024 * 1024):.1f} MB limit", import_words.TOO_LARGE)


def _answer_problem(status: int) -> str:
    if status in (401, 403):
        return import_words.PASSWORD_REFUSED
    if status in (404, 410):
        return import_words.NOT_FOUND
    return import_words.SERVER_ANSWERED


def _connection_problem(exc: requests.RequestException) -> str:
    """What kept requests from talking to the server: a name nobody knows, a bad certificate, or no answer."""
    if isinstance(exc, requests.exceptions.SSLError):
        return import_words.INSECURE
    # requests wraps urllib3's MaxRetryError, whose `reason` is the error that really happened.
    cause: BaseException | None = exc
    for _ in range(10):
        if isinstance(cause, (urllib3.exceptions.NameResolutionError, socket.gaierror)):
            return import_words.ADDRESS_NOT_FOUND
        wrapped = cause.args[0] if cause is not None and cause.args else None
        cause = getattr(cause, "reason", None) or (wrapped if isinstance(wrapped, BaseException) else None) or (
            cause.__cause__ if cause is not None else None)
        if cause is None:
            break
    return import_words.NO_CONNECTION


def feed_url(url: str) -> str:
    """The URL to download: webcal:// is https:// by another name."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme in ("webcal", "webcals"):
        parts = parts._replace(scheme="https")
    return urlunsplit(parts)


def allowed_private_hosts(config: Mapping[str, Any]) -> tuple[str, ...]:
    """FEED_ALLOWED_PRIVATE_HOSTS: host names (as written in feed URLs) that may be on a private network."""
    value = config.get("FEED_ALLOWED_PRIVATE_HOSTS") or ()
    hosts = value.split(",") if isinstance(value, str) else value
    return tuple(host.strip().lower() for host in hosts if host.strip())


def add_feed(session: Session, practitioner: Practitioner, url: str, name: str | None = None, *,
             allowed_private_hosts: Collection[str] = ()) -> CalendarSource:
    """Adds a feed source for the practitioner; it is synced on the next run of `sync_due_feeds`.

    An address that is not public is refused here already (and again on every download and redirect).
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # e.g. a port that is not a number, or a bracketed host that is not IPv6
        host = port = None
        parts = urlsplit("")
    if parts.scheme.lower() not in FEED_SCHEMES or not host:
        raise FeedError(f"{url[:200]!r} is not a calendar feed address (it should start with webcal:// or https://)")
    if len(url) > 2000:
        raise FeedError("the feed address is longer than 2000 characters")
    if host not in allowed_private_hosts:
        default_port = 80 if parts.scheme.lower() == "http" else 443
        try:
            public_http.public_addresses(host, port or default_port)
        except ValueError as exc:
            raise FeedError(f"the feed address is refused: {exc}") from exc
        except (OSError, UnicodeError):
            pass  # not found right now: the sync says so, and checks again
    source = CalendarSource(practice_id=practitioner.practice_id, practitioner_id=practitioner.id, kind="feed",
                            name=(name or host).strip()[:200], url=url)
    session.add(source)
    session.flush()
    return source


def sync_feed(session: Session, source: CalendarSource, *, now: dt.datetime, limits: ImportLimits,
              http_get: HttpGet = download, allowed_private_hosts: Collection[str] = ()) -> ImportReport:
    """Downloads and imports one feed; the caller commits.

    The report's status is "not_modified" when the server says the feed has
    not changed. On failure the source keeps the error in `last_error` and
    its appointments stay as they were.
    """
    url = feed_url(source.url or "")
    source.last_attempt_at = now
    headers = {"User-Agent": _USER_AGENT, "Accept": "text/calendar, */*;q=0.5"}
    if source.etag:
        headers["If-None-Match"] = source.etag
    if source.last_modified:
        headers["If-Modified-Since"] = source.last_modified
    try:
        response = http_get(url, headers, limits.feed_timeout_seconds, limits.max_bytes, allowed_private_hosts)
    except FeedError as exc:
        source.last_error = str(exc)
        report = ImportReport.failed(url, str(exc), source.id)
        record_import_run(session, source, report, now, problem=exc.problem, http_status=exc.http_status)
        return report

    if response.status == 304:
        source.last_success_at = now
        source.last_error = None
        report = ImportReport(file=url, status="not_modified", source_id=source.id)
        record_import_run(session, source, report, now)
        return report

    report = import_calendar(session, source, response.body, url, now=now, limits=limits, cancel_vanished=True)
    calendar_intake.appointments_changed(session, report.changed_appointment_ids, now=now)
    if report.status == "imported":
        source.last_success_at = now
        source.last_error = None
        source.etag = (response.etag or "")[:300] or None
        source.last_modified = (response.last_modified or "")[:100] or None
    else:
        source.last_error = report.error
        # Download it in full next time: a 304 must never hide a feed we could not import.
        source.etag = source.last_modified = None
    return report


def all_feeds(session: Session) -> list[CalendarSource]:
    """Every feed but those staff removed."""
    return list(session.scalars(select(CalendarSource).where(CalendarSource.kind == "feed",
                                                             CalendarSource.removed_at.is_(None))
                                .order_by(CalendarSource.id)))


def due_feeds(session: Session, now: dt.datetime) -> list[CalendarSource]:
    """Feeds never tried, or last tried at least their sync interval ago."""
    return [
        feed for feed in all_feeds(session)
        if feed.last_attempt_at is None
        or feed.last_attempt_at + dt.timedelta(minutes=feed.sync_interval_minutes) <= now
    ]


def sync_due_feeds(session: Session, now: dt.datetime, limits: ImportLimits, *,
                   allowed_private_hosts: Collection[str] = ()) -> list[ImportReport]:
    return sync_feeds(session, due_feeds(session, now), now=now, limits=limits,
                      allowed_private_hosts=allowed_private_hosts)


def sync_feeds(session: Session, sources: list[CalendarSource], *, now: dt.datetime, limits: ImportLimits,
               http_get: HttpGet = download, allowed_private_hosts: Collection[str] = ()) -> list[ImportReport]:
    """Syncs the feeds in turn, committing after each so one feed's trouble never undoes another's work."""
    reports = []
    for source in sources:
        source_id, url = source.id, source.url or ""
        try:
            report = sync_feed(session, source, now=now, limits=limits, http_get=http_get,
                               allowed_private_hosts=allowed_private_hosts)
            session.commit()
        except Exception:
            # The database itself failed; the other feeds may still go through.
            logger.exception("syncing feed source %s failed", source_id)
            session.rollback()
            report = ImportReport.failed(url, "the sync failed unexpectedly (the error was logged)", source_id)
        reports.append(report)
    return reports
