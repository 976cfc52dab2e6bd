"""Campaigns: the collection, the campaign actions (start, stop, update, duplicate, tests,
metrics) and the campaign templates (docs/product.md: campaigns to templates, figures). Their
activities, participants, traces, links and clicks have their own modules (activities.py,
participants.py, links.py).

Every change goes through `drumbeat.automation.services` (or `campaign_templates`), which log
state changes with the user (docs/product.md#users-and-access). A refusal that depends on the
current state (stopping a campaign that is not running…) is a 409.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.db import transaction
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from drumbeat.accounts.models import User
from drumbeat.automation import campaign_templates, deletion, metrics, services
from drumbeat.automation.models import Campaign

from .auth import current_user
from .errors import Conflict, state_change, with_errors
from .fields import Id, QueryText, Text
from .listing import clean_domain_fields, list_params, page_schema, paginate
from .lookups import get_or_404, resolve_ids
from .participants import ParticipantOut, with_record_names
from .targets import TargetKey

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


CampaignListParams = list_params(
    "CampaignListParams",
    "automation.campaign",
    ["id", "name", "created_at", "state"],
    example='[["state", "=", "running"], ["activities.kind", "=", "sms"]]',
    state=(CampaignState | None, Field(None, examples=["running"])),
    target=(TargetKey | None, Field(None, examples=["contacts.contact"])),
    archived=(bool | None, Field(False, description="null: both", examples=[False])),
    search=(
        QueryText(200) | None,
        Field(None, description="Part of the name", examples=["Hot"]),
    ),
)


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
            "errors": 0,
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
    errors: int = Field(0, description="Ended in Error: the action or the send failed for them")
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
    clean_domain_fields(fields)
    resolve_ids(fields, {"owner": User})
    return fields


@campaigns_router.get(
    "", response=with_errors({200: page_schema(CampaignOut)}), summary="List campaigns"
)
def list_campaigns(request: HttpRequest, params: Query[CampaignListParams]):  # type: ignore[valid-type]
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
    deletion.delete_campaign(campaign)
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
