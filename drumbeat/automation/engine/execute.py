"""Executing due traces, one batch of one activity at a time (docs/product.md#executing-a-step).

A batch is claimed atomically (PostgreSQL: UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
LOCKED) RETURNING; SQLite: the same statement inside one IMMEDIATE transaction) with a lease.
Then, in a constant number of statements whatever the batch size: expiry, the applied filter
as one query over the batch's record ids, the action (bulk where it allows), results grouped
by outcome, child traces with one INSERT … SELECT per child activity, completed participants
in one UPDATE.

Exactly once: database-only server actions commit together with their traces' results; a send
or a webhook first records `started_at` (committed), so a crash afterwards surfaces as Error
"interrupted" and is never redone (see `recover_leases`).

Leases (leases.py): each claim carries a random claim id and a lease its worker renews while the
batch works, so `recover_leases` takes over a batch only when its worker is gone. A worker checks
its lease before each send and writes its results only for the rows it still holds.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef, Q, Subquery, Value
from django.db.models.expressions import RawSQL

from drumbeat.lib import clock

from ..domains import combine_domains, filter_records
from ..models import EVENT_TRIGGERS, Activity, Campaign, Participant, SplitAssignment, Trace
from ..outbound import emit_completed, emit_trace_outcomes, subscribed_events
from ..rollup_sql import add_rows
from ..rollups import add_counts, hold_conversions, paused, pending_elsewhere
from ..targets import FILTERABLE, get_target
from . import pressure, resume, setbatch
from .leases import Lease, lease_length, new_claim_id
from .sql import db_datetime, id_set, in_picked, insert_select, update_from_rows

log = logging.getLogger(__name__)

# Webhooks wait on remote servers (up to timeout x attempts each): smaller batches bound the
# work one crash can leave "interrupted".
EFFECTFUL_BATCH = 50
MESSAGE_BATCH = 500
# Not more: PostgreSQL plans an id array parameter as ten rows, and much bigger arrays get
# nested loops where a hash join would do.
LOCKED_BATCH_FACTOR = 5
REASON_EXPIRED = "expired"
REASON_REJECTED = "rejected by filter or record removed"
REASON_INTERRUPTED = "interrupted"

S = Trace.State


class Claimed(NamedTuple):
    id: int
    participant_id: int
    record_id: int
    scheduled_at: datetime | None
    is_test: bool


def batch_size() -> int:
    return max(1, int(getattr(settings, "BATCH_SIZE", 1000) or 1000))


def _claim(
    where: str, params: list, limit: int, now: datetime, set_state: bool, activity_id: int = 0
) -> Lease:
    """Atomically take up to `limit` traces matching `where` under a new claim id and lease:
    one UPDATE … RETURNING (with `activity_id`, due traces of that activity: on PostgreSQL
    from where its previous claim stopped, resume.py, and a second one tops the batch up when
    that leaves it short)."""
    table = Trace._meta.db_table
    participants = Participant._meta.db_table
    materialized, locked = "", ""
    if connection.vendor == "postgresql":
        locked = " FOR UPDATE SKIP LOCKED"
        materialized = "MATERIALIZED "  # run once: see execute_locked_batch
    assign = "state = 'processing', " if set_state else ""
    claim_id, length = new_claim_id(), lease_length()
    # Committed at once, the claim is seen by other workers: it needs its heartbeat.
    watched = not connection.in_atomic_block
    started = time.monotonic()
    # From the current time: `now` is the pass's, which may have begun minutes ago.
    expires_at = max(now, clock.now()) + length
    ids: list[int] = []

    def take(condition: str, extra: list, n: int) -> tuple[int, resume.Point | None]:
        inner = (
            f"SELECT t.id, t.scheduled_at FROM {table} t WHERE {where} AND ({condition})"
            f" AND EXISTS (SELECT 1 FROM {participants} p WHERE p.id = t.participant_id"
            f" AND p.state = 'running') ORDER BY t.scheduled_at, t.id LIMIT %s{locked}"
        )
        cursor.execute(
            f"WITH picked AS {materialized}({inner}) UPDATE {table} SET {assign}"
            f"claim_expires_at = %s, claim_id = %s WHERE {in_picked()}"
            " RETURNING id, scheduled_at",
            [*params, *extra, n, db_datetime(expires_at), claim_id],
        )
        taken = cursor.fetchall()
        ids.extend(row[0] for row in taken)
        last = max(((at, pk) for pk, at in taken if at is not None), default=None)
        return len(taken), last

    with transaction.atomic(), connection.cursor() as cursor:
        if activity_id:
            resume.claim_in_order(activity_id, limit, take)
        else:
            take("TRUE", [], limit)
    return Lease(ids, claim_id, started, length, watched)


def claim_due(activity: Activity, now: datetime, limit: int) -> Lease:
    return _claim(
        "t.activity_id = %s AND t.state = 'scheduled' AND t.scheduled_at <= %s",
        [activity.pk, db_datetime(now)],
        limit,
        now,
        set_state=True,
        activity_id=activity.pk,
    )


def claim_ids(trace_ids: Iterable[int], now: datetime) -> Lease:
    ids = [int(i) for i in trace_ids]
    if not ids:
        return Lease.unclaimed()
    marks = ", ".join(["%s"] * len(ids))
    return _claim(f"t.id IN ({marks}) AND t.state = 'scheduled'", ids, len(ids), now, True)


def load_claimed(ids: list[int], with_dates: bool = True) -> list[Claimed]:
    """The claimed traces; `with_dates=False` skips scheduled_at (only expiry needs it, and
    converting thousands of datetimes costs more than the query)."""
    rows = Trace.objects.filter(id__in=id_set(ids))
    if with_dates:
        return [
            Claimed(*row)
            for row in rows.values_list(
                "id", "participant_id", "participant__record_id", "scheduled_at", "is_test"
            )
        ]
    return [
        Claimed(pk, participant, record, None, is_test)
        for pk, participant, record, is_test in rows.values_list(
            "id", "participant_id", "participant__record_id", "is_test"
        )
    ]


def execute_one_batch(
    activity: Activity, now: datetime | None = None, limit: int | None = None
) -> bool:
    """Claim and execute one batch of due traces of `activity`.

    Returns True when more traces may be due (the batch was full).
    """
    limit = effective_limit(activity, limit)
    return execute_batch(activity, now, limit) >= limit


def effective_limit(activity: Activity, limit: int | None = None) -> int:
    """The batch size for `activity`: webhooks at most EFFECTFUL_BATCH; messages by default at
    most MESSAGE_BATCH (a message costs milliseconds of rendering and sending, so the batch's
    fixed statements stay negligible while several workers share an activity evenly);
    database-only actions LOCKED_BATCH_FACTOR x the batch size (a trace costs microseconds
    there, so the per-batch statements and the commit are what a bigger batch saves)."""
    if limit is None and activity.sends_message:
        limit = min(batch_size(), MESSAGE_BATCH)
    if limit is None and is_database_only(activity):
        limit = batch_size() * LOCKED_BATCH_FACTOR
    limit = limit or batch_size()
    if _effectful(activity):
        limit = min(limit, EFFECTFUL_BATCH)
    return limit


def _effectful(activity: Activity) -> bool:
    from ..actions import is_effectful

    action = activity.server_action if activity.kind == Activity.Kind.ACTION else None
    return action is not None and is_effectful(action)


def is_database_only(activity: Activity) -> bool:
    """A server action with no effect outside the database, or a split: its batch runs in one
    transaction."""
    if activity.is_split:
        return True
    if activity.kind != Activity.Kind.ACTION or activity.server_action is None:
        return False
    return not _effectful(activity)


def execute_batch(activity: Activity, now: datetime | None = None, limit: int | None = None) -> int:
    """Claim and execute one batch of due traces of `activity`; returns how many were claimed."""
    now = now or clock.now()
    if is_set_based(activity):
        return execute_set_batch(activity, now, effective_limit(activity, limit))
    if is_database_only(activity):
        return execute_locked_batch(activity, now, effective_limit(activity, limit))
    lease = claim_due(activity, now, effective_limit(activity, limit))
    if lease.trace_ids:
        with lease:  # its heartbeat renews the lease while the batch works
            claimed = load_claimed(lease.trace_ids, with_dates=activity.expiry is not None)
            execute_claimed(activity, claimed, now, lease=lease)
    return len(lease.trace_ids)


def is_set_based(activity: Activity) -> bool:
    """A server action whose effect is the same for every record: its batch is SQL over the
    batch table (setbatch.py), no trace goes through Python."""
    from ..actions import is_set_based as action_is_set_based

    action = activity.server_action if activity.kind == Activity.Kind.ACTION else None
    return action is not None and action_is_set_based(action)


def execute_set_batch(activity: Activity, now: datetime, limit: int) -> int:
    """A set-based action's batch in ONE transaction, in a constant number of statements and
    no Python per trace (setbatch.py has the steps); returns how many traces it took."""
    from ..actions import run_set_based, set_based_failures

    campaign = activity.campaign
    with transaction.atomic(), connection.cursor() as cursor:
        if campaign.has_goal:  # a conversion in progress: wait (rollups.hold_conversions)
            hold_conversions(cursor, campaign.pk)
        setbatch.prepare(cursor)
        with paused(cursor) as counting:  # setbatch.count adds what the batch moves
            taken = setbatch.claim(cursor, activity, now, limit)
            if not taken:
                return 0
            if activity.expiry is not None:
                since = db_datetime(now - activity.expiry)
                setbatch.mark(cursor, S.CANCELLED, REASON_EXPIRED, "scheduled_at < %s", [since])
            matching = filter_records(
                get_target(campaign.target),
                applied_domain(activity, campaign),
                campaign.include_archived,
                now,
            ).filter(pk__in=setbatch.rows("outcome = ''", "record_id"))
            sql, params = matching.order_by().values("pk").query.sql_with_params()
            setbatch.mark(cursor, S.REJECTED, REASON_REJECTED, f"record_id NOT IN ({sql})", params)
            action = activity.server_action
            try:
                with transaction.atomic():  # a failing action must not spoil the batch
                    live = setbatch.rows("outcome = ''", "record_id")
                    for message, failing in set_based_failures(action, live):
                        setbatch.mark(
                            cursor,
                            S.ERROR,
                            message,
                            f"record_id IN ({failing.sql})",
                            failing.params,
                        )
                    run_set_based(action, live, now)  # the records still without an outcome
            except Exception as exc:
                log.warning("server action %s failed: %s", action.pk, exc)
                message = str(exc)[:400] or type(exc).__name__
                setbatch.mark(cursor, S.ERROR, message, "TRUE")
            setbatch.write_traces(cursor, now)
        if counting:
            setbatch.count(cursor, activity, now)
        if subscribed_events():  # somebody may listen: the outcomes as the general path has them
            emit_trace_outcomes(activity, setbatch.outcomes(cursor), now)
        # Reached: processed, or failed in the action (they get children, as in the general
        # path); a reached trace with children leaves its participant running.
        reached = setbatch.rows("outcome IN ('', 'error')")
        with_children = create_children(activity, reached, now) > 0
        if with_children:
            pressure.align_children(activity, reached, now)
        candidates = setbatch.rows(
            "outcome NOT IN ('', 'error')" if with_children else "TRUE", "participant_id"
        )
        # Without children every trace of the batch is finished; a participant has one trace
        # per activity, so with nothing pending in the campaign's other activities none of
        # them has a trace left to wait for.
        alone = not with_children and not pending_elsewhere(activity.campaign_id, activity.pk)
        counted = setbatch.completed_counts(activity.campaign_id) if alone else None
        complete_participants(candidates, now, alone=alone, counted=counted)
    return taken


def execute_locked_batch(activity: Activity, now: datetime, limit: int) -> int:
    """A database-only action's batch in ONE transaction.

    One `UPDATE … RETURNING` takes the due rows and writes the usual outcome, processed, at
    once (PostgreSQL: the rows are picked with `FOR UPDATE OF t SKIP LOCKED`, so concurrent
    runners take other rows; SQLite: the IMMEDIATE transaction already excludes other
    writers); then the filter, the action, the exceptions to that outcome (rejected, expired,
    failed: usually none), children and completed participants, and one COMMIT. No
    `processing` state and no lease: a crash rolls the whole batch back. (PostgreSQL: the
    claim starts where the previous batch stopped, resume.py; a second statement tops the
    batch up when that leaves it short.)
    """
    table = Trace._meta.db_table
    participants = Participant._meta.db_table
    assign = "SET state = %s, reason = '', executed_at = %s, claim_expires_at = NULL"
    rows: list[tuple] = []

    def take(condition: str, extra: list, n: int) -> tuple[int, resume.Point | None]:
        inner = setbatch.due_traces(condition)
        if connection.vendor == "postgresql":
            # MATERIALIZED: the LIMIT … SKIP LOCKED subquery is evaluated exactly once
            # (inlined, the planner may re-run it and take more than `limit` rows). The rows
            # come from the join that picked them; the UPDATE of the picked (locked) rows
            # always succeeds. The last one carries its due date, for the next claim's start.
            sql = (
                f"WITH picked AS MATERIALIZED ({inner} FOR UPDATE OF t SKIP LOCKED),"
                f" written AS (UPDATE {table} {assign} WHERE {in_picked()}),"
                f" latest AS ({resume.LAST_OF.format(cte='picked')})"
                f" SELECT p.id, p.participant_id, p.record_id, p.is_test, latest.scheduled_at"
                f" FROM picked p LEFT JOIN latest ON latest.id = p.id"
            )
        else:  # SQLite's RETURNING may not name the tables of UPDATE … FROM
            sql = (
                f"WITH picked AS ({inner}) UPDATE {table} {assign}"
                f" WHERE id IN (SELECT id FROM picked) RETURNING id, participant_id,"
                f" (SELECT p.record_id FROM {participants} p WHERE p.id = participant_id),"
                f" is_test, NULL"
            )
        params = [activity.pk, db_datetime(now), *extra, n, S.PROCESSED.value, db_datetime(now)]
        cursor.execute(sql, params)
        taken = cursor.fetchall()
        rows.extend(row[:4] for row in taken)
        return len(taken), next(((row[4], row[0]) for row in taken if row[4] is not None), None)

    with transaction.atomic():
        with connection.cursor() as cursor:
            if activity.campaign.has_goal:  # a conversion in progress: wait
                hold_conversions(cursor, activity.campaign_id)
            resume.claim_in_order(activity.pk, limit, take)
        if not rows:
            return 0
        dates: dict[int, datetime | None] = {}
        if activity.expiry is not None:
            ids = id_set(row[0] for row in rows)
            dates = dict(Trace.objects.filter(id__in=ids).values_list("id", "scheduled_at"))
        claimed = [
            Claimed(pk, participant, record, dates.get(pk), bool(test))
            for pk, participant, record, test in rows
        ]
        execute_claimed(activity, claimed, now, from_state=S.PROCESSED)
    return len(rows)


def execute_traces(trace_ids: Iterable[int], now: datetime | None = None) -> int:
    """Run the given scheduled traces now, whatever their date or campaign state (manual run)."""
    now = now or clock.now()
    by_activity: dict[int, list[int]] = defaultdict(list)
    scheduled = Trace.objects.filter(id__in=[int(i) for i in trace_ids], state=S.SCHEDULED)
    for pk, activity_id in scheduled.values_list("id", "activity_id"):
        by_activity[activity_id].append(pk)
    activities = Activity.objects.select_related("campaign").in_bulk(list(by_activity))
    done = 0
    for activity_id, ids in by_activity.items():  # one claim (and lease) per activity
        lease = claim_ids(ids, now)
        if lease.trace_ids:
            with lease:
                batch = load_claimed(lease.trace_ids)
                execute_claimed(activities[activity_id], batch, now, lease=lease)
        done += len(lease.trace_ids)
    return done


def applied_domain(activity: Activity, campaign: Campaign | None = None) -> list:
    """Campaign filter AND the filters of `activity` and its ancestors
    (docs/product.md#workflows-and-activities)."""
    campaign = campaign or activity.campaign
    rows = {
        a["id"]: a
        for a in Activity.objects.filter(campaign_id=campaign.pk).values(
            "id", "parent_id", "domain"
        )
    }
    domains = []
    current: int | None = activity.pk
    seen = set()
    while current is not None and current in rows and current not in seen:
        seen.add(current)
        domains.append(rows[current]["domain"])
        current = rows[current]["parent_id"]
    return combine_domains(campaign.domain, *reversed(domains))


def execute_claimed(
    activity: Activity,
    claimed: list[Claimed],
    now: datetime,
    from_state: str = S.PROCESSING,
    lease: Lease | None = None,
) -> None:
    """Steps 2–7 of docs/product.md#executing-a-step for a claimed batch of one activity
    (`from_state`: the state the claimed traces are in, `processing`, or `processed` in a locked
    batch; `lease`: the claim's, none for a locked batch)."""
    campaign = activity.campaign
    target = get_target(campaign.target)
    outcomes: dict[int, tuple[str, str]] = {}
    live: list[Claimed] = []
    expiry = activity.expiry
    for c in claimed:
        if expiry and c.scheduled_at is not None and c.scheduled_at + expiry < now:
            outcomes[c.id] = (S.CANCELLED, REASON_EXPIRED)
        else:
            live.append(c)
    if live:
        matching = set(
            filter_records(
                target, applied_domain(activity, campaign), campaign.include_archived, now
            )
            .filter(pk__in=id_set(c.record_id for c in live))
            .values_list("pk", flat=True)
        )
        for c in live:
            if c.record_id not in matching:
                outcomes[c.id] = (S.REJECTED, REASON_REJECTED)
        live = [c for c in live if c.record_id in matching]

    participant_of = {c.id: c.participant_id for c in claimed}
    lease = lease or Lease.unclaimed()
    if activity.kind == Activity.Kind.ACTION:
        _run_server_action(activity, live, outcomes, now, participant_of, from_state, lease)
    elif activity.is_split:
        _run_split(activity, live, outcomes, now, participant_of, from_state)
    else:
        _send_messages(activity, live, outcomes, now, participant_of, lease)


def _run_split(
    activity: Activity,
    live: list[Claimed],
    outcomes: dict[int, tuple[str, str]],
    now: datetime,
    participant_of: dict[int, int],
    from_state: str,
) -> None:
    """A split assigns each participant a branch (kept once made); `create_children` then
    gives each participant the children of its branch only."""
    from ..splits import assign_branches

    with transaction.atomic():
        assign_branches(activity, [c.participant_id for c in live], now)
        for c in live:
            outcomes[c.id] = (S.PROCESSED, "")
        finish_traces(
            activity, outcomes, [c.id for c in live], now, None, participant_of, from_state
        )


def _run_server_action(
    activity: Activity,
    live: list[Claimed],
    outcomes: dict[int, tuple[str, str]],
    now: datetime,
    participant_of: dict[int, int],
    from_state: str = S.PROCESSING,
    lease: Lease | None = None,
) -> None:
    from ..actions import is_effectful, run_action

    lease = lease or Lease.unclaimed()
    action = activity.server_action
    reached = [c.id for c in live]
    if action is None:
        for c in live:
            outcomes[c.id] = (S.ERROR, "no server action configured")
        with lease.holding([*outcomes, *reached]):
            if not lease.lost:
                finish_traces(activity, outcomes, reached, now, None, participant_of, from_state)
        return
    effectful = is_effectful(action)
    record_ids = [c.record_id for c in live]
    results: dict[int, tuple[str | None, str]] = {}
    if effectful and live:
        # Recorded (committed) before the side effect: a crash now is never re-run. The
        # action then runs outside any transaction: a webhook waiting on a slow receiver
        # must not hold the database (on SQLite, its only write lock) meanwhile.
        with lease.holding(reached) as held:
            Trace.objects.filter(id__in=id_set(held)).update(started_at=now)
        if lease.lost:
            return
        results = run_action(action, record_ids, now, lease)
    with lease.holding([*outcomes, *reached]):
        if lease.lost:
            return  # another worker recovered the batch: its results are not ours to write
        if live and not effectful:
            results = run_action(action, record_ids, now)
        for c in live:
            error, note = results.get(c.record_id, (None, ""))
            outcomes[c.id] = (S.ERROR, error) if error else (S.PROCESSED, note)
        finish_traces(activity, outcomes, reached, now, None, participant_of, from_state)


def _send_messages(
    activity: Activity,
    live: list[Claimed],
    outcomes: dict[int, tuple[str, str]],
    now: datetime,
    participant_of: dict[int, int],
    lease: Lease,
) -> None:
    from drumbeat.mailing import sending

    campaign = activity.campaign
    target = get_target(campaign.target)
    template = activity.template
    retry: dict[int, datetime] = {}
    reached: list[int] = []
    if live and template is None:
        for c in live:
            outcomes[c.id] = (S.ERROR, "no template configured")
        reached = [c.id for c in live]
        live = []
    if live:
        is_sms = activity.kind == Activity.Kind.SMS
        field = target.phone_field if is_sms else target.email_field
        records = {  # one query (in_bulk would split it in chunks of 999 on SQLite)
            r.pk: r
            for r in target.model._default_manager.filter(pk__in=id_set(c.record_id for c in live))
        }
        # One transaction for the rows still held: deferrals and slots (contact pressure),
        # then the sends' start on the traces that go on.
        with lease.holding(c.id for c in live):
            if not lease.lost:
                live = pressure.screen(activity, live, records, field, now, outcomes)
                Trace.objects.filter(id__in=id_set(c.id for c in live)).update(started_at=now)
        if lease.lost:
            return
        recipients = [
            sending.Recipient(
                trace_id=c.id,
                record=records[c.record_id],
                address=str(getattr(records[c.record_id], field or "", "") or ""),
                is_test=c.is_test,
            )
            for c in live
            if c.record_id in records
        ]
        send = sending.send_sms if is_sms else sending.send_emails
        named = {} if is_sms else {"campaign_name": campaign.name}  # the List-Id's phrase
        try:
            results = send(
                template,
                recipients,
                campaign_id=campaign.pk,
                activity_id=activity.pk,
                render_fields=FILTERABLE,
                **named,
                guard=lease,
            )
        except Exception as exc:  # the transport failed mid-batch: ask what was really sent
            log.exception("sending failed for activity %s", activity.pk)
            with lease.holding(c.id for c in live) as held:
                results = sending.recover_interrupted(held) if not lease.lost else {}
            for c in live:
                results.setdefault(c.id, sending.SendResult(status="error", reason=str(exc)[:400]))
        if lease.lost:
            return  # stopped before its next send: another worker settles the batch
        for c in live:
            result = results.get(c.id)
            if result is None:
                outcomes[c.id] = (S.ERROR, "no result from sending")
            elif result.status == "sent":
                outcomes[c.id] = (S.PROCESSED, "")
            elif result.status == "cancelled":
                outcomes[c.id] = (S.CANCELLED, result.reason)
            elif result.status == "retry":
                retry[c.id] = result.retry_at or now + timedelta(minutes=5)
                continue
            else:
                outcomes[c.id] = (S.ERROR, result.reason or "error")
            reached.append(c.id)
    with lease.holding([*outcomes, *retry]):
        if not lease.lost:
            pressure.release_unsent(outcomes, retry)
            finish_traces(activity, outcomes, reached, now, retry, participant_of)


def finish_traces(
    activity: Activity,
    outcomes: dict[int, tuple[str, str]],
    reached: list[int],
    now: datetime,
    retry: dict[int, datetime] | None = None,
    participant_of: dict[int, int] | None = None,
    from_state: str = S.PROCESSING,
) -> None:
    """Write a batch's results: grouped UPDATEs, children of `reached`, completed participants.

    `participant_of` (trace id → participant id, known to the executor) limits the completion
    check to the batch's participants that can complete: not those whose trace just got a
    child (a new scheduled trace) nor those rescheduled for a retry.
    """
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for trace_id, (state, reason) in outcomes.items():
        groups[(str(state), (reason or "")[:500])].append(trace_id)
    # A reached trace of a message step takes its message in the same UPDATE as its outcome
    # (one write of the row, not two).
    with_message = set(reached) if reached and activity.sends_message else set()
    groups.pop((from_state, ""), None)  # written when the batch was taken (locked: processed)
    if groups:
        _write_outcomes(groups, with_message, now, from_state)
    emit_trace_outcomes(activity, outcomes, now)  # outbound webhooks
    retry_groups: dict[datetime, list[int]] = defaultdict(list)
    for trace_id, at in (retry or {}).items():
        retry_groups[at].append(trace_id)
    for at, ids in retry_groups.items():
        Trace.objects.filter(id__in=ids).update(
            state=S.SCHEDULED, scheduled_at=at, claim_expires_at=None, started_at=None
        )
    if with_message:  # reached, yet without an outcome written above
        Trace.objects.filter(id__in=id_set(with_message)).update(message=_message_of_trace())
    with_children = False
    if reached:
        with_children = create_children(activity, reached, now) > 0
        if with_children:
            pressure.align_children(activity, reached, now)
        if activity.sends_message:
            from .events import replay_early_events

            replay_early_events(reached)
    if participant_of is None:
        complete_participants(
            Trace.objects.filter(id__in=id_set([*outcomes, *(retry or {})])).values(
                "participant_id"
            ),
            now,
        )
        return
    # A reached trace with children leaves its participant running (each child activity got
    # a trace for every reached parent; not under a split, whose holdout gets no child); a
    # retried trace is scheduled again.
    busy = set(reached) if with_children and not activity.is_split else set()
    candidates = {participant_of[t] for t in outcomes if t not in busy and t in participant_of}
    if candidates:
        complete_participants(sorted(candidates), now)


def _write_outcomes(
    groups: dict[tuple[str, str], list[int]],
    with_message: set[int],
    now: datetime,
    from_state: str,
) -> None:
    """The outcomes of `groups`, every trace its own state and reason, in ONE UPDATE whatever
    the number of distinct reasons ("created Lead #12" differs for every trace); a trace in
    `with_message` takes its message in it too (and leaves that set)."""
    from drumbeat.mailing.models import Message

    rows = [
        (trace_id, state, reason, trace_id in with_message)
        for (state, reason), ids in groups.items()
        for trace_id in ids
    ]
    table = connection.ops.quote_name(Trace._meta.db_table)
    message = connection.ops.quote_name(Message._meta.db_table)
    update_from_rows(
        table,
        [("id", "bigint"), ("state", "varchar(12)"), ("reason", "varchar(500)"), ("sent", "bool")],
        rows,
        "state = v.state, reason = v.reason, executed_at = %s, claim_expires_at = NULL,"
        f" message_id = CASE WHEN v.sent THEN (SELECT m.id FROM {message} m"
        f" WHERE m.trace_id = {table}.id LIMIT 1) ELSE {table}.message_id END",
        [db_datetime(now)],
        f"{table}.state = %s",
        [from_state],
    )
    with_message.difference_update(row[0] for row in rows if row[3])


def _message_of_trace() -> Subquery:
    from drumbeat.mailing.models import Message

    return Subquery(Message.objects.filter(trace_id=OuterRef("pk")).values("pk")[:1])


# The columns of a new trace, in the order of `scheduled_rows`.
TRACE_COLUMNS = [
    "participant",
    "activity",
    "parent",
    "state",
    "scheduled_at",
    "window_ends_at",
    "reason",
    "is_test",
    "created_at",
]


def scheduled_rows(
    source: models.QuerySet,
    activity_id: int,
    at: models.Expression,
    window: models.Expression,
    now: datetime,
    participant: str = "participant_id",
    parent: str | models.Expression = "pk",
) -> models.QuerySet:
    """New scheduled traces of `activity_id`, one per row of `source` (parent traces, or
    participants for a first step): a values_list in TRACE_COLUMNS order for `insert_select`
    or a COUNT. `at` and `window` are the due date and the end of the waiting window."""
    parent_column = "pk" if parent == "pk" else "_parent"
    if parent != "pk":
        source = source.annotate(_parent=parent)
    return (
        source.annotate(
            _activity=Value(activity_id),
            _state=Value(S.SCHEDULED.value),
            _at=at,
            _window=window,
            _reason=Value(""),
            _created=Value(now, output_field=models.DateTimeField()),
        )
        .order_by("pk")
        .values_list(
            participant,
            "_activity",
            parent_column,
            "_state",
            "_at",
            "_window",
            "_reason",
            "is_test",
            "_created",
        )
    )


def create_children(activity: Activity, parent_ids: list[int] | RawSQL, now: datetime) -> int:
    """One child trace per child activity for each parent trace: one INSERT … SELECT each.

    Dated triggers are due at now + delay; event triggers wait undated until their event or
    the end of their window (expiry, else the campaign's event window). Under a split, a child
    is created only for the participants assigned to its branch.
    """
    created = 0
    campaign = activity.campaign
    for child in activity.children.all():
        if child.trigger in EVENT_TRIGGERS:
            scheduled_at = None
            window = child.expiry or timedelta(days=campaign.event_window_days)
            window_ends_at: datetime | None = now + window
        else:
            scheduled_at = now + child.delay
            window_ends_at = None
        parents = Trace.objects.filter(id__in=id_set(parent_ids))
        if activity.is_split:
            on_branch = SplitAssignment.objects.filter(
                participant_id=OuterRef("participant_id"), split_id=activity.pk, branch=child.branch
            )
            parents = parents.filter(Exists(on_branch))
        rows = scheduled_rows(
            parents,
            child.pk,
            at=Value(scheduled_at, output_field=models.DateTimeField()),
            window=Value(window_ends_at, output_field=models.DateTimeField()),
            now=now,
        )
        created += insert_select(Trace, TRACE_COLUMNS, rows)
    return created


def complete_participants(
    participant_ids: models.QuerySet | list[int] | RawSQL,
    now: datetime,
    alone: bool = False,
    counted: tuple[str, list] | None = None,
) -> int:
    """Running participants among `participant_ids` with no scheduled trace left: Completed.

    One UPDATE. `alone`: the caller knows these participants have no scheduled or processing
    trace left (`pending_elsewhere`), so it needs no check per participant. Inside a
    transaction its roll-up counts are added from the rows it changed, the per-row (SQLite)
    or per-statement (PostgreSQL) triggers paused (rollups.paused): on PostgreSQL by the same
    statement, on SQLite by a grouped SELECT of them first, or `counted` (SQL and parameters
    of the same grouping) when the caller holds the rows it will change."""
    ready = Participant.objects.filter(
        id__in=(id_set(participant_ids) if isinstance(participant_ids, list) else participant_ids),
        state=Participant.State.RUNNING,
    )
    if not alone:
        pending = Trace.objects.filter(
            participant=OuterRef("pk"), state__in=[S.SCHEDULED, S.PROCESSING]
        )
        ready = ready.filter(~Exists(pending))
    where, params = ready.query.get_compiler(connection=connection).compile(ready.query.where)
    table = connection.ops.quote_name(Participant._meta.db_table)
    sql = f"UPDATE {table} SET state = %s, completed_at = %s WHERE {where}"
    values = [Participant.State.COMPLETED.value, db_datetime(now), *params]
    moved: Counter = Counter()
    with connection.cursor() as cursor, paused(cursor) as counting:
        if counting and connection.vendor == "postgresql":
            # running -1 and completed +1 per (campaign, test flag, goal reached), grouped
            # over the rows the UPDATE returns, in the same statement.
            grouped = (
                "SELECT campaign_id, s.state, is_test, converted, s.sign * count(*) FROM done"
                " CROSS JOIN (VALUES (%s, -1), (%s, 1)) s(state, sign)"
                " GROUP BY campaign_id, s.state, is_test, converted, s.sign"
            )
            states = [Participant.State.RUNNING.value, Participant.State.COMPLETED.value]
            cursor.execute(
                f"WITH done AS ({sql} RETURNING campaign_id, is_test,"
                f" converted_at IS NOT NULL AS converted)"
                f" {add_rows(connection.vendor, 'participant', grouped)} RETURNING n",
                [*values, *states],
            )
            done = sum(n for (n,) in cursor.fetchall() if n > 0)
        elif counting:
            # SQLite: the rows the UPDATE will change, counted by a grouped SELECT of the same
            # condition first (this transaction is the only writer), not returned one by one
            # to Python (that transfer cost as much as the UPDATE). (A CASE, not the IS NOT
            # NULL SQLite 3.40 got wrong in a RETURNING next to a correlated NOT EXISTS.)
            counts, counts_params = counted or (
                f"SELECT campaign_id, is_test, CASE WHEN converted_at IS NULL THEN 0 ELSE 1 END,"
                f" count(*) FROM {table} WHERE {where} GROUP BY 1, 2, 3",
                params,
            )
            cursor.execute(counts, counts_params)
            moved = Counter({(c, bool(t), bool(v)): n for c, t, v, n in cursor.fetchall()})
            cursor.execute(sql, values)
            done = cursor.rowcount
        else:
            cursor.execute(sql, values)
            done = cursor.rowcount
    if moved:
        counts = [
            (campaign, state, is_test, converted, sign * n)
            for (campaign, is_test, converted), n in moved.items()
            for state, sign in (
                (Participant.State.RUNNING.value, -1),
                (Participant.State.COMPLETED.value, 1),
            )
        ]
        select = " UNION ALL ".join(["SELECT %s, %s, %s, %s, %s"] * len(counts))
        with connection.cursor() as cursor:
            add_counts(cursor, "participant", select, [v for row in counts for v in row])
    if done:
        emit_completed(participant_ids, now)  # outbound webhooks
    return done


# --- waiting children and leases -------------------------------------------------------------

WINDOW_REASONS = {
    "no open within the window": [Activity.Trigger.MAIL_OPEN],
    "no click within the window": [Activity.Trigger.MAIL_CLICK, Activity.Trigger.SMS_CLICK],
    "no reply within the window": [Activity.Trigger.MAIL_REPLY],
    "no bounce within the window": [Activity.Trigger.MAIL_BOUNCE, Activity.Trigger.SMS_BOUNCE],
}


def expire_waiting(now: datetime | None = None) -> int:
    """Cancel undated event children whose window ended (running campaigns and tests)."""
    now = now or clock.now()
    total = 0
    live = Q(participant__campaign__state=Campaign.State.RUNNING) | Q(is_test=True)
    for reason, triggers in WINDOW_REASONS.items():
        while True:
            rows = list(
                Trace.objects.filter(
                    live,
                    state=S.SCHEDULED,
                    scheduled_at__isnull=True,
                    window_ends_at__lte=now,
                    activity__trigger__in=triggers,
                ).values_list("id", "participant_id")[: batch_size()]
            )
            if not rows:
                break
            with transaction.atomic():
                Trace.objects.filter(id__in=[r[0] for r in rows], state=S.SCHEDULED).update(
                    state=S.CANCELLED, reason=reason, executed_at=now
                )
                complete_participants(list({r[1] for r in rows}), now)
            total += len(rows)
    return total


def recover_leases(now: datetime | None = None) -> int:
    """Settle traces whose lease ran out: their worker was killed, froze or lost the database
    (a live worker renews its lease, leases.py). Runs on every pass and beat tick.

    A sent message finishes its trace; a message the send journal shows accepted is sent,
    one it shows never handed to the transport is sent again; a send or webhook that may have
    started becomes Error "interrupted" (never re-sent); work that never started is scheduled
    again. The traces are taken under a claim of their own first, so the old worker, should
    it come back, finds them no longer held and writes nothing.
    """
    now = now or clock.now()
    total = 0
    activity_ids = set(
        Trace.objects.filter(state=S.PROCESSING, claim_expires_at__lt=now)
        .values_list("activity_id", flat=True)
        .distinct()
    )
    for activity in Activity.objects.filter(pk__in=activity_ids).select_related("campaign"):
        while True:
            lease = _claim(
                "t.activity_id = %s AND t.state = 'processing' AND t.claim_expires_at < %s",
                [activity.pk, db_datetime(now)],
                batch_size(),
                now,
                set_state=False,
            )
            if not lease.trace_ids:
                break
            total += len(lease.trace_ids)
            _recover(activity, lease, now)
    return total


def _recover(activity: Activity, lease: Lease, now: datetime) -> None:
    rows = dict(Trace.objects.filter(id__in=lease.trace_ids).values_list("id", "started_at"))
    outcomes: dict[int, tuple[str, str]] = {}
    again: list[int] = []
    retry: dict[int, datetime] = {}
    if not activity.sends_message:
        for trace_id, started_at in rows.items():
            if started_at is not None:
                outcomes[trace_id] = (S.ERROR, REASON_INTERRUPTED)
            else:
                again.append(trace_id)
    else:
        from drumbeat.mailing import sending

        with lease.holding(rows) as held:
            results = sending.recover_interrupted(held) if not lease.lost else {}
        if lease.lost:
            return
        for trace_id in rows:
            result = results.get(trace_id)
            if result is None:
                again.append(trace_id)
            elif result.status == "retry":  # never sent (send journal), or deferred
                retry[trace_id] = result.retry_at or now
            elif result.status == "sent":
                outcomes[trace_id] = (S.PROCESSED, "")
            elif result.status == "cancelled":
                outcomes[trace_id] = (S.CANCELLED, result.reason)
            else:
                outcomes[trace_id] = (S.ERROR, result.reason or REASON_INTERRUPTED)
    with lease.holding(rows):
        if lease.lost:
            return
        if again:
            Trace.objects.filter(id__in=again).update(
                state=S.SCHEDULED, claim_expires_at=None, started_at=None
            )
        finish_traces(activity, outcomes, list(outcomes), now, retry)


def due_activities(now: datetime) -> list[Activity]:
    """Activities of running campaigns with at least one due trace, those of high-priority
    campaigns first (engine/pressure.py: they take the capped slots they compete for)."""
    due = Trace.objects.filter(activity=OuterRef("pk"), state=S.SCHEDULED, scheduled_at__lte=now)
    return list(
        Activity.objects.filter(campaign__state=Campaign.State.RUNNING)
        .filter(Exists(due))
        .select_related("campaign", "server_action", "template")
        .order_by(pressure.priority_rank(), "campaign_id", "id")  # high-priority campaigns first
    )


def next_due_at() -> datetime | None:
    """The earliest scheduled trace of a running campaign (for the runner's sleep).

    One query: per activity of a running campaign, its first due date read from the
    trace_activity_due index (a probe each, whatever the number of traces)."""
    first = (
        Trace.objects.filter(activity=OuterRef("pk"), state=S.SCHEDULED, scheduled_at__isnull=False)
        .order_by("scheduled_at")
        .values("scheduled_at")[:1]
    )
    dates = (
        Activity.objects.filter(campaign__state=Campaign.State.RUNNING)
        .annotate(first_due=Subquery(first))
        .values_list("first_due", flat=True)
    )
    return min((d for d in dates if d is not None), default=None)
