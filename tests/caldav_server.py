"""A real CalDAV server on loopback for the tests: Radicale in its own process, with plain htpasswd logins.

Tests change the calendars through CalDAV itself (MKCALENDAR, PUT and DELETE
with requests), as a practice's other calendar apps would; the product under
test only reads.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from tests.loopback import LoopbackHTTPServer, QuietHandler

USER, PASSWORD = "glen", "app-password-7f3k"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RadicaleServer:
    """Radicale serving `folder` at `url`; stop() and start() again keep the calendars (they live on disk)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "users").write_text(f"{USER}:{PASSWORD}\n")
        (folder / "config").write_text(
            f"[server]\nhosts = 127.0.0.1:{self.port}\n"
            f"[auth]\ntype = htpasswd\nhtpasswd_filename = {folder / 'users'}\nhtpasswd_encryption = plain\n"
            # Radicale delays every refused login by up to this many seconds; the tests refuse some on purpose.
            "delay = 0\n"
            f"[storage]\nfilesystem_folder = {folder / 'collections'}\n"
            "[logging]\nlevel = warning\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.folder / "radicale.log", "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(self.folder / "config")],
                                        stdout=log, stderr=subprocess.STDOUT)
        log.close()
        give_up_at = time.monotonic() + 20
        while time.monotonic() < give_up_at:
            try:
                requests.request("PROPFIND", f"{self.url}/{USER}/", auth=(USER, PASSWORD), timeout=1)
                return
            except requests.ConnectionError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"Radicale did not start: {(self.folder / 'radicale.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    # -- the practice's other calendar apps, writing through CalDAV ----------------------------------------------

    def new_calendar(self, name: str | None = None) -> str:
        """Makes a calendar with events in the test user's home; returns its URL."""
        url = f"{self.url}/{USER}/{name or uuid.uuid4().hex[:12]}/"
        body = ('<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="DAV:" '
                'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><C:supported-calendar-component-set>'
                '<C:comp name="VEVENT"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>')
        response = requests.request("MKCALENDAR", url, data=body, auth=(USER, PASSWORD), timeout=5,
                                    headers={"Content-Type": "application/xml"})
        assert response.status_code == 201, response.text
        return url

    def put(self, calendar_url: str, name: str, ics: str) -> None:
        response = requests.put(calendar_url + name, data=ics.encode(), auth=(USER, PASSWORD), timeout=5,
                                headers={"Content-Type": "text/calendar; charset=utf-8"})
        assert response.status_code in (201, 204), response.text

    def move(self, calendar_url: str, name: str, to_calendar_url: str) -> None:
        """WebDAV MOVE, as a calendar app does when an event is dragged to another calendar."""
        response = requests.request("MOVE", calendar_url + name, auth=(USER, PASSWORD), timeout=5,
                                    headers={"Destination": to_calendar_url + name, "Overwrite": "F"})
        assert response.status_code in (201, 204), response.text

    def delete(self, calendar_url: str, name: str) -> None:
        response = requests.delete(calendar_url + name, auth=(USER, PASSWORD), timeout=5)
        assert response.status_code in (200, 204), response.text


class Relay:
    """An HTTP relay in front of a server, counting requests; `on_request(n)` may stop the server behind it.

    When the server behind does not answer, the relay drops the connection,
    which is what a client sees of a server that went away.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.count = 0
        self.on_request = lambda n: None
        relay = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                relay.count += 1
                relay.on_request(relay.count)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                try:
                    answer = requests.request(self.command, relay.target + self.path, data=body, headers=headers,
                                              timeout=5, allow_redirects=False)
                except requests.ConnectionError:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = do_OPTIONS = _forward

        self._http = LoopbackHTTPServer(Handler)
        self.url = self._http.base_url

    def stop(self) -> None:
        self._http.stop()
