"""Campaigns and everything that runs in them: activities, participants, traces, links and
clicks, the campaign actions (start, stop, update, duplicate, tests, metrics) and the campaign
templates (docs/product.md: campaigns to templates, figures).

Every change goes through `drumbeat.automation.services` (or `campaign_templates`), which log
state changes and manual trace actions with the user (docs/product.md#users-and-access). A refusal
that depends on the current state (stopping a campaign that is not running, simulating on a real
trace…) is a 409.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field, HttpUrl

from drumbeat.accounts.models import User
from drumbeat.automation import campaign_templates, metrics, services
from drumbeat.automation.models import (
    Activity,
    Campaign,
    DelayUnit,
    Participant,
    ServerAction,
    Trace,
)
from drumbeat.automation.targets import get_target
from drumbeat.mailing.models import Click, Link, Template

from .auth import current_user
from .errors import Conflict, with_errors
from .fields import Id, QueryText, Text, check_json_text
from .listing import page_schema, paginate, parse_api_domain
from .lookups import delete_record, get_or_404, resolve_ids
from .targets import TargetKey

R = TypeVar("R")

Limit = Field(50, ge=1, le=500, examples=[50])
Offset = Field(0, ge=0, le=10_000_000, examples=[0])


def state_change(action: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Run a service call; a refusal that names no field is about the current state: 409."""
    try:
        return action(*args, **kwargs)
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            raise
        raise Conflict(" ".join(exc.messages))


def _domain_field(fields: dict[str, Any]) -> None:
    for name in ("domain", "goal_domain"):
        if fields.get(name) is not None:
            try:
                fields[name] = parse_api_domain(fields[name])
            except ValueError as exc:
                raise ValidationError({name: str(exc)})


# --- campaigns ---------------------------------------------------------------------------------

campaigns_router = Router(tags=["Campaigns"])

CAMPAIGN_EXAMPLE = {
    "id": 1,
    "name": "Tag Hot Contacts",
    "owner": 1,
    "target": "contacts.contact",
    "domain": [["email", "!=", False], ["is_blacklisted", "=", False]],
    "include_archived": False,
    "unique_field": "email",
    "state": "running",
    "event_window_days": 30,
    "ignore_machine_events": True,
    "priority": "normal",
    "pressure_exempt": False,
    "email_window": "",
    "sms_window": "",
    "goal_domain": [["tags.name", "=", "Customer"]],
    "goal_window_days": 30,
    "exit_on_goal": True,
    "require_sync": False,
    "last_sync_at": None,
    "archived": False,
    "created_at": "2026-03-01T09:00:00Z",
    "updated_at": "2026-03-01T09:05:00Z",
}
CampaignState = Literal["draft", "running", "stopped"]
# Contact pressure (README "Contact pressure").
Priority = Literal["high", "normal", "low"]
PRIORITY_HELP = "Which campaign takes a person's last capped slot when several are due"
EXEMPT_HELP = "Ignore frequency caps and send windows (transactional flows)"
WINDOW_HELP = (
    "Replaces the instance's send window, e.g. 'Mon-Sat 08:00-20:00'; empty: the instance's"
)


class CampaignOut(Schema):
    id: int
    name: str
    owner: int | None = Field(description="The responsible user")
    target: str
    domain: list[Any] = Field(description="The campaign filter")
    include_archived: bool
    unique_field: str
    state: CampaignState = Field(description="draft (New), running or stopped")
    event_window_days: int
    ignore_machine_events: bool
    priority: Priority
    pressure_exempt: bool
    email_window: str
    sms_window: str
    goal_domain: list[Any] = Field(description="The goal: a filter meaning success; [] = none")
    goal_window_days: int | None = Field(description="Days after enrolment the goal counts")
    exit_on_goal: bool = Field(description="A participant reaching the goal leaves the workflow")
    require_sync: bool = Field(description="Workflow modified: Update or Don't update pending")
    last_sync_at: dt.datetime | None
    archived: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    model_config = ConfigDict(json_schema_extra={"examples": [CAMPAIGN_EXAMPLE]})

    @staticmethod
    def resolve_owner(obj: Campaign) -> int | None:
        return obj.owner_id


