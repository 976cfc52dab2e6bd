"""OpenAPI entries for the provider webhooks. They are plain Django views of the mailing app
(HMAC-signed, no API token; see docs/webhooks.md), so ninja does not know them: their
operations are added to the generated document here, schema only."""

from __future__ import annotations

from typing import Any

from drumbeat.mailing.bounce_rules import CATEGORIES

SIGNATURE = {
    "name": "X-Drumbeat-Signature",
    "in": "header",
    "required": True,
    "description": "Hex HMAC-SHA256 of the raw body with DRUMBEAT_WEBHOOK_SECRET "
    "(`sha256=` prefix accepted)",
    "schema": {"type": "string", "examples": ["sha256=5f1c…"]},
}
ANSWER = {
    "type": "object",
    "properties": {
        "processed": {"type": "integer"},
        "duplicates": {"type": "integer", "description": "event ids already received"},
        "unknown": {"type": "integer", "description": "events about no known message"},
    },
    "required": ["processed", "duplicates", "unknown"],
    "examples": [{"processed": 2, "duplicates": 1, "unknown": 0}],
}
DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "examples": [{"detail": "bad or missing X-Drumbeat-Signature"}],
}
COMMON = {"id", "message_id", "at", "reason"}


def _event(extra: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string", "maxLength": 200, "description": "the provider's event id"},
            "message_id": {
                "type": "string",
                "description": "Message-ID header or message token",
            },
            "at": {"type": "string", "format": "date-time"},
            "reason": {"type": "string"},
            **extra,
        },
        "required": ["id", "message_id", *[k for k in extra if k in ("type", "status")]],
        "examples": [example],
    }


MAIL_EVENT = _event(
    {
        "type": {
            "type": "string",
            "enum": ["delivered", "delay", "open", "click", "reply", "bounce", "complaint"],
        },
        "bounce_kind": {"type": "string", "enum": ["hard", "soft", "block"]},
        "category": {"type": "string", "enum": list(CATEGORIES)},
    },
    {"id": "evt-2", "type": "open", "message_id": "<3f…@in.example.org>"},
)
SMS_STATUS = _event(
    {
        "status": {
            "type": "string",
            "enum": ["delivered", "sent", "queued", "failed", "undelivered"],
        }
    },
    {"id": "dlr-1", "message_id": "5d0c…e1", "status": "delivered"},
)


def _operation(summary: str, event: dict[str, Any], description: str) -> dict[str, Any]:
    body_schema = {"anyOf": [{"type": "array", "items": event, "maxItems": 5000}, event]}
    return {
        "post": {
            "tags": ["Provider webhooks"],
            "summary": summary,
            "description": description + " Idempotent on event ids. See docs/webhooks.md.",
            "operationId": "webhook_" + summary.split()[0].lower(),
            "security": [],
            "parameters": [SIGNATURE],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body_schema}},
            },
            "responses": {
                "200": {
                    "description": "Accepted",
                    "content": {"application/json": {"schema": ANSWER}},
                },
                "400": {
                    "description": "Malformed JSON or an invalid event; nothing is applied",
                    "content": {"application/json": {"schema": DETAIL}},
                },
                "401": {
                    "description": "Bad or missing signature, or no secret configured",
                    "content": {"application/json": {"schema": DETAIL}},
                },
            },
        }
    }


WEBHOOK_PATHS = {
    "/api/v1/webhooks/mail-events": _operation(
        "Mail events from the email provider",
        MAIL_EVENT,
        "delivered, open, click, reply, bounce, complaint.",
    ),
    "/api/v1/webhooks/sms-status": _operation(
        "SMS delivery reports from the SMS gateway",
        SMS_STATUS,
        "failed and undelivered mark the SMS bounced.",
    ),
}
