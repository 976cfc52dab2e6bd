"""The split assignments by branch from a roll-up (the workflow page's branch counts, the
Results tab's participants and conversions per branch): version 5 of automation/rollup_sql.py,
its triggers on the assignments and the participants installed and the roll-up counted from
the assignments (one join with their participants). Re-creating the earlier roll-ups'
triggers at version 5 changes nothing in them."""

from django.db import migrations, models

from drumbeat.automation import rollup_sql


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = rollup_sql.install(vendor, pausable=True, version=5)
    statements += rollup_sql.backfill(vendor, version=5, only=("assignment",))
    for statement in statements:
        schema_editor.execute(statement, params=None)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in rollup_sql.uninstall(vendor, only=("assignment",)):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0015_report_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="AssignmentRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("split_id", models.BigIntegerField()),
                ("branch", models.CharField(max_length=40)),
                ("randomized", models.BooleanField()),
                ("is_test", models.BooleanField()),
                ("phase", models.CharField(max_length=6)),
                ("n", models.BigIntegerField()),
            ],
            options={
                "db_table": "automation_assignment_rollup",
                "indexes": [models.Index(fields=["split_id"], name="assignment_rollup_split")],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