class CampaignIn(Schema):
    name: Text(200, 1)  # type: ignore[valid-type]
    target: TargetKey  # type: ignore[valid-type]
    owner: Id | None = Field(None, description="Default: the calling user")
    domain: list[Any] = Field(default_factory=list, max_length=500)
    include_archived: bool = False
    unique_field: Text(64) | None = Field(None, description="Default: the target's (email)")  # type: ignore[valid-type]
    event_window_days: int = Field(30, ge=1, le=3650)
    ignore_machine_events: bool = True
    priority: Priority = Field("normal", description=PRIORITY_HELP)
    pressure_exempt: bool = Field(False, description=EXEMPT_HELP)
    email_window: Text(200) = Field("", description=WINDOW_HELP)  # type: ignore[valid-type]
    sms_window: Text(200) = Field("", description=WINDOW_HELP)  # type: ignore[valid-type]
    goal_domain: list[Any] = Field(default_factory=list, max_length=500)
    goal_window_days: int | None = Field(None, ge=1, le=3650)
    exit_on_goal: bool = False

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Welcome new contacts",
                    "target": "contacts.contact",
                    "domain": [["email", "!=", False]],
                }
            ]
        }
    )


class CampaignPatch(Schema):
    name: Text(200, 1) = None  # type: ignore[valid-type]
    target: TargetKey = Field(None, description="Only while New, without activities")  # type: ignore[valid-type]
    owner: Id | None = None
    domain: list[Any] = Field(None, max_length=500)  # type: ignore[assignment]
    include_archived: bool = None  # type: ignore[assignment]
    unique_field: Text(64) = None  # type: ignore[valid-type]
    event_window_days: int = Field(None, ge=1, le=3650)  # type: ignore[assignment]
    ignore_machine_events: bool = None  # type: ignore[assignment]
    priority: Priority = Field(None, description=PRIORITY_HELP)  # type: ignore[assignment]
    pressure_exempt: bool = Field(None, description=EXEMPT_HELP)  # type: ignore[assignment]
    email_window: Text(200) = Field(None, description=WINDOW_HELP)  # type: ignore[valid-type]
    sms_window: Text(200) = Field(None, description=WINDOW_HELP)  # type: ignore[valid-type]
    goal_domain: list[Any] = Field(None, max_length=500)  # type: ignore[assignment]
    goal_window_days: int | None = Field(None, ge=1, le=3650)
    exit_on_goal: bool = None  # type: ignore[assignment]
    archived: bool = Field(None, description="Archiving a running campaign stops it")  # type: ignore[assignment]

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Welcome (2026)"}]})


class CampaignListParams(Schema):
    limit: int = Limit
    offset: int = Offset
    state: CampaignState | None = Field(None, examples=["running"])
    target: TargetKey | None = Field(None, examples=["contacts.contact"])  # type: ignore[valid-type]
    archived: bool | None = Field(False, description="null: both", examples=[False])
    search: QueryText(200) | None = Field(None, description="Part of the name", examples=["Hot"])  # type: ignore[valid-type]
    ordering: (
        Literal["id", "-id", "name", "-name", "created_at", "-created_at", "state", "-state"] | None
    ) = None


class UpdateIn(Schema):
    apply: bool = Field(
        True,
        description="true: Update (apply the modified workflow to existing participants); "
        "false: Don't update (future traces only)",
    )

    model_config = ConfigDict(json_schema_extra={"examples": [{"apply": True}]})


class UpdateOut(Schema):
    applied: bool
    created: int = Field(description="Traces created")
    redated: int = Field(description="Traces re-dated")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"applied": True, "created": 120, "redated": 40}]}
    )


class PendingUpdateOut(Schema):
    require_sync: bool
    create: int
    redate: int

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"require_sync": True, "create": 120, "redate": 40}]}
    )


class TestIn(Schema):
    record_id: Id = Field(description="A record of the campaign's target")

    model_config = ConfigDict(json_schema_extra={"examples": [{"record_id": 12}]})


METRICS_EXAMPLE = {
    "campaign": 1,
    "figures": {
        "running": 80,
        "completed": 20,
        "removed": 1,
        "total": 100,
        "participants": 100,
        "tests": 1,
        "conversions": 9,
        "templates": 1,
        "clicks": 12,
    },
    "activities": [
        {
            "activity": 3,
            "name": "Send welcome email",
            "kind": "email",
            "processed": 100,
            "rejected": 2,
            "daily": [{"day": "2026-03-01", "processed": 100, "rejected": 2}],
            "sent": 98,
            "opened": 40,
            "clicked": 12,
            "replied": 1,
            "bounced": 2,
            "complained": 0,
            "opened_percent": 40.8,
            "clicked_percent": 12.2,
            "replied_percent": 1.0,
            "bounced_percent": 2.0,
            "complained_percent": 0.0,
            "conversions": 12,
            "conversion_percent": 12.0,
        }
    ],
}


