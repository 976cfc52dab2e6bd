"""Reading the roll-ups (automation/rollup_models.py): the sums behind the activity cards, the
15-day charts, the participant and trace reports and the link tracker, each a handful of rows
per activity, campaign or link whatever the number of traces; and `compact()`, which folds the
delta rows of each key into one (called from the clock tick).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.db.models import Q, Sum
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from .models import Activity, Trace
from .rollup_models import (
    SLOT_SECONDS,
    AssignmentRollup,
    ClickRollup,
    ConversionRollup,
    MessageRollup,
    ParticipantRollup,
    PressureRollup,
    TraceRollup,
)
from .rollup_sql import CONVERSION_LOCK, LOCK_MODULUS, PAUSE_SETTING, PAUSE_TABLE, add_rows
from .rollup_sql import rollups as rollup_specs

MESSAGE_COUNTERS = ("sent", "opened", "clicked", "replied", "bounced", "complained")


@contextmanager
def paused(cursor) -> Iterator[bool]:
    """The UPDATE triggers of the roll-ups do nothing inside this block, and the caller adds
    the counts its UPDATEs moved itself (`add_counts`) from the batch it holds: on SQLite a
    grouped statement in place of a trigger call per row, on PostgreSQL in place of the
    triggers' grouping of every old and new row. Yields True then.

    Only inside a transaction (else it yields False and the triggers count): an error rolls
    the counts back with the rows, and no other connection ever sees the pause (SQLite: a
    row of the pause table deleted before the commit; PostgreSQL: a SET LOCAL setting; see
    rollup_sql.py). Not nested: its end resumes counting."""
    if not connection.in_atomic_block:
        yield False  # outside a transaction the triggers count (a pause could be committed)
        return
    if connection.vendor == "postgresql":
        pause = f"SELECT set_config('{PAUSE_SETTING}', 'on', true)"
        resume = f"SELECT set_config('{PAUSE_SETTING}', 'off', true)"
    else:
        pause = f"INSERT INTO {PAUSE_TABLE} DEFAULT VALUES"
        resume = f"DELETE FROM {PAUSE_TABLE}"
    cursor.execute(pause)
    try:
        yield True
    except BaseException:
        # A failed statement may have aborted the transaction: its end ends the pause then.
        with suppress(DatabaseError, TransactionManagementError):
            cursor.execute(resume)
        raise
    cursor.execute(resume)


def add_counts(cursor, name: str, select: str, params: list | tuple = ()) -> None:
    """Add the rows of `select` (the key columns of roll-up `name` then its counters, signed)
    into that roll-up (a paused statement's counts)."""
    cursor.execute(add_rows(connection.vendor, name, select), params)


def hold_conversions(cursor, campaign_id: int, exclusive: bool = False) -> None:
    """PostgreSQL: hold the campaign's conversion lock until the transaction ends — exclusive
    to convert participants, shared to process traces (rollup_sql.py, `conversion`). Taken
    first, before any row is locked, so that the wait for it never closes a cycle with the
    row locks of the other side; the triggers take it again (at once then). SQLite: nothing
    (one writer at a time)."""
    if connection.vendor != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    cursor.execute(f"SELECT {function}({CONVERSION_LOCK}, %s)", [campaign_id % LOCK_MODULUS])


def _tests(include_tests: bool) -> Q:
    return Q() if include_tests else Q(is_test=False)


def trace_counts(activity_ids: list[int], include_tests: bool = False) -> dict[int, dict[str, int]]:
    """Activity id → {trace state: count} (states without traces left out)."""
    result: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        TraceRollup.objects.filter(_tests(include_tests), activity_id__in=activity_ids)
        .values("activity_id", "state")
        .annotate(total=Sum("n"))
    )
    for row in rows:
        if row["total"]:
            result[row["activity_id"]][row["state"]] = row["total"]
    return result


