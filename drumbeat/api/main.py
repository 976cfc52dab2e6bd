"""The REST API at /api/v1 (docs/architecture.md#interfaces): one NinjaAPI, its routers,
authentication, errors."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI

from . import (
    activities,
    brand,
    campaigns,
    content,
    links,
    mailing,
    messages,
    participants,
    pressure,
    records,
    results,
    targets,
    template_designs,
    tokens,
    webhooks,
)
from .auth import AUTH, ROLE_MATRIX
from .errors import install_error_handlers
from .unknown_params import install as refuse_unknown_parameters
from .webhooks_doc import WEBHOOK_PATHS

MAX_BODY_MB = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)

DESCRIPTION = f"""
Drumbeat's REST API. Every route needs either `Authorization: Bearer <token>` (create one with
`drumbeat token create USERNAME`, in the UI, or `POST /api/v1/tokens`) or the session of a
logged-in browser (unsafe methods then need the `X-CSRFToken` header).

**Lists** — every collection's — take `limit` (default 50, at most 500), `offset`, `ordering`
(a field name, `-` for descending), `domain`: a filter in the filter language as JSON over that
collection's fields, e.g. `[["email", "!=", false], ["tags.name", "=", "VIP"]]` on contacts or
`[["state", "=", "error"], ["activity.campaign", "=", 3]]` on traces (each list's `domain`
parameter names its fields; `GET targets/{{key}}/fields` details the campaign targets'), and
the collection's own shortcuts (`state`, `campaign`…). They return
`{{"count": …, "items": […]}}`. JSON field names are the model field names.

**Query parameters** a route does not list are refused with a 400 naming them, never ignored.

**Errors** are `{{"detail": "…"}}` (validation errors add `errors`, one per field):
400 malformed body or filter (the filter element is named) or unknown query parameter,
401 missing/invalid/revoked token, 403 role or CSRF refusal, 404 unknown id, 409 conflict with
existing data or state, 413 body over {MAX_BODY_MB} MB, 422 invalid field values.

**Inbound webhooks** (not under this authentication; HMAC-signed with
`DRUMBEAT_WEBHOOK_SECRET`): `POST /api/v1/webhooks/mail-events` and
`POST /api/v1/webhooks/sms-status` report delivery events of the email and SMS providers;
`POST /api/v1/webhooks/sms-inbound` hands over the SMS people send to our numbers (STOP…).

**Roles**:
{ROLE_MATRIX}
"""


class DrumbeatApi(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        schema["paths"].update(WEBHOOK_PATHS)
        return schema


api = DrumbeatApi(
    title="Drumbeat API",
    version="1",
    description=DESCRIPTION,
    auth=AUTH,
    urls_namespace="api",
)

install_error_handlers(api)
refuse_unknown_parameters(api)

api.add_router("/me", tokens.me_router)
api.add_router("/tokens", tokens.router)
api.add_router("/targets", targets.router)
api.add_router("/contacts", records.contacts_router)
api.add_router("/tags", records.tags_router)
api.add_router("/leads", records.leads_router)
api.add_router("/stages", records.stages_router)
api.add_router("/events", records.events_router)
api.add_router("/registrations", records.registrations_router)
api.add_router("/mailing-lists", mailing.lists_router)
api.add_router("/mailing-contacts", mailing.contacts_router)
api.add_router("/blacklist", mailing.blacklist_router)
api.add_router("/templates", template_designs.router)  # before /{id}: compile, placeholders
api.add_router("/templates", content.templates_router)
api.add_router("/server-actions", content.actions_router)
api.add_router("/campaigns", campaigns.campaigns_router)
api.add_router("/campaigns", pressure.campaign_router)
api.add_router("/pressure-settings", pressure.settings_router)
api.add_router("/campaigns", results.router)  # results, declare-winner
api.add_router("/campaign-templates", campaigns.campaign_templates_router)
api.add_router("/activities", activities.router)
api.add_router("/participants", participants.participants_router)
api.add_router("/traces", participants.traces_router)
api.add_router("/links", links.links_router)
api.add_router("/clicks", links.clicks_router)
api.add_router("/messages", messages.router)
api.add_router("/webhook-endpoints", webhooks.endpoints_router)
api.add_router("/webhook-deliveries", webhooks.deliveries_router)
api.add_router("/brand-kit", brand.brand_router)
api.add_router("/media", brand.media_router)


@csrf_exempt  # it changes nothing; a token client has no CSRF cookie and must get this 404
def unknown_route(request: HttpRequest, rest: str = "") -> JsonResponse:
    """JSON 404 for paths under /api/v1/ that name no route (instead of the site's page, or
    for a write, the CSRF refusal page)."""
    return JsonResponse({"detail": f"Not found: no API route /api/v1/{rest}"}, status=404)
