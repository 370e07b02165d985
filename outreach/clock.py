"""The one place that tells the time.

Tests and demos can pin the clock for every process (web, RQ workers) by
pointing `OUTREACH_CLOCK_FILE` at a file holding an ISO timestamp; the file is
re-read on each call so a test can move time forward while workers run.
"""
import datetime as dt
import os
from pathlib import Path


def utcnow() -> dt.datetime:
    clock_file = os.environ.get("OUTREACH_CLOCK_FILE")
    if clock_file:
        text = Path(clock_file).read_text().strip()
        if text:
            pinned = dt.datetime.fromisoformat(text)
            if pinned.tzinfo is None:
                raise ValueError(f"{clock_file} must hold a timestamp with a UTC offset")
            return pinned.astimezone(dt.timezone.utc)
    return dt.datetime.now(dt.timezone.utc)


def set_clock(path: Path, moment: dt.datetime) -> None:
    """Pins the clock read by `utcnow` in every process that shares `path`."""
    path.write_text(moment.astimezone(dt.timezone.utc).isoformat())
