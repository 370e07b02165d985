"""The conversation with a CalDAV server: which calendars it holds, and what changed in one since the last sync.

No database here: `caldav_sync` keeps the mirror and imports it. This module
is loaded on the first conversation, not with `caldav_sync`: the `caldav`
library (with niquests and lxml) takes a tenth of a second to import, which
every command-line run and worker start would otherwise pay.
"""
from __future__ import annotations

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

from outreach.services.caldav_sync import NOT_CALDAV, NOT_FOUND, REFUSED, UNREACHABLE, CalDavError, FoundCalendar

logger = logging.getLogger(__name__)

_CALENDAR_TYPE = "{urn:ietf:params:xml:ns:caldav}calendar"
_MULTIGET_BATCH = 100
_USER_AGENT = "outreach-calendar-sync/1 (read-only)"


@dataclass
class Changes:
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


def calendars_at(url: str, username: str, password: str, *, timeout: float,
                 connect: ClientFactory) -> list[FoundCalendar]:
    """The calendars with events at `url`: the calendar itself, or every calendar of the account it belongs to."""
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
    return found


def changes_since(url: str, username: str, password: str, mirror: dict[str, str | None], sync_token: str | None, *,
                  timeout: float, connect: ClientFactory) -> Changes:
    """What the calendar at `url` has that the mirror (path → ETag) does not, fetched."""
    with _errors_in_words():
        client = connect(url, username, password, timeout)
        with client:
            return _changes_since(client.calendar(url=url), mirror, sync_token)


def _changes_since(calendar: caldav.Calendar, mirror: dict[str, str | None], sync_token: str | None) -> Changes:
    """Asks the server what changed (by sync token, else by listing every ETag), then fetches what did."""
    by_token = _changed_by_token(calendar, sync_token) if sync_token else None
    if by_token is not None:
        changed, removed, new_token = by_token
    else:
        changed, new_token = _listing(calendar)
        removed = set(mirror) - set(changed)
    changes = Changes(removed=removed, sync_token=new_token)
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
