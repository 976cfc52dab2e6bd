"""The conversions after each activity (Results tab, workflow cards) from a roll-up: version 3
of automation/rollup_sql.py, its triggers on traces and participants installed and the roll-up
counted from the converted participants' traces (one join over the converted ones)."""

from django.db import migrations, models

from drumbeat.automation import rollup_sql


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = rollup_sql.install(vendor, pausable=True, version=3)
    statements += rollup_sql.backfill(vendor, version=3, only=("conversion",))
    for statement in statements:
        schema_editor.execute(statement, params=None)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in rollup_sql.uninstall(vendor, only=("conversion",)):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0012_results_figures"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConversionRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("activity_id", models.BigIntegerField()),
                ("n", models.BigIntegerField()),
            ],
            options={
                "db_table": "automation_conversion_rollup",
                "indexes": [
                    models.Index(fields=["activity_id"], name="conversion_rollup_activity")
                ],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
