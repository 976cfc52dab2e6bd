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


INBOUND_SMS = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "maxLength": 200, "description": "the gateway's message id"},
        "from": {"type": "string", "description": "the sender's number (E.164)"},
        "to": {"type": "string", "description": "our number it was sent to"},
        "text": {"type": "string", "maxLength": 10000},
    },
    "required": ["id", "from"],
    "examples": [{"id": "SM1f0c", "from": "+15551234567", "to": "+15550001111", "text": "STOP"}],
}
INBOUND_FORM = {
    "type": "object",
    "description": "Twilio's names (MessageSid, From, To, Body); also id/from/to/text, "
    "msisdn (Vonage: international without +), Text, MessageUUID, messageId",
    "properties": {
        "MessageSid": {"type": "string"},
        "From": {"type": "string"},
        "To": {"type": "string"},
        "Body": {"type": "string"},
    },
    "required": ["MessageSid", "From"],
}
INBOUND_ANSWER = {
    "type": "object",
    "properties": {
        "kind": {"type": "string", "enum": ["stop", "start", "help", "reply"]},
        "reply": {
            "type": ["string", "null"],
            "description": "the text to send back to the person; null for none",
        },
        "duplicate": {"type": "boolean", "description": "this id was received before"},
    },
    "required": ["kind", "reply", "duplicate"],
    "examples": [
        {
            "kind": "stop",
            "reply": "You will receive no more messages from us. Reply START to subscribe again.",
            "duplicate": False,
        }
    ],
}
SMS_INBOUND = {
    "post": {
        "tags": ["Provider webhooks"],
        "summary": "Inbound SMS from the SMS gateway",
        "description": "An SMS a person sent to one of our numbers. STOP, STOPALL, UNSUBSCRIBE, "
        "CANCEL, END, QUIT, ARRET, HALT blacklist the number; START, UNSTOP lift it; HELP "
        "asks for the help text; anything else is kept as a reply to the latest SMS sent to "
        "that number. The answer carries the text the gateway sends back (TwiML to a form "
        "post). Idempotent on the message id. A form post may instead be signed by Twilio "
        "(X-Twilio-Signature, with DRUMBEAT_WEBHOOK_SECRET as the auth token). See "
        "docs/webhooks.md.",
        "operationId": "webhook_sms_inbound",
        "security": [],
        "parameters": [{**SIGNATURE, "required": False}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": INBOUND_SMS},
                "application/x-www-form-urlencoded": {"schema": INBOUND_FORM},
            },
        },
        "responses": {
            "200": {
                "description": "Received (or received before: `duplicate`)",
                "content": {
                    "application/json": {"schema": INBOUND_ANSWER},
                    "application/xml": {
                        "schema": {"type": "string"},
                        "example": "<Response><Message>You will receive no more messages "
                        "from us. Reply START to subscribe again.</Message></Response>",
                    },
                },
            },
            "400": {
                "description": "Malformed body, a missing id or sender, a sender that is not "
                "a phone number; nothing is changed",
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
    "/api/v1/webhooks/sms-inbound": SMS_INBOUND,
}
