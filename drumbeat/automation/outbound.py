"""Outbound event webhooks: signed notifications to URLs an administrator registered.

Emission is set-based. `emit(event, rows)` first asks a per-process cache whether any active
endpoint subscribes to `event` (no query while the answer is cached; the cache is dropped when
an endpoint is saved or deleted in this process and reloaded at most every CACHE_SECONDS, so
other processes follow within that time). Only then are the rows read (the `emit_*` helpers
pass a callable, so an unsubscribed event costs no statement at all) and the deliveries written
with ONE INSERT per batch, whatever the number of rows and endpoints.

Delivery (`deliver_due`) runs in the embedded runner's pass and in the Celery tick's
`drumbeat.deliver_webhooks` task. Each delivery is claimed with a lease (one UPDATE …
RETURNING, SKIP LOCKED on PostgreSQL), POSTed with httpx through lib/netguard.py's guarded
client (5 s timeout, no proxy from the environment, no redirects, inside addresses refused) and
its outcome recorded: status code or error, duration. A 2xx is delivered; an address netguard
refuses fails the delivery at once ("address not allowed: 127.0.0.1 is loopback"); anything
else is tried again after 1 min, 5 min, 30 min, 2 h and 12 h, then failed.
`replay(delivery)` sends a delivery again now, whatever its state.

The request: `POST` with the JSON body `{"id", "event", "created_at", "data"}` and the headers
`X-Drumbeat-Event`, `X-Drumbeat-Delivery` (the delivery id: receivers deduplicate on it, a
crash between the POST and its recording makes a delivery go out again) and
`X-Drumbeat-Signature: sha256=<hex HMAC-SHA256 of the body with the endpoint's secret>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save

from drumbeat.lib import clock, hooks, netguard

from .models import Participant, Trace, WebhookDelivery, WebhookEndpoint, WebhookEvent

log = logging.getLogger(__name__)

EVENT_HEADER = "X-Drumbeat-Event"
DELIVERY_HEADER = "X-Drumbeat-Delivery"
SIGNATURE_HEADER = "X-Drumbeat-Signature"
TIMEOUT = 5.0
# Wait after failed attempt n (1-based); after the last one the delivery is failed.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=12),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = timedelta(minutes=2)
CACHE_SECONDS = 30.0
DELIVERY_BATCH = 50
DRAIN_SECONDS = 30.0
PRUNE_BATCH = 10_000
PRUNE_SECONDS = 3600.0
_pruned_at: float | None = None

MESSAGE_EVENTS = {
    "open": WebhookEvent.MESSAGE_OPENED,
    "click": WebhookEvent.MESSAGE_CLICKED,
    "reply": WebhookEvent.MESSAGE_REPLIED,
    "bounce": WebhookEvent.MESSAGE_BOUNCED,
    "complaint": WebhookEvent.MESSAGE_COMPLAINED,
}

Rows = Iterable[dict[str, Any]] | Callable[[], Iterable[dict[str, Any]]]

# --- which events have subscribers (per-process cache) -----------------------------------------

_cache_lock = threading.Lock()
_subscribed: frozenset[str] | None = None
_expires_at: float | None = None


def subscribed_events() -> frozenset[str]:
    """Events at least one active endpoint subscribes to (cached; one query when stale)."""
    global _subscribed, _expires_at
    with _cache_lock:
        if _subscribed is not None and (_expires_at is None or time.monotonic() < _expires_at):
            return _subscribed
    events: set[str] = set()
    for names in WebhookEndpoint.objects.filter(active=True).values_list("events", flat=True):
        events.update(str(n) for n in names or [])
    with _cache_lock:
        _subscribed, _expires_at = frozenset(events), time.monotonic() + CACHE_SECONDS
        return _subscribed


def prime_subscriptions(events: Iterable[str], seconds: float | None = None) -> None:
    """Set the cache without a query (`seconds=None`: until dropped). Tests start each with an
    empty database, so they prime it empty and statement counts never depend on test order."""
    global _subscribed, _expires_at
    with _cache_lock:
        _subscribed = frozenset(events)
        _expires_at = None if seconds is None else time.monotonic() + seconds


def forget_subscriptions(**_: Any) -> None:
    global _subscribed, _expires_at
    with _cache_lock:
        _subscribed, _expires_at = None, None


def _endpoint_changed(**_: Any) -> None:
    forget_subscriptions()
    transaction.on_commit(forget_subscriptions)  # a reload before the commit saw the old rows


post_save.connect(_endpoint_changed, sender=WebhookEndpoint, dispatch_uid="outbound-save")
post_delete.connect(_endpoint_changed, sender=WebhookEndpoint, dispatch_uid="outbound-delete")


# --- emission -----------------------------------------------------------------------------------


def emit(event: str, rows: Rows) -> int:
    """Queue one delivery of `event` per row and subscribed endpoint; returns how many.

    `rows`: dicts (the `data` of each notification) or a callable returning them, called only
    when some endpoint subscribes. Constant statements: none when nobody subscribes (cached),
    else one SELECT of the endpoints, the rows' own query, and one INSERT.
    """
    if event not in subscribed_events():
        return 0
    endpoint_ids = [
        pk
        for pk, events in WebhookEndpoint.objects.filter(active=True).values_list("id", "events")
        if event in (events or [])
    ]
    if not endpoint_ids:
        return 0
    data = list(rows() if callable(rows) else rows)
    if not data:
        return 0
    items = [{"e": endpoint_id, "p": row} for row in data for endpoint_id in endpoint_ids]
    return _insert_deliveries(str(event), items, clock.now())


def _insert_deliveries(event: str, items: list[dict], now: datetime) -> int:
    """All deliveries in one INSERT … SELECT over a JSON array parameter."""
    table = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    columns = (
        "endpoint_id, event, payload, state, attempts, next_attempt_at, last_error, created_at"
    )
    at = connection.ops.adapt_datetimefield_value(now)
    payload = json.dumps(items, cls=DjangoJSONEncoder)
    if connection.vendor == "postgresql":
        select = (
            "SELECT (x->>'e')::bigint, %s, x->'p', 'pending', 0, %s, '', %s"
            " FROM jsonb_array_elements(%s::jsonb) AS x"
        )
    else:
        select = (
            "SELECT json_extract(value, '$.e'), %s, json_extract(value, '$.p'), 'pending', 0,"
            " %s, '', %s FROM json_each(%s)"
        )
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({columns}) {select}", [event, at, at, payload])
        return cursor.rowcount


def emit_enrolled(campaign, now: datetime) -> int:
    """`participant.enrolled` for the participants `campaign` enrolled at `now`."""

    def rows() -> Iterable[dict]:
        return (
            Participant.objects.filter(campaign_id=campaign.pk, enrolled_at=now, is_test=False)
            .order_by("pk")
            .values("id", "campaign_id", "record_id", "unique_key", "state", "enrolled_at")
        )

    return emit(WebhookEvent.PARTICIPANT_ENROLLED, _with(rows, target=campaign.target))


def emit_completed(participant_ids: QuerySet | list[int], now: datetime) -> int:
    """`participant.completed` for those of `participant_ids` completed at `now`."""

    def rows() -> Iterable[dict]:
        from .engine.sql import id_set

        ids = id_set(participant_ids) if isinstance(participant_ids, list) else participant_ids
        return (
            Participant.objects.filter(
                id__in=ids, state=Participant.State.COMPLETED, completed_at=now
            )
            .order_by("pk")
            .values("id", "campaign_id", "record_id", "is_test", "enrolled_at", "completed_at")
        )

    return emit(WebhookEvent.PARTICIPANT_COMPLETED, rows)


def emit_converted(campaign, participant_ids: list[int], exited: list[int], now: datetime) -> int:
    """`participant.converted` for the participants of `campaign` that reached its goal at
    `now` (`exited`: those of them that left the workflow), with their split branches."""

    def rows() -> Iterable[dict]:
        from .engine.sql import id_set
        from .models import SplitAssignment

        branches: dict[int, list[dict]] = {}
        for row in (
            SplitAssignment.objects.filter(participant_id__in=id_set(participant_ids))
            .order_by("id")
            .values("participant_id", "split_id", "split__name", "branch")
        ):
            branches.setdefault(row["participant_id"], []).append(
                {"split_id": row["split_id"], "split": row["split__name"], "branch": row["branch"]}
            )
        left = set(exited)
        found = (
            Participant.objects.filter(id__in=id_set(participant_ids))
            .order_by("pk")
            .values("id", "campaign_id", "record_id", "unique_key", "is_test", "enrolled_at")
        )
        return [
            {
                **row,
                "target": campaign.target,
                "converted_at": now,
                "exited": row["id"] in left,
                "branches": branches.get(row["id"], []),
            }
            for row in found
        ]

    return emit(WebhookEvent.PARTICIPANT_CONVERTED, rows)


def emit_trace_outcomes(activity, outcomes: dict[int, tuple[str, str]], now: datetime) -> None:
    """`trace.processed` / `trace.error` for a batch's results (trace id → (state, reason))."""
    wanted = subscribed_events()
    for state, event in (
        (Trace.State.PROCESSED, WebhookEvent.TRACE_PROCESSED),
        (Trace.State.ERROR, WebhookEvent.TRACE_ERROR),
    ):
        if event not in wanted:  # nobody listens: not even a pass over the batch
            continue
        reasons = {pk: reason for pk, (s, reason) in outcomes.items() if s == state}
        if reasons:
            emit(event, _trace_rows(activity, reasons, state, now))


