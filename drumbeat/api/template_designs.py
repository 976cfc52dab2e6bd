"""Email-designer routes of the templates collection: compile a design (saved or draft) to
HTML with its pre-send checks, and the placeholders a target offers.

Mounted on /templates before the collection's own router, so `placeholders` and `compile`
are not read as template ids.
"""

from __future__ import annotations

from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import ConfigDict, Field

from drumbeat.automation.targets import FILTERABLE, placeholders
from drumbeat.brand.kit import current_brand
from drumbeat.mailing.design import DesignError, check_template, compile_design, validate_design
from drumbeat.mailing.design.checks import CODES
from drumbeat.mailing.design.schema import DESIGN_EXAMPLE
from drumbeat.mailing.models import Template

from .content import DESIGN_DESCRIPTION, Design
from .errors import with_errors
from .fields import Id, Text, check_json_text
from .lookups import get_or_404
from .targets import TargetKey

router = Router(tags=["Templates"])


CHECK_EXAMPLE = {
    "code": "image_alt",
    "severity": "error",
    "message": "The image has no alt text (read aloud and shown when images are off)",
    "path": "sections[1].columns[0].blocks[0].alt",
}


class CheckOut(Schema):
    code: Literal[CODES]  # type: ignore[valid-type]
    severity: Literal["error", "warning"] = Field(description="errors refuse a campaign's Start")
    message: str
    path: str = Field(
        description="The JSON path in the design, or the template field (subject, body_html)"
    )

    model_config = ConfigDict(json_schema_extra={"examples": [CHECK_EXAMPLE]})


class CompiledOut(Schema):
    html: str = Field(description="The compiled HTML, placeholders left for the renderer")
    size: int = Field(description="Bytes of the HTML (Gmail clips above about 102 KB)")
    checks: list[CheckOut]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"html": "<!doctype html>…", "size": 9120, "checks": [CHECK_EXAMPLE]}]
        }
    )


class DraftIn(Schema):
    design: Design = Field(None, description=DESIGN_DESCRIPTION)
    subject: Text(255) | None = None  # type: ignore[valid-type]
    preview_text: Text(255) | None = None  # type: ignore[valid-type]

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"design": DESIGN_EXAMPLE, "subject": "Hello"}]}
    )


class NewDraftIn(DraftIn):
    target: TargetKey  # type: ignore[valid-type]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"target": "contacts.contact", "design": DESIGN_EXAMPLE, "subject": "Hello"}
            ]
        }
    )


class PlaceholderOut(Schema):
    label: str
    placeholder: str

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"label": "Name", "placeholder": "{{ record.name }}"}]}
    )


class PlaceholdersOut(Schema):
    target: str
    fields: list[PlaceholderOut] = Field(description="The record's fields templates may use")
    links: list[PlaceholderOut] = Field(description="The per-message URLs")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "target": "contacts.contact",
                    "fields": [{"label": "Name", "placeholder": "{{ record.name }}"}],
                    "links": [
                        {"label": "Unsubscribe link", "placeholder": "{{ unsubscribe_url }}"}
                    ],
                }
            ]
        }
    )


class PlaceholderParams(Schema):
    target: TargetKey = Field(examples=["contacts.contact"])  # type: ignore[valid-type]


def _compiled(template: Template, draft: DraftIn) -> dict[str, Any]:
    """Compile `template` with the draft's changes (nothing is saved)."""
    fields = draft.model_dump(exclude_unset=True)
    for name in ("subject", "preview_text"):
        if fields.get(name) is not None:
            setattr(template, name, fields[name])
    if "design" in fields:
        template.design = fields["design"]
    if template.design is not None:
        if template.kind != Template.Kind.EMAIL:
            raise ValidationError({"design": "Only email templates have a design."})
        try:
            check_json_text(template.design)
        except ValueError as exc:
            raise ValidationError({"design": f"a text value {exc}"}) from None
        try:
            design = validate_design(template.design)
        except DesignError as exc:
            raise ValidationError(
                {f"design.{p.path}" if p.path else "design": p.message for p in exc.problems}
            ) from None
        template.design = design.data
        template.body_html = compile_design(design, current_brand(), title=template.subject).html
    checks = check_template(template, FILTERABLE)
    return {
        "html": template.body_html,
        "size": len(template.body_html.encode("utf-8")),
        "checks": [c.as_dict() for c in checks],
    }


@router.get(
    "/placeholders",
    response=with_errors({200: PlaceholdersOut}),
    summary="Placeholders of a target",
    description="What the placeholder picker offers for templates of `target`: the record's "
    "fields (and those of its many-to-one relations) and the per-message links.",
)
def list_placeholders(request: HttpRequest, params: Query[PlaceholderParams]):  # type: ignore[valid-type]
    return {
        "target": params.target,
        "fields": [{"label": label, "placeholder": p} for label, p in placeholders(params.target)],
        "links": [
            {"label": "Unsubscribe link", "placeholder": "{{ unsubscribe_url }}"},
            {"label": "View-online link", "placeholder": "{{ view_online_url }}"},
        ],
    }


@router.post(
    "/compile",
    response=with_errors({200: CompiledOut}),
    summary="Compile a draft template",
    description="Compile an unsaved design for `target` and run the pre-send checks (codes: "
    + ", ".join(CODES)
    + "). Nothing is saved. An invalid design is a 422 naming the JSON path.",
)
def compile_draft(request: HttpRequest, payload: NewDraftIn):
    template = Template(kind=Template.Kind.EMAIL, target=payload.target, subject="")
    return _compiled(template, payload)


@router.post(
    "/{id}/compile",
    response=with_errors({200: CompiledOut}),
    summary="Compile a template",
    description="The template's HTML (a design compiled with the current brand kit) and its "
    "pre-send checks (codes: "
    + ", ".join(CODES)
    + "; errors refuse a campaign's Start). The body may carry an unsaved `design`, `subject` "
    "or `preview_text` to compile a draft instead; nothing is saved. An invalid design is a "
    "422 naming the JSON path.",
)
def compile_template(request: HttpRequest, id: Id, payload: DraftIn | None = None):  # noqa: A002
    template = get_or_404(Template, id, "template")
    return _compiled(template, payload or DraftIn())
