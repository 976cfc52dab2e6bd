"""One UPDATE that gives each row its own timestamps: `set_times` and `fill_times`.

A batch of events (opens and clicks written together, or the children those events date) has
one time per row; a CASE per row or one UPDATE per row would grow with the batch. The rows and
their times travel as arrays (PostgreSQL) or one JSON parameter (SQLite) joined with
`UPDATE … FROM`, so the statement and its parameters stay the same size whatever the batch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from django.db import connection, models


def set_times(
    model: type[models.Model],
    column: str,
    times: Mapping[int, datetime],
    where: str = "",
    params: Sequence[object] = (),
) -> list[int]:
    """UPDATE `model` SET `column` = times[id] for the rows whose id is a key of `times` and that
    match `where` (SQL on the model's own columns, e.g. "opened_at IS NULL", with `params`).

    One statement whatever the number of rows; returns the ids of the rows it updated.
    """
    if not times:
        return []
    table, pk = _names(model)
    target = connection.ops.quote_name(model._meta.get_field(column).column)
    source, source_params = _source({pk: (at,) for pk, at in times.items()}, 1)
    sql = (
        f"UPDATE {table} SET {target} = v.t0 FROM ({source}) AS v"
        f" WHERE {pk} = v.row_id{f' AND {where}' if where else ''} RETURNING {pk}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*source_params, *params])
        return [row[0] for row in cursor.fetchall()]


def fill_times(
    model: type[models.Model],
    columns: Sequence[str],
    times: Mapping[int, Sequence[datetime | None]],
) -> None:
    """One UPDATE setting, in each row whose id is a key of `times`, the `columns` still NULL
    to that row's times (in the order of `columns`; None leaves the column as it is)."""
    if not times:
        return
    table, pk = _names(model)
    quote = connection.ops.quote_name
    targets = [quote(model._meta.get_field(column).column) for column in columns]
    source, params = _source(times, len(columns))
    assignments = ", ".join(f"{c} = COALESCE({table}.{c}, v.t{i})" for i, c in enumerate(targets))
    sql = f"UPDATE {table} SET {assignments} FROM ({source}) AS v WHERE {pk} = v.row_id"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _names(model: type[models.Model]) -> tuple[str, str]:
    table = connection.ops.quote_name(model._meta.db_table)
    return table, f"{table}.{connection.ops.quote_name(model._meta.pk.column)}"


def _source(times: Mapping[int, Sequence[datetime | None]], width: int) -> tuple[str, list]:
    """A row source (row_id, t0, t1, …) of `times`, as one array per column (PostgreSQL) or
    one JSON parameter (SQLite)."""
    ids = [int(pk) for pk in times]
    if connection.vendor == "postgresql":
        arrays = ", ".join(["%s::bigint[]", *["%s::timestamptz[]"] * width])
        names = ", ".join(["row_id", *(f"t{i}" for i in range(width))])
        columns = [[times[pk][i] for pk in ids] for i in range(width)]
        return f"SELECT * FROM unnest({arrays}) AS v({names})", [ids, *columns]
    adapt = connection.ops.adapt_datetimefield_value
    rows = [[pk, *(adapt(at) for at in times[pk])] for pk in ids]
    extracts = ", ".join(f"json_extract(value, '$[{i + 1}]') AS t{i}" for i in range(width))
    return (
        f"SELECT json_extract(value, '$[0]') AS row_id, {extracts} FROM json_each(%s)",
        [json.dumps(rows)],
    )
