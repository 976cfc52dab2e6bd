"""Message events (open, click, reply, bounce, complaint) date or cancel the children of their
traces.

Per the trigger table of docs/product.md#triggers: an event dates the waiting children it triggers
(event time + delay) and cancels the opposite "not" children; a click or a reply also counts as an
open; a bounce cancels every still-scheduled child except bounce children; a complaint (the
recipient reported the message as spam) cancels every still-scheduled child. Traces of stopped
campaigns are left alone; a repeated event finds nothing left to date (children are dated once,
processed ones are final), so it is harmless.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Q

from drumbeat.lib import clock, hooks
from drumbeat.lib.hooks import MessageEvent
from drumbeat.lib.timed_updates import set_times

from ..models import Activity, Campaign, Participant, Trace
from . import wakeup
from .sql import id_set

log = logging.getLogger(__name__)
T = Activity.Trigger

DATES = {
    "open": [T.MAIL_OPEN],
    "click": [T.MAIL_CLICK, T.SMS_CLICK, T.MAIL_OPEN],
    "reply": [T.MAIL_REPLY, T.MAIL_OPEN],
    "bounce": [T.MAIL_BOUNCE, T.SMS_BOUNCE],
    "complaint": [],
}
CANCELS = {
    "open": [T.MAIL_NOT_OPEN],
    "click": [T.MAIL_NOT_CLICK, T.SMS_NOT_CLICK, T.MAIL_NOT_OPEN],
    "reply": [T.MAIL_NOT_REPLY, T.MAIL_NOT_OPEN],
}
REASONS = {
    "open": "parent opened",
    "click": "parent clicked",
    "reply": "parent replied",
    "bounce": "parent bounced",
    "complaint": "parent complained",
}
# Events that cancel every scheduled child (but the ones they date): applied after the others.
FINAL = {"bounce", "complaint"}
MACHINE_SENSITIVE = {"open", "click"}
DATING = {kind: {t.value for t in triggers} for kind, triggers in DATES.items()}
CANCELLING = {kind: {t.value for t in triggers} for kind, triggers in CANCELS.items()}


@dataclass(frozen=True, slots=True)
class Child:
    """A scheduled child trace that events of some kinds may date or cancel."""

    id: int
    participant_id: int
    activity_id: int
    trigger: str
    parent_id: int
    undated: bool
    ignores_machines: bool  # its campaign ignores machine opens and clicks


def handle_message_events(events: Sequence[MessageEvent]) -> None:
    """Batch form of `handle_message_event` (`hooks.message_events`, the tracking buffer's
    flush): the whole batch in a constant number of statements."""
    try:
        apply_message_events(events)
    except Exception:
        kinds = sorted({event.kind for event in events})
        log.exception("%d message events (%s) not applied", len(events), ", ".join(kinds))


@hooks.with_batch_form(handle_message_events)
def handle_message_event(event: MessageEvent) -> None:
    """Listener of `hooks.message_event` (registered in AutomationConfig.ready).

    The event is already recorded by mailing; a failure here is logged, never turned into an
    error page for the recipient who opened or clicked.
    """
    handle_message_events((event,))


def apply_message_event(event: MessageEvent) -> None:
    apply_message_events((event,))


def apply_message_events(events: Sequence[MessageEvent]) -> None:
    """Apply events in their order, each at its own time, in a constant number of statements.

    One SELECT finds the traces of the events' messages, one the waiting children concerned;
    when there are none (no child activity, already dated, a stopped campaign, an ignored
    machine event) nothing else runs. Otherwise each child goes to the first event of its
    message that concerns it, exactly as if the events had come one by one (later ones would
    find it dated or cancelled). Bounces and complaints go in a second pass, after the others.
    """
    from drumbeat.mailing.models import Message

    occurrences = [
        (event.kind, int(pk), event.at, event.machine)
        for event in events
        if event.kind in DATES
        for pk in event.message_ids
    ]
    if not occurrences:
        return
    traces = dict(
        Message.objects.filter(
            pk__in=id_set({pk for _, pk, _, _ in occurrences}), trace_id__isnull=False
        ).values_list("pk", "trace_id")
    )
    due_now = False
    for bounces in (False, True):
        # (kind, parent trace id, at, machine)
        batch = [
            (kind, traces[pk], at, machine)
            for kind, pk, at, machine in occurrences
            if (kind in FINAL) == bounces and pk in traces
        ]
        if batch and _apply_occurrences(batch):
            due_now = True
    if due_now:
        wakeup.wake()


def _apply_occurrences(occurrences: list[tuple[str, int, datetime, bool]]) -> bool:
    """(kind, parent trace id, at, machine) events, in order: date/cancel the children."""
    kinds = {kind for kind, _, _, _ in occurrences}
    children: dict[int, list[Child]] = defaultdict(list)
    for child in _waiting_children(kinds, {parent for _, parent, _, _ in occurrences}):
        children[child.parent_id].append(child)
    decided: dict[int, tuple[str, datetime, Child]] = {}
    for kind, parent, at, machine in occurrences:
        for child in children.get(parent, ()):
            ignored = machine and kind in MACHINE_SENSITIVE and child.ignores_machines
            if child.id not in decided and not ignored and _concerns(kind, child):
                decided[child.id] = (kind, at, child)
    return _apply(decided)


def apply_event(kind: str, parent_ids: list[int], at: datetime) -> bool:
    """Date/cancel the children of `parent_ids` for `kind`; True when some child is now due."""
    children = _waiting_children({kind}, parent_ids)
    return _apply({c.id: (kind, at, c) for c in children if _concerns(kind, c)})


def _concerns(kind: str, child: Child) -> bool:
    """An event of `kind` dates the child (still undated) or cancels it (a bounce cancels every
    child but the bounce ones, a complaint every child)."""
    if child.trigger in DATING[kind]:
        return child.undated
    return kind in FINAL or child.trigger in CANCELLING.get(kind, ())


def _waiting_children(kinds: set[str], parent_ids: Iterable[int]) -> list[Child]:
    """The scheduled children of `parent_ids`, in running campaigns, that events of `kinds`
    (bounces and complaints, or other kinds) may date or cancel: one SELECT.

    Plain SQL: this runs for the opens and clicks the tracking routes receive, and compiling
    the equivalent ORM query cost more CPU than the rest of the work.
    """
    parent_ids = list(parent_ids)
    if not parent_ids:
        return []
    parents, parent_params = _any_of("c.parent_id", parent_ids)
    if kinds & FINAL:
        if not kinds <= FINAL:
            raise ValueError("bounces and complaints are applied apart from other events")
        dates = sorted(DATING["bounce"])
        triggers = f"(c.scheduled_at IS NULL OR a.trigger NOT IN ({_marks(dates)}))"
        trigger_params = dates
        if "complaint" in kinds:  # every scheduled child
            triggers, trigger_params = "1 = 1", []
    else:
        dates = sorted(set().union(*(DATING[kind] for kind in kinds)))
        cancels = sorted(set().union(*(CANCELLING[kind] for kind in kinds)))
        triggers = (
            f"a.trigger IN ({_marks(dates + cancels)})"
            f" AND (c.scheduled_at IS NULL OR a.trigger IN ({_marks(cancels)}))"
        )
        trigger_params = dates + cancels + cancels
    sql = (
        "SELECT c.id, c.participant_id, c.activity_id, a.trigger, c.parent_id,"
        " c.scheduled_at IS NULL, g.ignore_machine_events"
        f" FROM {Trace._meta.db_table} c"
        f" JOIN {Activity._meta.db_table} a ON a.id = c.activity_id"
        f" JOIN {Participant._meta.db_table} p ON p.id = c.participant_id"
        f" JOIN {Campaign._meta.db_table} g ON g.id = p.campaign_id"
        f" WHERE {parents} AND c.state = %s AND g.state <> %s"
        f" AND {triggers}"
    )
    params = [
        *parent_params,
        Trace.State.SCHEDULED.value,
        Campaign.State.STOPPED.value,
        *trigger_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [
            Child(pk, participant, activity, trigger, parent, bool(undated), bool(ignores))
            for pk, participant, activity, trigger, parent, undated, ignores in cursor
        ]


def _any_of(column: str, ids: list[int]) -> tuple[str, list]:
    """SQL for "`column` is one of `ids`" with one parameter (an array on PostgreSQL, JSON on
    SQLite). Not `id_set`'s IN (SELECT unnest …): without statistics on a fresh table,
    PostgreSQL then joins the ids last, after reading every waiting child."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::bigint[])", [[int(i) for i in ids]]
    return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps([int(i) for i in ids])]