class DailyOut(Schema):
    day: dt.date
    processed: int
    rejected: int

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"day": "2026-03-01", "processed": 100, "rejected": 2}]}
    )


class ActivityMetricsOut(Schema):
    activity: int
    name: str
    kind: Literal["email", "sms", "action", "split"]
    processed: int
    rejected: int
    daily: list[DailyOut] = Field(description="The last 15 days, oldest first")
    sent: int
    opened: int
    clicked: int
    replied: int
    bounced: int
    complained: int = Field(description="Reported as spam by their recipients")
    opened_percent: float
    clicked_percent: float
    replied_percent: float
    bounced_percent: float
    complained_percent: float = Field(description="Complained over sent")
    deferred: int = Field(
        0, description="Contact pressure: times a send was deferred (quiet hours or a cap)"
    )
    skipped: int = Field(0, description="Contact pressure: sends skipped by a frequency cap")
    conversions: int = Field(description="Reached the goal after this activity ran")
    conversion_percent: float

    model_config = ConfigDict(json_schema_extra={"examples": [METRICS_EXAMPLE["activities"][0]]})


class CampaignFiguresOut(Schema):
    running: int
    completed: int
    removed: int
    total: int
    participants: int
    tests: int
    conversions: int = Field(description="Participants who reached the goal")
    templates: int
    clicks: int

    model_config = ConfigDict(json_schema_extra={"examples": [METRICS_EXAMPLE["figures"]]})


class MetricsOut(Schema):
    campaign: int
    figures: CampaignFiguresOut
    activities: list[ActivityMetricsOut]

    model_config = ConfigDict(json_schema_extra={"examples": [METRICS_EXAMPLE]})


def _campaign_fields(fields: dict[str, Any]) -> dict[str, Any]:
    _domain_field(fields)
    resolve_ids(fields, {"owner": User})
    return fields


@campaigns_router.get(
    "", response=with_errors({200: page_schema(CampaignOut)}), summary="List campaigns"
)
def list_campaigns(request: HttpRequest, params: Query[CampaignListParams]):
    queryset = Campaign.objects.all()
    if params.state:
        queryset = queryset.filter(state=params.state)
    if params.target:
        queryset = queryset.filter(target=params.target)
    if params.archived is not None:
        queryset = queryset.filter(archived=params.archived)
    if params.search:
        queryset = queryset.filter(name__icontains=params.search.strip())
    return paginate(queryset, params)


@campaigns_router.post(
    "", response=with_errors({201: CampaignOut}), summary="Create a campaign (New)"
)
def create_campaign(request: HttpRequest, payload: CampaignIn):
    fields = _campaign_fields(payload.model_dump())
    if fields["owner"] is None:
        fields["owner"] = current_user(request)
    name, target = fields.pop("name"), fields.pop("target")
    ignore_machine_events = fields.pop("ignore_machine_events")
    with transaction.atomic():
        campaign = services.create_campaign(name, target, **fields)
        if not ignore_machine_events:
            services.update_campaign(campaign, ignore_machine_events=False)
    return Status(201, campaign)


