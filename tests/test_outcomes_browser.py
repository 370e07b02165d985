"""The outcomes page in a real browser (Debian's chromium through Playwright, against the live server):
the plots load as images, and a screenshot shows them in their colours."""
from __future__ import annotations

import struct
import zlib
from collections import Counter

import pytest

from tests.factories import Factory
from tests.test_outcomes import WEEKS, build_history

pytestmark = pytest.mark.browser

ACCENT, WARN, GREY = (0x0B, 0x6E, 0x4F), (0xA1, 0x5C, 0x00), (0x8A, 0x96, 0xA3)  # outreach.web.charts.COLOURS


def png_pixels(data: bytes) -> Counter:
    """How many pixels of each (r, g, b) colour an 8-bit RGB or RGBA PNG has (no PIL needed)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, compressed = 8, b""
    while position < len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        kind, body = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour_type in (2, 6) and interlace == 0
        elif kind == b"IDAT":
            compressed += body
    channels = 3 if colour_type == 2 else 4
    stride = width * channels
    raw = zlib.decompress(compressed)
    colours: Counter = Counter()
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up, up_left = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:  # Paeth: the neighbour closest to left + up - up_left
                estimate = left + up - up_left
                nearest = min((abs(estimate - left), 0, left), (abs(estimate - up), 1, up),
                              (abs(estimate - up_left), 2, up_left))[2]
                line[x] = (line[x] + nearest) & 0xFF
        colours.update(tuple(line[x:x + 3]) for x in range(0, stride, channels))
        previous = line
    return colours


def near(colours: Counter, colour: tuple[int, int, int], tolerance: int = 24) -> int:
    """Pixels within `tolerance` of `colour` on every channel (lines are anti-aliased)."""
    return sum(count for pixel, count in colours.items()
               if all(abs(a - b) <= tolerance for a, b in zip(pixel, colour)))


def test_the_outcomes_page_shows_its_plots(make, live_server, page, tmp_path):
    build_history(make)
    problems = []  # failed requests (but the favicon the app has none of), and errors such as CSP refusals
    page.on("response", lambda response: problems.append(f"{response.status} {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico") else None)
    page.on("console", lambda message: problems.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", "admin@example.com")
    page.fill("input[name=password]", Factory.PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/outcomes?from={WEEKS[0]}&to={WEEKS[-1]}")

    assert page.locator("h1").inner_text() == "Outcomes"
    page.wait_for_function("[...document.images].every(image => image.complete)")
    sizes = page.evaluate("[...document.images].map(image => [image.naturalWidth, image.naturalHeight])")
    assert sizes == [[440, 280], [440, 280]]
    assert problems == []

    screenshot = tmp_path / "outcomes.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 20_000

    weekly, no_shows = (png_pixels(page.locator("img").nth(index).screenshot()) for index in (0, 1))
    assert near(weekly, ACCENT) > 50 and near(weekly, WARN) > 50  # the reach line and the no-show line
    bars = {colour: near(no_shows, colour, tolerance=2) for colour in (ACCENT, WARN, GREY)}
    # The bars' areas go as their rates, 12.5%, 25% and 50%: each about twice the one before.
    assert bars[ACCENT] > 200
    assert 1.6 < bars[WARN] / bars[ACCENT] < 2.4 and 1.6 < bars[GREY] / bars[WARN] < 2.4
