"""Provider webhooks (documented in docs/webhooks.md):

`POST /api/v1/webhooks/mail-events` — a JSON list of
`{"id", "type": delivered|delay|open|click|reply|bounce|complaint, "message_id", "at",
"bounce_kind": hard|soft|block, "category", "reason"}`;
`POST /api/v1/webhooks/sms-status` — a JSON list of
`{"id", "message_id", "status": delivered|failed|undelivered|sent|queued, "at", "reason"}`.

The raw body is signed: header `X-Drumbeat-Signature` = hex HMAC-SHA256 of the body under
DRUMBEAT_WEBHOOK_SECRET. A bad or missing signature is 401 and malformed JSON 400, with nothing
changed. Events are idempotent on the provider's `id`: a repeated id is counted, not applied.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, JsonResponse
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from drumbeat.lib import clock

from . import bounce_rules, events
from .models import InboundEvent, Message, WebhookEvent
from .tokens import is_valid_token

MAIL_TYPES = {"delivered", "delay", "open", "click", "reply", "bounce", "complaint"}
BOUNCE_KINDS = {"hard", "soft", "block"}
# Provider events that leave an InboundEvent on their message.
RECORDED = {"delivered", "delay", "bounce", "complaint"}
SMS_STATUSES = {"delivered", "failed", "undelivered", "sent", "queued"}
MAX_EVENTS = 5000


class PayloadError(ValueError):
    pass


@dataclass(frozen=True)
class ProviderEvent:
    id: str
    kind: str
    message_ref: str
    at: datetime
    bounce_kind: str = "hard"
    reason: str = ""
    category: str = ""


def _error(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def signature_of(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(request: HttpRequest) -> bool:
    secret = settings.WEBHOOK_SECRET
    given = request.headers.get("X-Drumbeat-Signature", "").strip().lower()
    given = given.removeprefix("sha256=")
    if not secret or not given:
        return False
    return hmac.compare_digest(given, signature_of(request.body, secret))


def _text(item: dict, name: str, index: int, required: bool = True, limit: int = 200) -> str:
    value = item.get(name)
    if value is None or value == "":
        if required:
            raise PayloadError(f"event {index}: '{name}' is required")
        return ""
    if not isinstance(value, str | int):
        raise PayloadError(f"event {index}: '{name}' must be a string")
    value = str(value).strip()
    if len(value) > limit:
        raise PayloadError(f"event {index}: '{name}' is longer than {limit} characters")
    return value


def _at(item: dict, index: int) -> datetime:
    raw = item.get("at")
    if raw in (None, ""):
        return clock.now()
    parsed = parse_datetime(raw) if isinstance(raw, str) else None
    if parsed is None:
        raise PayloadError(f"event {index}: 'at' must be an ISO 8601 date and time")
    if parsed.tzinfo is None:
        raise PayloadError(f"event {index}: 'at' needs a time zone (e.g. Z or +00:00)")
    return parsed


def parse_events(body: bytes, kind_field: str, allowed: set[str]) -> list[ProviderEvent]:
    """The events of a webhook body; PayloadError names the first problem."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"malformed JSON: {exc}") from exc
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise PayloadError("expected a JSON list of events")
    if len(data) > MAX_EVENTS:
        raise PayloadError(f"at most {MAX_EVENTS} events per request")
    result = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise PayloadError(f"event {index}: expected an object")
        kind = _text(item, kind_field, index)
        if kind not in allowed:
            raise PayloadError(
                f"event {index}: '{kind_field}' must be one of {', '.join(sorted(allowed))}"
            )
        bounce_kind = _text(item, "bounce_kind", index, required=False) or "hard"
        if bounce_kind not in BOUNCE_KINDS:
            raise PayloadError(f"event {index}: 'bounce_kind' must be hard, soft or block")
        category = _text(item, "category", index, required=False)
        if category and category not in bounce_rules.CATEGORIES:
            raise PayloadError(
                f"event {index}: 'category' must be one of {', '.join(bounce_rules.CATEGORIES)}"
            )
        result.append(
            ProviderEvent(
                id=_text(item, "id", index),
                kind=kind,
                message_ref=_text(item, "message_id", index, limit=255),
                at=_at(item, index),
                bounce_kind=bounce_kind,
                reason=_text(item, "reason", index, required=False, limit=2000),
                category=category,
            )
        )
    return result