def _trace_rows(activity, reasons: dict[int, str], state: str, now: datetime):
    def rows() -> Iterable[dict]:
        from .engine.sql import id_set

        found = Trace.objects.filter(id__in=id_set(list(reasons))).values_list(
            "id", "participant_id", "participant__record_id", "is_test"
        )
        return [
            {
                "id": pk,
                "campaign_id": activity.campaign_id,
                "activity_id": activity.pk,
                "activity": activity.name,
                "participant_id": participant_id,
                "record_id": record_id,
                "state": str(state),
                "reason": reasons[pk],
                "is_test": is_test,
                "executed_at": now,
            }
            for pk, participant_id, record_id, is_test in found.order_by("pk")
        ]

    return rows


def emit_message_event(event: hooks.MessageEvent) -> None:
    """Listener of `hooks.message_event`: message.opened / clicked / replied / bounced /
    complained."""
    name = MESSAGE_EVENTS.get(event.kind)
    if name is None or not event.message_ids:
        return

    def rows() -> Iterable[dict]:
        from drumbeat.mailing.models import Message

        from .engine.sql import id_set

        found = (
            Message.objects.filter(id__in=id_set(event.message_ids))
            .order_by("pk")
            .values(
                "id",
                "channel",
                "recipient",
                "trace_id",
                "campaign_id",
                "activity_id",
                "record_model",
                "record_id",
                "is_test",
                "bounce_kind",
                "bounce_category",
                "failure_reason",
            )
        )
        return [{**row, "at": event.at, "machine": event.machine} for row in found]

    try:
        emit(name, rows)
    except Exception:
        log.exception("queueing %s webhooks failed", name)