def pending_elsewhere(campaign_id: int, activity_id: int) -> bool:
    """Whether an activity of the campaign other than `activity_id` has a scheduled (due or
    waiting) or processing trace: a few roll-up rows, whatever the number of traces."""
    total = (
        TraceRollup.objects.filter(
            activity_id__in=Activity.objects.filter(campaign_id=campaign_id).values("pk"),
            state__in=[Trace.State.SCHEDULED, Trace.State.PROCESSING],
        )
        .exclude(activity_id=activity_id)
        .aggregate(total=Sum("n"))["total"]
    )
    return bool(total)


def engagement_counts(activity_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Activity id → (traces a person opened, traces a person clicked), test traces
    excluded."""
    rows = (
        TraceRollup.objects.filter(activity_id__in=activity_ids, is_test=False)
        .values("activity_id")
        .annotate(opened=Sum("human_opened"), clicked=Sum("human_clicked"))
    )
    return {row["activity_id"]: (row["opened"] or 0, row["clicked"] or 0) for row in rows}


def conversion_counts(activity_ids: list[int]) -> dict[int, int]:
    """Activity id → participants (test ones left out) who reached the goal after a processed
    trace of it."""
    rows = (
        ConversionRollup.objects.filter(activity_id__in=activity_ids)
        .values("activity_id")
        .annotate(total=Sum("n"))
    )
    return {row["activity_id"]: row["total"] for row in rows if row["total"]}


ASSIGNMENT_COUNTERS = ("n", "sends", "opened", "opens", "clicks", "clickers")


def assignment_counts(split_ids: list[int]) -> dict[int, dict[tuple[str, bool, str], dict]]:
    """Split id → {(branch, drawn at random, phase): {"n": participants, "sends", "opened",
    "opens", "clicks", "clickers": their sums}} (test participants left out); phase: "open"
    (not converted), "before" (converted before the split), "after"."""
    rows = (
        AssignmentRollup.objects.filter(split_id__in=split_ids, is_test=False)
        .values("split_id", "branch", "randomized", "phase")
        .annotate(**{name: Sum(name) for name in ASSIGNMENT_COUNTERS})
    )
    found: dict[int, dict[tuple[str, bool, str], dict]] = defaultdict(dict)
    for row in rows:
        if any(row[name] for name in ASSIGNMENT_COUNTERS):
            key = (row["branch"], bool(row["randomized"]), row["phase"])
            found[row["split_id"]][key] = {name: row[name] for name in ASSIGNMENT_COUNTERS}
    return found


def pressure_counts(activity_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Activity id → (deferrals, skips) by contact pressure, activities without any left out."""
    found: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    rows = (
        PressureRollup.objects.filter(activity_id__in=activity_ids)
        .values("activity_id", "kind")
        .annotate(total=Sum("n"))
    )
    for row in rows:
        if row["total"] and row["kind"] in ("deferred", "skipped"):
            found[row["activity_id"]][row["kind"] == "skipped"] += row["total"]
    return {pk: (deferred, skipped) for pk, (deferred, skipped) in found.items()}


def slot_of(moment: datetime) -> int:
    return int(moment.timestamp()) // SLOT_SECONDS


def daily_counts(
    activity_ids: list[int], first_day: date, include_tests: bool = False
) -> dict[tuple[int, date], dict[str, int]]:
    """(activity id, day) → {"processed": n, "rejected": n} for the traces executed on each
    day since `first_day`, days of the configured time zone."""
    zone = timezone.get_current_timezone()
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=zone)
    rows = (
        TraceRollup.objects.filter(
            _tests(include_tests),
            activity_id__in=activity_ids,
            slot__gte=slot_of(since),
            state__in=["processed", "rejected"],
        )
        .values("activity_id", "state", "slot")
        .annotate(total=Sum("n"))
    )
    result: dict[tuple[int, date], dict[str, int]] = defaultdict(
        lambda: {"processed": 0, "rejected": 0}
    )
    for row in rows:
        moment = datetime.fromtimestamp(row["slot"] * SLOT_SECONDS, UTC).astimezone(zone)
        result[(row["activity_id"], moment.date())][row["state"]] += row["total"]
    return result


def message_counts(activity_ids: list[int]) -> dict[int, dict[str, int]]:
    """Activity id → the message figures of its card (test messages excluded)."""
    rows = (
        MessageRollup.objects.filter(activity_id__in=activity_ids, is_test=False)
        .values("activity_id")
        .annotate(**{name: Sum(name) for name in MESSAGE_COUNTERS})
    )
    return {row.pop("activity_id"): row for row in rows}