@campaigns_router.get("/{id}", response=with_errors({200: CampaignOut}), summary="Read a campaign")
def get_campaign(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(Campaign, id, "campaign")


@campaigns_router.patch(
    "/{id}",
    response=with_errors({200: CampaignOut}),
    summary="Update a campaign",
    description="The state changes through the start/stop actions, not here.",
)
def update_campaign(request: HttpRequest, id: Id, payload: CampaignPatch):  # noqa: A002
    campaign = get_or_404(Campaign, id, "campaign")
    fields = _campaign_fields(payload.model_dump(exclude_unset=True))
    archived = fields.pop("archived", None)
    with transaction.atomic():
        if fields:
            campaign = state_change(services.update_campaign, campaign, **fields)
        if archived is not None and archived != campaign.archived:
            services.archive_campaign(campaign, current_user(request), archived=archived)
    campaign.refresh_from_db()
    return campaign


@campaigns_router.delete(
    "/{id}",
    response=with_errors({204: None}),
    summary="Delete a campaign",
    description="With its activities, participants and traces. A running campaign is refused.",
)
def delete_campaign(request: HttpRequest, id: Id):  # noqa: A002
    campaign = get_or_404(Campaign, id, "campaign")
    if campaign.is_running:
        raise Conflict("Stop the campaign before deleting it.")
    delete_record(campaign)
    return Status(204, None)


@campaigns_router.post(
    "/{id}/start",
    response=with_errors({200: CampaignOut}),
    summary="Start a campaign",
    description="Refused (409) on an empty workflow; enrols the matching records at once.",
)
def start_campaign(request: HttpRequest, id: Id):  # noqa: A002
    campaign = get_or_404(Campaign, id, "campaign")
    return state_change(services.start_campaign, campaign, current_user(request))


@campaigns_router.post(
    "/{id}/stop",
    response=with_errors({200: CampaignOut}),
    summary="Stop a running campaign",
)
def stop_campaign(request: HttpRequest, id: Id):  # noqa: A002
    campaign = get_or_404(Campaign, id, "campaign")
    return state_change(services.stop_campaign, campaign, current_user(request))


@campaigns_router.get(
    "/{id}/update",
    response=with_errors({200: PendingUpdateOut}),
    summary="What Update would do",
    description="How many traces Update would create and re-date (nothing is written).",
)
def pending_update(request: HttpRequest, id: Id):  # noqa: A002
    campaign = get_or_404(Campaign, id, "campaign")
    counts = services.pending_update_counts(campaign)
    return {"require_sync": campaign.require_sync, **counts}


@campaigns_router.post(
    "/{id}/update",
    response=with_errors({200: UpdateOut}),
    summary="Apply (or dismiss) a modified workflow",
)
def apply_update(request: HttpRequest, id: Id, payload: UpdateIn | None = None):  # noqa: A002
    campaign = get_or_404(Campaign, id, "campaign")
    if not campaign.require_sync:
        raise Conflict("The workflow has no pending change to apply.")
    user = current_user(request)
    if payload is not None and not payload.apply:
        services.dismiss_update(campaign, user)
        return {"applied": False, "created": 0, "redated": 0}
    counts = services.apply_update(campaign, user)
    return {"applied": True, "created": counts["create"], "redated": counts["redate"]}


@campaigns_router.post(
    "/{id}/duplicate",
    response=with_errors({201: CampaignOut}),
    summary="Duplicate a campaign",
    description="A New copy with its activities, templates and server actions; no participants.",
)
def duplicate_campaign(request: HttpRequest, id: Id):  # noqa: A002
    campaign = get_or_404(Campaign, id, "campaign")
    return Status(201, services.duplicate_campaign(campaign, current_user(request)))


# --- participants and traces (schemas first: the test action returns a participant) -----------

PARTICIPANT_EXAMPLE = {
    "id": 55,
    "campaign": 1,
    "record_id": 12,
    "record_name": "Ada Lovelace",
    "unique_key": "ada@example.com",
    "state": "running",
    "is_test": True,
    "enrolled_at": "2026-03-01T09:10:00Z",
    "completed_at": None,
    "converted_at": None,
}
ParticipantState = Literal["running", "completed", "removed"]
TraceState = Literal["scheduled", "processing", "processed", "rejected", "cancelled", "error"]


class ParticipantOut(Schema):
    id: int
    campaign: int
    record_id: int
    unique_key: str
    state: ParticipantState
    is_test: bool
    enrolled_at: dt.datetime
    completed_at: dt.datetime | None
    converted_at: dt.datetime | None = Field(description="When it reached the campaign's goal")
    record_name: str | None = Field(description="Display name; null when the record is gone")

    model_config = ConfigDict(json_schema_extra={"examples": [PARTICIPANT_EXAMPLE]})

    @staticmethod
    def resolve_campaign(obj: Participant) -> int:
        return obj.campaign_id

    @staticmethod
    def resolve_record_name(obj: Participant) -> str | None:
        return getattr(obj, "record_name", None)


def with_record_names(participants: list[Participant]) -> list[Participant]:
    """Set `record_name` on each participant: one query per target, whatever the page size."""
    by_target: dict[str, list[Participant]] = {}
    for participant in participants:
        by_target.setdefault(participant.campaign.target, []).append(participant)
    for key, group in by_target.items():
        target = get_target(key)
        records = target.model._default_manager.in_bulk([p.record_id for p in group])
        for participant in group:
            record = records.get(participant.record_id)
            participant.record_name = None if record is None else target.display_name(record)
    return participants


@campaigns_router.post(
    "/{id}/tests",
    response=with_errors({201: ParticipantOut}),
    summary="Launch a test",
    description="A test participant for the record, with its first traces. A "
    "previous test of the same record is replaced.",
)
def launch_test(request: HttpRequest, id: Id, payload: TestIn):  # noqa: A002
    campaign = get_or_404(Campaign, id, "campaign")
    participant = state_change(
        services.launch_test, campaign, payload.record_id, current_user(request)
    )
    return Status(201, with_record_names([participant])[0])


@campaigns_router.get(
    "/{id}/metrics",
    response=with_errors({200: MetricsOut}),
    summary="Campaign and activity figures",
    description="Test participants and traces are excluded.",
)
def campaign_metrics(request: HttpRequest, id: Id):  # noqa: A002
    campaign = get_or_404(Campaign, id, "campaign")
    per_activity = metrics.activity_metrics(campaign)
    activities = campaign.activities.only("id", "name", "kind")
    return {
        "campaign": campaign.pk,
        "figures": metrics.campaign_metrics(campaign),
        "activities": [
            {"activity": a.pk, "name": a.name, "kind": a.kind, **per_activity[a.pk].as_dict()}
            for a in activities
        ],
    }


# --- campaign templates ------------------------------------------------------------------------

campaign_templates_router = Router(tags=["Campaigns"])

CampaignTemplateKey = Literal[campaign_templates.KEYS]  # type: ignore[valid-type]


class CampaignTemplateOut(Schema):
    key: str
    title: str
    description: str
    target: str
    icon: str
    split: str = Field(description="What its optional split compares ('' = none)")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "tag_hot_contacts",
                    "title": "Tag Hot Contacts",
                    "description": "Send a welcome email to contacts and tag them if they "
                    "click it.",
                    "target": "contacts.contact",
                    "icon": "tag",
                    "split": "",
                }
            ]
        }
    )