def emit_unsubscribed(event: hooks.Unsubscribed) -> None:
    """Listener of `hooks.unsubscribed`: contact.unsubscribed."""
    row = {
        "channel": event.channel,
        "address": event.address,
        "message_id": event.message_id,
        "record_model": event.record_model,
        "record_id": event.record_id,
        "campaign_id": event.campaign_id,
        "reason": event.reason,
        "at": event.at,
    }
    try:
        emit(WebhookEvent.CONTACT_UNSUBSCRIBED, [row])
    except Exception:
        log.exception("queueing contact.unsubscribed webhooks failed")


def _with(rows: Callable[[], Iterable[dict]], **extra: Any) -> Callable[[], list[dict]]:
    return lambda: [{**row, **extra} for row in rows()]


# --- delivery -----------------------------------------------------------------------------------


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_of(delivery: WebhookDelivery) -> bytes:
    envelope = {
        "id": delivery.pk,
        "event": delivery.event,
        "created_at": delivery.created_at,
        "data": delivery.payload,
    }
    return json.dumps(envelope, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def claim_due(now: datetime, limit: int) -> list[int]:
    """Take up to `limit` due pending deliveries with a lease: one UPDATE … RETURNING."""
    table = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    inner = (
        f"SELECT id FROM {table} WHERE state = 'pending' AND next_attempt_at <= %s"
        " ORDER BY next_attempt_at, id LIMIT %s"
    )
    if connection.vendor == "postgresql":
        inner += " FOR UPDATE SKIP LOCKED"
    sql = f"UPDATE {table} SET next_attempt_at = %s WHERE id IN ({inner}) RETURNING id"
    adapt = connection.ops.adapt_datetimefield_value
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [adapt(now + LEASE), adapt(now), limit])
        return [row[0] for row in cursor.fetchall()]


