"""Roll-ups: the figures of the activity cards, the 15-day charts, the reports, the results and
the link tracker, kept as counters by database triggers (automation/rollup_sql.py) in the same
statement that changes a trace, participant, message or click, so they are exact by
construction (a rolled-back change rolls its counters back with it).

Each table holds *delta rows*: a key and signed counts. On PostgreSQL the statement-level
triggers append one grouped row per key and statement (no row is updated in place, so
concurrent workers never wait on each other's counters); on SQLite the row-level triggers
add into one row per key (upsert). A figure is the sum of the rows of its key;
`rollups.compact()` folds the rows of each key into one, from the clock tick.

Keys hold plain ids, not foreign keys: the trigger of a trace deleted with its activity
writes a row after the activity is gone (its keys then sum to zero, and `compact()` drops
them); messages outlive their activity, and so do their counts.
"""

from __future__ import annotations

from django.db import models

# Minutes per time slot of `TraceRollup.slot` (epoch seconds // SLOT_SECONDS): a quarter of an
# hour, so the days of any time zone (offsets are whole quarters) are whole slots.
SLOT_SECONDS = 900


class TraceRollup(models.Model):
    """Traces by activity, state and test flag; processed and rejected ones also by the time
    slot of their `executed_at` (0 for every other state), for the daily charts. Of those, how
    many a person opened and clicked (`Trace.human_opened_at`, `human_clicked_at`), for the
    results."""

    activity_id = models.BigIntegerField()
    state = models.CharField(max_length=12)
    is_test = models.BooleanField()
    slot = models.BigIntegerField()
    n = models.BigIntegerField()
    human_opened = models.BigIntegerField(default=0, db_default=0)
    human_clicked = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        db_table = "automation_trace_rollup"
        indexes = [models.Index(fields=["activity_id", "slot"], name="trace_rollup_activity")]


class ParticipantRollup(models.Model):
    """Participants by campaign, state, test flag and whether they reached the goal."""

    campaign_id = models.BigIntegerField()
    state = models.CharField(max_length=12)
    is_test = models.BooleanField()
    converted = models.BooleanField()
    n = models.BigIntegerField()

    class Meta:
        db_table = "automation_participant_rollup"
        indexes = [models.Index(fields=["campaign_id"], name="participant_rollup_campaign")]


class MessageRollup(models.Model):
    """The message figures of an activity card (messages of an activity only): sent counts
    the messages handed to the transport (state sent or bounced), the others count messages
    whose timestamp of that name is set."""

    activity_id = models.BigIntegerField()
    is_test = models.BooleanField()
    sent = models.BigIntegerField()
    opened = models.BigIntegerField()
    clicked = models.BigIntegerField()
    replied = models.BigIntegerField()
    bounced = models.BigIntegerField()
    complained = models.BigIntegerField()

    class Meta:
        db_table = "automation_message_rollup"
        indexes = [models.Index(fields=["activity_id"], name="message_rollup_activity")]


class ClickRollup(models.Model):
    """Clicks by link, the campaign of the clicked message (0 without one), the message's test
    flag (false without a message) and whether a link scanner made it."""

    link_id = models.BigIntegerField()
    campaign_id = models.BigIntegerField()
    is_test = models.BooleanField()
    is_machine = models.BooleanField()
    n = models.BigIntegerField()

    class Meta:
        db_table = "automation_click_rollup"
        indexes = [
            models.Index(fields=["link_id"], name="click_rollup_link"),
            models.Index(fields=["campaign_id"], name="click_rollup_campaign"),
        ]


class PressureRollup(models.Model):
    """Contact-pressure events (`PressureEvent`: deferrals and skips) by activity and kind."""

    activity_id = models.BigIntegerField()
    kind = models.CharField(max_length=8)
    n = models.BigIntegerField()

    class Meta:
        db_table = "automation_pressure_rollup"
        indexes = [models.Index(fields=["activity_id"], name="pressure_rollup_activity")]


class ConversionRollup(models.Model):
    """Conversions after each activity: the processed traces (test ones left out) whose
    participant reached the campaign's goal at or after the trace's `executed_at` — one per
    participant and activity. A figure across two tables, so its triggers are written apart
    (rollup_sql.py, `conversion`): a trace processed for a converted participant counts, and
    a participant converting counts its processed traces; on PostgreSQL an advisory lock per
    campaign keeps a conversion and the processing of its traces from missing each other."""

    activity_id = models.BigIntegerField()
    n = models.BigIntegerField()

    class Meta:
        db_table = "automation_conversion_rollup"
        indexes = [models.Index(fields=["activity_id"], name="conversion_rollup_activity")]


class AssignmentRollup(models.Model):
    """Split assignments (`SplitAssignment`) by split, branch, whether drawn at random, the
    participant's test flag and where the participant's conversion stands against the
    assignment: `open` (not converted), `before` (converted before reaching the split: left
    out of the comparison) or `after`. A figure across two tables, written apart like the
    conversions (rollup_sql.py, `assignment`): an assignment counts while its participant
    exists, and a participant converting moves its assignments to their new phase."""

    split_id = models.BigIntegerField()
    branch = models.CharField(max_length=40)
    randomized = models.BooleanField()
    is_test = models.BooleanField()
    phase = models.CharField(max_length=6)
    n = models.BigIntegerField()
    # The sums of the assignments' counters (SplitAssignment.sends, ...), and how many of them
    # have a click: the people who clicked (version 6 of rollup_sql.py on).
    sends = models.BigIntegerField(default=0, db_default=0)
    opened = models.BigIntegerField(default=0, db_default=0)
    opens = models.BigIntegerField(default=0, db_default=0)
    clicks = models.BigIntegerField(default=0, db_default=0)
    clickers = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        db_table = "automation_assignment_rollup"
        indexes = [models.Index(fields=["split_id"], name="assignment_rollup_split")]


class RollupPause(models.Model):
    """While a transaction holds a row here, SQLite's UPDATE triggers of the roll-ups do
    nothing: the engine moves the counts of its bulk UPDATEs itself (`rollups.moved`). Always
    empty outside that transaction."""

    class Meta:
        db_table = "automation_rollup_pause"
