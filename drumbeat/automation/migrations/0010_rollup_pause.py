"""The roll-up pause table (automation/rollup_models.py: RollupPause) and SQLite's UPDATE
triggers re-created to honour it (automation/rollup_sql.py)."""

from django.db import migrations, models

from drumbeat.automation import rollup_sql


def _sqlite_triggers(schema_editor, pausable: bool) -> None:
    if schema_editor.connection.vendor == "sqlite":  # PostgreSQL's triggers do not change
        for statement in rollup_sql.install("sqlite", pausable, version=1):
            schema_editor.execute(statement, params=None)


def pausable(apps, schema_editor):
    _sqlite_triggers(schema_editor, pausable=True)


def plain(apps, schema_editor):
    _sqlite_triggers(schema_editor, pausable=False)


class Migration(migrations.Migration):
    dependencies = [("automation", "0009_rollups")]

    operations = [
        migrations.CreateModel(
            name="RollupPause",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
            ],
            options={"db_table": "automation_rollup_pause"},
        ),
        migrations.RunPython(pausable, plain),
    ]
