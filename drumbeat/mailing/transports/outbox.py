"""`outbox://`: messages are stored in the database (OutboxEntry) and shown at /outbox."""

from __future__ import annotations

from ..bulk import insert_rows
from ..models import OutboxEntry
from . import Delivery, Outgoing


class OutboxTransport:
    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.entries: list[OutboxEntry] = []

    def __enter__(self) -> OutboxTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()

    def send(self, outgoing: Outgoing) -> Delivery:
        self.entries.append(
            OutboxEntry(
                channel=self.channel,
                message_id=outgoing.message_pk,
                sender=outgoing.sender,
                recipient=outgoing.recipient,
                subject=outgoing.subject[:255],
                raw=outgoing.data.decode("utf-8", "replace"),
            )
        )
        return Delivery(ok=True)

    def flush(self) -> None:
        if self.entries:
            insert_rows(OutboxEntry, self.entries)  # one statement for the whole batch
            self.entries = []
