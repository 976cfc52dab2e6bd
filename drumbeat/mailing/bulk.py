"""Multi-row writes in a constant number of statements, whatever the batch size.

Django's `bulk_create` splits rows in chunks (249 rows per statement on SQLite at most), so its
statement count grows with the batch. `insert_rows` sends all rows as one `executemany` (one
prepared statement; psycopg pipelines it, sqlite3 steps it in C), and `text_set` passes a list
of strings as ONE query parameter for `filter(field__in=text_set(values))`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

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
    preps = [_repeating(f) for f in fields]
    pairs = list(zip(fields, preps, strict=True))
    rows = [[prep(f.pre_save(obj, add=True)) for f, prep in pairs] for obj in objs]
    # In a transaction: SQLite would otherwise commit (and sync) after every row.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: one statement streaming the rows (executemany is one execution per row
            # on the server: a third of a 5,000-message batch's database time).
            with cursor.copy(f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(sql, rows)


_SCALARS = (str, int, float, bool, type(None), datetime)


def _repeating(field: models.Field):
    """`field.get_db_prep_save` that converts a value equal to the previous one (same type,
    equal) once: a batch's rows share most of their values (campaign, state, dates), and the
    conversion, not the INSERT, was most of `insert_rows`' time."""
    last: list = [_NOTHING, None]

    def prep(value):
        previous = last[0]
        if type(value) is type(previous) and value == previous and type(value) in _SCALARS:
            return last[1]
        prepared = field.get_db_prep_save(value, connection)
        last[0], last[1] = value, prepared
        return prepared

    return prep


_NOTHING = object()


def text_set(values: Iterable[str]) -> RawSQL:
    """A list of strings as ONE query parameter (JSON on SQLite, an array on PostgreSQL)."""
    values = [str(v) for v in values]
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::text[])", (values,))
    return RawSQL("SELECT value FROM json_each(%s)", (json.dumps(values),))
