"""Every CSV the app writes goes through `writer`, which keeps cells from being read as formulas.

Spreadsheet programs run a cell that begins with =, +, - or @ (and some a tab
or carriage return before one) as a formula: a client named
`=HYPERLINK(...)` would become a live link in the practice's export. Such text
cells get a leading apostrophe, which spreadsheets show as plain text. Numbers
are written as numbers.
"""
import csv
from collections.abc import Iterable
from typing import TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """`value` as it may safely stand in a CSV cell."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeWriter:
    """`csv.writer` whose text cells are never formulas."""

    def __init__(self, out: TextIO, **options) -> None:
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([neutralise(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: TextIO, **options) -> SafeWriter:
    return SafeWriter(out, **options)
