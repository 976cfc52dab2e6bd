"""Each split assignment keeps its participant's figures under the split (sends, opened
messages, opens and clicks by people) and the assignment roll-up sums them (the Results tab's
branch figures, no longer counted from the traces per view): version 6 of
automation/rollup_sql.py. The activities under each split are listed in SplitMember (from every
campaign's tree), the counters counted from the existing traces and messages, the triggers
installed, the roll-up counted again."""

from django.db import migrations, models

from drumbeat.automation import rollup_sql

COUNTERS = ("sends", "opened", "opens", "clicks")


def members(apps) -> list:
    """(campaign, split, activity) for every activity under a split, at any depth."""
    Activity = apps.get_model("automation", "Activity")
    tree = {
        pk: (campaign_id, parent_id, kind == "split")
        for pk, campaign_id, parent_id, kind in Activity.objects.values_list(
            "pk", "campaign_id", "parent_id", "kind"
        )
    }
    found = []
    for pk, (campaign_id, parent_id, _) in tree.items():
        while parent_id is not None and parent_id in tree:
            if tree[parent_id][2]:
                found.append((campaign_id, parent_id, pk))
            parent_id = tree[parent_id][1]
    return found


def forwards(apps, schema_editor):
    SplitMember = apps.get_model("automation", "SplitMember")
    SplitMember.objects.bulk_create(
        SplitMember(campaign_id=c, split_id=s, activity_id=a) for c, s, a in members(apps)
    )
    vendor = schema_editor.connection.vendor
    statements = rollup_sql.split_recount("SELECT DISTINCT split_id FROM automation_split_member")
    statements += rollup_sql.install(vendor, pausable=True, version=6)
    statements += rollup_sql.backfill(vendor, version=6, only=("assignment",))
    for statement in statements:
        schema_editor.execute(statement, params=None)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = rollup_sql.uninstall(vendor, only=("split_counters",))
    statements += rollup_sql.install(vendor, pausable=True, version=5)
    statements += rollup_sql.backfill(vendor, version=5, only=("assignment",))
    for statement in statements:
        schema_editor.execute(statement, params=None)


COLUMNS = [
    *(("splitassignment", "automation_splitassignment", name) for name in COUNTERS),
    *(
        ("assignmentrollup", "automation_assignment_rollup", name)
        for name in (*COUNTERS, "clickers")
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0016_assignment_rollup"),
    ]

    operations = [
        # ALTER TABLE … ADD COLUMN on both databases: SQLite's schema editor would rebuild the
        # tables under the triggers that read and write them.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name=model,
                    name=name,
                    field=models.BigIntegerField(db_default=0, default=0),
                )
                for model, _, name in COLUMNS
            ],
            database_operations=[
                migrations.RunSQL(
                    f"ALTER TABLE {table} ADD COLUMN {name} bigint NOT NULL DEFAULT 0",
                    f"ALTER TABLE {table} DROP COLUMN {name}",
                )
                for _, table, name in COLUMNS
            ],
        ),
        migrations.CreateModel(
            name="SplitMember",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("campaign_id", models.BigIntegerField()),
                ("split_id", models.BigIntegerField()),
                ("activity_id", models.BigIntegerField()),
            ],
            options={
                "db_table": "automation_split_member",
                "indexes": [models.Index(fields=["campaign_id"], name="split_member_campaign")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("activity_id", "split_id"), name="uniq_split_member"
                    )
                ],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
