"""A calendar feed on loopback for the tests of feeds and of the calendars page."""
from __future__ import annotations

import time

from tests.loopback import LoopbackHTTPServer, QuietHandler


class FeedServer:
    """Serves one calendar at `url`; a test sets what comes back and reads what was asked."""

    def __init__(self) -> None:
        self.body = b""
        self.status = 200
        self.etag: str | None = None
        self.last_modified: str | None = None
        self.delay_seconds = 0.0
        self.send_length = True
        self.location: str | None = None  # where a 3xx status redirects to
        self.requests: list[dict[str, str]] = []
        feed = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                feed.requests.append(dict(self.headers))
                if feed.delay_seconds:
                    time.sleep(feed.delay_seconds)
                if feed.location and 300 <= feed.status < 400:
                    self.send_response(feed.status)
                    self.send_header("Location", feed.location)
                    self.end_headers()
                    return
                if feed.status != 200:
                    self.send_error(feed.status)
                    return
                if (feed.etag and self.headers.get("If-None-Match") == feed.etag) or (
                    feed.last_modified and self.headers.get("If-Modified-Since") == feed.last_modified
                ):
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/calendar; charset=utf-8")
                if feed.etag:
                    self.send_header("ETag", feed.etag)
                if feed.last_modified:
                    self.send_header("Last-Modified", feed.last_modified)
                if feed.send_length:
                    self.send_header("Content-Length", str(len(feed.body)))
                self.end_headers()
                self.wfile.write(feed.body)

        self._http = LoopbackHTTPServer(Handler)
        self.url = self._http.base_url + "/calendar.ics"

    def stop(self) -> None:
        self._http.stop()
