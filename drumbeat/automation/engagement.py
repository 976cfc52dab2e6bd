"""Opens and clicks by people, kept apart from those of link scanners and privacy proxies.

Mailing records a message's first open and first click whoever made them (`Message.opened_at`,
`clicked_at`); a link scanner that fetches the pixel and every link seconds after delivery makes
both. Mailing flags such events as machine events and reports every human event to the engine
(`hooks.message_event`, `machine=False`), including a person's open of a message a scanner
opened first. This listener keeps, on the message's trace, the time of its first human open (an
open, a click or a reply: each means a person read it) and of its first human click
(`Trace.human_opened_at`, `human_clicked_at`). The results (automation/results.py) compare
these rates, never the raw ones.

Set-based: one SELECT (messages → traces) and one UPDATE per batch of events, nothing for a
batch of machine events.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from drumbeat.lib import hooks
from drumbeat.lib.hooks import MessageEvent
from drumbeat.lib.timed_updates import fill_times

from .engine.sql import id_set
from .models import Trace

log = logging.getLogger(__name__)

HUMAN_OPENS = {"open", "click", "reply"}


def record_human_engagement(events: Sequence[MessageEvent]) -> None:
    """Batch form: the first human open and click of each message's trace, in one UPDATE."""
    from drumbeat.mailing.models import Message

    human = [
        (event.at, event.kind, int(pk))
        for event in events
        if not event.machine and event.kind in HUMAN_OPENS
        for pk in event.message_ids
    ]
    if not human:
        return
    try:
        trace_of = dict(
            Message.objects.filter(
                pk__in=id_set({pk for _, _, pk in human}), trace_id__isnull=False
            ).values_list("pk", "trace_id")
        )
        opened: dict[int, datetime] = {}
        clicked: dict[int, datetime] = {}
        for at, kind, pk in sorted(human, key=lambda h: h[0]):
            trace_id = trace_of.get(pk)
            if trace_id is None:
                continue
            opened.setdefault(trace_id, at)
            if kind == "click":
                clicked.setdefault(trace_id, at)
        fill_times(
            Trace,
            ["human_opened_at", "human_clicked_at"],
            {pk: (opened[pk], clicked.get(pk)) for pk in opened},
        )
    except Exception:
        log.exception("recording %d human opens and clicks failed", len(human))


@hooks.with_batch_form(record_human_engagement)
def record_human_event(event: MessageEvent) -> None:
    """Listener of `hooks.message_event` (registered in AutomationConfig.ready)."""
    record_human_engagement((event,))