class InstantiateIn(Schema):
    name: Text(200, 1) | None = Field(None, description="Default: the template's title")  # type: ignore[valid-type]
    split: bool = Field(False, description="With the template's optional split (see `split`)")

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Hot contacts 2026"}]})


@campaign_templates_router.get(
    "", response=with_errors({200: list[CampaignTemplateOut]}), summary="The six templates"
)
def list_campaign_templates(request: HttpRequest):
    return [
        {
            "key": t.key,
            "title": t.title,
            "description": t.description,
            "target": t.target,
            "icon": t.icon,
            "split": t.split,
        }
        for t in campaign_templates.list_templates()
    ]


@campaign_templates_router.post(
    "/{key}",
    response=with_errors({201: CampaignOut}),
    summary="Create a campaign from a template",
    description="A New campaign with its activities and the templates, actions, tags and "
    "lists they use (created once, reused when present).",
)
def instantiate_campaign_template(
    request: HttpRequest,
    key: CampaignTemplateKey,  # type: ignore[valid-type]
    payload: InstantiateIn | None = None,
):
    name = payload.name if payload is not None else None
    split = payload.split if payload is not None else False
    campaign = campaign_templates.instantiate(key, current_user(request), name=name, split=split)
    return Status(201, campaign)


# --- activities --------------------------------------------------------------------------------

activities_router = Router(tags=["Campaigns"])

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


class ActivityListParams(Schema):
    limit: int = Limit
    offset: int = Offset
    campaign: Id | None = Field(None, examples=[1])
    kind: ActivityKind | None = None
    trigger: Trigger | None = None  # type: ignore[valid-type]
    ordering: Literal["id", "-id", "name", "-name", "delay_hours", "-delay_hours"] | None = None


ACTIVITY_RELATIONS = {"template": Template, "server_action": ServerAction, "parent": Activity}


def _activity_fields(fields: dict[str, Any]) -> dict[str, Any]:
    _domain_field(fields)
    resolve_ids(fields, ACTIVITY_RELATIONS)
    return fields


