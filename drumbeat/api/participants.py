"""Participants and traces: who is in which campaign and what happened to them (read-only
collections), with the manual actions on them: stop a participant, run, cancel or retry a
trace, simulate an event on a test trace (docs/product.md#participants-and-traces and
#test-mode).

The actions go through `drumbeat.automation.services`, which log them with the user
(docs/product.md#users-and-access); a refusal that depends on the current state is a 409.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import ConfigDict, Field

from drumbeat.automation import services
from drumbeat.automation.models import Participant, Trace
from drumbeat.automation.targets import get_target

from .auth import current_user
from .errors import state_change, with_errors
from .fields import Id
from .listing import list_params, page_schema, paginate
from .lookups import get_or_404

# --- participants --------------------------------------------------------------


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


participants_router = Router(tags=["Participants and traces"])


ParticipantListParams = list_params(
    "ParticipantListParams",
    "automation.participant",
    ["id", "enrolled_at"],
    example='[["state", "=", "completed"], ["converted_at", "!=", false]]',
    campaign=(Id | None, Field(None, examples=[1])),
    state=(ParticipantState | None, None),
    is_test=(bool | None, Field(None, description="Default: both")),
    record_id=(Id | None, None),
)


@participants_router.get(
    "", response=with_errors({200: page_schema(ParticipantOut)}), summary="List participants"
)
def list_participants(request: HttpRequest, params: Query[ParticipantListParams]):  # type: ignore[valid-type]
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


TraceListParams = list_params(
    "TraceListParams",
    "automation.trace",
    ["id", "scheduled_at", "executed_at"],
    example='[["state", "=", "error"], ["activity.campaign", "=", 1]]',
    campaign=(Id | None, Field(None, examples=[1])),
    activity=(Id | None, None),
    participant=(Id | None, None),
    state=(TraceState | None, None),
    is_test=(bool | None, Field(None, description="Default: both")),
)


class SimulateIn(Schema):
    event: Literal["open", "click", "reply", "bounce"]

    model_config = ConfigDict(json_schema_extra={"examples": [{"event": "click"}]})


@traces_router.get("", response=with_errors({200: page_schema(TraceOut)}), summary="List traces")
def list_traces(request: HttpRequest, params: Query[TraceListParams]):  # type: ignore[valid-type]
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
