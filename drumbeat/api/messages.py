"""The messages Drumbeat sent (read only): state, event times, bounce kind and category,
complaints, and every inbound report received about each (`inbound_events`).

`GET /api/v1/messages` filters by `campaign`, `activity`, `recipient`, `state` and `domain`
(the filter language over the message's own fields); `GET /api/v1/messages/{id}` reads one.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.db.models import Prefetch
from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import ConfigDict, Field

from drumbeat.lib.normalize import normalize_email
from drumbeat.mailing.models import InboundEvent, Message

from .errors import with_errors
from .fields import Id, QueryText
from .listing import list_params, page_schema, paginate
from .lookups import get_or_404

router = Router(tags=["Messages"])

MessageState = Literal["outgoing", "deferred", "sent", "bounced", "error", "cancelled"]

INBOUND_EXAMPLE = {
    "id": 12,
    "kind": "bounce",
    "at": "2026-03-01T09:20:00Z",
    "bounce_kind": "hard",
    "category": "user_unknown",
    "status": "5.1.1",
    "smtp_code": 550,
    "diagnostic": "550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown",
    "sender": "MAILER-DAEMON@mx.example.com (Mail Delivery System)",
    "subject": "Undelivered Mail Returned to Sender",
    "source": "smtp",
}
MESSAGE_EXAMPLE = {
    "id": 880,
    "channel": "email",
    "recipient": "ann@example.com",
    "subject": "Welcome",
    "campaign_id": 1,
    "activity_id": 3,
    "trace_id": 301,
    "record_model": "contacts.contact",
    "record_id": 17,
    "is_test": False,
    "state": "bounced",
    "created_at": "2026-03-01T09:00:00Z",
    "sent_at": "2026-03-01T09:00:01Z",
    "opened_at": None,
    "clicked_at": None,
    "replied_at": None,
    "bounced_at": "2026-03-01T09:20:00Z",
    "bounce_kind": "hard",
    "bounce_category": "user_unknown",
    "complained_at": None,
    "failure_reason": "550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown",
    "inbound_events": [INBOUND_EXAMPLE],
}


class InboundEventOut(Schema):
    id: int
    kind: str = Field(
        description="bounce, delay, delivered, complaint, auto_reply, reply, unsubscribe or unknown"
    )
    at: dt.datetime
    bounce_kind: str = Field(description="hard, soft or block (bounces); empty otherwise")
    category: str = Field(description="user_unknown, no_domain, mailbox_full, too_big, …")
    status: str = Field(description="Enhanced status code (RFC 3463), e.g. 5.1.1")
    smtp_code: int | None
    diagnostic: str = Field(description="The reporting server's own words")
    sender: str
    subject: str
    source: str = Field(description="smtp (inbound server) or webhook (provider)")

    model_config = ConfigDict(json_schema_extra={"examples": [INBOUND_EXAMPLE]})


class MessageOut(Schema):
    id: int
    channel: str
    recipient: str
    subject: str
    campaign_id: int | None
    activity_id: int | None
    trace_id: int | None
    record_model: str
    record_id: int | None
    is_test: bool
    state: MessageState = Field(description="A block leaves the state sent (see bounce_kind)")
    created_at: dt.datetime
    sent_at: dt.datetime | None
    opened_at: dt.datetime | None
    clicked_at: dt.datetime | None
    replied_at: dt.datetime | None
    bounced_at: dt.datetime | None
    bounce_kind: str = Field(description="hard, soft, block, or empty")
    bounce_category: str
    complained_at: dt.datetime | None = Field(description="Reported as spam by the recipient")
    failure_reason: str
    inbound_events: list[InboundEventOut]

    model_config = ConfigDict(json_schema_extra={"examples": [MESSAGE_EXAMPLE]})

    @staticmethod
    def resolve_inbound_events(obj: Message) -> list[InboundEvent]:
        return list(obj.inbound_events.all())


MessageListParams = list_params(
    "MessageListParams",
    "mailing.message",
    ["id", "created_at", "sent_at", "bounced_at", "recipient"],
    example='[["bounce_kind", "=", "hard"], ["sent_at", ">=", {"now": "-7d"}]]',
    campaign=(Id | None, Field(None, examples=[1])),
    activity=(Id | None, None),
    recipient=(
        QueryText(254) | None,
        Field(None, description="The exact address or number", examples=["ann@example.com"]),
    ),
    state=(MessageState | None, None),
)


MESSAGES = Message.objects.prefetch_related(
    Prefetch("inbound_events", queryset=InboundEvent.objects.order_by("at", "id"))
)


@router.get(
    "",
    response=with_errors({200: page_schema(MessageOut)}),
    summary="List messages",
    description="Newest first unless `ordering` says otherwise.",
)
def list_messages(request: HttpRequest, params: Query[MessageListParams]):  # type: ignore[valid-type]
    queryset = MESSAGES.all()
    if params.campaign is not None:
        queryset = queryset.filter(campaign_id=params.campaign)
    if params.activity is not None:
        queryset = queryset.filter(activity_id=params.activity)
    if params.recipient:
        address = params.recipient.strip()
        queryset = queryset.filter(recipient__in={address, normalize_email(address)})
    if params.state is not None:
        queryset = queryset.filter(state=params.state)
    return paginate(queryset, params)


@router.get("/{id}", response=with_errors({200: MessageOut}), summary="Read a message")
def get_message(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(MESSAGES, id, "message")
