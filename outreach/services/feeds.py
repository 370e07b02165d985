"""Calendar feeds: a practitioner's calendar published at a URL (webcal:// or https://), synced on a schedule.

A sync downloads the feed with a conditional GET (ETag / Last-Modified, so an
unchanged feed costs one 304), within a time limit and a size cap, and
imports it, then re-plans the texts of the visits that changed (as every
import does, through `calendar_intake`). A feed always carries the whole
calendar, so a future appointment missing from it was deleted there and is
cancelled here.

A failed download records the error on the source and touches no
appointment. When feeds are synced is `calendar_sync`'s business. No Flask
here: callers pass the session and commit.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from sqlalchemy.orm import Session

from outreach.models import CalendarSource, Practitioner
from outreach.services import calendar_intake
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
    """A feed that could not be added or downloaded; the message is meant for staff."""


@dataclass(frozen=True)
class FeedResponse:
    status: int  # 200, or 304 when the feed has not changed since the ETag / Last-Modified we sent
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None


# (url, request headers, timeout in seconds, size cap in bytes) -> response; raises FeedError.
HttpGet = Callable[[str, Mapping[str, str], float, int], FeedResponse]


def download(url: str, headers: Mapping[str, str], timeout: float, max_bytes: int) -> FeedResponse:
    """GETs a feed with requests: at most `max_bytes` of body and `timeout` seconds in all.

    requests' own timeout bounds each wait for the server, not the whole
    download, so a server that trickles bytes is stopped by the clock here.
    """
    give_up_at = time.monotonic() + timeout
    try:
        with requests.get(url, headers=dict(headers), timeout=timeout, stream=True) as response:
            if response.status_code == 304:
                return FeedResponse(status=304)
            if response.status_code != 200:
                raise FeedError(f"the server answered {response.status_code} {response.reason or ''}".strip())
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FeedError(_too_large(max_bytes))
            body = bytearray()
            for chunk in response.iter_content(_CHUNK_BYTES):
                body += chunk
                if len(body) > max_bytes:
                    raise FeedError(_too_large(max_bytes))
                if time.monotonic() > give_up_at:
                    raise FeedError(f"the download took longer than {timeout:g} seconds")
            return FeedResponse(status=200, body=bytes(body), etag=response.headers.get("ETag"),
                                last_modified=response.headers.get("Last-Modified"))
    except requests.Timeout as exc:
        raise FeedError(f"the server did not answer within {timeout:g} seconds") from exc
    except requests.RequestException as exc:
        raise FeedError(f"the feed could not be downloaded: {exc}") from exc


def _too_large(max_bytes: int) -> str:
    return f"the feed is larger than the {max_bytes / (1024 * 1024):.1f} MB limit"


def feed_url(url: str) -> str:
    """The URL to download: webcal:// is https:// by another name."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme in ("webcal", "webcals"):
        parts = parts._replace(scheme="https")
    return urlunsplit(parts)


def add_feed(session: Session, practitioner: Practitioner, url: str, name: str | None = None) -> CalendarSource:
    """Adds a feed source for the practitioner; it is due for its first sync at once."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in FEED_SCHEMES or not parts.hostname:
        raise FeedError(f"{url!r} is not a calendar feed address (it should start with webcal:// or https://)")
    if len(url) > 2000:
        raise FeedError("the feed address is longer than 2000 characters")
    source = CalendarSource(practice_id=practitioner.practice_id, practitioner_id=practitioner.id, kind="feed",
                            name=(name or parts.hostname).strip()[:200], url=url)
    session.add(source)
    session.flush()
    return source


def sync_feed(session: Session, source: CalendarSource, *, now: dt.datetime, limits: ImportLimits,
              http_get: HttpGet = download) -> ImportReport:
    """Downloads and imports one feed; the caller commits.

    No transaction is open during the download (what came before is
    committed first): a slow server must not hold the database, which on
    SQLite would hold back every other writer. The report's status is
    "not_modified" when the server says the feed has not changed. On failure
    the source keeps the error in `last_error` and its appointments stay as
    they were.
    """
    url = feed_url(source.url or "")
    headers = {"User-Agent": _USER_AGENT, "Accept": "text/calendar, */*;q=0.5"}
    if source.etag:
        headers["If-None-Match"] = source.etag
    if source.last_modified:
        headers["If-Modified-Since"] = source.last_modified
    session.commit()
    try:
        response = http_get(url, headers, limits.feed_timeout_seconds, limits.max_bytes)
    except FeedError as exc:
        source.last_attempt_at = now
        source.last_error = str(exc)
        report = ImportReport.failed(url, str(exc), source.id)
        record_import_run(session, source, report, now)
        return report

    source.last_attempt_at = now
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
