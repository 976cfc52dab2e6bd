"""Set-based SQL the ORM does not express: INSERT … SELECT from a queryset, id sets, rows
written from Python values in a few statements."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db import connection, models
from django.db.models.expressions import DatabaseDefault, RawSQL


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


def insert_objects(
    model: type[models.Model], objs: Sequence[models.Model], skip_existing: bool = False
) -> list[int]:
    """INSERT the unsaved `objs` of `model`, a few hundred rows a statement, and give each
    its id (returned in order, as bulk_create has them). bulk_create prepares every value of
    every object; here a column whose value is the same in every object (the fixed values
    and defaults of a batch) is prepared once, only the others per object. A column left to
    its database default in every object is left out. `skip_existing`: a row a unique
    constraint already holds is skipped (ON CONFLICT DO NOTHING); the objects then get no
    id."""
    if not objs:
        return []
    first, pk = objs[0], model._meta.pk
    columns: list[str] = []
    prepared: list[tuple[models.Field, tuple | None]] = []  # (field, (its value,) if shared)
    for field in model._meta.concrete_fields:
        if field is pk:
            continue
        value = getattr(first, field.attname)
        if any(getattr(obj, field.attname) != value for obj in objs):
            columns.append(field.column)
            prepared.append((field, None))
            continue
        value = field.pre_save(first, True)
        if isinstance(value, DatabaseDefault):
            continue
        columns.append(field.column)
        prepared.append((field, (field.get_db_prep_save(value, connection),)))
    quote = connection.ops.quote_name
    table, names = quote(model._meta.db_table), ", ".join(quote(c) for c in columns)
    marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
    limit = connection.features.max_query_params or 999
    size = max(1, min(500, limit // max(1, len(columns))))
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(objs), size):
            chunk = objs[start : start + size]
            params = [
                field.get_db_prep_save(field.pre_save(obj, True), connection)
                if shared is None
                else shared[0]
                for obj in chunk
                for field, shared in prepared
            ]
            insert = f"INSERT INTO {table} ({names}) VALUES {', '.join([marks] * len(chunk))}"
            if skip_existing:
                cursor.execute(f"{insert} ON CONFLICT DO NOTHING", params)
                continue
            cursor.execute(f"{insert} RETURNING {quote(pk.column)}", params)
            ids.extend(row[0] for row in cursor.fetchall())
    if skip_existing:
        return []
    for obj, pk_value in zip(objs, ids, strict=True):
        obj.pk = pk_value
        obj._state.adding, obj._state.db = False, connection.alias
    return ids


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


def update_from_rows(
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence],
    assign: str,
    assign_params: Sequence = (),
    where: str = "TRUE",
    where_params: Sequence = (),
) -> int:
    """UPDATE `table` with values that differ per row, in ONE statement whatever the number
    of rows (Django's `bulk_update` builds a CASE of every row per column, and an UPDATE per
    distinct value is a statement per row when every value differs).

    `columns`: (name, PostgreSQL type) of each row's values, the first `id`, the table's
    key; `assign`: the SET clause, naming a row's values `v.<name>`; `where`: more conditions.
    The rows travel as one parameter per column (PostgreSQL: arrays) or one JSON array of
    rows (SQLite); values as the database takes them (`get_db_prep_save`). Returns how many
    rows changed."""
    names = [name for name, _ in columns]
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{kind}[]" for _, kind in columns)
        source = f"unnest({arrays}) AS v({', '.join(names)})"
        values: list = [[row[i] for row in rows] for i in range(len(names))]
    else:
        picks = ", ".join(f"json_extract(value, '$[{i}]') AS {n}" for i, n in enumerate(names))
        source = f"(SELECT {picks} FROM json_each(%s)) AS v"
        values = [json.dumps([list(row) for row in rows], default=str)]
    sql = f"UPDATE {table} SET {assign} FROM {source} WHERE {table}.id = v.id AND ({where})"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*assign_params, *values, *where_params])
        return cursor.rowcount


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
