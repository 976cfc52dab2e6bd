"""Reading a CSV file: decoding, the delimiter, rows with their line numbers, the header mapped
to fields, and one row's cells (a value neutralised by an export read back as it stands for)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

from drumbeat.lib import csvsafe

from .columns import COLUMNS, REQUIRED, title
from .report import ImportFailed, RowError


def read_file(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]], int]:
    """Header, an iterator of (line, cells) and the number of lines, or ImportFailed."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImportFailed(f"no such file: {path}.")
    except OSError as exc:
        raise ImportFailed(f"cannot read the file ({exc.strerror}).")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportFailed(
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}). "
            "Save it as 'CSV UTF-8' and try again."
        )
    if not text.strip():
        raise ImportFailed("the file is empty.")
    if "\x00" in text:
        raise ImportFailed("the file contains NUL bytes; it is not a CSV text file.")
    first_line = text.split("\n", 1)[0]
    delimiter = max([",", ";", "\t"], key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)

    def rows() -> Iterator[tuple[int, list[str]]]:
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ImportFailed(f"line {start}: the CSV is malformed ({exc}).")
            if any(c.strip() for c in cells):
                yield start, cells

    iterator = rows()
    first = next(iterator, None)
    if first is None:
        raise ImportFailed("the file is empty.")
    line, header = first
    if line != 1:
        raise ImportFailed("line 1 must be the header naming the columns, but it is blank.")
    return header, iterator, text.count("\n") + (0 if text.endswith("\n") else 1)


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def header_fields(kind: str, header: list[str]) -> list[str | None]:
    """The field of each column; ImportFailed naming unknown, repeated or missing columns."""
    aliases = {_key(a): f for f, names in COLUMNS[kind].items() for a in names}
    columns: list[str | None] = []
    unknown, seen = [], {}
    for name in header:
        if not name.strip():
            columns.append(None)  # an unnamed column must be empty (checked per row)
            continue
        found = aliases.get(_key(name))
        if found is None:
            unknown.append(name.strip())
        elif found in seen:
            raise ImportFailed(
                f"line 1: columns {seen[found]!r} and {name.strip()!r} both give the "
                f"{title(found).lower()}."
            )
        else:
            seen[found] = name.strip()
        columns.append(found)
    accepted = ", ".join(title(f) for f in COLUMNS[kind])
    if unknown:
        quoted = ", ".join(repr(u) for u in unknown)
        raise ImportFailed(
            f"line 1: unknown column{'s' if len(unknown) > 1 else ''} {quoted}. The first line "
            f"must be a header; columns accepted for {kind}: {accepted}."
        )
    missing = [f for f in REQUIRED[kind] if f not in seen]
    if missing:
        raise ImportFailed(
            f"line 1: the header has no {' or '.join(title(f) for f in missing)} column "
            f"(required). Columns accepted for {kind}: {accepted}."
        )
    return columns


def row_cells(columns: list[str | None], cells: list[str]) -> dict[str, str]:
    """field -> stripped value of one row; RowError for values outside the named columns."""
    if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
        raise RowError(f"{len(cells)} values but the header has {len(columns)} columns")
    raw: dict[str, str] = {}
    for name, cell in zip(columns, cells, strict=False):
        if name is None:
            if cell.strip():
                raise RowError("a value stands in a column without a header")
            continue
        raw[name] = csvsafe.unquote(cell.strip()).strip()
    return raw
