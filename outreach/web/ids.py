"""Object ids in URLs and query strings: only those a database row can have.

Ids are PostgreSQL `integer` columns; a larger number names nothing, so it is
404 like any other missing object instead of an error from the database
driver. Every route names its ids as `<id:...>`.
"""
from werkzeug.routing import IntegerConverter

from outreach.models import MAX_ID


class IdConverter(IntegerConverter):
    """`<id:name>`: a positive integer that fits an id column; anything else does not match the route (404)."""

    def __init__(self, url_map, *args, **kwargs) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)


def id_arg(value: str) -> int:
    """`type=` for ids in query strings and forms: a ValueError (so: no value) for what no row can have."""
    number = int(value)
    if not 1 <= number <= MAX_ID:
        raise ValueError(f"{value!r} is not an id")
    return number
