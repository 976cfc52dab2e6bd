"""`set_times`: one UPDATE that gives each row its own timestamp.

A batch of events (opens and clicks written together, or the children those events date) has
one time per row; a CASE per row or one UPDATE per row would grow with the batch. The rows and
their times travel as one array (PostgreSQL) or one JSON parameter (SQLite) joined with
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
    ops = connection.ops
    table = ops.quote_name(model._meta.db_table)
    target = ops.quote_name(model._meta.get_field(column).column)
    pk_column = f"{table}.{ops.quote_name(model._meta.pk.column)}"
    ids = [int(pk) for pk in times]
    if connection.vendor == "postgresql":
        source = "SELECT * FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(row_id, row_at)"
        source_params: list[object] = [ids, [times[pk] for pk in ids]]
    else:
        source = (
            "SELECT json_extract(value, '$[0]') AS row_id, json_extract(value, '$[1]') AS row_at"
            " FROM json_each(%s)"
        )
        pairs = [[pk, ops.adapt_datetimefield_value(times[pk])] for pk in ids]
        source_params = [json.dumps(pairs)]
    sql = (
        f"UPDATE {table} SET {target} = v.row_at FROM ({source}) AS v"
        f" WHERE {pk_column} = v.row_id{f' AND {where}' if where else ''}"
        f" RETURNING {pk_column}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*source_params, *params])
        return [row[0] for row in cursor.fetchall()]
