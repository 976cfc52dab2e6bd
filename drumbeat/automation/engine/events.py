"""Message events (open, click, reply, bounce) date or cancel the children of their traces.

Per the trigger table of SPEC §4: an event dates the waiting children it triggers (event time +
delay) and cancels the opposite "not" children; a click or a reply also counts as an open; a
bounce cancels every still-scheduled child except bounce children. Traces of stopped campaigns
are left alone; a repeated event finds nothing left to date (children are dated once, processed
ones are final), so it is harmless.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from django.db import transaction
from django.db.models import Q, QuerySet

from drumbeat.lib import clock
from drumbeat.lib.hooks import MessageEvent

from ..models import Activity, Campaign, Trace

log = logging.getLogger(__name__)
T = Activity.Trigger

DATES = {
    "open": [T.MAIL_OPEN],
    "click": [T.MAIL_CLICK, T.SMS_CLICK, T.MAIL_OPEN],
    "reply": [T.MAIL_REPLY, T.MAIL_OPEN],
    "bounce": [T.MAIL_BOUNCE, T.SMS_BOUNCE],
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
}
MACHINE_SENSITIVE = {"open", "click"}


def handle_message_event(event: MessageEvent) -> None:
    """Listener of `hooks.message_event` (registered in AutomationConfig.ready).

    The event is already recorded by mailing; a failure here is logged, never turned into an
    error page for the recipient who opened or clicked.
    """
    try:
        apply_message_event(event)
    except Exception:
        log.exception("message event %s on %s not applied", event.kind, event.message_ids[:10])


def apply_message_event(event: MessageEvent) -> None:
    """One query finds the waiting children the event concerns; when there are none (no child
    activity, already dated, a stopped campaign, an ignored machine event) nothing else runs."""
    from drumbeat.mailing.models import Message

    if event.kind not in DATES or not event.message_ids:
        return
    parents = Message.objects.filter(id__in=list(event.message_ids), trace_id__isnull=False).values(
        "trace_id"
    )
    children = Trace.objects.filter(parent_id__in=parents, state=Trace.State.SCHEDULED).exclude(
        participant__campaign__state=Campaign.State.STOPPED
    )
    if event.machine and event.kind in MACHINE_SENSITIVE:
        children = children.exclude(participant__campaign__ignore_machine_events=True)
    if _apply(event.kind, children, event.at):
        from .runner import wake

        wake()


def apply_event(kind: str, parent_ids: list[int], at: datetime) -> bool:
    """Date/cancel the children of `parent_ids` for `kind`; True when some child is now due."""
    if not parent_ids:
        return False
    children = Trace.objects.filter(parent_id__in=parent_ids, state=Trace.State.SCHEDULED)
    return _apply(kind, children, at)


def _apply(kind: str, children: QuerySet, at: datetime) -> bool:
    """Date/cancel the scheduled `children` for an event of `kind` at `at`.

    One SELECT of the concerned children; only when there are some, one transaction with one
    UPDATE for the cancelled ones, one per dated child activity and the completed participants.
    """
    from .execute import complete_participants

    if kind == "bounce":
        concerned = children  # bounce children are dated, every other child is cancelled
    else:
        concerned = children.filter(activity__trigger__in=[*DATES[kind], *CANCELS[kind]])
    rows = list(
        concerned.values_list("id", "participant_id", "activity_id", "activity__trigger")
        .filter(Q(scheduled_at__isnull=True) | ~Q(activity__trigger__in=DATES[kind]))
        .order_by()
    )
    if not rows:
        return False
    dating = set(DATES[kind])
    cancel = [(pk, participant) for pk, participant, _, trigger in rows if trigger not in dating]
    dated: dict[int, list[int]] = defaultdict(list)
    for pk, _, activity_id, trigger in rows:
        if trigger in dating:
            dated[activity_id].append(pk)
    now = clock.now()
    due_now = False
    with transaction.atomic():
        changed = 0
        if cancel:
            changed = Trace.objects.filter(
                id__in=[pk for pk, _ in cancel], state=Trace.State.SCHEDULED
            ).update(state=Trace.State.CANCELLED, reason=REASONS[kind], executed_at=now)
        if dated:
            for activity in Activity.objects.filter(pk__in=list(dated)):
                when = at + activity.delay
                n = Trace.objects.filter(
                    id__in=dated[activity.pk],
                    state=Trace.State.SCHEDULED,
                    scheduled_at__isnull=True,
                ).update(scheduled_at=when)
                due_now = due_now or (n > 0 and when <= now)
        if changed:
            complete_participants(list({participant for _, participant in cancel}), now)
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
    )
    by_kind: dict[tuple[str, datetime], list[int]] = defaultdict(list)
    for trace_id, opened, clicked, replied, bounced in early.values_list(
        "trace_id", "opened_at", "clicked_at", "replied_at", "bounced_at"
    ):
        for kind, at in (("open", opened), ("click", clicked), ("reply", replied)):
            if at is not None:
                by_kind[(kind, at)].append(trace_id)
        if bounced is not None:
            by_kind[("bounce", bounced)].append(trace_id)
    for (kind, at), ids in by_kind.items():
        apply_event(kind, ids, at)
