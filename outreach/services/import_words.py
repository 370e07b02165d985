"""Import reports and feed errors in words, in the reader's language, for the pages and the command line.

Reports and runs store facts (a skipped event's title, date, problem code and
what was written; a failed feed's problem code), and this module words them:
in English on the command line, in each user's language on the pages. The
texts are in the app's message catalogues like every page's text.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.support import NullTranslations, Translations

_CATALOGUES = Path(__file__).resolve().parent.parent / "translations"

# Problems of one event (the `problem` of a report's skipped item).
UNREADABLE = "unreadable"
NO_START = "no_start"
SEVERAL_STARTS = "several_starts"
BAD_START = "bad_start"
START_OUT_OF_RANGE = "start_out_of_range"
BAD_RULE = "bad_rule"
BAD_RECURRENCE_ID = "bad_recurrence_id"
UNWORKABLE = "unworkable"
TOO_MANY_BEFORE_WINDOW = "too_many_before_window"
TOO_MANY_IN_WINDOW = "too_many_in_window"
TOO_FREQUENT = "too_frequent"
MORE_SKIPPED = "more_skipped"

# Why a feed could not be downloaded (the `problem` stored with its failed run).
ADDRESS_NOT_FOUND = "address_not_found"
PASSWORD_REFUSED = "password_refused"
NOT_FOUND = "not_found"
SERVER_ANSWERED = "server_answered"
TOO_SLOW = "too_slow"
TOO_LARGE = "too_large"
NO_CONNECTION = "no_connection"
INSECURE = "insecure"
NOT_A_CALENDAR = "not_a_calendar"
PRIVATE_ADDRESS = "private_address"


@lru_cache(maxsize=8)
def translations(locale: str) -> NullTranslations:
    if locale == "en":
        return NullTranslations()
    return Translations.load(str(_CATALOGUES), [locale])


def _day(value: str | None, locale: str) -> str | None:
    if not value:
        return None
    return format_date(dt.date.fromisoformat(value), "EEE d MMM y", locale=locale)


def skipped_event(item: Mapping[str, Any], locale: str = "en") -> str:
    """One skipped event: "'Anna Schmidt – cleaning' on Tue 3 Mar 2026: the start time is written wrongly (…)"."""
    t = translations(locale)
    problem = problem_words(item, locale)
    if item.get("problem") == MORE_SKIPPED:
        return problem
    title, day = item.get("title"), _day(item.get("date"), locale)
    if title and day:
        which = t.gettext("'%(title)s' on %(day)s") % {"title": title, "day": day}
    elif title:
        which = t.gettext("'%(title)s'") % {"title": title}
    elif day:
        which = t.gettext("An event without a title on %(day)s") % {"day": day}
    elif item.get("line"):
        which = t.gettext("The event at line %(line)d") % {"line": item["line"]}
    else:
        which = t.gettext("Event %(uid)s") % {"uid": item.get("uid") or "?"}
    return f"{which}: {problem}"


def problem_words(item: Mapping[str, Any], locale: str = "en") -> str:
    """What is wrong with a skipped event, in words; reports from before problems had codes keep their reason."""
    t = translations(locale)
    detail = item.get("detail") or ""
    problem = item.get("problem")
    if problem == NO_START:
        return t.gettext("it has no start time")
    if problem == SEVERAL_STARTS:
        return t.gettext("it has two different start times")
    if problem == BAD_START:
        return t.gettext("the start time is written wrongly ('%(written)s')") % {"written": detail}
    if problem == START_OUT_OF_RANGE:
        return t.gettext("the start time is out of range ('%(written)s')") % {"written": detail}
    if problem == BAD_RULE:
        return t.gettext("the repeat rule is written wrongly ('%(written)s')") % {"written": detail}
    if problem == BAD_RECURRENCE_ID:
        return t.gettext("the original time of this changed repetition is written wrongly ('%(written)s')") % {
            "written": detail}
    if problem == UNREADABLE:
        return t.gettext("the event cannot be read (%(error)s)") % {"error": detail}
    if problem == UNWORKABLE:
        return t.gettext("its dates or repeat rule could not be worked out (%(error)s)") % {"error": detail}
    if problem == TOO_MANY_BEFORE_WINDOW:
        return t.gettext("it repeats %(every)s since long before the import window: too many repetitions "
                         "to work through") % {"every": _every(detail, t)}
    if problem == TOO_MANY_IN_WINDOW:
        count = int(detail or 0)
        return t.ngettext("it repeats more than %(num)d time in the import window; only the first was imported",
                          "it repeats more than %(num)d times in the import window; only the first %(num)d were "
                          "imported", count) % {"num": count}
    if problem == TOO_FREQUENT:
        return t.gettext("it repeats %(every)s: a series more frequent than daily is not a set of appointments, "
                         "so none of it was imported") % {"every": _every(detail, t)}
    if problem == MORE_SKIPPED:
        return t.gettext("more events were skipped; only the first ones are listed")
    return str(item.get("reason") or "")


def _every(unit: str, t: NullTranslations) -> str:
    units = {"second": t.gettext("every second"), "minute": t.gettext("every minute"),
             "hour": t.gettext("every hour"), "day": t.gettext("every day"), "week": t.gettext("every week"),
             "month": t.gettext("every month"), "year": t.gettext("every year")}
    return units.get(unit, unit)


def events_skipped(count: int, locale: str = "en") -> str:
    return translations(locale).ngettext("%(num)d event skipped", "%(num)d events skipped", count) % {"num": count}


def nothing_imported(report: Mapping[str, Any], locale: str = "en", *, widen_with: str = "cli") -> str | None:
    """Why a file that was read imported nothing, or None when it did import something (or failed outright).

    `widen_with` says how this reader widens the window: "cli" (--window-start / --window-end) or "page".
    """
    if report.get("status") != "imported" or report.get("occurrences"):
        return None
    t = translations(locale)
    events = report.get("events") or 0
    before, after = report.get("before_window") or 0, report.get("after_window") or 0
    first, last = _day(report.get("window_start"), locale), _day(report.get("window_end"), locale)
    skipped = len(report.get("skipped") or [])
    if not events and not skipped:
        return t.gettext("Nothing was imported: the file has no events.")
    if not events:
        return t.ngettext("Nothing was imported: its %(num)d event could not be used (see below).",
                          "Nothing was imported: none of its %(num)d events could be used (see below).",
                          skipped) % {"num": skipped}
    if before and not after and first:
        why = t.ngettext("its %(num)d event is before %(day)s, the start of the import window",
                         "all %(num)d events are before %(day)s, the start of the import window",
                         before) % {"num": before, "day": first}
        how = (t.gettext("import older history with --window-start") if widen_with == "cli"
               else t.gettext("import older history by choosing an earlier first day under Import window"))
    elif after and not before and last:
        why = t.ngettext("its %(num)d event is after %(day)s, the end of the import window",
                         "all %(num)d events are after %(day)s, the end of the import window",
                         after) % {"num": after, "day": last}
        how = (t.gettext("import later visits with --window-end") if widen_with == "cli"
               else t.gettext("import later visits by choosing a later last day under Import window"))
    elif first and last:
        why = t.gettext("every event is outside the import window, %(first)s to %(last)s") % {
            "first": first, "last": last}
        how = (t.gettext("widen it with --window-start and --window-end") if widen_with == "cli"
               else t.gettext("widen it under Import window"))
    else:
        return t.gettext("Nothing was imported: no event falls inside the import window.")
    return t.gettext("Nothing was imported: %(why)s; %(how)s.") % {"why": why, "how": how}


def import_error(error: str | None, locale: str = "en") -> str:
    """Why an uploaded file was not imported, in words where the importer's message is technical."""
    if (error or "").startswith("this is not an iCalendar file"):
        return translations(locale).gettext("the file is not a calendar (an .ics file)")
    return error or ""


