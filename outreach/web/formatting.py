"""Template filters: times in the viewer's practice zone and language, phones for humans."""
import datetime as dt
from zoneinfo import ZoneInfo

from flask import Flask
from flask_babel import format_date, format_datetime, format_time, get_locale
from flask_login import current_user

from outreach.clock import utcnow
from outreach.services.phones import display as display_phone
from outreach.web.reading import LAYOUT_LABELS, PLACE_LABELS, explain


def _zone(tz: str | None) -> ZoneInfo:
    if tz:
        return ZoneInfo(tz)
    if current_user and current_user.is_authenticated:
        return ZoneInfo(current_user.practice.timezone)
    return ZoneInfo("UTC")


def local_datetime(value: dt.datetime | None, tz: str | None = None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    return format_datetime(value.astimezone(_zone(tz)).replace(tzinfo=None), fmt)


def local_date(value: dt.datetime | None, tz: str | None = None) -> str:
    if value is None:
        return ""
    return format_date(value.astimezone(_zone(tz)).date(), "medium")


def local_time(value: dt.datetime | None, tz: str | None = None) -> str:
    if value is None:
        return ""
    return format_time(value.astimezone(_zone(tz)).replace(tzinfo=None), "short")


def register(app: Flask) -> None:
    app.add_template_filter(local_datetime, "local_datetime")
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(local_date, "local_date")
    app.add_template_filter(display_phone, "phone")
    app.add_template_global(get_locale, "get_locale")
    app.add_template_global(utcnow, "utcnow")
    app.add_template_filter(explain, "explain_reading")
    app.add_template_global(LAYOUT_LABELS, "layout_labels")
    app.add_template_global(PLACE_LABELS, "place_labels")

