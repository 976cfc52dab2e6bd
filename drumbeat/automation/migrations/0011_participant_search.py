"""PostgreSQL: a trigram index for the participants report's text search (`?q=`, a part of a
participant's key, any case), so a search that matches few of millions of participants reads
only those instead of every row of the campaign.

It needs the `pg_trgm` extension (PostgreSQL's contrib, trusted: a database owner may create
it). Where it cannot be created the migration says so and goes on without the index: the
search still works, by reading the rows. SQLite keeps reading the rows (small by nature).
"""

import sys

from django.db import DatabaseError, migrations, transaction

INDEX = "participant_key_trgm"


def create(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm", params=None)
    except DatabaseError as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(
            f"\n  pg_trgm unavailable ({message}): the participants report's text search"
            " will read the rows. To add its index later, have a superuser run `CREATE"
            " EXTENSION pg_trgm` in this database (the extension ships with PostgreSQL's"
            " contrib files), then `drumbeat manage migrate automation 0010` and"
            " `drumbeat manage migrate`.",
            file=sys.stderr,
        )
        return
    # UPPER(…::text): the expression Django's `icontains` compares on PostgreSQL.
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON automation_participant"
        " USING gin (UPPER(unique_key::text) gin_trgm_ops)",
        params=None,
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}", params=None)


class Migration(migrations.Migration):
    dependencies = [("automation", "0010_rollup_pause")]

    operations = [migrations.RunPython(create, drop)]
