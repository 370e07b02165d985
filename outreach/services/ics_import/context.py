"""Where an import happens: the practice, its time zone, the window, the deadline."""
from __future__ import annotations

import dataclasses
import datetime as dt
import time
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import object_session

from outreach.models import CalendarSource
from outreach.services import phones
from outreach.services.client_matching import (
    SUMMARY_FORMATS,
    PractitionerIdentity,
    practice_identity,
)
from outreach.services.ics_import.places import PLACE_SETTINGS
from outreach.services.ics_import.report import ImportFailed
from outreach.services.reading.layout import learn_layout

# Part of every file's fingerprint and content hash: raise it when the import
# rules change, so that the next import of an unchanged file applies them.
IMPORTER_VERSION = 3

DEFAULT_WINDOW_PAST = dt.timedelta(weeks=104)
DEFAULT_WINDOW_FUTURE = dt.timedelta(weeks=26)
RECURRENCE_ID_FORMAT = "%Y-%m-%dT%H:%M:%SZ"



@dataclass(frozen=True)
class ImportContext:
    practice_id: int
    practitioner_id: int
    practice_tz: dt.tzinfo
    region: str
    summary_format: str
    practice_address: str | None
    practice_name: str
    practice_side: PractitionerIdentity
    client_place: str = "decide"  # the calendar's setting: "always", "never", "decide" from the location
    # The layout names are read with: staff's summary_format, else the one learned from the calendar's titles.
    # Not part of `key`: it follows from the data, and staff's own choice is in `summary_format`.
    layout: str = "auto"
    layout_evidence: int = 0  # how many titles the learned layout rests on

    @classmethod
    def of(cls, source: CalendarSource) -> ImportContext:
        practitioner = source.practitioner
        practice = practitioner.practice
        try:
            practice_tz: dt.tzinfo = zoneinfo.ZoneInfo(practice.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            practice_tz = dt.UTC
        summary_format = source.summary_format if source.summary_format in SUMMARY_FORMATS else "auto"
        session = object_session(source)
        practice_side = (practice_identity(session, practice, practitioner) if session is not None else
                         PractitionerIdentity(emails=frozenset({practitioner.user.email.lower()}),
                                              phones=frozenset(p for p in (practice.phone, practitioner.phone) if p)))
        return cls(
            practice_id=practice.id,
            practitioner_id=practitioner.id,
            practice_tz=practice_tz,
            region=phones.region_for(practice.phone, practice.timezone),
            summary_format=summary_format,
            practice_address=practice.address,
            practice_name=practice.name,
            practice_side=practice_side,
            client_place=source.client_place if source.client_place in PLACE_SETTINGS else "decide",
            layout=summary_format if summary_format != "auto" else source.learned_summary_format or "auto",
            layout_evidence=(source.learned_summary_evidence or 0)
            if summary_format == "auto" and source.learned_summary_format else 0,
        )

    def learning_layout(self, source: CalendarSource, titles: Iterable[str | None]) -> ImportContext:
        """This context reading names with the layout the calendar's titles show, remembered on `source`.

        Staff's own choice (summary_format other than "auto") always wins. A
        file with too few two-part titles to tell keeps what the source learned before.
        """
        if self.summary_format != "auto":
            return self
        layout, evidence = learn_layout(titles)
        if layout is None:
            return self
        if (source.learned_summary_format, source.learned_summary_evidence) != (layout, evidence):
            source.learned_summary_format, source.learned_summary_evidence = layout, evidence
        return dataclasses.replace(self, layout=layout, layout_evidence=evidence)

    @property
    def reading_layout(self) -> str:
        """The layout as `extract_client` takes it: a learned one is marked, so a part that is no name is not taken."""
        return self.layout if self.summary_format != "auto" or self.layout == "auto" else f"learned:{self.layout}"

    @property
    def key(self) -> list[Any]:
        """Everything about the context that changes what an event becomes."""
        return [IMPORTER_VERSION, self.practitioner_id, str(self.practice_tz), self.region, self.summary_format,
                self.practice_address, self.practice_name, self.practice_side.key, self.client_place]


@dataclass(frozen=True)
class ImportWindow:
    """The span an import covers: the occurrences that start inside it are imported."""

    start: dt.datetime  # inclusive, aware, in the practice's zone
    end: dt.datetime  # exclusive

    @classmethod
    def around(cls, now: dt.datetime, tz: dt.tzinfo, first_day: dt.date | None,
               last_day: dt.date | None) -> ImportWindow:
        """From the start of `first_day` to the end of `last_day` in `tz`; by default around `now`."""
        today = now.astimezone(tz).date()
        first_day = first_day or today - DEFAULT_WINDOW_PAST
        last_day = last_day or today + DEFAULT_WINDOW_FUTURE
        if last_day < first_day:
            raise ImportFailed(f"the import window ends ({last_day}) before it starts ({first_day})")
        return cls(_local_midnight(first_day, tz), _local_midnight(last_day + dt.timedelta(days=1), tz))

    def contains(self, moment: dt.datetime) -> bool:
        return self.start <= moment < self.end


def _local_midnight(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=tz)


def to_utc(value: dt.date | dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """An instant in UTC; dates are local midnight and floating times local time in `tz`."""
    if not isinstance(value, dt.datetime):
        return _local_midnight(value, tz).astimezone(dt.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(dt.UTC)


def instant_key(value: dt.date | dt.datetime, tz: dt.tzinfo) -> str:
    """The identity of an occurrence inside its series: its original start in UTC, or the day for all-day ones."""
    if not isinstance(value, dt.datetime):
        return value.isoformat()
    return to_utc(value, tz).strftime(RECURRENCE_ID_FORMAT)


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def check(self, doing: str) -> None:
        if time.monotonic() > self._at:
            raise ImportFailed(
                f"importing took longer than {self.seconds:g} seconds (while {doing}); the file is too large or "
                "too complex to import at once"
            )


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"

