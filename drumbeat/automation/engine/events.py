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
from django.db.models import Q

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
    from drumbeat.mailing.models import Message

    if event.kind not in DATES or not event.message_ids:
        return
    parents = Trace.objects.filter(
        id__in=Message.objects.filter(id__in=event.message_ids, trace_id__isnull=False).values(
            "trace_id"
        )
    ).exclude(participant__campaign__state=Campaign.State.STOPPED)
    if event.machine and event.kind in MACHINE_SENSITIVE:
        parents = parents.exclude(participant__campaign__ignore_machine_events=True)
    parent_ids = list(parents.values_list("id", flat=True))
    if apply_event(event.kind, parent_ids, event.at):
        from .runner import wake

        wake()


def apply_event(kind: str, parent_ids: list[int], at: datetime) -> bool:
    """Date/cancel the children of `parent_ids` for `kind`; True when some child is now due."""
    if not parent_ids:
        return False
    from .execute import complete_participants

    now = clock.now()
    due_now = False
    with transaction.atomic():
        children = Trace.objects.filter(parent_id__in=parent_ids, state=Trace.State.SCHEDULED)
        if kind == "bounce":
            cancelled = children.exclude(activity__trigger__in=DATES["bounce"])
        else:
            cancelled = children.filter(activity__trigger__in=CANCELS[kind])
        changed = cancelled.update(
            state=Trace.State.CANCELLED, reason=REASONS[kind], executed_at=now
        )
        parent_activities = Trace.objects.filter(id__in=parent_ids).values("activity_id")
        for activity in Activity.objects.filter(
            parent_id__in=parent_activities, trigger__in=DATES[kind]
        ):
            when = at + activity.delay
            dated = children.filter(activity=activity, scheduled_at__isnull=True).update(
                scheduled_at=when
            )
            due_now = due_now or (dated > 0 and when <= now)
        if changed:
            complete_participants(
                Trace.objects.filter(id__in=parent_ids).values("participant_id"), now
            )
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