def participant_counts(
    campaign_ids: list[int] | None = None, include_tests: bool = True
) -> dict[int, dict[tuple[str, bool, bool], int]]:
    """Campaign id → {(state, is_test, converted): count}; every campaign when no ids."""
    rows = ParticipantRollup.objects.filter(_tests(include_tests))
    if campaign_ids is not None:
        rows = rows.filter(campaign_id__in=campaign_ids)
    result: dict[int, dict[tuple[str, bool, bool], int]] = defaultdict(dict)
    for row in rows.values("campaign_id", "state", "is_test", "converted").annotate(total=Sum("n")):
        if row["total"]:
            key = (row["state"], bool(row["is_test"]), bool(row["converted"]))
            result[row["campaign_id"]][key] = row["total"]
    return result


def click_counts(
    link_ids: list[int] | None = None,
    campaign_id: int | None = None,
    include_tests: bool = False,
) -> dict[int, tuple[int, int]]:
    """Link id → (clicks, clicks by people), optionally only clicks on messages of one
    campaign; clicks on test messages only when asked."""
    rows = ClickRollup.objects.filter(_tests(include_tests))
    if link_ids is not None:
        rows = rows.filter(link_id__in=link_ids)
    if campaign_id is not None:
        rows = rows.filter(campaign_id=campaign_id)
    result: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows.values("link_id", "is_machine").annotate(total=Sum("n")):
        result[row["link_id"]][0] += row["total"]
        if not row["is_machine"]:
            result[row["link_id"]][1] += row["total"]
    return {pk: (total, human) for pk, (total, human) in result.items()}


COMPACT_SECONDS = 60.0
_last_compaction = [float("-inf")]


def compact_now_and_then() -> int:
    """`compact()` at most once every COMPACT_SECONDS in this process (the clock tick calls
    it; the readers sum the delta rows either way, so it only keeps them few)."""
    now = time.monotonic()
    if now - _last_compaction[0] < COMPACT_SECONDS:
        return 0
    _last_compaction[0] = now
    return compact()


def compact() -> int:
    """Fold every roll-up's rows into one per key, dropping keys that sum to zero (those of
    deleted activities, campaigns and links: their rows were deleted through the triggers
    too; messages outlive their activity, and so do their counts). Safe while the triggers
    append (PostgreSQL: the DELETE … RETURNING sees only rows committed before it; an
    advisory lock keeps two compactions apart). Returns the number of rows removed."""
    vendor = connection.vendor
    removed = 0
    with transaction.atomic(), connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext('drumbeat_rollup_compact'))")
            if not cursor.fetchone()[0]:
                return 0
        for spec in rollup_specs(vendor):
            keys = ", ".join(col for col, _ in spec.keys)
            counters = [col for col, _ in spec.counters]
            if vendor == "postgresql":
                cursor.execute(f"SELECT count(*) FROM {spec.target}")
                before = cursor.fetchone()[0]
                sums = ", ".join(f"sum({col})" for col in counters)
                nonzero = " OR ".join(f"sum({col}) <> 0" for col in counters)
                cursor.execute(
                    f"WITH moved AS (DELETE FROM {spec.target} RETURNING *)"
                    f" INSERT INTO {spec.target} ({keys}, {', '.join(counters)})"
                    f" SELECT {keys}, {sums} FROM moved GROUP BY {keys} HAVING {nonzero}"
                )
                removed += before - max(cursor.rowcount, 0)
            else:  # one row per key already (upserts): drop the empty ones
                zero = " AND ".join(f"{col} = 0" for col in counters)
                cursor.execute(f"DELETE FROM {spec.target} WHERE {zero}")
                removed += max(cursor.rowcount, 0)
    return removed


def local_days(now: datetime, count: int) -> list[date]:
    """The last `count` days of the configured time zone, oldest first, today last."""
    today = timezone.localtime(now).date()
    return [today - timedelta(days=n) for n in range(count - 1, -1, -1)]