def _resolve(refs: set[str]) -> dict[str, Message]:
    """Messages by the reference a provider knows: our Message-ID (angle brackets optional)
    or our token."""
    message_ids = {f"<{r.strip('<>')}>" for r in refs}
    tokens = {r.lower() for r in refs if is_valid_token(r)}
    rows = Message.objects.filter(Q(message_id__in=message_ids) | Q(token__in=tokens))
    found: dict[str, Message] = {}
    for message in rows:
        found[message.message_id] = message
        found[message.token] = message
    return {r: found.get(f"<{r.strip('<>')}>") or found.get(r.lower()) for r in refs}


def _apply(source: str, parsed: list[ProviderEvent]) -> dict[str, int]:
    counts = {"processed": 0, "duplicates": 0, "unknown": 0}
    with transaction.atomic():
        seen = set(
            WebhookEvent.objects.filter(
                source=source, event_id__in=[e.id for e in parsed]
            ).values_list("event_id", flat=True)
        )
        fresh: list[ProviderEvent] = []
        for event in parsed:
            if event.id in seen:
                counts["duplicates"] += 1
            else:
                seen.add(event.id)
                fresh.append(event)
        messages = _resolve({e.message_ref for e in fresh})
        groups: dict[tuple[str, str, str, str], list[tuple[Message, datetime]]] = defaultdict(list)
        for event in fresh:
            message = messages.get(event.message_ref)
            if message is None:
                counts["unknown"] += 1
                continue
            counts["processed"] += 1
            key = (event.kind, event.bounce_kind, event.reason, event.category)
            groups[key].append((message, event.at))
        recorded: list[InboundEvent] = []
        for (kind, bounce_kind, reason, category), items in groups.items():
            ids = [m.pk for m, _ in items]
            at = min(a for _, a in items)
            _apply_group(kind, bounce_kind, reason, category, ids, at)
            if kind in RECORDED:
                recorded += [
                    InboundEvent(
                        message_id=m.pk,
                        kind=kind,
                        at=a,
                        bounce_kind=bounce_kind if kind == "bounce" else "",
                        category=category or ("spam" if kind == "complaint" else ""),
                        diagnostic=reason,
                        source="webhook",
                    )
                    for m, a in items
                ]
        events.record_inbound_events(recorded)
        WebhookEvent.objects.bulk_create(
            [WebhookEvent(source=source, event_id=e.id, kind=e.kind) for e in fresh],
            ignore_conflicts=True,
        )
    return counts


def _apply_group(
    kind: str, bounce_kind: str, reason: str, category: str, ids: list[int], at: datetime
) -> None:
    if kind in {"delivered", "sent"}:
        events.mark_delivered(ids, at)
    elif kind == "open":
        events.mark_opened(ids, at)
    elif kind == "click":
        events.mark_clicked_many(ids, at)
    elif kind == "reply":
        events.mark_replied_many(ids, at)
    elif kind in {"bounce", "failed", "undelivered"}:
        if not category:
            category = bounce_rules.classify(text=reason).category if reason else "other"
        events.mark_bounced_many(ids, at, bounce_kind, reason, category)
    elif kind == "complaint":
        events.mark_complained_many(ids, at)


def _handle(request: HttpRequest, source: str, kind_field: str, allowed: set[str]) -> JsonResponse:
    if not settings.WEBHOOK_SECRET:
        return _error(401, "webhooks are disabled: DRUMBEAT_WEBHOOK_SECRET is not set")
    if not signature_ok(request):
        return _error(401, "bad or missing X-Drumbeat-Signature")
    try:
        parsed = parse_events(request.body, kind_field, allowed)
    except PayloadError as exc:
        return _error(400, str(exc))
    return JsonResponse(_apply(source, parsed))


@csrf_exempt
@require_POST
def mail_events(request: HttpRequest) -> JsonResponse:
    return _handle(request, "mail", "type", MAIL_TYPES)


@csrf_exempt
@require_POST
def sms_status(request: HttpRequest) -> JsonResponse:
    return _handle(request, "sms", "status", SMS_STATUSES)
