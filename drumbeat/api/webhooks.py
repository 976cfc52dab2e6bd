"""Outbound event webhooks over the API (administrators only): endpoints CRUD, the delivery
log, and replay. The engine side is automation/outbound.py."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from drumbeat.automation import outbound
from drumbeat.automation.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

from .auth import require_admin
from .errors import with_errors
from .fields import Id, Text, partial_schema
from .listing import list_params, page_schema, paginate
from .lookups import delete_record, get_or_404

endpoints_router = Router(tags=["Outbound webhooks"])
deliveries_router = Router(tags=["Outbound webhooks"])

EventName = Literal[tuple(WebhookEvent.values)]  # type: ignore[valid-type]
DeliveryState = Literal[tuple(WebhookDelivery.State.values)]  # type: ignore[valid-type]
WHAT = "manage outbound webhooks"

ENDPOINT_EXAMPLE = {
    "id": 2,
    "url": "https://crm.example.org/hooks/drumbeat",
    "events": ["participant.enrolled", "message.opened"],
    "description": "CRM sync",
    "active": True,
    "secret": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "created_by": 1,
    "created_at": "2026-03-01T09:00:00Z",
}

DELIVERY_EXAMPLE = {
    "id": 41,
    "endpoint": 2,
    "event": "message.opened",
    "payload": {
        "id": 1207,
        "channel": "email",
        "recipient": "ann@example.com",
        "trace_id": 5531,
        "campaign_id": 3,
        "activity_id": 8,
        "record_model": "contacts.contact",
        "record_id": 17,
        "is_test": False,
        "bounce_kind": "",
        "at": "2026-03-02T10:12:00Z",
        "machine": False,
    },
    "state": "pending",
    "attempts": 2,
    "next_attempt_at": "2026-03-02T10:18:00Z",
    "last_status": 503,
    "last_error": "HTTP 503",
    "last_duration_ms": 41,
    "delivered_at": None,
    "created_at": "2026-03-02T10:12:00Z",
}


class EndpointOut(Schema):
    id: int
    url: str
    events: list[str]
    description: str
    active: bool
    secret: str = Field(description="HMAC-SHA256 key of the X-Drumbeat-Signature header")
    created_by: int | None
    created_at: dt.datetime

    model_config = ConfigDict(json_schema_extra={"examples": [ENDPOINT_EXAMPLE]})

    @staticmethod
    def resolve_created_by(obj: WebhookEndpoint) -> int | None:
        return obj.created_by_id


class EndpointIn(Schema):
    url: Text(500, 1) = Field(description="http:// or https:// URL receiving the POSTs")  # type: ignore[valid-type]
    events: list[EventName] = Field(min_length=1, max_length=len(WebhookEvent.values))  # type: ignore[valid-type]
    description: Text(200) = ""  # type: ignore[valid-type]
    active: bool = True

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://crm.example.org/hooks/drumbeat",
                    "events": ["participant.enrolled", "message.opened"],
                    "description": "CRM sync",
                }
            ]
        }
    )


EndpointPatch = partial_schema(EndpointIn, "EndpointPatch")


class DeliveryOut(Schema):
    id: int
    endpoint: int
    event: str
    payload: dict[str, Any] = Field(description="The `data` of the POSTed body")
    state: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status: int | None
    last_error: str
    last_duration_ms: int | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime

    model_config = ConfigDict(json_schema_extra={"examples": [DELIVERY_EXAMPLE]})

    @staticmethod
    def resolve_endpoint(obj: WebhookDelivery) -> int:
        return obj.endpoint_id


EndpointList = list_params(
    "WebhookEndpointListParams",
    "automation.webhookendpoint",
    ["id", "url", "created_at"],
    example='[["active", "=", true], ["url", "ilike", "crm"]]',
)
DeliveryListParams = list_params(
    "DeliveryListParams",
    "automation.webhookdelivery",
    ["id", "created_at"],
    example='[["state", "=", "failed"], ["last_status", ">=", 500]]',
    endpoint=(Id | None, Field(None, examples=[2])),
    event=(EventName | None, Field(None, examples=["message.opened"])),
    state=(DeliveryState | None, Field(None, examples=["failed"])),
)


@endpoints_router.get(
    "",
    response=with_errors({200: page_schema(EndpointOut)}),
    summary="List outbound webhook endpoints",
)
def list_endpoints(request: HttpRequest, params: Query[EndpointList]):  # type: ignore[valid-type]
    require_admin(request, WHAT)
    return paginate(WebhookEndpoint.objects.order_by("id"), params)


@endpoints_router.post(
    "",
    response=with_errors({201: EndpointOut}),
    summary="Register an outbound webhook endpoint",
    description="The signing secret is generated and returned.",
)
def create_endpoint(request: HttpRequest, payload: EndpointIn):
    user = require_admin(request, WHAT)
    return Status(201, outbound.create_endpoint(created_by=user, **payload.model_dump()))


@endpoints_router.get(
    "/{id}", response=with_errors({200: EndpointOut}), summary="Read a webhook endpoint"
)
def get_endpoint(request: HttpRequest, id: Id):  # noqa: A002
    require_admin(request, WHAT)
    return get_or_404(WebhookEndpoint, id, "webhook endpoint")


@endpoints_router.patch(
    "/{id}", response=with_errors({200: EndpointOut}), summary="Update a webhook endpoint"
)
def update_endpoint(request: HttpRequest, id: Id, payload: EndpointPatch):  # type: ignore[valid-type]  # noqa: A002
    require_admin(request, WHAT)
    endpoint = get_or_404(WebhookEndpoint, id, "webhook endpoint")
    return outbound.update_endpoint(endpoint, **payload.model_dump(exclude_unset=True))


@endpoints_router.post(
    "/{id}/rotate-secret",
    response=with_errors({200: EndpointOut}),
    summary="Generate a new signing secret",
)
def rotate_secret(request: HttpRequest, id: Id):  # noqa: A002
    require_admin(request, WHAT)
    return outbound.rotate_secret(get_or_404(WebhookEndpoint, id, "webhook endpoint"))


@endpoints_router.delete(
    "/{id}",
    response=with_errors({204: None}),
    summary="Delete a webhook endpoint",
    description="Its deliveries are deleted with it.",
)
def delete_endpoint(request: HttpRequest, id: Id):  # noqa: A002
    require_admin(request, WHAT)
    delete_record(get_or_404(WebhookEndpoint, id, "webhook endpoint"))
    return Status(204, None)


@deliveries_router.get(
    "",
    response=with_errors({200: page_schema(DeliveryOut)}),
    summary="List outbound webhook deliveries",
    description="Newest first unless `ordering` says otherwise.",
)
def list_deliveries(request: HttpRequest, params: Query[DeliveryListParams]):  # type: ignore[valid-type]
    require_admin(request, WHAT)
    rows = WebhookDelivery.objects.order_by("-id")
    if params.endpoint is not None:
        rows = rows.filter(endpoint_id=params.endpoint)
    if params.event:
        rows = rows.filter(event=params.event)
    if params.state:
        rows = rows.filter(state=params.state)
    return paginate(rows, params)


@deliveries_router.get(
    "/{id}", response=with_errors({200: DeliveryOut}), summary="Read a webhook delivery"
)
def get_delivery(request: HttpRequest, id: Id):  # noqa: A002
    require_admin(request, WHAT)
    return get_or_404(WebhookDelivery, id, "webhook delivery")


@deliveries_router.post(
    "/{id}/replay",
    response=with_errors({200: DeliveryOut}),
    summary="Send a delivery again now",
    description="Whatever its state; the outcome is recorded (a failure is retried with "
    "backoff again).",
)
def replay_delivery(request: HttpRequest, id: Id):  # noqa: A002
    require_admin(request, WHAT)
    queryset = WebhookDelivery.objects.select_related("endpoint")
    return outbound.replay(get_or_404(queryset, id, "webhook delivery"))
