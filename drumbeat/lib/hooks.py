"""The explicit hooks between layers.

Lower layers (contacts, crm, events, mailing) report what happened; `automation` listens. This
keeps the import direction one-way (docs/architecture.md#import-direction): the reporters never
import the engine.

- `records_changed(label, ids)`: records of model `label` were created or updated through a
  service; running campaigns on that target enrol them at once.
- `message_event(event)`: something happened to sent messages (open, click, reply, bounce,
  complaint: the recipient reported it as spam);
  the engine dates or cancels the waiting children of their traces. `message_events(events)`
  reports several at once (the tracking buffer's flush): a listener with a batch form (see
  `with_batch_form`) hears them in one call, any other once per event, in order.
- `unsubscribed(event)`: a recipient unsubscribed (link) or stopped SMS (stop page); the
  outbound webhooks report it as `contact.unsubscribed`.

Reporters call these after their transaction commits (`transaction.on_commit`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MessageEvent:
    kind: str  # "open" | "click" | "reply" | "bounce" | "complaint"
    message_ids: tuple[int, ...]
    at: datetime
    machine: bool = False  # made by a link scanner / privacy proxy


RecordsListener = Callable[[str, list[int]], None]
MessageListener = Callable[[MessageEvent], None]
MessageBatchListener = Callable[[Sequence[MessageEvent]], None]

_records_listeners: list[RecordsListener] = []
_message_listeners: list[MessageListener] = []


def listen_records_changed(callback: RecordsListener) -> None:
    if callback not in _records_listeners:
        _records_listeners.append(callback)


def listen_message_event(callback: MessageListener) -> None:
    if callback not in _message_listeners:
        _message_listeners.append(callback)


def records_changed(label: str, ids: Iterable[int]) -> None:
    ids = [int(i) for i in ids]
    if not ids:
        return
    for callback in _records_listeners:
        callback(label, ids)


def with_batch_form(many: MessageBatchListener) -> Callable[[MessageListener], MessageListener]:
    """Decorator for a message listener that also has a set-based form: `message_events` then
    calls `many` once with the whole batch (in order) instead of the listener once per event."""

    def attach(single: MessageListener) -> MessageListener:
        single.many = many  # type: ignore[attr-defined]
        return single

    return attach


def message_event(event: MessageEvent) -> None:
    message_events((event,))


def message_events(events: Sequence[MessageEvent]) -> None:
    if not events:
        return
    for callback in _message_listeners:
        many = getattr(callback, "many", None)
        if many is not None:
            many(events)
        else:
            for event in events:
                callback(event)


# --- unsubscribes (reported by mailing, heard by automation's outbound webhooks) ---------------


@dataclass(frozen=True)
class Unsubscribed:
    """A recipient asked for no more mail (unsubscribe link) or SMS (stop page)."""

    channel: str  # "email" | "sms"
    address: str
    at: datetime
    message_id: int | None = None
    record_model: str = ""
    record_id: int | None = None
    campaign_id: int | None = None
    reason: str = ""


UnsubscribedListener = Callable[[Unsubscribed], None]
_unsubscribed_listeners: list[UnsubscribedListener] = []


def listen_unsubscribed(callback: UnsubscribedListener) -> None:
    if callback not in _unsubscribed_listeners:
        _unsubscribed_listeners.append(callback)


def unsubscribed(event: Unsubscribed) -> None:
    for callback in _unsubscribed_listeners:
        callback(event)