def _marks(values: list) -> str:
    return ", ".join(["%s"] * len(values))


def _apply(decided: dict[int, tuple[str, datetime, Child]]) -> bool:
    """Date or cancel each child of `decided` (child id -> the kind and time of the event that
    concerns it, and the child): nothing when there are none; else one transaction with one
    UPDATE per kind of cancelling event, one for every dated child (each at its event's time +
    its activity's delay) and the completed participants. True when a child is now due."""
    from .execute import complete_participants

    if not decided:
        return False
    cancel: dict[str, list[Child]] = defaultdict(list)
    dated: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for kind, at, child in decided.values():
        if child.trigger in DATING[kind]:
            dated[child.activity_id].append((child.id, at))
        else:
            cancel[kind].append(child)
    now = clock.now()
    due_now = False
    with transaction.atomic():
        changed = 0
        for kind, children in cancel.items():
            changed += Trace.objects.filter(
                id__in=[c.id for c in children], state=Trace.State.SCHEDULED
            ).update(state=Trace.State.CANCELLED, reason=REASONS[kind], executed_at=now)
        if dated:
            activities = list(Activity.objects.filter(pk__in=list(dated)))
            when = {
                pk: at + activity.delay for activity in activities for pk, at in dated[activity.pk]
            }
            where = "state = %s AND scheduled_at IS NULL"
            done = set_times(Trace, "scheduled_at", when, where, [Trace.State.SCHEDULED.value])
            if any(a.send_at_local for a in activities):
                from .pressure import align_local_times

                align_local_times(Trace.objects.filter(id__in=done), now)
            due_now = any(when[pk] <= now for pk in done)
        if changed:
            participants = {c.participant_id for children in cancel.values() for c in children}
            complete_participants(list(participants), now)
    return due_now


def replay_early_events(trace_ids: list[int]) -> None:
    """Apply events that reached a message before its trace's children existed.

    A link scanner can open a message within a second of delivery, while the batch that sent
    it is still being written; one query finds such messages (usually none).
    """
    from drumbeat.mailing.models import Message

    early = Message.objects.filter(trace_id__in=trace_ids).filter(
        Q(opened_at__isnull=False)
        | Q(clicked_at__isnull=False)
        | Q(replied_at__isnull=False)
        | Q(bounced_at__isnull=False)
        | Q(complained_at__isnull=False)
    )
    by_kind: dict[tuple[str, datetime], list[int]] = defaultdict(list)
    for trace_id, opened, clicked, replied, bounced, complained in early.values_list(
        "trace_id", "opened_at", "clicked_at", "replied_at", "bounced_at", "complained_at"
    ):
        for kind, at in (("open", opened), ("click", clicked), ("reply", replied)):
            if at is not None:
                by_kind[(kind, at)].append(trace_id)
        for kind, at in (("bounce", bounced), ("complaint", complained)):
            if at is not None:  # after the others, as apply_message_events does
                by_kind[(kind, at)].append(trace_id)
    for (kind, at), ids in by_kind.items():
        apply_event(kind, ids, at)
