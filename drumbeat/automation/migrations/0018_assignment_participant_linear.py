"""Version 7 of automation/rollup_sql.py: PostgreSQL's trigger function for the participants'
side of the assignment roll-up finds the participants whose conversion or test flag an UPDATE
changed with a FULL JOIN of the rows carrying either, in linear time. Version 6 joined the
whole new and old rows inside EXISTS, planned as a nested loop: an UPDATE of 100,000
participants outside the engine's paused statements (a campaign's participants removed,
completed by hand, a bench's raw UPDATE) ran for minutes. SQLite's row triggers are unchanged.
Only the function is replaced: the triggers and the roll-up's rows stay as they are."""

from django.db import migrations

from drumbeat.automation import rollup_sql


def install(version: int):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(rollup_sql.assignment_participant_function(version), params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0017_split_counters"),
    ]

    operations = [migrations.RunPython(install(7), install(6))]