@activities_router.get(
    "", response=with_errors({200: page_schema(ActivityOut)}), summary="List activities"
)
def list_activities(request: HttpRequest, params: Query[ActivityListParams]):
    queryset = Activity.objects.all()
    for name in ("campaign", "kind", "trigger"):
        value = getattr(params, name)
        if value is not None:
            queryset = queryset.filter(**{name: value})
    return paginate(queryset, params)


@activities_router.post(
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


@activities_router.get(
    "/{id}", response=with_errors({200: ActivityOut}), summary="Read an activity"
)
def get_activity(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(Activity, id, "activity")


@activities_router.patch(
    "/{id}", response=with_errors({200: ActivityOut}), summary="Update an activity"
)
def update_activity(request: HttpRequest, id: Id, payload: ActivityPatch):  # noqa: A002
    activity = get_or_404(Activity.objects.select_related("campaign"), id, "activity")
    fields = _activity_fields(payload.model_dump(exclude_unset=True))
    return services.update_activity(activity, **fields)


@activities_router.delete(
    "/{id}",
    response=with_errors({204: None}),
    summary="Delete an activity",
    description="Its descendants and all their traces are deleted too.",
)
def delete_activity(request: HttpRequest, id: Id):  # noqa: A002
    activity = get_or_404(Activity.objects.select_related("campaign"), id, "activity")
    services.delete_activity(activity)
    return Status(204, None)


# --- participants ------------------------------------------------------------------------------

participants_router = Router(tags=["Participants and traces"])


class ParticipantListParams(Schema):
    limit: int = Limit
    offset: int = Offset
    campaign: Id | None = Field(None, examples=[1])
    state: ParticipantState | None = None
    is_test: bool | None = Field(None, description="Default: both")
    record_id: Id | None = None
    ordering: Literal["id", "-id", "enrolled_at", "-enrolled_at"] | None = None


@participants_router.get(
    "", response=with_errors({200: page_schema(ParticipantOut)}), summary="List participants"
)
def list_participants(request: HttpRequest, params: Query[ParticipantListParams]):
    queryset = Participant.objects.select_related("campaign")
    for name in ("campaign", "state", "is_test", "record_id"):
        value = getattr(params, name)
        if value is not None:
            queryset = queryset.filter(**{name: value})
    page = paginate(queryset, params)
    with_record_names(page["items"])
    return page


@participants_router.get(
    "/{id}", response=with_errors({200: ParticipantOut}), summary="Read a participant"
)
def get_participant(request: HttpRequest, id: Id):  # noqa: A002
    participant = get_or_404(Participant.objects.select_related("campaign"), id, "participant")
    return with_record_names([participant])[0]


@participants_router.post(
    "/{id}/stop",
    response=with_errors({200: ParticipantOut}),
    summary="Stop a participant",
    description="Completes it and cancels its scheduled traces ('stopped manually').",
)
def stop_participant(request: HttpRequest, id: Id):  # noqa: A002
    participant = get_or_404(Participant.objects.select_related("campaign"), id, "participant")
    participant = state_change(services.stop_participant, participant, current_user(request))
    return with_record_names([participant])[0]


# --- traces ------------------------------------------------------------------------------------

traces_router = Router(tags=["Participants and traces"])

TRACE_EXAMPLE = {
    "id": 301,
    "participant": 55,
    "activity": 3,
    "parent": None,
    "state": "processed",
    "scheduled_at": "2026-03-01T11:10:00Z",
    "window_ends_at": None,
    "executed_at": "2026-03-01T11:10:02Z",
    "reason": "",
    "is_test": True,
    "message": 880,
    "created_at": "2026-03-01T09:10:00Z",
}


class TraceOut(Schema):
    id: int
    participant: int
    activity: int
    parent: int | None
    state: TraceState
    scheduled_at: dt.datetime | None = Field(description="null: waiting for an event")
    window_ends_at: dt.datetime | None
    executed_at: dt.datetime | None
    reason: str
    is_test: bool
    message: int | None = Field(description="The email or SMS it sent")
    created_at: dt.datetime

    model_config = ConfigDict(json_schema_extra={"examples": [TRACE_EXAMPLE]})

    @staticmethod
    def resolve_participant(obj: Trace) -> int:
        return obj.participant_id

    @staticmethod
    def resolve_activity(obj: Trace) -> int:
        return obj.activity_id

    @staticmethod
    def resolve_parent(obj: Trace) -> int | None:
        return obj.parent_id

    @staticmethod
    def resolve_message(obj: Trace) -> int | None:
        return obj.message_id


class TraceListParams(Schema):
    limit: int = Limit
    offset: int = Offset
    campaign: Id | None = Field(None, examples=[1])
    activity: Id | None = None
    participant: Id | None = None
    state: TraceState | None = None
    is_test: bool | None = Field(None, description="Default: both")
    ordering: (
        Literal["id", "-id", "scheduled_at", "-scheduled_at", "executed_at", "-executed_at"] | None
    ) = None


class SimulateIn(Schema):
    event: Literal["open", "click", "reply", "bounce"]

    model_config = ConfigDict(json_schema_extra={"examples": [{"event": "click"}]})


@traces_router.get("", response=with_errors({200: page_schema(TraceOut)}), summary="List traces")
def list_traces(request: HttpRequest, params: Query[TraceListParams]):
    queryset = Trace.objects.all()
    if params.campaign is not None:
        queryset = queryset.filter(activity__campaign_id=params.campaign)
    for name in ("activity", "participant", "state", "is_test"):
        value = getattr(params, name)
        if value is not None:
            queryset = queryset.filter(**{name: value})
    return paginate(queryset, params)


@traces_router.get("/{id}", response=with_errors({200: TraceOut}), summary="Read a trace")
def get_trace(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(Trace, id, "trace")


def _trace(id: int) -> Trace:  # noqa: A002
    related = Trace.objects.select_related("activity__campaign", "participant")
    return get_or_404(related, id, "trace")


@traces_router.post(
    "/{id}/run",
    response=with_errors({200: TraceOut}),
    summary="Run a scheduled trace now",
)
def run_trace(request: HttpRequest, id: Id):  # noqa: A002
    return state_change(services.run_trace_now, _trace(id), current_user(request))


@traces_router.post(
    "/{id}/cancel", response=with_errors({200: TraceOut}), summary="Cancel a scheduled trace"
)
def cancel_trace(request: HttpRequest, id: Id):  # noqa: A002
    return state_change(services.cancel_trace, _trace(id), current_user(request))


@traces_router.post(
    "/{id}/retry", response=with_errors({200: TraceOut}), summary="Retry a trace in error"
)
def retry_trace(request: HttpRequest, id: Id):  # noqa: A002
    return state_change(services.retry_trace, _trace(id), current_user(request))


@traces_router.post(
    "/{id}/simulate",
    response=with_errors({200: TraceOut}),
    summary="Simulate an event on a test trace's message",
    description="Open, click, reply or bounce on the message a test trace sent; its waiting "
    "children are dated or cancelled as for a real event. 409 for non-test traces.",
)
def simulate_event(request: HttpRequest, id: Id, payload: SimulateIn):  # noqa: A002
    trace = _trace(id)
    state_change(services.simulate_event, trace, payload.event, current_user(request))
    trace.refresh_from_db()
    return trace


# --- links and clicks --------------------------------------------------------------------------

links_router = Router(tags=["Links and clicks"])
clicks_router = Router(tags=["Links and clicks"])

LINK_EXAMPLE = {
    "id": 7,
    "url": "https://example.com/catalog",
    "title": "Catalog",
    "code": "Xk2mP9",
    "template": 4,
    "campaign_id": 1,
    "activity_id": 3,
    "created_at": "2026-03-01T09:00:00Z",
    "clicks": 12,
}


class LinkOut(Schema):
    id: int
    url: str
    title: str
    code: str = Field(description="Short code: the tracked URL is <base>/r/<code>")
    template: int | None
    campaign_id: int | None
    activity_id: int | None
    created_at: dt.datetime
    clicks: int = Field(description="Clicks recorded (machine clicks included)")

    model_config = ConfigDict(json_schema_extra={"examples": [LINK_EXAMPLE]})

    @staticmethod
    def resolve_template(obj: Link) -> int | None:
        return obj.template_id

    @staticmethod
    def resolve_clicks(obj: Link) -> int:
        return getattr(obj, "click_count", 0)


class LinkIn(Schema):
    url: HttpUrl = Field(description="http(s) URL")
    title: Text(255) = ""  # type: ignore[valid-type]
    template: Id | None = None
    campaign_id: Id | None = None
    activity_id: Id | None = None

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"url": "https://example.com/catalog", "title": "Catalog"}]}
    )


