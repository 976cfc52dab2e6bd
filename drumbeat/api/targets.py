"""The target registry over HTTP: which models campaigns run on, their filterable fields,
and how many records a filter matches."""

from __future__ import annotations

from typing import Any, Literal

from django.http import Http404, HttpRequest
from ninja import Router, Schema
from pydantic import ConfigDict, Field

from drumbeat.automation.domains import OPERATORS_BY_KIND, count_matching
from drumbeat.automation.targets import Target, all_targets, get_target, model_fields

from .errors import with_errors
from .listing import parse_api_domain

router = Router(tags=["Targets"])

TargetKey = Literal[tuple(t.key for t in all_targets())]  # type: ignore[valid-type]


class TargetOut(Schema):
    key: str
    label: str
    description: str
    name_field: str
    email_field: str | None
    phone_field: str | None
    default_unique_field: str
    unique_fields: list[str]
    has_archive: bool = Field(description="Records can be archived (include_archived applies)")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "contacts.contact",
                    "label": "Contact",
                    "description": "People and companies in the address book",
                    "name_field": "name",
                    "email_field": "email",
                    "phone_field": "phone",
                    "default_unique_field": "email",
                    "unique_fields": ["email", "id", "phone"],
                    "has_archive": True,
                }
            ]
        }
    )


class FieldOut(Schema):
    name: str
    label: str
    kind: str = Field(
        description="char, int, float, bool, date, datetime, selection, many2one, one2many, "
        "many2many or virtual"
    )
    related: str | None = Field(description="Model of a relation; its fields: `fields` below")
    choices: list[list[Any]] = Field(description="[value, label] pairs of a selection")
    operators: list[str]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "country",
                    "label": "Country",
                    "kind": "char",
                    "related": None,
                    "choices": [],
                    "operators": ["!=", "=", "ilike", "in", "like", "not_in"],
                }
            ]
        }
    )


class TargetFieldsOut(Schema):
    target: str
    fields: list[FieldOut]
    related: dict[str, list[FieldOut]] = Field(
        description="Fields of the models reachable through relations, by model"
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "target": "contacts.contact",
                    "fields": [FieldOut.model_config["json_schema_extra"]["examples"][0]],
                    "related": {"contacts.tag": []},
                }
            ]
        }
    )


class CountIn(Schema):
    domain: list[Any] = Field(default_factory=list, max_length=500)
    include_archived: bool = False

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"domain": [["email", "!=", False], ["country", "=", "BE"]]}]
        }
    )


class CountOut(Schema):
    target: str
    count: int

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"target": "contacts.contact", "count": 1204}]}
    )


def _target_out(target: Target) -> dict[str, Any]:
    return {
        "key": target.key,
        "label": target.label,
        "description": target.description,
        "name_field": target.name_field,
        "email_field": target.email_field,
        "phone_field": target.phone_field,
        "default_unique_field": target.default_unique_field,
        "unique_fields": [name for name, _ in target.unique_field_choices],
        "has_archive": target.active_field is not None,
    }


def _fields_out(fields: dict) -> list[dict[str, Any]]:
    return [
        {
            "name": info.name,
            "label": info.label,
            "kind": info.kind,
            "related": info.related,
            "choices": [list(choice) for choice in info.choices],
            "operators": sorted(OPERATORS_BY_KIND[info.kind]),
        }
        for info in fields.values()
    ]


def _get_target(key: TargetKey) -> Target:
    try:
        return get_target(key)
    except KeyError:
        raise Http404(f"no target {key!r}; see GET /api/v1/targets")


@router.get("", response=with_errors({200: list[TargetOut]}), summary="List targets")
def list_targets(request: HttpRequest):
    return [_target_out(t) for t in all_targets()]


@router.get(
    "/{key}/fields",
    response=with_errors({200: TargetFieldsOut}),
    summary="Filterable fields of a target",
)
def target_fields(request: HttpRequest, key: TargetKey):
    target = _get_target(key)
    related: dict[str, list[dict[str, Any]]] = {}
    pending = [i.related for i in target.fields.values() if i.related]
    while pending:
        label = pending.pop()
        if label in related or label == target.key:
            continue
        fields = model_fields(label)
        related[label] = _fields_out(fields)
        pending.extend(i.related for i in fields.values() if i.related)
    return {"target": target.key, "fields": _fields_out(target.fields), "related": related}


@router.post(
    "/{key}/count",
    response=with_errors({200: CountOut}),
    summary="Count the records a filter matches",
)
def count_target(request: HttpRequest, key: TargetKey, payload: CountIn):
    target = _get_target(key)
    domain = parse_api_domain(payload.domain)
    count = count_matching(target, domain, payload.include_archived)
    return {"target": target.key, "count": count}
