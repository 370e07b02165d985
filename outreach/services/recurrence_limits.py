"""Appointment series more frequent than daily are not appointments.

A calendar event with `RRULE:FREQ=SECONDLY` (a few hundred bytes) expands to
thousands of "visits" one second apart, each with an arrival text to the same
phone. No practice books a client every hour, minute or second: the importer
refuses such a series as a whole, with the reason in the import report, so
none of it becomes an appointment and none of it can produce a text.
"""
from __future__ import annotations

from collections.abc import Iterable

import icalendar

# RRULE frequencies that repeat more often than once a day.
TOO_FREQUENT = {"SECONDLY": "second", "MINUTELY": "minute", "HOURLY": "hour"}


def too_frequent(events: Iterable[icalendar.Event]) -> str | None:
    """The unit ("second", "minute", "hour") of a series (its events, overrides included) repeating more often
    than daily, which is refused as appointments; None for any other series."""
    for event in events:
        rules = event.get("RRULE")
        for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
            frequency = str((rule.get("FREQ") or [""])[0]).upper()
            if frequency in TOO_FREQUENT:
                return TOO_FREQUENT[frequency]
    return None
