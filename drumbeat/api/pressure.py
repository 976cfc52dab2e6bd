"""Contact pressure in the API: the caps and windows in force, and a campaign's 7-day preview.

`GET /pressure-settings` (everyone) and `PATCH /pressure-settings` (administrators) read and
change the values of Configuration → Contact pressure, which win over the environment;
`GET /campaigns/{id}/pressure` estimates what the caps and windows would defer or skip in the
next 7 days. The per-campaign fields (priority, pressure_exempt, email_window, sms_window) and
the activity fields (send_at_local, on_cap) are on the campaign and activity schemas; people's
`time_zone` on the record schemas.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import ConfigDict, Field

from drumbeat.automation.models import Campaign
from drumbeat.automation.pressure_preview import preview
from drumbeat.automation.pressure_settings import pressure_overview, update_pressure_settings

from .auth import require_admin
from .errors import with_errors
from .fields import Id, Text
from .lookups import get_or_404

settings_router = Router(tags=["Contact pressure"])
campaign_router = Router(tags=["Contact pressure"])

CAP_HELP = "e.g. '1/day,3/7days'; 'none' for no cap; empty: the environment's"
WINDOW_HELP = "e.g. 'Mon-Sat 08:00-20:00'; 'always' for no quiet hours; empty: the environment's"
VALUES_EXAMPLE = {
    "email_cap": "1/day,3/7days",
    "sms_cap": "2/7days",
    "email_window": "Mon-Sat 08:00-20:00",
    "sms_window": "Mon-Fri 09:00-19:00",
}


class PressureValues(Schema):
    email_cap: str
    sms_cap: str
    email_window: str
    sms_window: str

    model_config = ConfigDict(json_schema_extra={"examples": [VALUES_EXAMPLE]})


class PressureSettingsOut(Schema):
    configured: PressureValues = Field(description="Set in Configuration (win when not empty)")
    environment: PressureValues = Field(description="DRUMBEAT_EMAIL_CAP, … as started")
    effective: PressureValues = Field(description="In force")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "configured": {**VALUES_EXAMPLE, "sms_cap": "", "sms_window": ""},
                    "environment": {k: "" for k in VALUES_EXAMPLE},
                    "effective": {**VALUES_EXAMPLE, "sms_cap": "", "sms_window": ""},
                }
            ]
        }
    )


class PressureSettingsPatch(Schema):
    email_cap: Text(200) = Field(None, description=CAP_HELP)  # type: ignore[valid-type]
    sms_cap: Text(200) = Field(None, description=CAP_HELP)  # type: ignore[valid-type]
    email_window: Text(200) = Field(None, description=WINDOW_HELP)  # type: ignore[valid-type]
    sms_window: Text(200) = Field(None, description=WINDOW_HELP)  # type: ignore[valid-type]

    model_config = ConfigDict(json_schema_extra={"examples": [VALUES_EXAMPLE]})


@settings_router.get(
    "", response=with_errors({200: PressureSettingsOut}), summary="Caps and windows in force"
)
def get_pressure_settings(request: HttpRequest):
    return pressure_overview()


@settings_router.patch(
    "",
    response=with_errors({200: PressureSettingsOut}),
    summary="Change the caps and windows (administrators)",
    description="A value set here wins over the environment's; an empty one clears it.",
)
def patch_pressure_settings(request: HttpRequest, payload: PressureSettingsPatch):
    require_admin(request, "change the contact pressure settings")
    update_pressure_settings(**payload.model_dump(exclude_unset=True))
    return pressure_overview()


ACTIVITY_PREVIEW_EXAMPLE = {
    "activity": 3,
    "name": "Send welcome email",
    "kind": "email",
    "scheduled": 1200,
    "deferred_quiet_hours": 310,
    "deferred_frequency_cap": 95,
    "skipped_frequency_cap": 0,
}


class ActivityPressureOut(Schema):
    activity: int
    name: str
    kind: str
    scheduled: int = Field(description="Sends due in the period")
    deferred_quiet_hours: int
    deferred_frequency_cap: int
    skipped_frequency_cap: int

    model_config = ConfigDict(json_schema_extra={"examples": [ACTIVITY_PREVIEW_EXAMPLE]})


class PressurePreviewOut(Schema):
    campaign: int
    start: dt.datetime
    end: dt.datetime
    exempt: bool = Field(description="The campaign ignores caps and windows")
    sampled: bool = Field(description="Only the first 50,000 due sends were read")
    scheduled: int
    deferred_quiet_hours: int
    deferred_frequency_cap: int
    skipped_frequency_cap: int
    activities: list[ActivityPressureOut]
    settings: PressureValues = Field(description="The caps and windows in force")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "campaign": 1,
                    "start": "2026-03-02T09:00:00Z",
                    "end": "2026-03-09T09:00:00Z",
                    "exempt": False,
                    "sampled": False,
                    "scheduled": 1200,
                    "deferred_quiet_hours": 310,
                    "deferred_frequency_cap": 95,
                    "skipped_frequency_cap": 0,
                    "activities": [ACTIVITY_PREVIEW_EXAMPLE],
                    "settings": VALUES_EXAMPLE,
                }
            ]
        }
    )


def preview_payload(campaign: Campaign) -> dict:
    result = preview(campaign)
    return {
        "campaign": campaign.pk,
        "start": result.start,
        "end": result.end,
        "exempt": result.exempt,
        "sampled": result.sampled,
        "scheduled": result.scheduled,
        "deferred_quiet_hours": result.deferred_quiet_hours,
        "deferred_frequency_cap": result.deferred_frequency_cap,
        "skipped_frequency_cap": result.skipped_frequency_cap,
        "activities": [{"activity": a.activity_id, **vars(a)} for a in result.activities],
        "settings": pressure_overview()["effective"],
    }


@campaign_router.get(
    "/{id}/pressure",
    response=with_errors({200: PressurePreviewOut}),
    summary="7-day contact pressure preview",
    description=(
        "How many of the campaign's email/SMS sends due in the next 7 days the send windows"
        " and frequency caps would defer or skip, estimated from the current schedule."
    ),
)
def campaign_pressure(request: HttpRequest, id: Id):  # noqa: A002
    return preview_payload(get_or_404(Campaign, id, "campaign"))