def deliver_due(limit: int = DELIVERY_BATCH, now: datetime | None = None) -> bool:
    """Send one batch of due deliveries; True when more may be due (the batch was full)."""
    now = now or clock.now()
    due = WebhookDelivery.objects.filter(state=WebhookDelivery.State.PENDING)
    if not due.filter(next_attempt_at__lte=now).exists():  # a read: no write lock when idle
        return False
    ids = claim_due(now, limit)
    if not ids:
        return False
    deliveries = WebhookDelivery.objects.filter(id__in=ids).select_related("endpoint")
    with _client() as client:
        for delivery in deliveries.order_by("id"):
            attempt(delivery, client)
    return len(ids) >= limit


def prune_log(now: datetime | None = None, limit: int = PRUNE_BATCH) -> int:
    """Delete delivered and failed deliveries older than DRUMBEAT_WEBHOOK_LOG_DAYS (0 keeps
    them all), at most `limit` per call, oldest first; pending ones are never deleted.
    Returns how many were deleted."""
    days = int(getattr(settings, "WEBHOOK_LOG_DAYS", 30) or 0)
    if days <= 0:
        return 0
    now = now or clock.now()
    old = (
        WebhookDelivery.objects.filter(
            state__in=[WebhookDelivery.State.DELIVERED, WebhookDelivery.State.FAILED],
            created_at__lt=now - timedelta(days=days),
        )
        .order_by("id")  # the oldest rows come first: the scan stops after `limit` of them
        .values_list("id", flat=True)[:limit]
    )
    ids = list(old)
    if not ids:
        return 0
    deleted, _ = WebhookDelivery.objects.filter(id__in=ids).delete()
    return deleted


def _prune_now() -> None:
    """At most once every PRUNE_SECONDS per process (a tick comes every few seconds)."""
    global _pruned_at
    if _pruned_at is not None and time.monotonic() - _pruned_at < PRUNE_SECONDS:
        return
    _pruned_at = time.monotonic()
    try:
        deleted = prune_log()
    except Exception:
        log.exception("pruning the webhook delivery log failed")
        return
    if deleted:
        log.info("webhook delivery log: %d old deliveries deleted", deleted)


def deliver_all(budget_seconds: float = DRAIN_SECONDS) -> int:
    """Batches of due deliveries until none is left or the budget is spent; returns batches.
    Also prunes the delivery log now and then."""
    _prune_now()
    started, batches = time.monotonic(), 0
    while time.monotonic() - started < budget_seconds:
        batches += 1
        if not deliver_due():
            break
    return batches


def _client() -> httpx.Client:
    return netguard.guarded_client(TIMEOUT)


