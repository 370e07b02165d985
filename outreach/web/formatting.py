"""Template filters: times in the viewer's practice zone and language, phones for humans."""
import datetime as dt
from zoneinfo import ZoneInfo

from flask import Flask
from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_interval, format_skeleton, get_datetime_format
from babel.dates import format_time as babel_format_time
from flask_babel import format_date, format_datetime, format_time, get_locale, gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from outreach.clock import utcnow
from outreach.messages import UserError, from_json, in_words
from outreach.models import LOCALES, Notification
from outreach.services.call_lists import parse_week
from outreach.services.phones import display as display_phone
from outreach.web.reading import LAYOUT_LABELS, PLACE_LABELS, explain

ROLE_LABELS = {"admin": _l("admin"), "staff": _l("front desk"), "practitioner": _l("practitioner")}


def _zone(tz: str | None) -> ZoneInfo:
    if tz:
        return ZoneInfo(tz)
    if current_user and current_user.is_authenticated:
        return ZoneInfo(current_user.practice.timezone)
    return ZoneInfo("UTC")


def local_datetime(value: dt.datetime | None, tz: str | None = None, fmt: str = "medium") -> str:
    """A moment in the practice's zone; "medium" is the date with the month's name and the time, without
    seconds ("Dec 2, 2026, 9:05 AM", «2 дек. 2026 г., 09:05»)."""
    if value is None:
        return ""
    local = value.astimezone(_zone(tz)).replace(tzinfo=None)
    if fmt == "medium":
        locale = get_locale()
        return (get_datetime_format("medium", locale).replace("'", "")
                .replace("{0}", babel_format_time(local.time(), "short", locale=locale))
                .replace("{1}", babel_format_date(local.date(), "medium", locale=locale)))
    return format_datetime(local, fmt)


def local_date(value: dt.datetime | None, tz: str | None = None) -> str:
    if value is None:
        return ""
    return format_date(value.astimezone(_zone(tz)).date(), "medium")


def local_time(value: dt.datetime | None, tz: str | None = None) -> str:
    if value is None:
        return ""
    return format_time(value.astimezone(_zone(tz)).replace(tzinfo=None), "short")


def week_dates(monday: dt.date) -> str:
    """A week as people say it, "Nov 30 – Dec 6", «30 нояб. — 6 дек.»; only URLs say 2026-W49."""
    return format_interval(monday, monday + dt.timedelta(days=6), "MMMd", locale=get_locale())


def iso_week_dates(week: str) -> str:
    """ "2026-W49" as people say it: "Nov 30 – Dec 6"."""
    return week_dates(parse_week(week))


def iso_week_start(week: str) -> str:
    """The Monday of "2026-W49", short: "Nov 30", «30 нояб.» (a chart's axis)."""
    return format_skeleton("MMMd", parse_week(week), locale=get_locale())


def weeks_span(first: str, last: str) -> str:
    """From the Monday of the week `first` to the Sunday of the week `last`: "Sep 28 – Dec 6, 2026"."""
    return format_interval(parse_week(first), parse_week(last) + dt.timedelta(days=6), "yMMMd", locale=get_locale())


def language_name(code: str) -> str:
    """A language's name in the reader's language: "Russian", «русский»."""
    name = Locale.parse(code).get_display_name(get_locale()) or code
    return name[:1].upper() + name[1:]


def language_choices(*, follow_practice: str | None = None) -> list[tuple[str, str]]:
    """The languages to pick from; with `follow_practice`, first an empty choice that follows the practice's."""
    choices = [(code, language_name(code)) for code in LOCALES]
    if follow_practice:
        choices.insert(0, ("", gettext("As the practice (%(language)s)", language=language_name(follow_practice))))
    return choices


def role_name(role: str) -> str:
    return str(ROLE_LABELS.get(role, role))


def translated(error: Exception) -> str:
    """A service's error in the reader's language (see outreach.messages)."""
    if isinstance(error, UserError):
        return gettext(error.message, **{key: in_words(value, str(get_locale()))
                                         for key, value in error.params.items()})
    return str(error)


def why_not_sent(text: Notification) -> str:
    """Why a text did not go, in the reader's language when the product gave the reason (Twilio's stay as given)."""
    if text.status_reason:
        return translated(from_json(text.status_reason))
    return text.status_detail or ""


def register(app: Flask) -> None:
    app.add_template_filter(why_not_sent, "why_not_sent")
    app.add_template_filter(week_dates, "week_dates")
    app.add_template_filter(iso_week_dates, "iso_week_dates")
    app.add_template_global(weeks_span, "weeks_span")
    app.add_template_filter(language_name, "language_name")
    app.add_template_filter(role_name, "role_name")
    app.add_template_filter(local_datetime, "local_datetime")
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(local_date, "local_date")
    app.add_template_filter(display_phone, "phone")
    app.add_template_global(get_locale, "get_locale")
    app.add_template_global(utcnow, "utcnow")
    app.add_template_filter(explain, "explain_reading")
    app.add_template_global(LAYOUT_LABELS, "layout_labels")
    app.add_template_global(PLACE_LABELS, "place_labels")

