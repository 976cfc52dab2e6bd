"""PostgreSQL's roll-up triggers honour a pause, as SQLite's do since 0010: version 4 of
automation/rollup_sql.py re-creates their functions, which skip an UPDATE's counting while the
transaction's setting `drumbeat.rollup_paused` is on (the engine's set-based batches then add
what they moved from their batch table). Nothing changes on SQLite; no count is recomputed."""

from django.db import migrations

from drumbeat.automation import rollup_sql


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor != "postgresql":
        return
    for statement in rollup_sql.install(vendor, pausable=True, version=4):
        schema_editor.execute(statement, params=None)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor != "postgresql":
        return
    for statement in rollup_sql.install(vendor, pausable=True, version=3):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0013_conversion_rollup"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
