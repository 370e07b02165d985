"""Messages that services raise for people to read, translated where they are shown.

Services have no Flask: they mark a message for the catalogue with `N_` and carry its
parameters apart, so the web layer can say it in the reader's language
(`outreach.web.formatting.translated`) while the command line prints the English.
A parameter may be a day (`datetime.date`) or a time of day (`datetime.time`):
each is written the way the reader's language writes it.
"""
import datetime as dt

from babel.dates import format_date, format_time


def N_(message: str) -> str:
    """Marks `message` for the catalogue (pybabel extract -k N_); translated later, where it is shown."""
    return message


class UserError(ValueError):
    """A readable reason why something people asked for could not be done."""

    def __init__(self, message: str, *, field: str | None = None, **params: object) -> None:
        self.message = message
        self.params = params
        # The form field the reason is about, so a page can show it next to that field.
        self.field = field
        super().__init__(message % {key: in_words(value, "en") for key, value in params.items()}
                         if params else message)


def in_words(value: object, locale: str) -> object:
    """A day or a time of day as `locale` writes it ("Tuesday, March 10, 2026", "2:00 PM"); anything else as it is."""
    if isinstance(value, dt.datetime):
        raise TypeError("give a message the day or the time of day in the practice's zone, not a datetime")
    if isinstance(value, dt.date):
        return format_date(value, "full", locale=locale)
    if isinstance(value, dt.time):
        return format_time(value, "short", locale=locale).replace("\u202f", " ")
    return value


def as_json(error: UserError) -> dict:
    """`error`'s message and parameters, to be kept and said again later in the language of whoever reads it."""
    return {"message": error.message, "params": {key: _param_as_json(value) for key, value in error.params.items()}}


def from_json(kept: dict) -> UserError:
    """The message `as_json` kept."""
    return UserError(kept["message"], **{key: _param_from_json(value) for key, value in kept["params"].items()})


def _param_as_json(value: object) -> object:
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"time": value.isoformat()}
    return value


def _param_from_json(value: object) -> object:
    if isinstance(value, dict) and "date" in value:
        return dt.date.fromisoformat(value["date"])
    if isinstance(value, dict) and "time" in value:
        return dt.time.fromisoformat(value["time"])
    return value
