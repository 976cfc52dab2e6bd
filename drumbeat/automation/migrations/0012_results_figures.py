"""The figures of the Results tab and the pressure counts of the cards at any size: the trace
roll-up also counts the traces a person opened and clicked (automation/results.py), a new
roll-up counts the contact-pressure events by activity and kind (metrics.pressure_counts) —
version 2 of automation/rollup_sql.py, its triggers installed and both roll-ups counted again
from their rows (one GROUP BY over each table) — and partial indexes find a campaign's
converted and test participants."""

from django.db import migrations, models

from drumbeat.automation import rollup_sql


def _install(schema_editor, version: int, backfill: bool) -> None:
    vendor = schema_editor.connection.vendor
    statements = rollup_sql.install(vendor, pausable=True, version=version)
    if backfill:
        statements += rollup_sql.backfill(vendor, version=version, only=("trace", "pressure"))
    for statement in statements:
        schema_editor.execute(statement, params=None)


def forwards(apps, schema_editor):
    _install(schema_editor, version=2, backfill=True)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in rollup_sql.uninstall(vendor, only=("pressure",)):
        schema_editor.execute(statement, params=None)
    _install(schema_editor, version=1, backfill=False)


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0011_participant_search"),
    ]

    operations = [
        # ALTER TABLE … ADD COLUMN on both databases: SQLite's schema editor would rebuild the
        # table under the triggers that write into it.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="tracerollup",
                    name=name,
                    field=models.BigIntegerField(db_default=0, default=0),
                )
                for name in ("human_opened", "human_clicked")
            ],
            database_operations=[
                migrations.RunSQL(
                    f"ALTER TABLE automation_trace_rollup ADD COLUMN {name} bigint NOT NULL"
                    " DEFAULT 0",
                    f"ALTER TABLE automation_trace_rollup DROP COLUMN {name}",
                )
                for name in ("human_opened", "human_clicked")
            ],
        ),
        migrations.AddIndex(
            model_name="participant",
            index=models.Index(
                condition=models.Q(("converted_at__isnull", False)),
                fields=["campaign"],
                name="participant_converted",
            ),
        ),
        migrations.AddIndex(
            model_name="participant",
            index=models.Index(
                condition=models.Q(("is_test", True)),
                fields=["campaign", "enrolled_at"],
                name="participant_tests",
            ),
        ),
        migrations.CreateModel(
            name="PressureRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("activity_id", models.BigIntegerField()),
                ("kind", models.CharField(max_length=8)),
                ("n", models.BigIntegerField()),
            ],
            options={
                "db_table": "automation_pressure_rollup",
                "indexes": [models.Index(fields=["activity_id"], name="pressure_rollup_activity")],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