class LinkPatch(Schema):
    url: HttpUrl = None  # type: ignore[assignment]
    title: Text(255) = None  # type: ignore[valid-type]

    model_config = ConfigDict(json_schema_extra={"examples": [{"title": "Spring catalog"}]})


class LinkListParams(Schema):
    limit: int = Limit
    offset: int = Offset
    campaign_id: Id | None = None
    activity_id: Id | None = None
    template: Id | None = None
    ordering: Literal["id", "-id", "url", "-url", "clicks", "-clicks"] | None = None


LINKS = Link.objects.annotate(click_count=Count("clicks"))


def _url(value: HttpUrl) -> str:
    url = str(value)
    if len(url) > 2000:
        raise ValidationError({"url": "at most 2000 characters"})
    check_json_text(url)
    return url


@links_router.get(
    "",
    response=with_errors({200: page_schema(LinkOut)}),
    summary="List tracked links (link tracker)",
)
def list_links(request: HttpRequest, params: Query[LinkListParams]):
    queryset = LINKS
    for name in ("campaign_id", "activity_id", "template"):
        value = getattr(params, name)
        if value is not None:
            queryset = queryset.filter(**{name: value})
    if params.ordering in ("clicks", "-clicks"):
        params.ordering = params.ordering.replace("clicks", "click_count")
    return paginate(queryset, params)


