"""How much text a column holds, read from the models, so forms and the CLI check input against it.

A value longer than its column is refused where it is typed, with the limit
said, instead of failing in the database (PostgreSQL: "value too long") or
being stored whole (SQLite does not enforce lengths).
"""
from sqlalchemy.orm import InstrumentedAttribute


def max_length(column: InstrumentedAttribute) -> int | None:
    """The most characters `column` (e.g. `User.email`) holds; None for unlimited text."""
    return getattr(column.property.columns[0].type, "length", None)


def too_long(value: str | None, column: InstrumentedAttribute) -> bool:
    limit = max_length(column)
    return value is not None and limit is not None and len(value) > limit


def clipped(value: str | None, column: InstrumentedAttribute) -> str | None:
    """`value` cut to what `column` holds: for what others send us (webhooks), which we cannot refuse."""
    limit = max_length(column)
    return value if value is None or limit is None else value[:limit]
