"""Activities: the steps of a campaign's workflow (docs/product.md#workflows-and-activities).
Changes go through
`drumbeat.automation.services`; on a campaign with participants they mark the workflow
modified (`POST campaigns/{id}/update` applies it)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from drumbeat.automation import services
from drumbeat.automation.models import Activity, Campaign, DelayUnit, ServerAction
from drumbeat.mailing.models import Template

from .errors import with_errors
from .fields import Id, Text
from .listing import clean_domain_fields, list_params, page_schema, paginate
from .lookups import get_or_404, resolve_ids

# --- activities --------------------------------------------------------------------------------

router = Router(tags=["Campaigns"])

ActivityKind = Literal["email", "sms", "action", "split"]
Trigger = Literal[tuple(Activity.Trigger.values)]  # type: ignore[valid-type]
Unit = Literal[tuple(DelayUnit.values)]  # type: ignore[valid-type]
OnCap = Literal["defer", "skip"]
LOCAL_HELP = (
    "HH:MM in the recipient's time zone, for delays in days, weeks or months: '2 days at"
    " 10:00' is the day after tomorrow at 10:00 where the person is"
)
ON_CAP_HELP = "When a frequency cap is reached: defer to the first moment it fits, or skip"
ACTIVITY_EXAMPLE = {
    "id": 3,
    "campaign": 1,
    "parent": None,
    "name": "Send welcome email",
    "kind": "email",
    "template": 4,
    "server_action": None,
    "trigger": "begin",
    "delay_amount": 2,
    "delay_unit": "hours",
    "expiry_amount": None,
    "expiry_unit": "",
    "domain": [],
    "send_at_local": None,
    "on_cap": "defer",
    "pending_change": "",
    "branches": [],
    "branch": "",
    "winner": "",
    "winner_at": None,
    "created_at": "2026-03-01T09:00:00Z",
    "updated_at": "2026-03-01T09:00:00Z",
}


class BranchIn(Schema):
    name: Text(40, 1)  # type: ignore[valid-type]
    weight: int = Field(ge=1, le=1000, description="Relative: 45/45/10 sends 10 % to the third")

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "A", "weight": 50}]})


class ActivityOut(Schema):
    id: int
    campaign: int
    parent: int | None
    name: str
    kind: ActivityKind
    template: int | None
    server_action: int | None
    trigger: Trigger  # type: ignore[valid-type]
    delay_amount: int
    delay_unit: Unit  # type: ignore[valid-type]
    expiry_amount: int | None
    expiry_unit: Literal["", "hours", "days", "weeks", "months"]
    domain: list[Any] = Field(description="The activity filter (applies to descendants too)")
    send_at_local: dt.time | None = Field(description=LOCAL_HELP)
    on_cap: OnCap = Field(description=ON_CAP_HELP)
    pending_change: Literal["", "added", "redated"]
    branches: list[BranchIn] = Field(description="A split's branches (2-5); [] otherwise")
    branch: str = Field(description="Under a split: the branch this activity is on")
    winner: str = Field(description="A split's declared winner ('' = none)")
    winner_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    model_config = ConfigDict(json_schema_extra={"examples": [ACTIVITY_EXAMPLE]})

    @staticmethod
    def resolve_campaign(obj: Activity) -> int:
        return obj.campaign_id

    @staticmethod
    def resolve_parent(obj: Activity) -> int | None:
        return obj.parent_id

    @staticmethod
    def resolve_template(obj: Activity) -> int | None:
        return obj.template_id

    @staticmethod
    def resolve_server_action(obj: Activity) -> int | None:
        return obj.server_action_id


class ActivityIn(Schema):
    campaign: Id
    name: Text(200, 1)  # type: ignore[valid-type]
    kind: ActivityKind = "email"
    template: Id | None = Field(None, description="Required for email and SMS")
    server_action: Id | None = Field(None, description="Required for kind 'action'")
    trigger: Trigger = "begin"  # type: ignore[valid-type]
    parent: Id | None = Field(None, description="Required for every trigger but 'begin'")
    delay_amount: int = Field(0, ge=0, le=100_000)
    delay_unit: Unit = "hours"  # type: ignore[valid-type]
    expiry_amount: int | None = Field(None, ge=1, le=100_000)
    expiry_unit: Literal["", "hours", "days", "weeks", "months"] = ""
    domain: list[Any] = Field(default_factory=list, max_length=500)
    send_at_local: dt.time | None = Field(None, description=LOCAL_HELP)
    on_cap: OnCap = Field("defer", description=ON_CAP_HELP)
    branches: list[BranchIn] = Field(
        default_factory=list, max_length=5, description="Required for kind 'split': 2-5"
    )
    branch: Text(40) = Field("", description="Required under a split: one of its branches")  # type: ignore[valid-type]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "campaign": 1,
                    "name": "Send welcome email",
                    "kind": "email",
                    "template": 4,
                    "trigger": "begin",
                    "delay_amount": 2,
                    "delay_unit": "hours",
                },
                {
                    "campaign": 1,
                    "name": "Add tag Hot",
                    "kind": "action",
                    "server_action": 9,
                    "trigger": "mail_click",
                    "parent": 3,
                    "delay_amount": 2,
                },
                {
                    "campaign": 1,
                    "name": "Welcome test",
                    "kind": "split",
                    "branches": [
                        {"name": "A", "weight": 45},
                        {"name": "B", "weight": 45},
                        {"name": "Holdout", "weight": 10},
                    ],
                },
                {
                    "campaign": 1,
                    "name": "Short welcome",
                    "kind": "email",
                    "template": 5,
                    "trigger": "activity",
                    "parent": 12,
                    "branch": "B",
                },
            ]
        }
    )


class ActivityPatch(Schema):
    name: Text(200, 1) = None  # type: ignore[valid-type]
    kind: ActivityKind = None  # type: ignore[assignment]
    template: Id | None = None
    server_action: Id | None = None
    trigger: Trigger = None  # type: ignore[valid-type]
    parent: Id | None = None
    delay_amount: int = Field(None, ge=0, le=100_000)  # type: ignore[assignment]
    delay_unit: Unit = None  # type: ignore[valid-type]
    expiry_amount: int | None = Field(None, ge=1, le=100_000)
    expiry_unit: Literal["", "hours", "days", "weeks", "months"] = None  # type: ignore[assignment]
    domain: list[Any] = Field(None, max_length=500)  # type: ignore[assignment]
    send_at_local: dt.time | None = Field(None, description=LOCAL_HELP)
    on_cap: OnCap = Field(None, description=ON_CAP_HELP)  # type: ignore[assignment]
    branches: list[BranchIn] = Field(None, max_length=5)  # type: ignore[assignment]
    branch: Text(40) = None  # type: ignore[valid-type]

    model_config = ConfigDict(json_schema_extra={"examples": [{"delay_amount": 3}]})


ActivityListParams = list_params(
    "ActivityListParams",
    "automation.activity",
    ["id", "name", "delay_hours"],
    example='[["kind", "=", "email"], ["campaign.state", "=", "running"]]',
    campaign=(Id | None, Field(None, examples=[1])),
    kind=(ActivityKind | None, None),
    trigger=(Trigger | None, None),
)


ACTIVITY_RELATIONS = {"template": Template, "server_action": ServerAction, "parent": Activity}


def _activity_fields(fields: dict[str, Any]) -> dict[str, Any]:
    clean_domain_fields(fields)
    resolve_ids(fields, ACTIVITY_RELATIONS)
    return fields


@router.get("", response=with_errors({200: page_schema(ActivityOut)}), summary="List activities")
def list_activities(request: HttpRequest, params: Query[ActivityListParams]):  # type: ignore[valid-type]
    queryset = Activity.objects.all()
    for name in ("campaign", "kind", "trigger"):
        value = getattr(params, name)
        if value is not None:
            queryset = queryset.filter(**{name: value})
    return paginate(queryset, params)


@router.post(
    "",
    response=with_errors({201: ActivityOut}),
    summary="Add an activity to a workflow",
    description="On a campaign with participants this marks the workflow modified "
    "(see `POST campaigns/{id}/update`).",
)
def create_activity(request: HttpRequest, payload: ActivityIn):
    fields = payload.model_dump()
    campaign_id = fields.pop("campaign")
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise ValidationError({"campaign": f"no campaign with id {campaign_id}"})
    return Status(201, services.create_activity(campaign, **_activity_fields(fields)))


@router.get("/{id}", response=with_errors({200: ActivityOut}), summary="Read an activity")
def get_activity(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(Activity, id, "activity")


@router.patch("/{id}", response=with_errors({200: ActivityOut}), summary="Update an activity")
def update_activity(request: HttpRequest, id: Id, payload: ActivityPatch):  # noqa: A002
    activity = get_or_404(Activity.objects.select_related("campaign"), id, "activity")
    fields = _activity_fields(payload.model_dump(exclude_unset=True))
    return services.update_activity(activity, **fields)


@router.delete(
    "/{id}",
    response=with_errors({204: None}),
    summary="Delete an activity",
    description="Its descendants and all their traces are deleted too.",
)
def delete_activity(request: HttpRequest, id: Id):  # noqa: A002
    activity = get_or_404(Activity.objects.select_related("campaign"), id, "activity")
    services.delete_activity(activity)
    return Status(204, None)