@links_router.post("", response=with_errors({201: LinkOut}), summary="Create a tracked link")
def create_link(request: HttpRequest, payload: LinkIn):
    fields = payload.model_dump()
    fields["url"] = _url(payload.url)
    resolve_ids(fields, {"template": Template})
    with transaction.atomic():
        link = Link.objects.create(code=secrets.token_urlsafe(6), **fields)
    return Status(201, LINKS.get(pk=link.pk))


@links_router.get("/{id}", response=with_errors({200: LinkOut}), summary="Read a link")
def get_link(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(LINKS, id, "link")


@links_router.patch("/{id}", response=with_errors({200: LinkOut}), summary="Update a link")
def update_link(request: HttpRequest, id: Id, payload: LinkPatch):  # noqa: A002
    link = get_or_404(Link, id, "link")
    fields = payload.model_dump(exclude_unset=True)
    if "url" in fields:
        fields["url"] = _url(payload.url)
    with transaction.atomic():
        Link.objects.filter(pk=link.pk).update(**fields)
    return LINKS.get(pk=link.pk)


@links_router.delete(
    "/{id}",
    response=with_errors({204: None}),
    summary="Delete a link",
    description="Its clicks are deleted too; messages already sent then redirect nowhere.",
)
def delete_link(request: HttpRequest, id: Id):  # noqa: A002
    delete_record(get_or_404(Link, id, "link"))
    return Status(204, None)


class ClickOut(Schema):
    id: int
    link: int
    message: int | None
    at: dt.datetime
    ip: str | None
    user_agent: str
    is_machine: bool

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 70,
                    "link": 7,
                    "message": 880,
                    "at": "2026-03-01T12:00:00Z",
                    "ip": "203.0.113.9",
                    "user_agent": "Mozilla/5.0",
                    "is_machine": False,
                }
            ]
        }
    )

    @staticmethod
    def resolve_link(obj: Click) -> int:
        return obj.link_id

    @staticmethod
    def resolve_message(obj: Click) -> int | None:
        return obj.message_id


class ClickListParams(Schema):
    limit: int = Limit
    offset: int = Offset
    link: Id | None = None
    campaign_id: Id | None = None
    is_machine: bool | None = None
    ordering: Literal["id", "-id", "at", "-at"] | None = None


@clicks_router.get("", response=with_errors({200: page_schema(ClickOut)}), summary="List clicks")
def list_clicks(request: HttpRequest, params: Query[ClickListParams]):
    queryset = Click.objects.all()
    if params.link is not None:
        queryset = queryset.filter(link_id=params.link)
    if params.campaign_id is not None:
        queryset = queryset.filter(link__campaign_id=params.campaign_id)
    if params.is_machine is not None:
        queryset = queryset.filter(is_machine=params.is_machine)
    return paginate(queryset, params)


@clicks_router.get("/{id}", response=with_errors({200: ClickOut}), summary="Read a click")
def get_click(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(Click, id, "click")
