"""What happens to sent messages: opened, clicked, replied, bounced (SPEC §8.5).

Each function updates the messages in one transaction (set-based) and, once committed, reports
through the one hook to the engine: `hooks.message_event(MessageEvent(kind, ids, at, machine))`.
A click or a reply implies an open: messages not yet opened get `opened_at` and an "open" event
too. The engine's test mode calls these functions to simulate events.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, DateTimeField, Q, Value
from django.db.models.functions import Coalesce

from drumbeat.lib import hooks

from .models import Click, EmailBlacklist, Link, Message

log = logging.getLogger(__name__)

HARD_BOUNCE_LIMIT = 5
HARD_BOUNCE_WINDOW = timedelta(weeks=13)


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


def record_open(message_id: int, opened_at: datetime | None, at: datetime, machine: bool) -> bool:
    """The open pixel's write, given the `opened_at` the view just read (DESIGN §6).

    A first open is one `UPDATE … WHERE opened_at IS NULL`; a repeated open writes nothing. The
    engine hears of a first open and of a repeated human open (an earlier machine open may have
    been ignored by its campaign); a repeated machine open changes nothing and is not reported.
    Returns True when the message was opened now.
    """
    opened_now = opened_at is None and bool(
        Message.objects.filter(pk=message_id, opened_at__isnull=True).update(opened_at=at)
    )
    if opened_now or not machine:
        _fire("open", [message_id], at, machine)
    return opened_now


def record_click(
    message_id: int,
    opened_at: datetime | None,
    clicked_at: datetime | None,
    at: datetime,
    link: Link,
    ip: str | None = None,
    user_agent: str = "",
    machine: bool = False,
) -> None:
    """A tracked click, given the message dates the view just read: a Click row, plus (first
    click only) one UPDATE setting clicked_at and, where missing, opened_at (a click implies an
    open). Reported like `record_open`: first events always, repeats only from humans."""
    first = clicked_at is None or opened_at is None
    with transaction.atomic() if first else nullcontext():
        if first:
            Message.objects.filter(pk=message_id).filter(
                Q(clicked_at__isnull=True) | Q(opened_at__isnull=True)
            ).update(
                clicked_at=Coalesce("clicked_at", Value(at, output_field=DateTimeField())),
                opened_at=Coalesce("opened_at", Value(at, output_field=DateTimeField())),
            )
        Click.objects.create(
            link=link,
            message_id=message_id,
            at=at,
            ip=ip or None,
            user_agent=(user_agent or "")[:500],
            is_machine=machine,
        )
        if opened_at is None:
            _fire("open", [message_id], at, machine)
        if clicked_at is None or not machine:
            _fire("click", [message_id], at, machine)


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


def mark_bounced(message_id: int, at: datetime, kind: str = "hard", reason: str = "") -> bool:
    """Mark a message bounced (kind "hard" or "soft"); after HARD_BOUNCE_LIMIT hard bounces of
    an email address within HARD_BOUNCE_WINDOW the address is blacklisted."""
    return bool(mark_bounced_many([message_id], at, kind, reason))


def mark_bounced_many(
    message_ids: Iterable[int], at: datetime, kind: str = "hard", reason: str = ""
) -> list[int]:
    kind = "soft" if kind == "soft" else "hard"
    with transaction.atomic():
        rows = Message.objects.filter(pk__in=set(message_ids))
        known = list(rows.values_list("pk", "channel", "recipient"))
        ids = [pk for pk, _, _ in known]
        Message.objects.filter(pk__in=ids).update(
            state=Message.State.BOUNCED,
            bounced_at=at,
            bounce_kind=kind,
            failure_reason=(reason or f"{kind} bounce")[:2000],
        )
        emails = [r for _, channel, r in known if channel == Message.Channel.EMAIL]
        if kind == "hard" and emails:
            blacklist_after_bounces(emails, at)
        _fire("bounce", ids, at)
    return ids


def mark_delivered(message_ids: Iterable[int], at: datetime) -> None:
    """A provider confirmed delivery: messages still outgoing or deferred become sent."""
    Message.objects.filter(
        pk__in=list(message_ids), state__in=[Message.State.OUTGOING, Message.State.DEFERRED]
    ).update(state=Message.State.SENT, sent_at=at)


def blacklist_after_bounces(addresses: list[str], at: datetime) -> list[str]:
    """Blacklist those of `addresses` with HARD_BOUNCE_LIMIT hard bounces in the window."""
    counts = (
        Message.objects.filter(
            channel=Message.Channel.EMAIL,
            recipient__in=addresses,
            bounce_kind="hard",
            bounced_at__gte=at - HARD_BOUNCE_WINDOW,
            bounced_at__lte=at,
        )
        .values("recipient")
        .annotate(n=Count("pk"))
        .filter(n__gte=HARD_BOUNCE_LIMIT)
    )
    reached = [row["recipient"] for row in counts]
    if reached:
        blacklist_emails(reached, f"{HARD_BOUNCE_LIMIT} hard bounces in 13 weeks")
        log.info("blacklisted after hard bounces: %s", ", ".join(reached))
    return reached


def blacklist_emails(addresses: list[str], reason: str) -> None:
    """Blacklist (or re-activate) the normalised addresses."""
    existing = set(
        EmailBlacklist.objects.filter(email__in=addresses).values_list("email", flat=True)
    )
    EmailBlacklist.objects.filter(email__in=existing, active=False).update(
        active=True, reason=reason
    )
    EmailBlacklist.objects.bulk_create(
        [EmailBlacklist(email=a, reason=reason) for a in set(addresses) - existing],
        ignore_conflicts=True,
    )
