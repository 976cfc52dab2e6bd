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

from django.db import connection, transaction
from django.db.models import Q

from drumbeat.lib import clock
from drumbeat.lib.hooks import MessageEvent

from ..models import Activity, Campaign, Participant, Trace
from .sql import id_set

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
    """One SELECT finds the waiting children the event concerns; when there are none (no child
    activity, already dated, a stopped campaign, an ignored machine event) nothing else runs.

    Plain SQL: this runs for every open and click the tracking routes receive, and compiling
    the equivalent ORM query cost more CPU than the rest of the request.
    """
    from drumbeat.mailing.models import Message

    if event.kind not in DATES or not event.message_ids:
        return
    ids = id_set(event.message_ids)
    parents = (
        f"SELECT m.trace_id FROM {Message._meta.db_table} m"
        f" WHERE m.id IN ({ids.sql}) AND m.trace_id IS NOT NULL"
    )
    where = f"c.parent_id IN ({parents}) AND g.state <> %s"
    params = [*ids.params, Campaign.State.STOPPED.value]
    if event.machine and event.kind in MACHINE_SENSITIVE:
        where += " AND NOT g.ignore_machine_events"
    if _apply(event.kind, _concerned(event.kind, where, params), event.at):
        from .runner import wake

        wake()


def apply_event(kind: str, parent_ids: list[int], at: datetime) -> bool:
    """Date/cancel the children of `parent_ids` for `kind`; True when some child is now due."""
    if not parent_ids:
        return False
    ids = id_set(parent_ids)
    return _apply(kind, _concerned(kind, f"c.parent_id IN ({ids.sql})", list(ids.params)), at)


def _concerned(kind: str, where: str, params: list) -> list[tuple[int, int, int, str]]:
    """(id, participant_id, activity_id, trigger) of the scheduled children matching `where`
    (aliases: c the child trace, a its activity, g its campaign) that an event of `kind`
    dates (still undated) or cancels (a bounce cancels every child but the bounce ones)."""
    dates = [t.value for t in DATES[kind]]
    date_marks = ", ".join(["%s"] * len(dates))
    sql = (
        f"SELECT c.id, c.participant_id, c.activity_id, a.trigger"
        f" FROM {Trace._meta.db_table} c"
        f" JOIN {Activity._meta.db_table} a ON a.id = c.activity_id"
        f" JOIN {Participant._meta.db_table} p ON p.id = c.participant_id"
        f" JOIN {Campaign._meta.db_table} g ON g.id = p.campaign_id"
        f" WHERE {where} AND c.state = %s"
        f" AND (c.scheduled_at IS NULL OR a.trigger NOT IN ({date_marks}))"
    )
    params = [*params, Trace.State.SCHEDULED.value, *dates]
    if kind != "bounce":
        concerned = [*dates, *(t.value for t in CANCELS[kind])]
        sql += f" AND a.trigger IN ({', '.join(['%s'] * len(concerned))})"
        params += concerned
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _apply(kind: str, rows: list[tuple[int, int, int, str]], at: datetime) -> bool:
    """Date/cancel the concerned children `rows` for an event of `kind` at `at`: nothing when
    there are none; else one transaction with one UPDATE for the cancelled ones, one per dated
    child activity and the completed participants."""
    from .execute import complete_participants

    if not rows:
        return False
    dating = {t.value for t in DATES[kind]}
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