def feed_problem(problem: str | None, error: str | None, status: int | None = None, locale: str = "en") -> str:
    """Why a feed sync failed, in words; `error` (the technical detail) when there are no better words."""
    t = translations(locale)
    if problem is None and (error or "").startswith("this is not an iCalendar file"):
        problem = NOT_A_CALENDAR
    words = {
        ADDRESS_NOT_FOUND: lambda: t.gettext("the address could not be found: check the feed's address"),
        PASSWORD_REFUSED: lambda: t.gettext("the calendar server refused the password (or the secret address "
                                            "was changed)"),
        NOT_FOUND: lambda: t.gettext("the server answered %(status)s: the address is wrong or the calendar was "
                                     "unpublished") % {"status": status or 404},
        SERVER_ANSWERED: lambda: t.gettext("the calendar server answered %(status)s: it has a problem of its own; "
                                           "the next sync tries again") % {"status": status or "?"},
        TOO_SLOW: lambda: t.gettext("the server took too long to answer; the next sync tries again"),
        TOO_LARGE: lambda: t.gettext("the calendar is larger than the size limit"),
        NO_CONNECTION: lambda: t.gettext("the calendar server could not be reached; the next sync tries again"),
        PRIVATE_ADDRESS: lambda: t.gettext("the address is on a private network, which calendar feeds may not "
                                           "reach unless the server's settings allow that host"),
        INSECURE: lambda: t.gettext("the server's secure connection could not be checked (its certificate is "
                                    "not valid)"),
        NOT_A_CALENDAR: lambda: t.gettext("the file is not a calendar: the address may lead to a web page "
                                          "instead of the calendar's iCal address"),
    }
    if problem in words:
        return words[problem]()
    return error or ""
