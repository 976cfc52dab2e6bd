"""Writing what an import checked: updates grouped by the columns they set, and the ids reported
to the campaigns after commit."""

from __future__ import annotations

from typing import Any

from django.db import connection, models

from drumbeat.lib import hooks

PROGRESS_MIN_ROWS = 2000
PROGRESS_EVERY = 5000
LOOKUP_CHUNK = 5000
# Ids per `records_changed` report: the listeners pass them as one query parameter (engine
# id_set), so this bounds the length of one enrolment transaction, not SQL limits; each
# report costs the campaigns a few statements and a commit whatever its size.
REPORT_CHUNK = 50_000
WRITE_BATCH = 5000


def report_changed(label: str, ids: list[int]) -> None:
    """Tell the campaigns, in chunks of REPORT_CHUNK."""
    for start in range(0, len(ids), REPORT_CHUNK):
        hooks.records_changed(label, ids[start : start + REPORT_CHUNK])


def update_rows(model: type[models.Model], rows: list[tuple[dict[str, Any], int]]) -> None:
    """UPDATE rows given as (field -> value, id): one statement per group of rows with the same
    fields, run with executemany (Django's bulk_update builds CASE expressions that grow with
    the batch)."""
    groups: dict[tuple[str, ...], list[tuple[dict[str, Any], int]]] = {}
    for values, pk in rows:
        groups.setdefault(tuple(sorted(values)), []).append((values, pk))
    meta = model._meta
    for names, members in groups.items():
        fields = [meta.get_field(n) for n in names]
        assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in fields)
        sql = (
            f"UPDATE {connection.ops.quote_name(meta.db_table)} SET {assignments} "
            f"WHERE {connection.ops.quote_name(meta.pk.column)} = %s"
        )
        params = [
            [
                f.get_db_prep_save(values[f.name if f.name in values else f.attname], connection)
                for f in fields
            ]
            + [pk]
            for values, pk in members
        ]
        with connection.cursor() as cursor:
            for start in range(0, len(params), WRITE_BATCH):
                cursor.executemany(sql, params[start : start + WRITE_BATCH])
