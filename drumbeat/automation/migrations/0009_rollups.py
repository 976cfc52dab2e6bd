"""Roll-up tables (automation/rollup_models.py), their triggers (automation/rollup_sql.py) and
their backfill from the rows that exist."""

from django.db import migrations, models

from drumbeat.automation import rollup_sql


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = rollup_sql.install(vendor, pausable=False, version=1)
    for statement in statements + rollup_sql.backfill(vendor, version=1):
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    for statement in rollup_sql.uninstall(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0008_experiments_and_goals"),
        ("mailing", "0007_time_zone"),
    ]

    operations = [
        migrations.CreateModel(
            name="ClickRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("link_id", models.BigIntegerField()),
                ("campaign_id", models.BigIntegerField()),
                ("is_test", models.BooleanField()),
                ("is_machine", models.BooleanField()),
                ("n", models.BigIntegerField()),
            ],
            options={
                "db_table": "automation_click_rollup",
                "indexes": [
                    models.Index(fields=["link_id"], name="click_rollup_link"),
                    models.Index(fields=["campaign_id"], name="click_rollup_campaign"),
                ],
            },
        ),
        migrations.CreateModel(
            name="MessageRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("activity_id", models.BigIntegerField()),
                ("is_test", models.BooleanField()),
                ("sent", models.BigIntegerField()),
                ("opened", models.BigIntegerField()),
                ("clicked", models.BigIntegerField()),
                ("replied", models.BigIntegerField()),
                ("bounced", models.BigIntegerField()),
                ("complained", models.BigIntegerField()),
            ],
            options={
                "db_table": "automation_message_rollup",
                "indexes": [models.Index(fields=["activity_id"], name="message_rollup_activity")],
            },
        ),
        migrations.CreateModel(
            name="ParticipantRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("campaign_id", models.BigIntegerField()),
                ("state", models.CharField(max_length=12)),
                ("is_test", models.BooleanField()),
                ("converted", models.BooleanField()),
                ("n", models.BigIntegerField()),
            ],
            options={
                "db_table": "automation_participant_rollup",
                "indexes": [
                    models.Index(fields=["campaign_id"], name="participant_rollup_campaign")
                ],
            },
        ),
        migrations.CreateModel(
            name="TraceRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("activity_id", models.BigIntegerField()),
                ("state", models.CharField(max_length=12)),
                ("is_test", models.BooleanField()),
                ("slot", models.BigIntegerField()),
                ("n", models.BigIntegerField()),
            ],
            options={
                "db_table": "automation_trace_rollup",
                "indexes": [
                    models.Index(fields=["activity_id", "slot"], name="trace_rollup_activity")
                ],
            },
        ),
        migrations.AddIndex(
            model_name="participant",
            index=models.Index(fields=["campaign", "id"], name="participant_campaign_newest"),
        ),
        migrations.RunPython(install, uninstall),
    ]
