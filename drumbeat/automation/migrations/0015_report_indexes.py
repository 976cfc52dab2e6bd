"""The reports of one campaign read from indexes of that campaign only: the participants'
(campaign, id) index holds the test flag too (PostgreSQL: INCLUDE), so the list without tests
is an index-only walk the planner prefers to the whole table's id index; the traces' activity
index holds the id, so each activity's newest traces come straight from it. Built before the
old ones are dropped (at ten million rows: about a minute each)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0014_rollup_pause_postgresql"),
        ("mailing", "0008_template_design"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="participant",
            index=models.Index(
                fields=["campaign", "id"], include=("is_test",), name="participant_campaign_list"
            ),
        ),
        migrations.AddIndex(
            model_name="trace",
            index=models.Index(fields=["activity", "id"], name="trace_activity_newest"),
        ),
        migrations.RemoveIndex(model_name="participant", name="participant_campaign_newest"),
        migrations.RemoveIndex(model_name="trace", name="trace_activity"),
    ]
