"""What an import is allowed to do (limits) and what it did (the report staff and scripts see)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from outreach.services import import_words

# A report lists at most this many skipped events, then says how many more there were.
MAX_SKIPPED_LISTED = 200


@dataclass(frozen=True)
class ImportLimits:
    max_bytes: int = 20 * 1024 * 1024
    max_occurrences_per_series: int = 2000
    time_limit_seconds: float = 120.0
    feed_timeout_seconds: float = 20.0
    # No real calendar has a content line this long; a DESCRIPTION with an inline image stays well below.
    max_line_bytes: int = 1024 * 1024
    # VCALENDAR > VEVENT > VALARM is three deep; ten leaves room for vendor components.
    max_nesting: int = 10
    # How many repetitions a rule may run through before the window starts: past
    # this, a series like "every second since 2001" is skipped, not counted through.
    max_repetitions_before_window: int = 200_000

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ImportLimits:
        """The limits set in the app's configuration (IMPORT_*, FEED_TIMEOUT_SECONDS)."""
        defaults = cls()
        return cls(
            max_bytes=int(config.get("IMPORT_MAX_BYTES", defaults.max_bytes)),
            max_occurrences_per_series=int(
                config.get("IMPORT_MAX_OCCURRENCES_PER_SERIES", defaults.max_occurrences_per_series)
            ),
            time_limit_seconds=float(config.get("IMPORT_TIME_LIMIT_SECONDS", defaults.time_limit_seconds)),
            feed_timeout_seconds=float(config.get("FEED_TIMEOUT_SECONDS", defaults.feed_timeout_seconds)),
        )


@dataclass
class ImportReport:
    """What importing one file (or one feed download) did; `as_json()` is what staff and scripts see."""

    file: str
    status: str = "imported"  # "imported" | "error" | "not_modified" (feeds)
    error: str | None = None
    occurrences: int = 0  # occurrences starting inside the window
    created: int = 0
    updated: int = 0  # includes occurrences that were cancelled and came back
    cancelled: int = 0  # newly cancelled: STATUS:CANCELLED, or vanished from the data
    unchanged: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    needs_attention: int = 0  # occurrences (not cancelled) whose client could not be recognised
    # Why a file imported nothing: its usable events, how many fall wholly before or after the window.
    events: int = 0
    before_window: int = 0
    after_window: int = 0
    window_start: str | None = None  # first day of the window (ISO), in the practice's zone
    window_end: str | None = None  # last day
    # Created, updated and cancelled appointments, for re-planning their texts.
    changed_appointment_ids: list[int] = field(default_factory=list)
    source_id: int | None = None

    JSON_KEYS = (
        "file", "status", "error", "occurrences", "created", "updated", "cancelled", "unchanged", "skipped",
        "needs_attention", "events", "before_window", "after_window", "window_start", "window_end",
    )

    def as_json(self) -> dict[str, Any]:
        result = {key: getattr(self, key) for key in self.JSON_KEYS}
        result["skipped"] = [dict(item) for item in self.skipped]
        return result

    @classmethod
    def failed(cls, file: str, message: str, source_id: int | None = None) -> ImportReport:
        return cls(file=file, status="error", error=message, source_id=source_id)

    def skip(self, uid: str, problem: str, *, detail: str | None = None, title: str | None = None,
             day: dt.date | None = None, line: int | None = None) -> None:
        """Lists an event that was not imported: `problem` is one of import_words' codes, `detail` what was written.

        Staff know events by their title and date, so those are kept beside
        the UID (and the line, for an event without either); `reason` is the
        problem in English words, for scripts and the command line.
        """
        if len(self.skipped) < MAX_SKIPPED_LISTED:
            item = {"uid": uid, "title": title, "date": day.isoformat() if day else None, "problem": problem,
                    "detail": detail, "line": line}
        elif len(self.skipped) == MAX_SKIPPED_LISTED:
            item = {"uid": "", "title": None, "date": None, "problem": import_words.MORE_SKIPPED, "detail": None,
                    "line": None}
        else:
            return
        self.skipped.append({"uid": item.pop("uid"), "reason": import_words.problem_words(item)} | item)


class ImportFailed(Exception):
    """The whole file cannot be imported; the message is meant for the staff member who sent it."""

