"""What happens to sent messages: opened, clicked, replied, bounced, blocked, complained.

Each function updates the messages in one transaction (set-based) and, once committed, reports
through the one hook to the engine: `hooks.message_event(MessageEvent(kind, ids, at, machine))`.
A click or a reply implies an open: messages not yet opened get `opened_at` and an "open" event
too. The engine's test mode calls these functions to simulate events.

The tracking routes write through `record_hits`, a batch of opens and clicks at a time
(`tracking.py` collects them from the requests), reported in one `hooks.message_events` call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Value
from django.db.models.functions import Coalesce

from drumbeat.lib import hooks
from drumbeat.lib.timed_updates import fill_times

from . import circuit
from .models import Click, EmailBlacklist, InboundEvent, Link, Message

log = logging.getLogger(__name__)

HARD, SOFT, BLOCK = "hard", "soft", "block"
SUPPRESSION_WINDOW = timedelta(weeks=13)


def _fire(kind: str, message_ids: Iterable[int], at: datetime, machine: bool = False) -> None:
    ids = tuple(sorted(set(message_ids)))
    if ids:
        event = hooks.MessageEvent(kind=kind, message_ids=ids, at=at, machine=machine)
        transaction.on_commit(lambda: hooks.message_event(event))


def _open_unopened(message_ids: list[int], at: datetime) -> list[int]:
    """Set opened_at where missing; returns the ids that were opened now."""
    newly = list(
        Message.objects.filter(pk__in=message_ids, opened_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    if newly:
        Message.objects.filter(pk__in=newly, opened_at__isnull=True).update(opened_at=at)
    return newly


def mark_opened(message_ids: Iterable[int], at: datetime, machine: bool = False) -> list[int]:
    """Record an open of each message; returns the ids that exist."""
    ids = list(set(message_ids))
    with transaction.atomic():
        known = list(Message.objects.filter(pk__in=ids).values_list("pk", flat=True))
        _open_unopened(known, at)
        _fire("open", known, at, machine)
    return known


def mark_clicked(
    message_id: int,
    at: datetime,
    link: Link | None = None,
    ip: str | None = None,
    user_agent: str = "",
    machine: bool = False,
) -> bool:
    """Record a click (a Click row when the link is known); False for an unknown message."""
    with transaction.atomic():
        if not mark_clicked_many([message_id], at, machine):
            return False
        if link is not None:
            Click.objects.create(
                link=link,
                message_id=message_id,
                at=at,
                ip=ip or None,
                user_agent=(user_agent or "")[:500],
                is_machine=machine,
            )
    return True


def mark_clicked_many(message_ids: Iterable[int], at: datetime, machine: bool = False) -> list[int]:
    """Record clicks without a known link (provider webhooks); returns the ids that exist."""
    with transaction.atomic():
        known = list(Message.objects.filter(pk__in=set(message_ids)).values_list("pk", flat=True))
        Message.objects.filter(pk__in=known, clicked_at__isnull=True).update(clicked_at=at)
        _fire("open", _open_unopened(known, at), at, machine)
        _fire("click", known, at, machine)
    return known


@dataclass(frozen=True, slots=True)
class Hit:
    """One request to a tracking route: an open (pixel) or a click (tracked link).

    `opened` / `clicked` say what the request read of the message (a message once opened stays
    opened): a hit of a message already opened and clicked writes nothing but its Click row.
    """

    kind: str  # "open" | "click"
    at: datetime
    machine: bool
    message_id: int | None  # None: a tracked link requested without a message token
    opened: bool = False
    clicked: bool = False
    link_id: int | None = None
    ip: str | None = None
    user_agent: str = ""


def record_hits(hits: Sequence[Hit]) -> None:
    """Write opens and clicks in one transaction, in a constant number of statements whatever
    their number, then report their events in one `hooks.message_events` call.

    A message's first open (by the pixel or by a click: a click implies an open) sets
    `opened_at` to that hit's time, its first click `clicked_at`. Which hits are firsts is
    read from the message rows, locked (PostgreSQL; SQLite writes one transaction at a time),
    so two processes writing hits of the same message cannot both report a first; then one
    UPDATE sets both columns. Every click is a Click row (those of a link or message deleted
    meanwhile are dropped). The engine hears of first events always and of repeats only from
    humans (an earlier machine event may have been ignored by its campaign); a repeated machine
    event changes nothing and is not reported. Repeated opens alone write nothing.
    """
    hits = sorted(hits, key=lambda hit: hit.at)
    first_open: dict[int, Hit] = {}
    first_click: dict[int, Hit] = {}
    for hit in hits:
        if hit.message_id is not None:
            if not hit.opened:
                first_open.setdefault(hit.message_id, hit)
            if hit.kind == "click" and not hit.clicked:
                first_click.setdefault(hit.message_id, hit)
    clicks = [hit for hit in hits if hit.kind == "click"]
    # The messages the batch may write to or insert clicks of.
    written = {*first_open, *first_click, *(h.message_id for h in clicks if h.message_id)}
    with transaction.atomic() if written or clicks else nullcontext():
        found = _lock_messages(written)
        opened = {pk for pk in first_open if pk in found and found[pk][0] is None}
        clicked = {pk for pk in first_click if pk in found and found[pk][1] is None}
        fill_times(
            Message,
            ["opened_at", "clicked_at"],
            {
                pk: (
                    first_open[pk].at if pk in opened else None,
                    first_click[pk].at if pk in clicked else None,
                )
                for pk in opened | clicked
            },
        )
        if clicks:
            _insert_clicks([h for h in clicks if h.message_id is None or h.message_id in found])
        reported: list[hooks.MessageEvent] = []
        for hit in hits:
            pk = hit.message_id
            if pk is None or (pk in written and pk not in found):  # no message (any more)
                continue
            opened_now = hit is first_open.get(pk) and pk in opened
            if opened_now or (hit.kind == "open" and not hit.machine):
                reported.append(_event("open", pk, hit))
            clicked_now = hit is first_click.get(pk) and pk in clicked
            if hit.kind == "click" and (clicked_now or not hit.machine):
                reported.append(_event("click", pk, hit))
        if reported:
            transaction.on_commit(lambda: hooks.message_events(reported))


def _event(kind: str, pk: int, hit: Hit) -> hooks.MessageEvent:
    return hooks.MessageEvent(kind=kind, message_ids=(pk,), at=hit.at, machine=hit.machine)


def _lock_messages(ids: set[int]) -> dict[int, tuple[datetime | None, datetime | None]]:
    """(opened_at, clicked_at) of the messages of `ids` that exist, their rows locked in id
    order (two writers never wait for each other in a circle)."""
    if not ids:
        return {}
    rows = (
        Message.objects.select_for_update(no_key=True)
        .filter(pk__in=sorted(ids))
        .order_by("pk")
        .values_list("pk", "opened_at", "clicked_at")
    )
    return {pk: (opened_at, clicked_at) for pk, opened_at, clicked_at in rows}


def _insert_clicks(clicks: list[Hit]) -> None:
    """One INSERT of the Click rows (PostgreSQL: from arrays; SQLite: one executemany), but
    for those of a link deleted since the request."""
    links = set(
        Link.objects.filter(pk__in={h.link_id for h in clicks}).values_list("pk", flat=True)
    )
    ip = Click._meta.get_field("ip")
    rows = [
        (
            hit.link_id,
            hit.message_id,
            hit.at,
            ip.get_prep_value(hit.ip) or None,  # IPv6 written in its canonical form
            (hit.user_agent or "")[:500],
            hit.machine,
        )
        for hit in clicks
        if hit.link_id in links
    ]
    if not rows:
        return
    ops = connection.ops
    fields = ("link", "message", "at", "ip", "user_agent", "is_machine")
    columns = ", ".join(ops.quote_name(Click._meta.get_field(f).column) for f in fields)
    insert = f"INSERT INTO {ops.quote_name(Click._meta.db_table)} ({columns})"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            types = ("bigint", "bigint", "timestamptz", "inet", "text", "boolean")
            arrays = ", ".join(f"%s::{t}[]" for t in types)
            columns_of_rows = [list(column) for column in zip(*rows, strict=True)]
            cursor.execute(f"{insert} SELECT * FROM unnest({arrays})", columns_of_rows)
        else:
            adapt = ops.adapt_datetimefield_value
            values = [(link, pk, adapt(at), *rest) for link, pk, at, *rest in rows]
            cursor.executemany(f"{insert} VALUES (%s, %s, %s, %s, %s, %s)", values)


def mark_replied(message_id: int, at: datetime) -> bool:
    """Record a reply (which implies an open); False for an unknown message."""
    return bool(mark_replied_many([message_id], at))


def mark_replied_many(message_ids: Iterable[int], at: datetime) -> list[int]:
    with transaction.atomic():
        known = list(Message.objects.filter(pk__in=set(message_ids)).values_list("pk", flat=True))
        Message.objects.filter(pk__in=known, replied_at__isnull=True).update(replied_at=at)
        _fire("open", _open_unopened(known, at), at)
        _fire("reply", known, at)
    return known


def mark_bounced(
    message_id: int, at: datetime, kind: str = "hard", reason: str = "", category: str = ""
) -> bool:
    """Record a bounce (or a block) of one message; see `mark_bounced_many`."""
    return bool(mark_bounced_many([message_id], at, kind, reason, category))


def mark_bounced_many(
    message_ids: Iterable[int],
    at: datetime,
    kind: str = "hard",
    reason: str = "",
    category: str = "",
) -> list[int]:
    """Record a delivery failure of `kind` hard, soft or block; returns the ids that exist.

    A hard or soft bounce makes a message bounced and fires "bounce" the first time; a later
    hard bounce turns a soft one hard, but a later soft report never downgrades a hard one.
    A block (the receiving server refused the sender) only marks messages not bounced yet: no
    state change, no trigger, no suppression; it counts towards pausing the channel. Email
    addresses reaching the hard or soft bounce limit are blacklisted (`suppress_bounced`).
    Constant statements whatever the number of messages.
    """
    kind = kind if kind in {HARD, SOFT, BLOCK} else HARD
    reason = (reason or f"{kind} bounce")[:2000]
    with transaction.atomic():
        known = list(
            Message.objects.filter(pk__in=set(message_ids)).values_list(
                "pk", "channel", "recipient", "bounced_at", "is_test"
            )
        )
        ids = [pk for pk, *_ in known]
        rows = Message.objects.filter(pk__in=ids)
        fields = {"bounce_kind": kind, "bounce_category": category, "failure_reason": reason}
        if kind == BLOCK:
            blocked = rows.filter(bounced_at__isnull=True, state=Message.State.SENT)
            if blocked.exclude(bounce_kind=BLOCK).update(**fields):
                circuit.record_blocks(known[0][1], len(ids), reason)
            return ids
        rows = rows.exclude(bounce_kind=HARD) if kind == SOFT else rows
        rows.update(
            state=Message.State.BOUNCED, bounced_at=Coalesce(F("bounced_at"), Value(at)), **fields
        )
        # Test messages (campaign tests, simulated events) never suppress their address.
        emails = {r: pk for pk, channel, r, _, test in known if channel == "email" and not test}
        if emails:
            suppress_bounced(kind, emails, at)
        _fire("bounce", [pk for pk, _, _, bounced_at, _ in known if bounced_at is None], at)
    return ids


def mark_complained_many(message_ids: Iterable[int], at: datetime) -> list[int]:
    """A recipient reported the message as spam: `complained_at` (first complaint), the
    address blacklisted, and "complaint" fired (the engine cancels the waiting children).
    Returns the ids that exist."""
    with transaction.atomic():
        known = list(
            Message.objects.filter(pk__in=set(message_ids)).values_list(
                "pk", "channel", "recipient", "complained_at", "is_test"
            )
        )
        ids = [pk for pk, *_ in known]
        Message.objects.filter(pk__in=ids, complained_at__isnull=True).update(complained_at=at)
        emails = {r: pk for pk, channel, r, _, test in known if channel == "email" and not test}
        if emails:
            blacklist_emails(emails, lambda pk: f"spam complaint about message {pk}")
        _fire("complaint", [pk for pk, _, _, first, _ in known if first is None], at)
    return ids


def record_inbound_events(events: list[InboundEvent]) -> None:
    """Keep what inbound reports said of their messages (one INSERT)."""
    for event in events:
        event.diagnostic = (event.diagnostic or "")[:5000]
        event.sender, event.subject = event.sender[:254], event.subject[:255]
    InboundEvent.objects.bulk_create(events)


def mark_delivered(message_ids: Iterable[int], at: datetime) -> None:
    """A provider confirmed delivery: messages still outgoing or deferred become sent."""
    Message.objects.filter(
        pk__in=list(message_ids), state__in=[Message.State.OUTGOING, Message.State.DEFERRED]
    ).update(state=Message.State.SENT, sent_at=at)


def suppress_bounced(kind: str, emails: dict[str, int], at: datetime) -> list[str]:
    """Blacklist those of `emails` (address -> the message that just bounced) with
    DRUMBEAT_HARD_BOUNCE_LIMIT hard bounces (or DRUMBEAT_SOFT_BOUNCE_LIMIT soft ones) within
    SUPPRESSION_WINDOW. One counting query and the blacklist writes."""
    limit = bounce_limit(kind)
    counts = (
        Message.objects.filter(
            channel=Message.Channel.EMAIL,
            recipient__in=list(emails),
            bounce_kind=kind,
            is_test=False,
            bounced_at__gte=at - SUPPRESSION_WINDOW,
            bounced_at__lte=at,
        )
        .values("recipient")
        .annotate(n=Count("pk"))
        .filter(n__gte=limit)
    )
    reached = {row["recipient"]: emails[row["recipient"]] for row in counts}
    if reached:
        if limit == 1:
            why = f"{kind} bounce of message {{}}"
        else:
            why = f"{limit} {kind} bounces in 13 weeks, the last of message {{}}"
        blacklist_emails(reached, why.format)
        log.info("blacklisted after %s bounces: %s", kind, ", ".join(reached))
    return list(reached)


def bounce_limit(kind: str) -> int:
    name = "HARD_BOUNCE_LIMIT" if kind == HARD else "SOFT_BOUNCE_LIMIT"
    default = 1 if kind == HARD else 5
    return max(1, int(getattr(settings, name, default)))


def blacklist_emails(
    addresses: Iterable[str] | dict[str, int], reason: str | Callable[[int], str]
) -> None:
    """Blacklist (or re-activate) the normalised addresses. Given a dict address -> message
    id, each entry records its message and `reason` is a function of that id."""
    messages = addresses if isinstance(addresses, dict) else dict.fromkeys(addresses)

    def why(address: str) -> str:
        pk = messages[address]
        return (reason(pk) if callable(reason) else reason)[:200]

    existing = list(EmailBlacklist.objects.filter(email__in=list(messages)))
    revived = [entry for entry in existing if not entry.active]
    for entry in revived:
        entry.active, entry.reason = True, why(entry.email)
        entry.message_id = messages[entry.email] or entry.message_id
    if revived:
        EmailBlacklist.objects.bulk_update(revived, ["active", "reason", "message"])
    known = {entry.email for entry in existing}
    EmailBlacklist.objects.bulk_create(
        [
            EmailBlacklist(email=a, reason=why(a), message_id=pk)
            for a, pk in messages.items()
            if a not in known
        ],
        ignore_conflicts=True,
    )