def attempt(delivery: WebhookDelivery, client: httpx.Client | None = None) -> WebhookDelivery:
    """POST `delivery` once and record the outcome (delivered, retry later, or failed)."""
    endpoint = delivery.endpoint
    status: int | None = None
    error = ""
    refused = False
    started = time.monotonic()
    if not endpoint.active:
        error = "endpoint is inactive"
    else:
        body = body_of(delivery)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Drumbeat-Webhooks/1",
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: str(delivery.pk),
            SIGNATURE_HEADER: signature(endpoint.secret, body),
        }
        try:
            if client is None:
                with _client() as own:
                    response = own.post(endpoint.url, content=body, headers=headers)
            else:
                response = client.post(endpoint.url, content=body, headers=headers)
            status = response.status_code
            if 300 <= status < 400:
                error = f"HTTP {status}, redirect not followed"
            elif not 200 <= status < 300:
                error = f"HTTP {status}"
        except netguard.AddressRefused as exc:
            error, refused = str(exc), True
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # an unusable URL must not stop the other deliveries
            error = f"{type(exc).__name__}: {exc}"
    now = clock.now()
    delivery.attempts += 1
    delivery.last_status = status
    delivery.last_error = error[:500]
    delivery.last_duration_ms = int((time.monotonic() - started) * 1000)
    if not error:
        delivery.state, delivery.delivered_at, delivery.next_attempt_at = (
            WebhookDelivery.State.DELIVERED,
            now,
            None,
        )
    elif delivery.attempts < MAX_ATTEMPTS and endpoint.active and not refused:
        delivery.state = WebhookDelivery.State.PENDING
        delivery.next_attempt_at = now + BACKOFF[delivery.attempts - 1]
    else:
        delivery.state, delivery.next_attempt_at = WebhookDelivery.State.FAILED, None
    delivery.save(
        update_fields=[
            "attempts",
            "last_status",
            "last_error",
            "last_duration_ms",
            "state",
            "delivered_at",
            "next_attempt_at",
        ]
    )
    return delivery


def replay(delivery: WebhookDelivery) -> WebhookDelivery:
    """Send `delivery` again now, whatever its state, with a fresh round of retries."""
    delivery.attempts = 0
    delivery.state = WebhookDelivery.State.PENDING
    delivery.save(update_fields=["attempts", "state"])
    return attempt(delivery)


def send_test(endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A `ping`-like delivery of a sample event to `endpoint`, sent now (admin's Test button)."""
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event=(endpoint.events or [WebhookEvent.PARTICIPANT_ENROLLED.value])[0],
        payload={"test": True},
        next_attempt_at=clock.now(),
    )
    return attempt(delivery)


# --- endpoints (used by the web UI and the API) -------------------------------------------------

ENDPOINT_FIELDS = frozenset({"url", "events", "description", "active"})


def clean_events(events: Any) -> list[str]:
    """The event names in `events`, validated and in the canonical order."""
    from django.core.exceptions import ValidationError

    if not isinstance(events, list | tuple) or not events:
        raise ValidationError({"events": "Choose at least one event."})
    unknown = [str(e) for e in events if str(e) not in WebhookEvent.values]
    if unknown:
        raise ValidationError(
            {"events": f"Unknown event {unknown[0]!r}; known: {', '.join(WebhookEvent.values)}."}
        )
    chosen = {str(e) for e in events}
    return [e for e in WebhookEvent.values if e in chosen]


def _check_endpoint(endpoint: WebhookEndpoint) -> None:
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    endpoint.url = (endpoint.url or "").strip()
    try:
        URLValidator(schemes=["http", "https"])(endpoint.url)
    except ValidationError:
        raise ValidationError({"url": "Enter a full http:// or https:// URL."})
    if len(endpoint.url) > 500:
        raise ValidationError({"url": "At most 500 characters."})
    try:
        netguard.check_url(endpoint.url)
    except netguard.AddressRefused as exc:
        raise ValidationError({"url": f"{exc}."}) from None
    endpoint.events = clean_events(endpoint.events)
    endpoint.description = (endpoint.description or "").strip()
    if len(endpoint.description) > 200:
        raise ValidationError({"description": "At most 200 characters."})


def create_endpoint(
    url: str, events: list[str], description: str = "", active: bool = True, created_by=None
) -> WebhookEndpoint:
    """A new endpoint with a generated secret (raises ValidationError naming the field)."""
    endpoint = WebhookEndpoint(
        url=url, events=events, description=description, active=active, created_by=created_by
    )
    _check_endpoint(endpoint)
    endpoint.save()
    return endpoint


def update_endpoint(endpoint: WebhookEndpoint, **fields: Any) -> WebhookEndpoint:
    for name, value in fields.items():
        if name not in ENDPOINT_FIELDS:
            raise ValueError(f"not an endpoint field: {name}")
        setattr(endpoint, name, value)
    _check_endpoint(endpoint)
    endpoint.save()
    return endpoint


def rotate_secret(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new signing secret: deliveries sent from now on are signed with it."""
    from .models import new_webhook_secret

    endpoint.secret = new_webhook_secret()
    endpoint.save(update_fields=["secret"])
    return endpoint
