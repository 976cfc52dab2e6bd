"""Set-based SQL the ORM does not express: INSERT … SELECT from a queryset, id sets."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import connection, models
from django.db.models.expressions import RawSQL


def insert_select(
    model: type[models.Model],
    columns: list[str],
    select: models.QuerySet,
    skip_existing: bool = False,
) -> int:
    """INSERT INTO model(columns) SELECT … from `select` (a values_list in column order).

    One statement whatever the row count; returns the number of rows inserted.
    `skip_existing`: a row a unique constraint already holds is skipped (ON CONFLICT DO
    NOTHING), in place of the caller excluding it with a NOT EXISTS.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(model._meta.get_field(c).column) for c in columns)
    sql, params = select.query.sql_with_params()
    if skip_existing:
        # SQLite reads `ON CONFLICT` after a FROM as a join's ON: the SELECT ends in a WHERE.
        if connection.vendor == "sqlite":
            sql = f"SELECT * FROM ({sql}) WHERE TRUE"
        sql += " ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({cols}) {sql}", params)
        return cursor.rowcount


def id_set(ids: Iterable[int] | RawSQL) -> RawSQL:
    """A list of ids as ONE query parameter, for `filter(pk__in=id_set(ids))`; a subquery
    (RawSQL) of ids is used as it is.

    Django turns a Python list into one parameter per id and prepares each of them, which
    costs more than the query itself for batches of thousands; a JSON (SQLite) or array
    (PostgreSQL) parameter keeps the statement small and the batch cost flat.
    """
    if isinstance(ids, RawSQL):
        return ids
    text = ",".join(str(int(i)) for i in ids)
    if connection.vendor == "postgresql":
        # An array literal: psycopg's list adaptation inspects every element (3x slower).
        return RawSQL("SELECT unnest(%s::bigint[])", ("{" + text + "}",))
    return RawSQL("SELECT value FROM json_each(%s)", ("[" + text + "]",))


def in_picked(cte: str = "picked") -> str:
    """`id` among the ids a CTE picked, for an UPDATE's WHERE. On PostgreSQL as an array: one
    index probe per id whatever the table's size (as a join, the planner hashes the whole
    table whenever that looks cheap, every batch)."""
    if connection.vendor == "postgresql":
        return f"id = ANY(ARRAY(SELECT id FROM {cte}))"
    return f"id IN (SELECT id FROM {cte})"


def db_datetime(value: datetime) -> object:
    """A datetime as the database takes it in a raw statement's parameters."""
    return connection.ops.adapt_datetimefield_value(value)
