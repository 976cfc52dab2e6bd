"""What campaigns are built from: email/SMS templates and server actions.

Templates are checked with the sandboxed renderer before they are stored (syntax, fields the
target allows); server actions validate their typed parameters on save
(docs/product.md#server-actions).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field, WithJsonSchema

from drumbeat.automation import services as automation_services
from drumbeat.automation.models import ServerAction
from drumbeat.automation.targets import FILTERABLE
from drumbeat.mailing import rendering, sms_text
from drumbeat.mailing import services as template_services
from drumbeat.mailing.design.schema import DESIGN_EXAMPLE, DESIGN_JSON_SCHEMA
from drumbeat.mailing.models import Template

from .errors import Conflict, with_errors
from .fields import Id, Text, check_json_text, partial_schema
from .listing import list_params, page_schema, paginate
from .lookups import delete_record, get_or_404
from .targets import TargetKey

# --- templates ---------------------------------------------------------------------------------

templates_router = Router(tags=["Templates"])

TEMPLATE_EXAMPLE = {
    "id": 4,
    "name": "Welcome",
    "kind": "email",
    "target": "contacts.contact",
    "subject": "Welcome, {{ record.name }}",
    "preview_text": "Glad to have you",
    "email_from": "",
    "reply_to": "",
    "body_html": '<p>Hello {{ record.name }}, <a href="https://example.com">visit us</a></p>',
    "body_text": "",
    "sms_optout_footer": False,
    "design": None,
    "sms_count": None,
    "created_at": "2026-03-01T09:00:00Z",
    "updated_at": "2026-03-01T09:00:00Z",
}


DESIGN_DESCRIPTION = (
    "The email designer's design (email only): null for an HTML template. When set, saving "
    "compiles it to `body_html` (responsive HTML through MJML, the brand kit filling what the "
    "design leaves out); the design is stored in normal form (defaults filled, text HTML "
    "sanitised). Invalid designs are refused with 422, each error naming its JSON path "
    "(`design.sections[0].columns[1].blocks[2].alt`). Setting it to null turns the template "
    "into an HTML template keeping the compiled `body_html` (there is no way back). "
    "`POST /templates/{id}/compile` returns the HTML and the pre-send checks."
)
Design = Annotated[
    dict[str, Any] | None,
    WithJsonSchema({"anyOf": [DESIGN_JSON_SCHEMA, {"type": "null"}]}),
]


class SmsCountOut(Schema):
    characters: int
    encoding: Literal["GSM-7", "UCS-2"]
    units: int = Field(description="GSM-7 septets or UCS-2 (UTF-16) code units")
    segments: int

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"characters": 161, "encoding": "GSM-7", "units": 162, "segments": 2}]
        }
    )


class TemplateOut(Schema):
    id: int
    name: str
    kind: Literal["email", "sms"]
    target: str
    subject: str
    preview_text: str
    email_from: str
    reply_to: str
    body_html: str
    body_text: str
    sms_optout_footer: bool
    design: Design = Field(description=DESIGN_DESCRIPTION)
    sms_count: SmsCountOut | None = Field(
        description="SMS: the text as sent (links shortened when tracked, opt-out footer added), "
        "placeholders as written; null for email"
    )
    created_at: dt.datetime
    updated_at: dt.datetime

    model_config = ConfigDict(json_schema_extra={"examples": [TEMPLATE_EXAMPLE]})

    @staticmethod
    def resolve_sms_count(obj: Template) -> sms_text.SmsCount | None:
        if obj.kind != Template.Kind.SMS:
            return None
        return sms_text.count(rendering.sms_as_sent(obj))


class TemplateIn(Schema):
    name: Text(200, 1)  # type: ignore[valid-type]
    kind: Literal["email", "sms"] = "email"
    target: TargetKey  # type: ignore[valid-type]
    subject: Text(255) = Field("", description="Required for email")  # type: ignore[valid-type]
    preview_text: Text(255) = ""  # type: ignore[valid-type]
    email_from: Text(254) = Field("", description="Empty: the server's default sender")  # type: ignore[valid-type]
    reply_to: Text(254) = ""  # type: ignore[valid-type]
    body_html: Text(500_000) = Field(  # type: ignore[valid-type]
        "", description="Required for an HTML email template; compiled from `design` otherwise"
    )
    body_text: Text(2_000) = Field("", description="The SMS text (required for SMS)")  # type: ignore[valid-type]
    sms_optout_footer: bool = Field(
        False, description="SMS: add the opt-out line (DRUMBEAT_SMS_OPTOUT_FOOTER) under the text"
    )
    design: Design = Field(None, description=DESIGN_DESCRIPTION)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    k: v
                    for k, v in TEMPLATE_EXAMPLE.items()
                    if k not in {"id", "sms_count", "created_at", "updated_at"}
                },
                {
                    "name": "Spring sale",
                    "kind": "email",
                    "target": "contacts.contact",
                    "subject": "Spring sale, {{ record.name }}",
                    "preview_text": "Two weeks of prices you will like",
                    "design": DESIGN_EXAMPLE,
                },
                {
                    "name": "Reminder SMS",
                    "kind": "sms",
                    "target": "contacts.contact",
                    "body_text": "Hi {{ record.name }}, see you tomorrow!",
                    "sms_optout_footer": True,
                },
            ]
        }
    )


TemplatePatch = partial_schema(TemplateIn, "TemplatePatch")


TemplateListParams = list_params(
    "TemplateListParams",
    "mailing.template",
    ["id", "name", "updated_at"],
    example='[["kind", "=", "email"], ["subject", "ilike", "welcome"]]',
    kind=(Literal["email", "sms"] | None, Field(None, examples=["email"])),
    target=(TargetKey | None, Field(None, examples=["contacts.contact"])),
)


def _template_page(queryset: Any, params: Any) -> dict[str, Any]:
    if params.kind:
        queryset = queryset.filter(kind=params.kind)
    if params.target:
        queryset = queryset.filter(target=params.target)
    return paginate(queryset, params)


@templates_router.get(
    "", response=with_errors({200: page_schema(TemplateOut)}), summary="List templates"
)
def list_templates(request: HttpRequest, params: Query[TemplateListParams]):  # type: ignore[valid-type]
    return _template_page(Template.objects.all(), params)


@templates_router.post("", response=with_errors({201: TemplateOut}), summary="Create a template")
def create_template(request: HttpRequest, payload: TemplateIn):
    return Status(201, template_services.create_template(FILTERABLE, **payload.model_dump()))


@templates_router.get("/{id}", response=with_errors({200: TemplateOut}), summary="Read a template")
def get_template(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(Template, id, "template")


@templates_router.patch(
    "/{id}",
    response=with_errors({200: TemplateOut}),
    summary="Update a template",
    description="The kind and target are fixed once campaign activities use the template.",
)
def update_template(request: HttpRequest, id: Id, payload: TemplatePatch):  # type: ignore[valid-type]  # noqa: A002
    template = get_or_404(Template, id, "template")
    changes = payload.model_dump(exclude_unset=True)
    fixed = {k for k in ("kind", "target") if k in changes and changes[k] != getattr(template, k)}
    if fixed and template.activities.exists():
        what = " and ".join(sorted(fixed))
        raise Conflict(f"The template is used by campaign activities: its {what} cannot change.")
    return template_services.update_template(template, FILTERABLE, **changes)


@templates_router.delete("/{id}", response=with_errors({204: None}), summary="Delete a template")
def delete_template(request: HttpRequest, id: Id):  # noqa: A002
    template = get_or_404(Template, id, "template")
    if template.activities.exists():
        raise Conflict("The template is used by campaign activities; it is kept.")
    delete_record(template)
    return Status(204, None)


# --- server actions ----------------------------------------------------------------------------

actions_router = Router(tags=["Server actions"])

ActionKind = Literal[tuple(ServerAction.Kind.values)]  # type: ignore[valid-type]
ACTION_EXAMPLE = {
    "id": 9,
    "name": "Add tag Hot",
    "target": "contacts.contact",
    "kind": "update_record",
    "params": {"field": "tags", "operation": "add", "value": "Hot"},
    "parent": None,
    "sequence": 10,
    "created_at": "2026-03-01T09:00:00Z",
    "updated_at": "2026-03-01T09:00:00Z",
}


class ServerActionOut(Schema):
    id: int
    name: str
    target: str
    kind: ActionKind  # type: ignore[valid-type]
    params: dict[str, Any]
    parent: int | None = Field(description="The 'run several' action this one belongs to")
    sequence: int
    created_at: dt.datetime
    updated_at: dt.datetime

    model_config = ConfigDict(json_schema_extra={"examples": [ACTION_EXAMPLE]})

    @staticmethod
    def resolve_parent(obj: ServerAction) -> int | None:
        return obj.parent_id


class ServerActionIn(Schema):
    name: Text(200, 1)  # type: ignore[valid-type]
    target: TargetKey  # type: ignore[valid-type]
    kind: ActionKind  # type: ignore[valid-type]
    params: dict[str, Any] = Field(default_factory=dict, description="The kind's configuration")
    parent: Id | None = None
    sequence: int = Field(10, ge=0, le=1_000_000)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    k: v
                    for k, v in ACTION_EXAMPLE.items()
                    if k not in {"id", "created_at", "updated_at"}
                }
            ]
        }
    )


ServerActionPatch = partial_schema(ServerActionIn, "ServerActionPatch")


ServerActionListParams = list_params(
    "ServerActionListParams",
    "automation.serveraction",
    ["id", "name", "sequence"],
    example='[["kind", "=", "update_record"], ["target", "=", "contacts.contact"]]',
    target=(TargetKey | None, Field(None, examples=["contacts.contact"])),
    kind=(ActionKind | None, Field(None, examples=["update_record"])),
    parent=(Id | None, Field(None, description="Children of this 'run several' action")),
)


def _save_action(action: ServerAction, fields: dict[str, Any]) -> ServerAction:
    if "params" in fields:
        try:
            check_json_text(fields["params"])
        except ValueError as exc:
            raise ValidationError({"params": f"a text value {exc}"})
    if "parent" in fields:
        parent_id = fields.pop("parent")
        fields["parent"] = (
            None
            if parent_id is None
            else ServerAction.objects.filter(pk=parent_id).first()
            or _missing("parent", f"no server action with id {parent_id}")
        )
    if action.pk is None:
        return automation_services.create_server_action(**fields)
    return automation_services.update_server_action(action, **fields)


def _missing(field: str, message: str) -> Any:
    raise ValidationError({field: message})


@actions_router.get(
    "", response=with_errors({200: page_schema(ServerActionOut)}), summary="List server actions"
)
def list_actions(request: HttpRequest, params: Query[ServerActionListParams]):  # type: ignore[valid-type]
    queryset = ServerAction.objects.all()
    for name in ("target", "kind", "parent"):
        value = getattr(params, name)
        if value is not None:
            queryset = queryset.filter(**{name: value})
    return paginate(queryset, params)


@actions_router.post(
    "", response=with_errors({201: ServerActionOut}), summary="Create a server action"
)
def create_action(request: HttpRequest, payload: ServerActionIn):
    return Status(201, _save_action(ServerAction(), payload.model_dump()))


@actions_router.get(
    "/{id}", response=with_errors({200: ServerActionOut}), summary="Read a server action"
)
def get_action(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(ServerAction, id, "server action")


@actions_router.patch(
    "/{id}",
    response=with_errors({200: ServerActionOut}),
    summary="Update a server action",
    description="The target is fixed once campaign activities use the action.",
)
def update_action(request: HttpRequest, id: Id, payload: ServerActionPatch):  # type: ignore[valid-type]  # noqa: A002
    action = get_or_404(ServerAction, id, "server action")
    fields = payload.model_dump(exclude_unset=True)
    if fields.get("target", action.target) != action.target and action.activities.exists():
        raise Conflict("The action is used by campaign activities: its target cannot change.")
    return _save_action(action, fields)


@actions_router.delete("/{id}", response=with_errors({204: None}), summary="Delete a server action")
def delete_action(request: HttpRequest, id: Id):  # noqa: A002
    action = get_or_404(ServerAction, id, "server action")
    if action.activities.exists():
        raise Conflict("The action is used by campaign activities; it is kept.")
    delete_record(action)
    return Status(204, None)
