"""A batch of a set-based server action (a field set, tags, a task or note with fixed texts, a
subscription added or removed) as SQL over a batch table: no trace of the batch goes through
Python.

The executor (execute.py: `execute_set_batch`) uses it for database-only actions whose effect
is the same for every record (`actions.is_set_based`); every other step keeps the general
path. One transaction:

1. the due traces are copied into the connection's temporary table `drumbeat_batch` (trace,
   participant, record, test flag, due date), oldest first, up to the batch size: on
   PostgreSQL `FOR UPDATE OF t SKIP LOCKED`, so concurrent runners take other rows, and the
   same statement writes them processed; on SQLite the IMMEDIATE transaction already
   excludes other writers;
2. expired and rejected traces are marked in that table (one UPDATE each, the applied filter
   as a subquery over the batch's records), then those whose record the action fails for
   (`actions.set_based_failures`, e.g. no email address to subscribe: Error);
3. the action runs once on the subquery of the remaining records (a failure marks them all
   Error with its message);
4. the traces take their outcome: one UPDATE for the processed ones (SQLite; PostgreSQL wrote
   them in step 1), one for the exceptions;
5. children (one INSERT … SELECT per child activity) and completed participants (one UPDATE);
6. COMMIT. A crash before it rolls the whole batch back: nothing ran, nothing is lost.

The roll-up triggers are paused from step 1 to step 4: the counts those UPDATEs moved are
added from the batch table, a grouped statement each (`count`), in place of a trigger call
per row (SQLite) or the triggers' grouping of every old and new row (PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models.expressions import RawSQL

from ..models import Activity, Participant, Trace
from ..rollups import add_counts, slot_of
from . import resume
from .sql import db_datetime, in_picked

BATCH = "drumbeat_batch"
_DONE = "executed_at = %s, claim_expires_at = NULL"
# outcome: '' while the trace runs (then processed); else its final state, with `reason`.
# converted: whether the participant had reached the goal at the claim (SQLite: `completed`).
_COLUMNS = (
    "id {key}, participant_id bigint NOT NULL, record_id bigint NOT NULL,"
    " is_test boolean NOT NULL, scheduled_at {date}, converted boolean NOT NULL DEFAULT FALSE,"
    " outcome varchar(12) NOT NULL DEFAULT '', reason varchar(500) NOT NULL DEFAULT ''"
)


def prepare(cursor) -> None:
    """The connection's batch table, created once per connection, and empty (PostgreSQL
    empties it on commit; several batches may run in one transaction)."""
    if connection.vendor == "postgresql":
        columns = _COLUMNS.format(key="bigint PRIMARY KEY", date="timestamp with time zone")
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {BATCH} ({columns}) ON COMMIT DELETE ROWS"
        )
    else:
        columns = _COLUMNS.format(key="INTEGER PRIMARY KEY", date="datetime")
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {BATCH} ({columns})")
    cursor.execute(f"DELETE FROM {BATCH}")  # a batch before, in the same transaction


def rows(condition: str = "TRUE", column: str = "id") -> RawSQL:
    """A subquery of the batch table's `column` where `condition` holds. On PostgreSQL through
    an array, as `id_set` has its ids: planned as a few rows, so the rows it selects elsewhere
    are taken by index probes (joined to a table of thousands, the planner may merge it with
    a scan of the other table from its first row, every batch)."""
    select = f"SELECT {column} FROM {BATCH} WHERE {condition}"
    if connection.vendor == "postgresql":
        select = f"SELECT unnest(ARRAY({select}))"
    return RawSQL(select, ())


def due_traces(condition: str = "TRUE", extra: str = "") -> str:
    """SELECT of an activity's due traces of running participants that match `condition`,
    oldest first (parameters: activity id, now, the condition's, limit): trace, participant,
    record, test flag, due date, then the `extra` columns (of `t` and `p`)."""
    traces, participants = Trace._meta.db_table, Participant._meta.db_table
    # States as literals: SQLite uses a partial index only when the query repeats its
    # condition literally (a bound parameter never matches it).
    return (
        f"SELECT t.id, t.participant_id, p.record_id, t.is_test, t.scheduled_at{extra}"
        f" FROM {traces} t JOIN {participants} p ON p.id = t.participant_id"
        f" WHERE t.activity_id = %s AND t.state = 'scheduled' AND t.scheduled_at <= %s"
        f" AND ({condition}) AND p.state = 'running' ORDER BY t.scheduled_at, t.id LIMIT %s"
    )


def claim(cursor, activity: Activity, now: datetime, limit: int) -> int:
    """Copy up to `limit` due traces of `activity` into the batch table, oldest first; returns
    how many. On PostgreSQL the same statement writes them processed (`write_traces` then
    only corrects the exceptions): one pass over the rows instead of a lock and an update;
    and it starts where the previous batch stopped (resume.py)."""
    traces = Trace._meta.db_table
    columns = "id, participant_id, record_id, is_test, scheduled_at"

    def take(condition: str, extra: list, n: int) -> tuple[int, resume.Point | None]:
        params = [activity.pk, db_datetime(now), *extra, n]
        if connection.vendor != "postgresql":  # the IMMEDIATE transaction excludes writers
            select = due_traces(condition, ", p.converted_at IS NOT NULL")
            cursor.execute(f"INSERT INTO {BATCH} ({columns}, converted) {select}", params)
            return cursor.rowcount, None
        select = due_traces(condition)
        # MATERIALIZED: the LIMIT … SKIP LOCKED subquery is evaluated exactly once; the
        # UPDATE of the picked (locked) rows always succeeds.
        cursor.execute(
            f"WITH picked AS MATERIALIZED ({select} FOR UPDATE OF t SKIP LOCKED),"
            f" written AS (UPDATE {traces} SET state = %s, reason = '', {_DONE}"
            f" WHERE {in_picked()}),"
            f" copied AS (INSERT INTO {BATCH} ({columns}) SELECT {columns} FROM picked)"
            f" SELECT n.count, l.scheduled_at, l.id FROM (SELECT count(*) FROM picked) n"
            f" LEFT JOIN LATERAL ({resume.LAST_OF.format(cte='picked')}) l ON TRUE",
            [*params, Trace.State.PROCESSED.value, db_datetime(now)],
        )
        count, last_at, last_id = cursor.fetchone()
        return count, (last_at, last_id) if last_id is not None else None

    taken = resume.claim_in_order(activity.pk, limit, take)
    if taken and connection.vendor == "postgresql":
        # A temporary table has no statistics: without them the planner guesses its size
        # and may scan the traces where a thousand index probes do.
        cursor.execute(f"ANALYZE {BATCH}")
    return taken


def write_traces(cursor, now: datetime) -> None:
    """Every trace of the batch takes its outcome (the exceptions usually none); inside the
    caller's `rollups.paused` block, then `count` adds what the batch moved."""
    table = Trace._meta.db_table
    if connection.vendor != "postgresql":  # PostgreSQL: written by the claim
        cursor.execute(
            f"UPDATE {table} SET state = %s, reason = '', {_DONE}"
            f" WHERE id IN (SELECT id FROM {BATCH} WHERE outcome = '')",
            [Trace.State.PROCESSED.value, db_datetime(now)],
        )
    cursor.execute(
        f"UPDATE {table} SET {_DONE},"
        f" state = (SELECT b.outcome FROM {BATCH} b WHERE b.id = {table}.id),"
        f" reason = (SELECT b.reason FROM {BATCH} b WHERE b.id = {table}.id)"
        f" WHERE id IN (SELECT id FROM {BATCH} WHERE outcome <> '')",
        [db_datetime(now)],
    )


def count(cursor, activity: Activity, now: datetime) -> None:
    """The roll-up counts the batch's paused claim and `write_traces` moved, from the batch
    table: each trace left (activity, scheduled, its test flag, slot 0) for (activity, its
    outcome, its test flag, the slot of `now` if processed or rejected); a due trace has no
    message, so nobody opened or clicked it (counters 0); a processed one whose participant
    converted since `now` is a conversion after it."""
    add_counts(
        cursor,
        "trace",
        f"SELECT %s, %s, is_test, 0, -count(*), 0, 0 FROM {BATCH} GROUP BY is_test",
        [activity.pk, Trace.State.SCHEDULED.value],
    )
    state = "CASE WHEN outcome = '' THEN %s ELSE outcome END"
    slot = "CASE WHEN outcome IN ('', %s) THEN %s ELSE 0 END"
    add_counts(
        cursor,
        "trace",
        f"SELECT %s, {state}, is_test, {slot}, count(*), 0, 0 FROM {BATCH} GROUP BY 2, 3, 4",
        [activity.pk, Trace.State.PROCESSED.value, Trace.State.REJECTED.value, slot_of(now)],
    )
    # Processed for a participant converted since (at this very moment): a conversion after
    # it. Nothing to look up when the campaign has no converted participant. (PostgreSQL:
    # the caller holds the campaign's conversion lock, as the trigger would take it.)
    participants = Participant._meta.db_table
    add_counts(
        cursor,
        "conversion",
        f"SELECT %s, count(*) FROM {BATCH} b JOIN {participants} p ON p.id = b.participant_id"
        f" WHERE EXISTS (SELECT 1 FROM {participants} c WHERE c.campaign_id = %s"
        " AND c.converted_at IS NOT NULL) AND b.outcome = '' AND NOT b.is_test"
        " AND NOT p.is_test AND p.converted_at >= %s HAVING count(*) > 0",
        [activity.pk, activity.campaign_id, db_datetime(now)],
    )


def completed_counts(campaign_id: int) -> tuple[str, list]:
    """(SQLite) A grouped SELECT of the batch's participants, as `complete_participants`
    counts the ones it completes: (campaign, test flag, converted, how many). Equal to them
    when every participant of the batch completes (`alone`): each has one trace in it, and it
    was running at the claim, in this transaction that no other writer shares."""
    return (
        f"SELECT %s, is_test, converted, count(*) FROM {BATCH} GROUP BY 2, 3",
        [campaign_id],
    )


def mark(cursor, state: str, reason: str, where: str, params: list | tuple = ()) -> None:
    """The running traces of the batch matching `where` end in `state` with `reason`."""
    cursor.execute(
        f"UPDATE {BATCH} SET outcome = %s, reason = %s WHERE outcome = '' AND ({where})",
        [state, reason[:500], *params],
    )


def outcomes(cursor) -> dict[int, tuple[str, str]]:
    """Trace id → (state, reason) for the whole batch (for the outbound webhooks)."""
    cursor.execute(f"SELECT id, outcome, reason FROM {BATCH}")
    return {
        pk: (outcome or Trace.State.PROCESSED.value, reason)
        for pk, outcome, reason in cursor.fetchall()
    }
