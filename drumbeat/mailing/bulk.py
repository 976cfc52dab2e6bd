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
from operator import attrgetter

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
    rows = list(zip(*(_column(f, objs) for f in fields), strict=True))
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


def _column(field: models.Field, objs: Sequence[models.Model]) -> list:
    """The values of `field` for `objs` as the database takes them (`get_db_prep_save`), built
    a column at a time: a value the conversion returns unchanged (a string for a text field,
    an int for an integer or a foreign key) is taken as it is, and one equal to the previous
    row's is converted once. A batch's rows share most of their values (campaign, state,
    dates); converting each cell was most of `insert_rows`' time."""
    if type(field).pre_save is models.Field.pre_save:
        values = list(map(attrgetter(field.attname), objs))
    else:  # auto_now and the like
        values = [field.pre_save(obj, add=True) for obj in objs]
    unchanged = _unchanged_types(field)
    prepare = field.get_db_prep_save
    column, last, last_prepared = [], _NOTHING, None
    for value in values:
        kind = type(value)
        if kind in unchanged:
            column.append(value)
        elif kind is type(last) and kind in _SCALARS and value == last:
            column.append(last_prepared)
        else:
            last, last_prepared = value, prepare(value, connection)
            column.append(last_prepared)
    return column


def _unchanged_types(field: models.Field) -> tuple[type, ...]:
    target = field.target_field if field.is_relation else field
    if isinstance(target, models.CharField | models.TextField):
        return (str, type(None))
    if isinstance(target, models.IntegerField):  # the auto fields too
        return (int, type(None))
    if isinstance(target, models.BooleanField):
        return (bool, type(None))
    return ()


_NOTHING = object()


def text_set(values: Iterable[str]) -> RawSQL:
    """A list of strings as ONE query parameter (JSON on SQLite, an array on PostgreSQL)."""
    values = [str(v) for v in values]
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::text[])", (values,))
    return RawSQL("SELECT value FROM json_each(%s)", (json.dumps(values),))
