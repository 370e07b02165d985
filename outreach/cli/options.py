"""Option types shared by the commands: text that fits its column, ids a row can have, days of our era."""
import click
from sqlalchemy.orm import InstrumentedAttribute

from outreach.models import MAX_ID
from outreach.services.call_lists import FIRST_YEAR, LAST_YEAR
from outreach.services.lengths import max_length

ID = click.IntRange(1, MAX_ID)


class Fits(click.ParamType):
    """Text no longer than `column` (e.g. `Practice.name`) holds; the limit comes from the model."""

    name = "text"

    def __init__(self, column: InstrumentedAttribute) -> None:
        self.limit = max_length(column)

    def convert(self, value, param, ctx):
        if self.limit is not None and len(value) > self.limit:
            self.fail(f"at most {self.limit} characters (this has {len(value)})", param, ctx)
        return value


class Day(click.DateTime):
    """A day written YYYY-MM-DD, between FIRST_YEAR and LAST_YEAR (time zones end near year 1 and 9999)."""

    def __init__(self) -> None:
        super().__init__(formats=["%Y-%m-%d"])

    def convert(self, value, param, ctx):
        day = super().convert(value, param, ctx)
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            self.fail(f"choose a day between {FIRST_YEAR} and {LAST_YEAR}", param, ctx)
        return day
