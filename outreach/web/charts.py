"""The outcomes plots, drawn as SVG by hand.

Why not matplotlib: the plots are two simple shapes (shares over weeks as
lines; a few shares side by side as bars) on a fixed 0–100% scale, and a few
dozen lines of SVG draw them exactly. That spares the app matplotlib and numpy
(tens of MB, a font cache built on first use, a global pyplot state to keep
away from threads), and the labels stay real text: translated by the caller,
in the page's fonts, sharp at any size and when printed. Served as files, not
inline, so the page's <img> tags work under the app's Content-Security-Policy
and without any script or CDN.

Every function is pure: values and already translated words in, SVG text out.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

# Small, so that the words stay readable when the page scales a plot down to a phone's width.
WIDTH, HEIGHT = 440, 280
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 66, 40  # room for the share labels, the title and legend, the week labels
GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
MAX_WEEK_LABELS = 7
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
INK, MUTED, RULE = "#1d2733", "#5b6875", "#dde1e6"
# Series and bars: the app's accent and warning colours (static/app.css), then a grey lighter than the text.
COLOURS = ("#0b6e4f", "#a15c00", "#8a96a3")


def percent(value: float) -> str:
    return f"{value:.0%}"


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]  # shares from 0 to 1, one per week; None where there is nothing to show
    colour: str


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # a share from 0 to 1; None: no visits to say anything about
    note: str  # shown under the label, e.g. "n = 16"
    colour: str


def _y(value: float) -> float:
    return TOP + (1 - value) * (HEIGHT - TOP - BOTTOM)


def _text(x: float, y: float, text: str, *, anchor: str = "middle", size: int = 12, colour: str = INK,
          weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{colour}" '
            f'font-weight="{weight}">{escape(text)}</text>')


def _frame(title: str, body: list[str], format_tick: Callable[[float], str]) -> str:
    """The document: title, horizontal grid with share labels, then `body`."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'font-family={quoteattr(FONT)} role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        _text(LEFT, 20, title, anchor="start", size=15, weight="bold"),
    ]
    for share in GRID:
        y = _y(share)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{RULE}"/>')
        parts.append(_text(LEFT - 5, y + 4, format_tick(share), anchor="end", size=11, colour=MUTED))
    parts.extend(body)
    parts.append("</svg>")
    return "\n".join(parts)


def line_chart(title: str, categories: Sequence[str], series: Sequence[Series], *,
               format_share: Callable[[float], str] = percent, format_tick: Callable[[float], str] = percent,
               empty_text: str = "") -> str:
    """Shares over `categories` (weeks), one line per series; a gap where a value is None."""
    plot_width = WIDTH - LEFT - RIGHT
    step = plot_width / max(len(categories), 1)

    def x(index: int) -> float:
        return LEFT + step * (index + 0.5)

    body = []
    every = math.ceil(len(categories) / MAX_WEEK_LABELS) or 1
    for index, category in enumerate(categories):
        if index % every == 0:
            body.append(_text(x(index), HEIGHT - BOTTOM + 18, category, size=11, colour=MUTED))
    for number, line in enumerate(series):  # the legend, one line each: translations may be long
        legend_y = 38 + 16 * number
        body.append(f'<rect x="{LEFT}" y="{legend_y - 5}" width="14" height="4" fill="{line.colour}"/>')
        body.append(_text(LEFT + 20, legend_y, line.label, anchor="start", size=12))
    for line in series:
        segment: list[str] = []
        for index, value in enumerate([*line.values, None]):  # the None closes the last segment
            if value is None:
                if len(segment) > 1:
                    body.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="{line.colour}" '
                                f'stroke-width="2.5" stroke-linejoin="round"/>')
                segment = []
                continue
            segment.append(f"{x(index):.1f},{_y(value):.1f}")
            body.append(f'<circle cx="{x(index):.1f}" cy="{_y(value):.1f}" r="3.5" fill="{line.colour}">'
                        f"<title>{escape(categories[index])}: {escape(format_share(value))}</title></circle>")
    if empty_text and all(value is None for line in series for value in line.values):
        body.append(_text(WIDTH / 2, _y(0.5), empty_text, colour=MUTED))
    return _frame(title, body, format_tick)


def bar_chart(title: str, bars: Sequence[Bar], *, format_share: Callable[[float], str] = percent,
              format_tick: Callable[[float], str] = percent) -> str:
    """One bar per group, side by side, each with its share on top and its label and note below."""
    slot = (WIDTH - LEFT - RIGHT) / max(len(bars), 1)
    width = min(slot * 0.55, 120)
    body = []
    for index, bar in enumerate(bars):
        centre = LEFT + slot * (index + 0.5)
        if bar.value is not None:
            top = _y(bar.value)
            body.append(f'<rect x="{centre - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" '
                        f'height="{_y(0) - top:.1f}" fill="{bar.colour}"/>')
            body.append(_text(centre, top - 6, format_share(bar.value), size=13, weight="bold"))
        else:
            body.append(_text(centre, _y(0) - 8, "—", size=13, colour=MUTED))
        body.append(_text(centre, HEIGHT - BOTTOM + 16, bar.label, size=12))
        body.append(_text(centre, HEIGHT - BOTTOM + 31, bar.note, size=11, colour=MUTED))
    return _frame(title, body, format_tick)
