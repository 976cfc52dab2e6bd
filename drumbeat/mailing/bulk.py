"""Multi-row writes in a constant number of statements, whatever the batch size.

Django's `bulk_create` splits rows in chunks (249 rows per statement on SQLite at most), so its
statement count grows with the batch. `insert_rows` sends all rows as one `executemany` (one
prepared statement; psycopg pipelines it, sqlite3 steps it in C), and `text_set` passes a list
of strings as ONE query parameter for `filter(field__in=text_set(values))`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from django.db import connection, models, transaction
from django.db.models.expressions import RawSQL


def insert_rows(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """INSERT every object of `objs` (unsaved, without a primary key) in ONE statement.

    The primary keys are not read back; look them up by a unique column when they are needed.
    """
    if not objs:
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})"
    rows = [
        [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields] for obj in objs
    ]
    # In a transaction: SQLite would otherwise commit (and sync) after every row.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def text_set(values: Iterable[str]) -> RawSQL:
    """A list of strings as ONE query parameter (JSON on SQLite, an array on PostgreSQL)."""
    values = [str(v) for v in values]
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::text[])", (values,))
    return RawSQL("SELECT value FROM json_each(%s)", (json.dumps(values),))
