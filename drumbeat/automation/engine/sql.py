"""Set-based SQL the ORM does not express: INSERT … SELECT from a queryset."""

from __future__ import annotations

from django.db import connection, models


def insert_select(model: type[models.Model], columns: list[str], select: models.QuerySet) -> int:
    """INSERT INTO model(columns) SELECT … from `select` (a values_list in column order).

    One statement whatever the row count; returns the number of rows inserted.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(model._meta.get_field(c).column) for c in columns)
    sql, params = select.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({cols}) {sql}", params)
        return cursor.rowcount
