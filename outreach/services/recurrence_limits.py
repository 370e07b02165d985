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


def why_not_appointments(events: Iterable[icalendar.Event]) -> str | None:
    """Why this series (its events, overrides included) is refused as appointments; None if it is not."""
    for event in events:
        rules = event.get("RRULE")
        for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
            frequency = str((rule.get("FREQ") or [""])[0]).upper()
            if frequency in TOO_FREQUENT:
                return (f"it repeats every {TOO_FREQUENT[frequency]} (FREQ={frequency}): a series more frequent "
                        "than daily is not a set of appointments, so none of it was imported")
    return None


def refuse_if_too_frequent(uid: str, events: Iterable[icalendar.Event], report) -> bool:
    """Records in the import `report` why the series `uid` is refused, if it is; says whether it is."""
    reason = why_not_appointments(events)
    if reason is not None:
        report.skip(uid, reason)
    return reason is not None
